#!/usr/bin/env python3
"""Big messages sent slowly by many sessions at once: Petrel vs Postfix.

    python3 bench/bigmsg.py                                  1,000 × 10 MiB (long)
    nice python3 bench/bigmsg.py --sessions 50 --size 2097152   a smoke run

A benchmark, not a test: it never runs in `make test`. Root and the Debian
package `postfix` are needed, as for bench/bench.py, whose machinery this
uses (servers, sampling, report header). Loopback only; no resolver (Petrel
points at a closed port for DNS; Postfix has DNS disabled).

M sessions are opened at once. Each says EHLO, MAIL, RCPT (one local
mailbox), DATA, then writes its message of SIZE bytes at a steady pace over
--send-seconds (a write every tick, never faster than the pace: every
session is in the middle of its DATA at the same time), ends it and waits
for the reply. Both servers deliver into a Maildir (Petrel's own, Postfix's
virtual(8)), so nothing else is in the path. Postfix's process limit is
raised to M (default_process_limit) so that it, too, serves all M sessions
at once; its other settings are the instance's (tests/postfix.py).

Measured: the peak memory of the server while the messages arrive and are
delivered, sampled four times a second: PSS summed over its processes (the
fair total for Postfix's smtpd, cleanup, virtual... as it counts shared
pages once) and RSS summed; the time until every message was acknowledged
and until every one was delivered. Checked: every session got 250 for its
message, every message is in the Maildir exactly once (by its Subject) and
whole: no shorter than its body with LF line ends (Postfix stores LF), no
longer than the body with CRLF plus 16 KiB of header fields. A server over --rss-cap is killed and reported FAILED; every wait is
bounded.
"""

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import (PetrelServer, PostfixServer, Sampler, SENDER, file_size, fmt, log,  # noqa: E402
                   ratio, read)
from harness import free_port  # noqa: E402
from postfix import _unprivileged_user  # noqa: E402

TICK = 0.05            # seconds between two writes of a session
CHUNK_MAX = 1 << 18    # bytes per write at most
HEADER_SLACK = 16384   # what a server may add to a message (Received:, Return-Path:...)
SUBJECT = re.compile(rb"^Subject: bigmsg (\d+)\r?$", re.M)


class Session:
    """One client session, a small state machine fed by the selector loop."""

    STEPS = ("banner", "ehlo", "mail", "rcpt", "data", "body", "end", "quit")

    def __init__(self, i, port, rcpt, body):
        self.i = i
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.err = None
        try:
            e = self.sock.connect_ex(("127.0.0.1", port))
        except OSError as ex:
            e = ex.errno
        if e not in (0, 115):  # EINPROGRESS
            self.err = "connect: %s" % os.strerror(e)
        self.step = 0
        self.buf = b""
        self.rcpt = rcpt
        head = ("From: <%s>\r\nTo: <%s>\r\nSubject: bigmsg %d\r\nMessage-ID: "
                "<bigmsg.%d.%d@client.test>\r\n\r\n" % (SENDER, rcpt, i, os.getpid(), i)).encode()
        self.parts = [memoryview(head), body, memoryview(b".\r\n")]
        self.total = sum(len(p) for p in self.parts)
        self.sent = 0
        self.t_data = None
        self.acked = False

    def fail(self, why):
        if not self.err:
            self.err = "%s: %s" % (self.STEPS[min(self.step, len(self.STEPS) - 1)], why)

    def send_cmd(self, line):
        try:
            self.sock.send(line)  # a few bytes into an empty socket buffer
        except OSError as e:
            self.fail(str(e))

    def on_readable(self):
        try:
            chunk = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as e:
            self.fail(str(e))
            return
        if not chunk:
            if self.step != 7:
                self.fail("connection closed")
            self.step = 8
            return
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line[3:4] == b"-":
                continue
            self.on_reply(line)

    def on_reply(self, line):
        want = {0: b"220", 1: b"250", 2: b"250", 3: b"250", 4: b"354", 6: b"250", 7: b"221"}
        if self.step not in want or not line.startswith(want[self.step]):
            self.fail("unexpected %r" % line[:80])
            return
        nxt = {0: b"EHLO client.test\r\n", 1: b"MAIL FROM:<%s>\r\n" % SENDER.encode(),
               2: b"RCPT TO:<%s>\r\n" % self.rcpt.encode(), 3: b"DATA\r\n", 6: b"QUIT\r\n"}
        if self.step == 6:
            self.acked = True
        if self.step == 4:
            self.t_data = time.monotonic()
            self.step = 5
            return
        if self.step in nxt:
            self.send_cmd(nxt[self.step])
        self.step += 1

    def pump(self, now, pace_s):
        """Writes what the pace allows by now (as much as the socket takes)."""
        allowed = self.total * min(1.0, (now - self.t_data) / pace_s) if pace_s > 0 else self.total
        while self.sent < allowed:
            off = self.sent
            for p in self.parts:
                if off < len(p):
                    break
                off -= len(p)
            n = int(min(allowed - self.sent, CHUNK_MAX, len(p) - off)) or 1
            try:
                self.sent += self.sock.send(p[off:off + n])
            except BlockingIOError:
                return
            except OSError as e:
                self.fail(str(e))
                return
        if self.sent >= self.total:
            self.step = 6

    def done(self):
        return self.err is not None or self.step >= 8


def run_sessions(port, rcpt, args, body, timeout):
    """All sessions at once; returns the counts, the failures and the times."""
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    sessions = [Session(i, port, rcpt, body) for i in range(args.sessions)]
    for s in sessions:
        if not s.err:
            sel.register(s.sock, selectors.EVENT_READ, s)
    live = [s for s in sessions if not s.err]
    deadline = t0 + timeout
    t_acked = None
    while live and time.monotonic() < deadline:
        for key, _ in sel.select(TICK):
            key.data.on_readable()
        now = time.monotonic()
        for s in live:
            if s.step == 5 and not s.err:
                s.pump(now, args.send_seconds)
        still = []
        for s in live:
            if s.done():
                sel.unregister(s.sock)
                s.sock.close()
            else:
                still.append(s)
        live = still
        if t_acked is None and all(s.acked or s.err for s in sessions):
            t_acked = now - t0
    for s in live:
        s.fail("still open after %.0f s" % timeout)
        sel.unregister(s.sock)
        s.sock.close()
    sel.close()
    errors = [s.err for s in sessions if s.err and not s.acked]
    return {"acked": sum(s.acked for s in sessions), "errors": len(errors),
            "first_errors": errors[:5], "acked_s": t_acked, "sessions_s": time.monotonic() - t0}


def make_body(size):
    line = b"x" * 76 + b"\r\n"
    return memoryview((line * (size // len(line) + 1))[:size - 2] + b"\r\n")


def check_maildir(paths, args, body):
    """Every message once, none shorter than its body (with LF line ends, as
    Postfix stores it) nor longer than the body with CRLF plus the slack."""
    low = len(body) - bytes(body).count(b"\r\n")
    high = len(body) + HEADER_SLACK
    seen, bad_size, unknown = set(), 0, 0
    dup = 0
    for p in paths:
        try:
            size = os.stat(p).st_size
            with open(p, "rb") as f:
                head = f.read(HEADER_SLACK)
        except OSError:
            continue
        if not low <= size <= high:
            bad_size += 1
        m = SUBJECT.search(head)
        if not m:
            unknown += 1
        elif int(m.group(1)) in seen:
            dup += 1
        else:
            seen.add(int(m.group(1)))
    return {"delivered": len(seen), "bad_size": bad_size, "duplicates": dup,
            "unrecognised": unknown}


class Target:
    """A server that delivers one mailbox into a Maildir."""

    def __init__(self, kind, binary, top, args):
        self.kind = kind
        closed = free_port()  # nothing is relayed: no relay host listens
        if kind == "petrel":
            mail = tempfile.mkdtemp(prefix="mail-", dir=top)
            if os.geteuid() == 0:
                _, uid, gid = _unprivileged_user()
                os.chown(mail, uid, gid)
            self.mail = mail
            self.server = PetrelServer(binary, closed, top, extra=[
                "dns-server 127.0.0.1:%d" % free_port(), "domain bench.test", "mailbox u",
                "mailbox postmaster",
                "maildir-root " + mail,
                "max-message-size %dK" % ((args.size + HEADER_SLACK) // 1024 + 64)])
            self.rcpt = "u@bench.test"
            self.logpath = self.server.logpath
        else:
            self.server = PostfixServer(closed, top, mailboxes=("u",), main={
                "message_size_limit": str(args.size + HEADER_SLACK + 65536),
                "virtual_mailbox_limit": "0",
                "default_process_limit": str(max(100, args.sessions + 10))})
            self.rcpt = "u@" + self.server.inst.domain
            self.logpath = self.server.inst.logpath
        self.port = self.server.port

    def maildir(self):
        if self.kind == "petrel":
            path = os.path.join(self.mail, "u", "new")
            try:
                return [os.path.join(path, n) for n in os.listdir(path)]
            except FileNotFoundError:
                return []
        return self.server.inst.maildir("u")


def run_one(kind, binary, top, args, body):
    r = {"kind": kind, "ok": False, "failure": None}
    t = Target(kind, binary, top, args)
    sampler = None
    try:
        t.server.start()
        time.sleep(0.5)

        def breach(why):
            log("  %s: %s: killing it" % (kind, why))
            t.server.kill()
        sampler = Sampler(t.server.pids, lambda: file_size(t.logpath), interval=0.25,
                          rss_cap_kib=args.rss_cap * 1024, on_breach=breach).start()
        sampler.sample()
        r["pss_idle_mib"] = sampler.last_pss_kib / 1024
        log("  %d sessions × %d bytes over %g s ..." % (args.sessions, args.size,
                                                       args.send_seconds))
        t0 = time.monotonic()
        r.update(run_sessions(t.port, t.rcpt, args, body, args.timeout))
        deadline = time.monotonic() + args.deliver_timeout
        while len(t.maildir()) < r["acked"] and time.monotonic() < deadline and \
                t.server.pids() and not sampler.breach:
            time.sleep(0.25)
        r["delivered_s"] = time.monotonic() - t0
        r.update(check_maildir(t.maildir(), args, body))
        r["breach"] = sampler.breach
        r["alive_at_end"] = bool(t.server.pids())
    except AssertionError as e:  # the server did not start
        r["failure"] = " ".join(str(e).split())[-500:]
    finally:
        if sampler:
            sampler.stop()
            r["pss_peak_mib"] = sampler.peak_pss_kib / 1024
            r["rss_peak_mib"] = sampler.peak_kib / 1024
            r["procs_peak"] = sampler.peak_procs
        r["log_tail"] = read(t.logpath)[-1500:]
        t.server.cleanup(args.keep)
        if kind == "petrel" and not args.keep:
            shutil.rmtree(t.mail, ignore_errors=True)
    n = args.sessions
    r["ok"] = (not r["failure"] and r.get("acked") == n and r.get("delivered") == n and
               not r.get("bad_size") and not r.get("duplicates") and not r.get("breach"))
    if r["ok"]:
        del r["log_tail"]
    return r


def build_report(res, args):
    lines = bench.report_header(res)
    add = lines.append
    add("Workload: %s sessions at once, each one message of %s bytes written over %g s; "
        "delivery into a Maildir; RSS cap %d MiB" % (fmt(args.sessions), fmt(args.size),
                                                     args.send_seconds, args.rss_cap))
    if args.note:
        add("Note: %s" % args.note)
    add("")
    runs = {r["kind"]: r for r in res["runs"]["bigmsg"]}
    P, F = runs.get("petrel", {}), runs.get("postfix", {})
    add("| metric | Petrel | Postfix | Petrel/Postfix |")
    add("|---|---:|---:|---:|")
    for name, key, nd in (("peak memory: PSS summed over the processes, MiB", "pss_peak_mib", 1),
                          ("peak memory: RSS summed, MiB", "rss_peak_mib", 1),
                          ("memory before the sessions: PSS, MiB", "pss_idle_mib", 1),
                          ("processes at the peak", "procs_peak", 0),
                          ("messages acknowledged (250)", "acked", 0),
                          ("messages delivered once, right size", "delivered", 0),
                          ("every message acknowledged after, s", "acked_s", 1),
                          ("every message delivered after, s", "delivered_s", 1)):
        a, b = P.get(key), F.get(key)
        add("| %s | %s | %s | %s |" % (name, fmt(a, nd), fmt(b, nd), ratio(a, b)))
    if P.get("pss_peak_mib") is not None:
        per = (P["pss_peak_mib"] - P["pss_idle_mib"]) * 1024 / args.sessions
        add("")
        if args.sessions >= 1000 and args.size >= 10 * 2**20:
            add("Target: Petrel's peak under 256 MiB: %s (%.0f MiB PSS; %.0f KiB per session "
                "over the idle daemon's)." % ("met" if P["pss_peak_mib"] < 256 else
                                              "**not met**", P["pss_peak_mib"], per))
        else:
            # Memory per session scales with the message if bodies live in RAM.
            add("Target (Petrel's peak under 256 MiB) applies at 1,000 × 10 MiB; Petrel took "
                "%.0f KiB per session over the idle daemon's here (%.2f× the message), which "
                "at that scale would be about %s MiB if it grows with the message size." % (
                    per, per * 1024 / args.size, fmt(per * 1000 * (10 * 2**20) / args.size / 1024)))
    add("")
    add("Checks (nothing may fail):")
    add("")
    for r in res["runs"]["bigmsg"]:
        add("- %s: %s; acknowledged %s of %d, delivered %s (wrong size %s, duplicates %s, "
            "unrecognised %s); session errors %s%s%s" % (
                r["kind"], "ok" if r["ok"] else "**NOT OK**", fmt(r.get("acked")), args.sessions,
                fmt(r.get("delivered")), fmt(r.get("bad_size")), fmt(r.get("duplicates")),
                fmt(r.get("unrecognised")), fmt(r.get("errors")),
                " — e.g. " + "; ".join(r["first_errors"]) if r.get("first_errors") else "",
                " — " + (r.get("failure") or r.get("breach") or "")
                if r.get("failure") or r.get("breach") else ""))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--size", type=int, default=10 * 2**20, help="message bytes")
    ap.add_argument("--send-seconds", type=float, default=60.0,
                    help="each message is written over this long")
    ap.add_argument("--servers", default="petrel,postfix")
    ap.add_argument("--timeout", type=float, default=None,
                    help="bound of the sessions, s (default send-seconds × 3 + 300)")
    ap.add_argument("--deliver-timeout", type=float, default=None,
                    help="bound of the deliveries after the sessions, s "
                    "(default max(300, total bytes / 10 MiB/s))")
    ap.add_argument("--rss-cap", type=int, default=None,
                    help="MiB; a server over it is killed (default half the RAM)")
    ap.add_argument("--note", default="", help="a line for the report (e.g. machine not quiet)")
    bench.add_common_args(ap)
    args = ap.parse_args()
    total = args.sessions * args.size
    args.timeout = args.timeout or args.send_seconds * 3 + 300
    args.deliver_timeout = args.deliver_timeout or max(300.0, total / (10 * 2**20))
    args.rss_cap = args.rss_cap or bench.machine_info("/")["mem_mib"] // 2
    servers = [s for s in args.servers.split(",") if s]

    def run(top, binary, res):
        free = shutil.disk_usage(top).free
        if free < 2.5 * total:
            sys.exit("%s has %d MiB free; %d sessions × %d bytes need about %d MiB (queue and "
                     "Maildir)" % (top, free >> 20, args.sessions, args.size, 2.5 * total / 2**20))
        if res["nofile"] < args.sessions * 2 + 100:
            sys.exit("RLIMIT_NOFILE is %d: too low for %d sessions" % (res["nofile"],
                                                                       args.sessions))
        body = make_body(args.size)
        res["runs"]["bigmsg"] = []
        for kind in servers:
            log("%s ..." % kind)
            r = run_one(kind, binary, top, args, body)
            res["runs"]["bigmsg"].append(r)
            bench.log_run(r)
    bench.bench_main(args, servers, "bigmsg.py", run, build_report)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))  # finally clauses still stop servers
    main()
