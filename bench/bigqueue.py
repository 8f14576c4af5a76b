#!/usr/bin/env python3
"""A big queue: Petrel vs Postfix, in the same run, reported as ratios.

    python3 bench/bigqueue.py                              1,000,000 messages (long)
    nice python3 bench/bigqueue.py --messages 20000         a smoke run

A benchmark, not a test: it never runs in `make test`. Root and the Debian
package `postfix` are needed, as for bench/bench.py, whose machinery this
uses (servers, cgroups, smtp-source, report header). Loopback only; the
daemons never ask the machine's resolver (Petrel points at a closed port for
DNS and sends everything to the relay-host; Postfix has DNS disabled and a
relayhost); every wait is bounded in time and every loop in count.

For each server, two cycles, each with its own fresh server and queue:

  flush cycle (retry interval --retry, long: nothing is retried meanwhile)
    fill      smtp-source sends N messages of SIZE bytes over S sessions
              (connection reuse) to the server, which relays to an smtp-sink
              answering every RCPT with 450: each message is tried once and
              stays queued. fill rate = N / smtp-source's wall time.
    settle    until every message has been tried once (Petrel: `petrel queue
              --count` shows them deferred; Postfix: the incoming and active
              queues are empty), bounded.
    full      RSS of the server's processes (summed), minus the RSS before
              the fill, per queued message; disk per message (du of the
              queue); idle CPU: CPU seconds of the server's cgroup over
              --idle seconds, per second.
    count     wall time of `petrel queue --count` and of `postqueue -p |
              tail -1` (Postfix's summary is the last line of the listing);
              then of the full listing (`petrel queue`, `postqueue -p`),
              with its size.
    SIGKILL   the server (Postfix: every process of its session) is killed
              and started again: time until the banner answers, and until
              the summary shows the whole queue again.
    drain     the sink is replaced by one that accepts; `petrel flush` /
              `postqueue -f`; time until the sink has every message and the
              queue is empty. drain rate = N / that time.
  timer cycle (retry interval --retry-timer, short)
    fill as above; then the sink accepts and nobody flushes: time until the
    sink has every message and the queue is empty (the retry timers bring
    them due; the time includes waiting for them, at most one interval).

Nothing may fail, and this is checked for every cycle: no "Too many open
files"/EMFILE in the server's log, no destination called "unreachable"
(the sink always answers: a local error must not be blamed on it), the log
line count (a flood shows as many lines per message), the banner answered
throughout (a probe connects once a second, except while the server is
down on purpose; a probe fails after 5 s without a banner), every message
delivered exactly once to the sink. A server that exceeds --rss-cap or
--log-cap is killed (to protect the machine) and the cycle is reported
FAILED with the reason; so is one whose daemon dies, or a step that runs
out of its time bound. Later steps of a failed cycle are skipped.
"""

import argparse
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import (PetrelServer, PostfixServer, Sampler, file_size, fmt, log,  # noqa: E402
                   ratio, read, sink_messages)
from harness import free_port  # noqa: E402
from postfix import POSTQUEUE, SmtpSink  # noqa: E402

EMFILE = re.compile(r"EMFILE|Too many open files")
# A destination called unreachable for another reason than a refused
# connection (which can happen, rightly, in the moment the sink is swapped).
UNREACHABLE = re.compile(r"unreachable \((?![^)]*refused)", re.I)


class Failed(Exception):
    """A step of a cycle failed; the message says how."""


# ---------------------------------------------------------------------------
# Small tools: timed commands, the banner probe, the sink that changes mind
# ---------------------------------------------------------------------------

def run_timed(argv, timeout, env=None):
    """Runs argv, reading its output as it comes without keeping it: wall
    time, exit status, bytes and lines of stdout, its last line, the tail of
    stderr. Killed after timeout seconds (then "timeout" is True)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env)
    out = {"bytes": 0, "lines": 0, "last": b"", "err": b"", "timeout": False}
    tail = b""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ, "out")
    sel.register(p.stderr, selectors.EVENT_READ, "err")
    deadline = t0 + timeout
    open_streams = 2
    while open_streams and time.monotonic() < deadline:
        for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
            chunk = os.read(key.fileobj.fileno(), 1 << 16)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
            elif key.data == "out":
                out["bytes"] += len(chunk)
                out["lines"] += chunk.count(b"\n")
                tail = (tail + chunk)[-4096:]
            else:
                out["err"] = (out["err"] + chunk)[-2000:]
    if open_streams:
        p.kill()
        out["timeout"] = True
    p.wait()
    sel.close()
    p.stdout.close()
    p.stderr.close()
    lines = tail.rstrip(b"\n").split(b"\n")
    out.update(s=time.monotonic() - t0, rc=p.returncode, last=lines[-1].decode("utf-8", "replace"),
               tail=tail.decode("utf-8", "replace"), err=out["err"].decode("utf-8", "replace"))
    return out


class BannerProbe:
    """Connects once a second and waits up to 5 s for a 220 banner; counts
    the probes and the failures (not while paused: the server is down on
    purpose then). Bounded: one probe at a time, stops with stop()."""

    def __init__(self, port):
        self.port = port
        self.probes = self.failures = 0
        self.max_s = 0.0
        self.first_failures = []
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._th.start()
        return self

    def _probe(self):
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                buf = b""
                while b"\n" not in buf and time.monotonic() - t0 < 5:
                    chunk = s.recv(512)
                    if not chunk:
                        break
                    buf += chunk
                ok = buf.startswith(b"220")
                why = buf[:60].decode("ascii", "replace").strip() or "closed"
        except OSError as e:
            ok, why = False, str(e)
        return ok, time.monotonic() - t0, why

    def _run(self):
        t_start = time.monotonic()
        while not self._stop.wait(1.0):
            if self.paused.is_set():
                continue
            ok, took, why = self._probe()
            if self.paused.is_set():
                continue
            self.probes += 1
            self.max_s = max(self.max_s, took)
            if not ok:
                self.failures += 1
                if len(self.first_failures) < 5:
                    self.first_failures.append("at %.0f s: %s" % (time.monotonic() - t_start, why))

    def stop(self):
        self._stop.set()
        self._th.join(10)

    def summary(self):
        return {"probes": self.probes, "failures": self.failures, "max_s": self.max_s,
                "first_failures": self.first_failures}


class Sink:
    """An smtp-sink on one port that first answers RCPT with 450 and then,
    after accept(), is replaced by one that takes everything (counting the
    messages, keeping none)."""

    def __init__(self):
        self.port = free_port()
        self.sink = SmtpSink(port=self.port, dump=False, soft_reject=("RCPT",),
                             soft_reply="450 4.2.0 Try again later").start()
        self.accepting = False

    def accept(self):
        self.sink.cleanup()
        self.sink = SmtpSink(port=self.port, dump=False).start()
        self.accepting = True

    def received(self):
        return sink_messages(self.sink) if self.accepting else 0

    def cleanup(self):
        self.sink.cleanup()


# ---------------------------------------------------------------------------
# The two servers behind one interface
# ---------------------------------------------------------------------------

class Side:
    """One server under test with the commands the benchmark needs."""

    def __init__(self, kind, binary, sink_port, workdir, retry, args):
        self.kind = kind
        self.sampler = None
        if kind == "petrel":
            self.server = PetrelServer(binary, sink_port, workdir, extra=[
                # Never the machine's resolver: nothing answers there.
                "dns-server 127.0.0.1:%d" % free_port(),
                "retry-initial %ds" % retry, "retry-max %ds" % retry,
                "warn-after 30d", "bounce-after 30d"])
            self.spool = os.path.join(self.server.dir, "spool")
            self.logpath = self.server.logpath
        else:
            r = "%ds" % retry
            self.server = PostfixServer(sink_port, workdir, main={
                "minimal_backoff_time": r, "maximal_backoff_time": r, "queue_run_delay": r,
                "maximal_queue_lifetime": "30d", "bounce_queue_lifetime": "30d"})
            self.spool = self.server.inst.queuedir
            self.logpath = self.server.inst.logpath
        self.args = args
        self.port = self.server.port

    def start(self, timeout=60):
        self.server.start(timeout=timeout)

    def alive(self):
        return bool(self.server.pids())

    def cli(self, *words):
        if self.kind == "petrel":
            return [self.server.binary] + list(words) + ["-c", self.server.config], None
        inst = self.server.inst
        return [POSTQUEUE, "-c", inst.confdir] + list(words), inst._env()

    def count(self, timeout):
        """The summary: (seconds, queued messages or None, the result)."""
        argv, env = self.cli(*(("queue", "--count") if self.kind == "petrel" else ("-p",)))
        r = run_timed(argv, timeout, env)
        n = None
        if r["rc"] == 0 and not r["timeout"]:
            text = r["tail"] if self.kind == "petrel" else r["last"]
            m = re.search(r"^-- (\d+) messages?," if self.kind == "petrel" else
                          r"in (\d+) Requests?\.", text, re.M)
            n = int(m.group(1)) if m else (0 if "Mail queue is empty" in text else None)
            if self.kind == "petrel":
                m = re.findall(r"^ +\d+  \S+  (\d+) deferred", text, re.M)
                r["deferred"] = sum(int(x) for x in m)
        return r["s"], n, r

    def listing(self, timeout):
        argv, env = self.cli("queue" if self.kind == "petrel" else "-p")
        return run_timed(argv, timeout, env)

    def flush(self, timeout):
        argv, env = self.cli("flush" if self.kind == "petrel" else "-f")
        return run_timed(argv, timeout, env)

    def all_tried(self, n, timeout):
        """Whether every queued message has had its first attempt."""
        if self.kind == "petrel":
            _, queued, r = self.count(timeout)
            return queued == n and r.get("deferred") == n
        for sub in ("incoming", "active", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.spool, sub)):
                if files:
                    return False
        return True

    def kill(self):
        self.server.kill()

    def cgroup_cpu(self):
        return self.server.cpu()

    def watch(self):
        """Samples RSS and the log size; kills the server over a cap."""
        def breach(why):
            log("  %s: %s: killing it" % (self.kind, why))
            self.kill()
        self.sampler = Sampler(self.server.pids, lambda: file_size(self.logpath),
                               rss_cap_kib=self.args.rss_cap * 1024,
                               log_cap_bytes=self.args.log_cap * 2**20, on_breach=breach).start()

    def cleanup(self):
        if self.sampler:
            self.sampler.stop()
        self.server.cleanup(self.args.keep)


def du_bytes(path, timeout=600):
    r = run_timed(["du", "-sk", path], timeout)
    try:
        return int(r["last"].split()[0]) * 1024
    except (ValueError, IndexError):
        return None


def log_checks(path):
    """Lines, EMFILE lines and "unreachable" lines of a log, read as it streams."""
    lines = emfile = unreachable = 0
    examples = []
    try:
        with open(path, "rb") as f:
            for raw in f:
                lines += 1
                line = raw.decode("utf-8", "replace")
                if EMFILE.search(line):
                    emfile += 1
                    if len(examples) < 3:
                        examples.append(line.strip()[:200])
                if UNREACHABLE.search(line):
                    unreachable += 1
                    if len(examples) < 3:
                        examples.append(line.strip()[:200])
    except OSError:
        pass
    return {"log_lines": lines, "emfile_lines": emfile, "unreachable_lines": unreachable,
            "log_examples": examples}


def wait_until(cond, timeout, side, what, interval=0.5):
    """Polls cond() until true; Failed when the time is up or the server died."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if side.sampler and side.sampler.breach:
            raise Failed(side.sampler.breach)
        if not side.alive():
            raise Failed("%s died while waiting for %s" % (side.kind, what))
        if time.monotonic() > deadline:
            raise Failed("no %s within %.0f s" % (what, timeout))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The cycles
# ---------------------------------------------------------------------------

def fill(side, args, r):
    n = args.messages
    src = types.SimpleNamespace(sessions=args.sessions, messages=n, size=args.size,
                                session_reuse=True)
    log("  fill: %d messages ..." % n)
    t0, res, err = bench.run_smtp_source(side.port, src, args.step_timeout)
    r["fill_s"] = res["t"] - t0
    r["fill_rate"] = n / r["fill_s"]
    ok = not res.get("timeout") and os.WIFEXITED(res["status"]) and \
        os.WEXITSTATUS(res["status"]) == 0
    if not ok:
        raise Failed("smtp-source failed after %.0f s: %s" % (r["fill_s"], err.strip()[-300:]))
    # For information only: while first attempts move messages between
    # Postfix's queue directories, postqueue may count one twice or miss it.
    r["queued_after_fill"] = side.count(args.step_timeout)[1]


def measure_full(side, args, r):
    """Settle, then RSS, disk, idle CPU, summary and listing times."""
    n = args.messages
    t0 = time.monotonic()
    wait_until(lambda: side.all_tried(n, args.step_timeout), args.step_timeout, side,
               "first attempt of every message", interval=2.0)
    r["settle_s"] = time.monotonic() - t0
    side.sampler.sample()
    r["rss_full_mib"] = side.sampler.last_kib / 1024
    r["pss_full_mib"] = side.sampler.last_pss_kib / 1024
    r["pss_per_msg_bytes"] = (side.sampler.last_pss_kib - r["pss_empty_kib"]) * 1024 / n
    disk = du_bytes(side.spool)
    r["disk_per_msg_bytes"] = disk / n if disk else None
    cpu0, t0 = side.cgroup_cpu(), time.monotonic()
    time.sleep(args.idle)
    cpu1, t1 = side.cgroup_cpu(), time.monotonic()
    if cpu0 is not None and cpu1 is not None:
        r["idle_cpu_pct"] = 100.0 * (cpu1 - cpu0) / (t1 - t0)
    s, queued, res = side.count(args.step_timeout)
    r["count_s"], r["count_ok"] = s, queued == n
    if queued != n:
        raise Failed("the summary said %s messages, not %d (%s)" % (queued, n, res["err"][-200:]))
    res = side.listing(args.step_timeout)
    r["list_s"], r["list_mib"], r["list_lines"] = res["s"], res["bytes"] / 2**20, res["lines"]
    if res["rc"] != 0 or res["timeout"]:
        raise Failed("the full listing failed (status %s%s): %s" % (
            res["rc"], ", timed out" if res["timeout"] else "", res["err"][-200:]))


def recover(side, probe, args, r):
    """SIGKILL, start again: banner and queue back."""
    n = args.messages
    probe.paused.set()
    side.kill()
    t0 = time.monotonic()
    try:
        side.start(timeout=args.step_timeout)
    except AssertionError as e:
        raise Failed("no banner within %.0f s after SIGKILL: %s" % (args.step_timeout,
                                                                     str(e)[-300:]))
    finally:
        probe.paused.clear()
    r["recover_banner_s"] = time.monotonic() - t0
    wait_until(lambda: side.count(args.step_timeout)[1] == n, args.step_timeout, side,
               "whole queue back after SIGKILL")
    r["recover_queue_s"] = time.monotonic() - t0


def drain(side, sink, args, r, flush):
    """The sink accepts from now; with flush, the server is told to try now."""
    n = args.messages
    sink.accept()
    t0 = time.monotonic()
    if flush:
        res = side.flush(args.step_timeout)
        r["flush_cmd_s"] = res["s"]
        if res["rc"] != 0:
            raise Failed("flush failed (status %s): %s" % (res["rc"], res["err"][-200:]))
    first = []

    def done():
        got = sink.received()
        if got and not first:
            first.append(time.monotonic())
        return got >= n
    wait_until(done, args.drain_timeout, side, "every message at the sink", interval=0.2)
    t_all = time.monotonic()
    wait_until(lambda: side.count(args.step_timeout)[1] == 0, args.step_timeout, side,
               "empty queue after the drain", interval=1.0)
    key = "drain_flush" if flush else "drain_timer"
    r[key + "_s"] = t_all - t0
    r[key + "_first_s"] = first[0] - t0 if first else None
    # Without flush the wait for the timers is no delivery work: the rate
    # counts from the first delivery (the wait is the row above it).
    since = t0 if flush or not first else first[0]
    r[key + "_rate"] = n / max(t_all - since, 1e-3)


def run_cycle(kind, cycle, binary, top, args):
    """One fresh server, sink and queue; returns the figures and checks."""
    retry = args.retry if cycle == "flush" else args.retry_timer
    r = {"kind": kind, "cycle": cycle, "retry_s": retry, "ok": True, "failure": None,
         "breach": None, "rss_peak_mib": None, "pss_peak_mib": None,
         "banner": {"probes": 0, "failures": 0, "max_s": 0.0, "first_failures": []}}
    sink = Sink()
    side = Side(kind, binary, sink.port, top, retry, args)
    probe = None
    try:
        side.start()
        time.sleep(0.5)  # start-up work (postfix check, recovery) settles
        side.watch()
        side.sampler.sample()
        r["rss_empty_kib"] = side.sampler.last_kib
        r["pss_empty_kib"] = side.sampler.last_pss_kib
        probe = BannerProbe(side.port).start()
        fill(side, args, r)
        if cycle == "flush":
            measure_full(side, args, r)
            recover(side, probe, args, r)
        drain(side, sink, args, r, flush=cycle == "flush")
    except (Failed, AssertionError) as e:  # AssertionError: a server did not start
        r["ok"], r["failure"] = False, " ".join(str(e).split())[-500:]
        log("  FAILED: %s" % e)
    finally:
        if probe:
            probe.stop()
            r["banner"] = probe.summary()
        if side.sampler:
            side.sampler.stop()
            r["rss_peak_mib"] = side.sampler.peak_kib / 1024
            r["pss_peak_mib"] = side.sampler.peak_pss_kib / 1024
            r["breach"] = side.sampler.breach
            if r["breach"] and r["ok"]:
                r["ok"], r["failure"] = False, r["breach"]
        r["received"] = sink.received()
        r["alive_at_end"] = side.alive()
        if not r["ok"]:
            side.kill()  # a failed server may be flooding its log: no grace period
        side.server.stop()
        r.update(log_checks(side.logpath))
        r["log_bytes"] = file_size(side.logpath)
        if not r["ok"] or r["emfile_lines"] or r["unreachable_lines"] or \
                r["banner"]["failures"]:
            r["log_tail"] = read(side.logpath)[-2000:]
        side.cleanup()
        sink.cleanup()
    r["ok"] = r["ok"] and not r["emfile_lines"] and not r["unreachable_lines"] and \
        not r["banner"]["failures"] and r["received"] == args.messages and not r["breach"]
    return r


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def checks_line(r, n):
    b = r["banner"]
    bad = []
    if r["failure"]:
        bad.append("FAILED: " + r["failure"])
    if r["breach"]:
        bad.append("killed: " + r["breach"])
    text = ("%s %s cycle: %s; log %s lines (%.1f per message), EMFILE lines %d, "
            "\"unreachable\" lines %d; banner probes %d, failed %d (slowest %.2f s)%s; "
            "delivered %s of %d; peak PSS %s MiB" % (
                r["kind"], r["cycle"], "ok" if r["ok"] else "**NOT OK**", fmt(r["log_lines"]),
                r["log_lines"] / n, r["emfile_lines"], r["unreachable_lines"], b["probes"],
                b["failures"], b["max_s"],
                " — " + "; ".join(b["first_failures"]) if b["first_failures"] else "",
                fmt(r["received"]), n, fmt(r["pss_peak_mib"])))
    if bad:
        text += " — " + "; ".join(bad)
    if r.get("log_examples"):
        text += " — e.g. `%s`" % r["log_examples"][0].replace("`", "'")
    return text


def build_report(res, args):
    lines = bench.report_header(res)
    add = lines.append
    n = args.messages
    add("Workload: %s messages × %d bytes, filled over %d sessions with connection reuse; "
        "retry interval %d s in the flush cycle, %d s in the timer cycle; idle window %g s; "
        "caps: RSS %d MiB, log %d MiB" % (fmt(n), args.size, args.sessions, args.retry,
                                          args.retry_timer, args.idle, args.rss_cap,
                                          args.log_cap))
    if args.note:
        add("Note: %s" % args.note)
    add("")
    runs = res["runs"]["bigqueue"]

    def get(kind, cycle, key):
        for r in runs:
            if r["kind"] == kind and r["cycle"] == cycle:
                return r.get(key)
        return None
    add("| metric | Petrel | Postfix | Petrel/Postfix |")
    add("|---|---:|---:|---:|")
    rows = [
        ("fill, msgs/s (flush cycle)", "flush", "fill_rate", 0),
        ("fill, msgs/s (timer cycle)", "timer", "fill_rate", 0),
        ("time until every message was tried once, s", "flush", "settle_s", 1),
        ("memory with the queue full: PSS, MiB (all processes)", "flush", "pss_full_mib", 1),
        ("memory with the queue full: RSS summed, MiB", "flush", "rss_full_mib", 1),
        ("memory per queued message (PSS full − PSS empty) / N, bytes", "flush",
         "pss_per_msg_bytes", 0),
        ("disk per queued message, bytes", "flush", "disk_per_msg_bytes", 0),
        ("idle CPU with the queue full, % of a core", "flush", "idle_cpu_pct", 2),
        ("summary (`petrel queue --count` / `postqueue -p \\| tail -1`), s", "flush", "count_s", 2),
        ("full listing (`petrel queue` / `postqueue -p`), s", "flush", "list_s", 2),
        ("full listing, MiB", "flush", "list_mib", 1),
        ("after SIGKILL: banner again, s", "flush", "recover_banner_s", 2),
        ("after SIGKILL: whole queue back, s", "flush", "recover_queue_s", 2),
        ("drain with flush, msgs/s (flush to empty)", "flush", "drain_flush_rate", 0),
        ("drain with flush: first delivery after, s", "flush", "drain_flush_first_s", 2),
        ("drain without flush: first delivery after, s", "timer", "drain_timer_first_s", 1),
        ("drain without flush: sink takes everything after, s", "timer", "drain_timer_s", 1),
        ("drain without flush, msgs/s (first delivery to empty)", "timer",
         "drain_timer_rate", 0),
        ("peak PSS during the flush cycle, MiB", "flush", "pss_peak_mib", 1),
        ("peak RSS summed during the flush cycle, MiB", "flush", "rss_peak_mib", 1),
    ]
    for name, cycle, key, nd in rows:
        a, b = get("petrel", cycle, key), get("postfix", cycle, key)
        if a is None and b is None:
            continue
        add("| %s | %s | %s | %s |" % (name, fmt(a, nd), fmt(b, nd), ratio(a, b)))
    add("")
    add("Checks (nothing may fail):")
    add("")
    for r in runs:
        add("- " + checks_line(r, n))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--size", type=int, default=1024, help="message payload bytes")
    ap.add_argument("--sessions", type=int, default=20, help="smtp-source sessions for the fill")
    ap.add_argument("--servers", default="petrel,postfix")
    ap.add_argument("--cycles", default="flush,timer",
                    help="flush: fill, measures, SIGKILL, drain with flush; "
                    "timer: fill, drain without flush")
    ap.add_argument("--retry", type=int, default=7200,
                    help="retry interval in the flush cycle, s (longer than the cycle)")
    ap.add_argument("--retry-timer", type=int, default=60,
                    help="retry interval in the timer cycle, s")
    ap.add_argument("--idle", type=float, default=30.0, help="idle CPU window, s")
    ap.add_argument("--step-timeout", type=float, default=None,
                    help="bound of each step, s (default max(300, messages/100))")
    ap.add_argument("--drain-timeout", type=float, default=None,
                    help="bound of a drain, s (default max(300, messages/50))")
    ap.add_argument("--rss-cap", type=int, default=None,
                    help="MiB; a server over it is killed (default half the RAM)")
    ap.add_argument("--log-cap", type=int, default=None,
                    help="MiB; a server whose log grows over it is killed "
                    "(default max(256, messages/1000))")
    ap.add_argument("--note", default="", help="a line for the report (e.g. machine not quiet)")
    bench.add_common_args(ap)
    args = ap.parse_args()
    n = args.messages
    args.step_timeout = args.step_timeout or max(300.0, n / 100.0)
    args.drain_timeout = args.drain_timeout or max(300.0, n / 50.0)
    args.rss_cap = args.rss_cap or bench.machine_info("/")["mem_mib"] // 2
    args.log_cap = args.log_cap or max(256, n // 1000)
    if args.idle >= args.retry:
        sys.exit("--idle must be shorter than --retry")
    servers = [s for s in args.servers.split(",") if s]
    cycles = [c for c in args.cycles.split(",") if c]

    def run(top, binary, res):
        res["runs"]["bigqueue"] = []
        for cycle in cycles:
            for kind in servers:
                log("%s, %s cycle ..." % (kind, cycle))
                r = run_cycle(kind, cycle, binary, top, args)
                res["runs"]["bigqueue"].append(r)
                bench.log_run(r)
    bench.bench_main(args, servers, "bigqueue.py", run, build_report)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))  # finally clauses still stop servers
    main()
