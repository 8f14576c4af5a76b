#!/usr/bin/env python3
"""Petrel vs Postfix, side by side, on this machine.

    make bench                      (= make, then python3 bench/bench.py)
    python3 bench/bench.py --messages 2000 --rounds 1          a quick run
    python3 bench/bench.py --workloads accept --servers petrel --perf /tmp/petrel.perf

A benchmark, not a test: it never runs in `make test`. It needs root (Postfix
must be started as root; cgroups and RLIMIT_NOFILE are raised) and the Debian
package `postfix` (smtp-source, smtp-sink, postfix). Everything runs on
loopback addresses in a temporary directory; every load loop is bounded in
count and in time and stops by itself.

Workloads (each run several times, Petrel and Postfix alternating, A B A B):

  accept       smtp-source sends N messages of SIZE bytes over S parallel
               sessions (one message per connection, smtp-source's default;
               --session-reuse for -d) to the server, which relays everything
               to an smtp-sink on another loopback port. Accepted msgs/s =
               N / smtp-source wall time; end-to-end msgs/s = N / time until
               the sink has received all N. Cost = CPU seconds (user+sys) of
               all the server's processes from the start of smtp-source until
               the sink has all and one settle second more, per 1,000 msgs.
               The same smtp-source run straight at a bare smtp-sink gives the
               protocol ceiling (no disk, no relay) in the same round.
  latency      one session, L messages in sequence (MAIL, RCPT, DATA one at a
               time, no pipelining); for each message the time from sending
               the end of data (body + CRLF.CRLF, one write) to reading the
               250 reply; p50 and p99.
  concurrency  a non-blocking client opens C connections at once, reads each
               banner, sends EHLO and reads the reply; counts banners received
               within W seconds of the first connect, then sums VmRSS (and PSS)
               of the server's processes with all sessions open; then resets
               every connection.
  fsync        a probe of the disk under the work directory: 4 KiB appends,
               fdatasync (and fsync) after each, and batched (one fdatasync
               per batch of B records) -- the durability ceiling.

How CPU is counted: each server gets its own cgroup (cgroup v2 cpu.stat, else
v1 cpuacct) -- Petrel is put into it before exec, Postfix's master and every
process of its session right after `postfix start` (later children inherit
it) -- so CPU of processes that exited during the run (smtpd, cleanup, smtp
...) is included. Without cgroups it falls back to /proc: the master's own
utime+stime plus cutime+cstime (its reaped children) plus utime+stime+cutime+
cstime of the live members of its session, differenced across the run. Both
are recorded; the report uses the cgroup figure when there is one.
"""

import argparse
import datetime
import errno
import hashlib
import json
import os
import platform
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from harness import free_port, wait_for  # noqa: E402
from postfix import (SMTP_SINK, SMTP_SOURCE, PostfixInstance, SmtpSink,  # noqa: E402
                     _session_members, require)

CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536
SENDER = "bench@client.test"
RECIPIENT = "user@remote.test"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Machine and load
# ---------------------------------------------------------------------------

def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def machine_info(workdir):
    cpu = ""
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    # the mount holding the work directory
    best = None
    for line in read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        r = right.split()
        mnt = f[4]
        if (workdir == mnt or workdir.startswith(mnt.rstrip("/") + "/")) and \
                (best is None or len(mnt) > len(best[0])):
            best = (mnt, r[0], r[1], f[5])
    mnt, fstype, source, opts = best or ("?", "?", "?", "?")
    disk = {"mount": mnt, "fs": fstype, "device": source, "options": opts}
    dev = os.path.basename(source)
    blk = "/sys/class/block/%s" % dev
    if os.path.exists(blk):
        parent = os.path.basename(os.path.dirname(os.path.realpath(blk)))
        base = dev if os.path.exists("/sys/block/%s" % dev) else parent
        disk["rotational"] = read("/sys/block/%s/queue/rotational" % base).strip()
        disk["size_gib"] = round(int(read("/sys/block/%s/size" % base, "0") or 0) * 512 / 2**30)
        disk["model"] = (read("/sys/block/%s/device/model" % base).strip() or
                         os.path.basename(os.path.realpath("/sys/block/%s/device/driver" % base)))
        disk["scheduler"] = read("/sys/block/%s/queue/scheduler" % base).strip()
    if fstype == "ext4":  # a journalled ext4 has /proc/fs/jbd2/<dev>-8
        jdir = "/proc/fs/jbd2"
        disk["journal"] = "yes" if os.path.isdir(jdir) and any(
            n.startswith(dev + "-") for n in os.listdir(jdir)) else "no"
    u = platform.uname()
    idle = read("/sys/devices/system/cpu/cpuidle/current_driver").strip()
    poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns").strip()
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_mib": mem,
            "kernel": "%s %s %s" % (u.system, u.release, u.machine), "disk": disk,
            "cpuidle": idle + (" (guest_halt_poll_ns=%s)" % poll if poll else ""),
            "loadavg_start": read("/proc/loadavg").split()[:3]}


def cpu_times():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
    total = sum(f[:8])
    idle = f[3] + f[4]
    return total - idle, total


def proc_stat(pid):
    """(utime, stime, cutime, cstime) in seconds, or None."""
    s = read("/proc/%d/stat" % pid)
    if not s:
        return None
    f = s.rsplit(")", 1)[1].split()
    return tuple(int(x) / CLK_TCK for x in f[11:15])


def session_all(sid):
    """Pids of every process in session sid, zombies included."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = read("/proc/%s/stat" % name)
            if s and int(s.rsplit(")", 1)[1].split()[3]) == sid:
                out.append(int(name))
    return out


def session_live(sid):
    """Whether any process of session sid is still more than a zombie."""
    for pid in session_all(sid):
        st = read("/proc/%d/stat" % pid)
        if st and st.rsplit(")", 1)[1].split()[0] != "Z":
            return True
    return False


def vm_rss_kib(pid):
    for line in read("/proc/%d/status" % pid).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kib(pid):
    for line in read("/proc/%d/smaps_rollup" % pid).splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def rss_kib(pids):
    """Summed VmRSS of the processes."""
    return sum(vm_rss_kib(p) for p in pids)


class Sampler:
    """A thread that samples a server every `interval` seconds until stop():
    the summed RSS and PSS of its processes (peak and last; PSS shares the
    pages several processes map among them, so it is the fair sum for a
    server of many processes), how many there are, and the size of its log. Bounds protect a shared machine: when the RSS goes
    over rss_cap_kib or the log over log_cap_bytes, on_breach(reason) runs
    once (the caller kills the server there) and `breach` says why."""

    def __init__(self, pids, logsize, interval=0.5, rss_cap_kib=None, log_cap_bytes=None,
                 on_breach=None):
        self.pids, self.logsize, self.interval = pids, logsize, interval
        self.rss_cap, self.log_cap, self.on_breach = rss_cap_kib, log_cap_bytes, on_breach
        self.peak_kib = self.last_kib = self.peak_procs = 0
        self.peak_pss_kib = self.last_pss_kib = 0
        self.breach = None
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._th.start()
        return self

    def sample(self):
        pids = self.pids()
        self.last_kib = rss_kib(pids)
        self.peak_kib = max(self.peak_kib, self.last_kib)
        self.last_pss_kib = sum(pss_kib(p) for p in pids)
        self.peak_pss_kib = max(self.peak_pss_kib, self.last_pss_kib)
        self.peak_procs = max(self.peak_procs, len(pids))
        size = self.logsize()
        if self.breach is None:
            if self.rss_cap and self.last_kib > self.rss_cap:
                self.breach = "RSS %.0f MiB over the cap of %.0f MiB" % (
                    self.last_kib / 1024, self.rss_cap / 1024)
            elif self.log_cap and size > self.log_cap:
                self.breach = "log %.0f MiB over the cap of %.0f MiB" % (
                    size / 2**20, self.log_cap / 2**20)
            if self.breach and self.on_breach:
                self.on_breach(self.breach)

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self):
        self._stop.set()
        self._th.join(10)


def file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# ---------------------------------------------------------------------------
# CPU accounting with a cgroup per server
# ---------------------------------------------------------------------------

class Cgroup:
    """A fresh cgroup (v2 if mounted, else v1 cpuacct) or a no-op when neither
    can be created. usage() is CPU seconds (user+sys) of every process that
    ever was in it, exited ones included."""

    def __init__(self, name):
        self.path = None
        self.kind = None
        mounts = {}
        for line in read("/proc/self/mountinfo").splitlines():
            left, _, right = line.partition(" - ")
            r = right.split()
            if r[0] == "cgroup2":
                mounts.setdefault("v2", left.split()[4])
            elif r[0] == "cgroup" and "cpuacct" in r[2].split(","):
                mounts.setdefault("v1", left.split()[4])
        own = {}
        for line in read("/proc/self/cgroup").splitlines():
            hid, ctrl, path = line.split(":", 2)
            if hid == "0":
                own["v2"] = path
            elif "cpuacct" in ctrl.split(","):
                own["v1"] = path
        for kind in ("v2", "v1"):
            if kind not in mounts:
                continue
            path = os.path.join(mounts[kind] + own.get(kind, "/"),
                                "petrel-bench-%d-%s" % (os.getpid(), name))
            try:
                os.mkdir(path)
            except OSError:
                continue
            probe = "cpu.stat" if kind == "v2" else "cpuacct.usage"
            if os.path.exists(os.path.join(path, probe)):
                self.path, self.kind = path, kind
                break
            os.rmdir(path)

    def add(self, pid):
        if not self.path:
            return False
        try:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write("%d\n" % pid)
            return True
        except OSError:
            return False

    def pids(self):
        if not self.path:
            return []
        return [int(x) for x in read(os.path.join(self.path, "cgroup.procs")).split()]

    def usage(self):
        if self.kind == "v2":
            for line in read(os.path.join(self.path, "cpu.stat")).splitlines():
                k, v = line.split()
                if k == "usage_usec":
                    return int(v) / 1e6
        if self.kind == "v1":
            return int(read(os.path.join(self.path, "cpuacct.usage")) or 0) / 1e9
        return None

    def remove(self):
        if not self.path:
            return
        parent = os.path.join(os.path.dirname(self.path), "cgroup.procs")
        for pid in self.pids():  # stragglers (should be none): back to the parent
            try:
                with open(parent, "w") as f:
                    f.write("%d\n" % pid)
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def raise_nofile():
    """RLIMIT_NOFILE up to NOFILE: the hard limit too when we may (root with
    CAP_SYS_RESOURCE), else the soft limit up to the hard one. Returns the
    soft limit now in force (inherited by every child)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, max(NOFILE, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(NOFILE, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------
# The servers under test
# ---------------------------------------------------------------------------

class PetrelServer:
    name = "petrel"

    def __init__(self, binary, relay_port, workdir, extra=()):
        """extra: more config lines (a benchmark's own limits, routes...)."""
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="petrel-", dir=workdir)
        self.port = free_port()
        # Started as root, Petrel drops to its 'user' (default petrel) after
        # binding: run as nobody, who must be able to reach the spool.
        run_as = ["user nobody"] if os.geteuid() == 0 else []
        if run_as:
            for d in (workdir, self.dir):
                os.chmod(d, 0o711)
        self.proc = None
        self.cg = Cgroup("petrel")
        self.config = os.path.join(self.dir, "petrel.conf")
        self.logpath = os.path.join(self.dir, "petrel.log")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "hostname mx.petrel.bench",
                "listen 127.0.0.1:%d" % self.port,
                "spool %s/spool" % self.dir,
                "relay-from 127.0.0.0/8",
                "relay-host 127.0.0.1:%d" % relay_port,
                "max-connections 11000",
            ] + run_as + list(extra)) + "\n")

    def start(self, timeout=20):
        """Starts the daemon; returns once its banner answers (bounded by timeout)."""
        cg = self.cg

        def preexec():
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(NOFILE, hard), hard))
            cg.add(os.getpid())
        with open(self.logpath, "ab") as out:
            self.proc = subprocess.Popen([self.binary, "serve", "-c", self.config],
                                         stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                         preexec_fn=preexec)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("petrel exited with %s:\n%s" % (
                    self.proc.returncode, read(self.logpath)[-3000:]))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        wait_for(ready, timeout, "petrel to listen on port %d" % self.port)

    def pids(self):
        if self.proc and self.proc.poll() is None:
            return [self.proc.pid]
        return []

    def proc_cpu(self):
        st = proc_stat(self.proc.pid) if self.proc else None
        return sum(st) if st else 0.0

    def cpu(self):
        return self.cg.usage()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        """SIGKILL: no chance to tidy up (the crash a recovery must survive)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self, keep=False):
        self.stop()
        self.cg.remove()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self):
        return read(self.logpath)[-2000:]


class PostfixServer:
    """A private Postfix with the Debian defaults (process limits, durability);
    only what a private instance needs differs (tests/postfix.py), plus
    relayhost = the sink."""
    name = "postfix"

    def __init__(self, relay_port, workdir, main=None, mailboxes=()):
        """main: main.cf settings over the instance's; mailboxes: virtual
        Maildirs of the instance's domain (see tests/postfix.py)."""
        self.dir = tempfile.mkdtemp(prefix="postfix-", dir=workdir)
        self.inst = PostfixInstance(dir=self.dir, relayhost="[127.0.0.1]:%d" % relay_port,
                                    mailboxes=mailboxes, main=main)
        self.port = self.inst.port
        self.cg = Cgroup("postfix")

    def start(self, timeout=60):
        self.inst.start(timeout=timeout)
        self.sweep()

    def sweep(self):
        """Moves every process of the instance into the cgroup (new children of
        the master are born there anyway)."""
        pid = self.inst.master_pid
        if pid:
            for p in [pid] + _session_members(pid):
                self.cg.add(p)

    def pids(self):
        pid = self.inst.master_pid
        return sorted(set(([pid] if pid else []) + (_session_members(pid) if pid else [])))

    def proc_cpu(self):
        """The /proc method: master's own and reaped children's times plus the
        other members' (zombies included: not yet in the master's cutime) own
        and reaped children's times."""
        pid = self.inst.master_pid
        total = 0.0
        for p in session_all(pid) if pid else []:
            st = proc_stat(p)
            if st:
                total += sum(st)
        return total

    def cpu(self):
        self.sweep()
        return self.cg.usage()

    def stop(self):
        self.inst.stop()

    def kill(self):
        """SIGKILL to the master and every process of its session at once."""
        pid = self.inst.master_pid
        for p in ([pid] + _session_members(pid)) if pid else []:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        while pid and session_live(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.inst.started = False
        self.inst.master_pid = None

    def cleanup(self, keep=False):
        self.inst.stop()
        self.cg.remove()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self):
        return self.inst.log()[-2000:]


# ---------------------------------------------------------------------------
# smtp-sink counter reading (cheap: only the tail of the counter file)
# ---------------------------------------------------------------------------

def sink_messages(sink):
    try:
        with open(sink.counterpath, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 400))
            text = f.read().decode("ascii", "replace")
    except FileNotFoundError:
        return 0
    best = 0
    for rec in text.replace("\n", "\r").split("\r"):
        for item in rec.split():
            k, _, v = item.partition("=")
            if k == "mesg" and v.isdigit():
                best = max(best, int(v))
    return best


def start_sink(extra=()):
    sink = SmtpSink(dump=False, extra_args=list(extra))
    sink.start()
    return sink


# ---------------------------------------------------------------------------
# Workload: accept (+ end to end, cost) and the smtp-sink ceiling
# ---------------------------------------------------------------------------

def run_smtp_source(port, args, timeout):
    """Runs smtp-source; returns (wall seconds, exit status, rusage, stderr)."""
    argv = [SMTP_SOURCE, "-4", "-s", str(args.sessions), "-m", str(args.messages),
            "-l", str(args.size), "-M", "client.test", "-f", SENDER, "-t", RECIPIENT]
    if args.session_reuse:
        argv.append("-d")
    argv.append("127.0.0.1:%d" % port)
    errf = tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
    result = {}

    def waiter():
        _, status, ru = os.wait4(p.pid, 0)
        result["t"] = time.monotonic()
        result["status"] = status
        result["ru"] = ru
    th = threading.Thread(target=waiter, daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        p.kill()
        th.join(10)
        result.setdefault("t", time.monotonic())
        result.setdefault("status", -1)
        result["timeout"] = True
    p.returncode = 0  # reaped by wait4 above
    errf.seek(0)
    err = errf.read().decode("utf-8", "replace")[-1000:]
    return t0, result, err


def run_accept(kind, args, binary, workdir):
    n = args.messages
    sink = start_sink()
    server = None
    try:
        if kind == "petrel":
            server = PetrelServer(binary, sink.port, workdir)
        elif kind == "postfix":
            server = PostfixServer(sink.port, workdir)
        if server:
            server.start()
        port = server.port if server else sink.port
        time.sleep(0.5)  # let start-up work (postfix check, recovery) settle
        cpu0 = server.cpu() if server else None
        pcpu0 = server.proc_cpu() if server else None
        sink_cpu0 = sum(proc_stat(sink.proc.pid) or (0,))
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        busy0, total0 = cpu_times()
        load = read("/proc/loadavg").split()[0]

        timeout = args.timeout or max(120.0, n / 50.0)
        t0, res, err = run_smtp_source(port, args, timeout)
        t_accept = res["t"] - t0
        ok = not res.get("timeout") and os.WIFEXITED(res["status"]) and \
            os.WEXITSTATUS(res["status"]) == 0
        # end to end: until the sink has all of them (bounded)
        deadline = time.monotonic() + timeout
        got = sink_messages(sink)
        while got < n and time.monotonic() < deadline:
            if server and server.pids() == []:
                break
            time.sleep(0.01)
            got = sink_messages(sink)
        t_e2e = time.monotonic() - t0
        if server:
            time.sleep(args.settle)
            cpu1 = server.cpu()
            pcpu1 = server.proc_cpu()
        busy1, total1 = cpu_times()
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        sink_cpu1 = sum(proc_stat(sink.proc.pid) or (0,))
        ru = res.get("ru")
        client_cpu = (ru.ru_utime + ru.ru_stime) if ru else 0.0
        machine_busy = (busy1 - busy0) / CLK_TCK
        wall = (total1 - total0) / CLK_TCK / (os.cpu_count() or 1)
        out = {
            "ok": ok and got >= n,
            "smtp_source_status": res.get("status"),
            "smtp_source_err": err.strip()[-300:] if not ok else "",
            "accept_s": t_accept,
            "accept_rate": n / t_accept,
            "sink_got": got,
            "e2e_s": t_e2e if got >= n else None,
            "e2e_rate": n / t_e2e if got >= n else None,
            "client_cpu_s": client_cpu,
            "sink_cpu_s": sink_cpu1 - sink_cpu0,
            "loadavg1": load,
            "machine_busy_s": machine_busy,
            "machine_busy_pct": 100.0 * machine_busy / ((total1 - total0) / CLK_TCK or 1),
            "wall_s": wall,
        }
        if server:
            cpu = (cpu1 - cpu0) if cpu0 is not None else None
            out["cpu_cgroup_s"] = cpu
            out["cpu_proc_s"] = pcpu1 - pcpu0
            out["cpu_s"] = cpu if cpu is not None else out["cpu_proc_s"]
            out["cpu_per_1000"] = out["cpu_s"] * 1000.0 / n
            out["cpu_method"] = ("cgroup " + server.cg.kind) if cpu is not None else "proc"
            other = machine_busy - out["cpu_s"] - client_cpu - out["sink_cpu_s"] - (
                self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime)
        else:
            out["cpu_s"] = out["sink_cpu_s"]
            out["cpu_per_1000"] = out["sink_cpu_s"] * 1000.0 / n
            other = machine_busy - client_cpu - out["sink_cpu_s"] - (
                self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime)
        out["other_cpu_s"] = max(0.0, other)
        if not out["ok"] and server:
            out["server_log"] = server.log_tail()
        return out
    finally:
        if server:
            server.cleanup(args.keep)
        sink.cleanup()


# ---------------------------------------------------------------------------
# Workload: latency, one session, messages in sequence
# ---------------------------------------------------------------------------

def make_message(size, i):
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: bench %d\r\n"
            "Message-ID: <bench.%d.%d@client.test>\r\n\r\n" % (SENDER, RECIPIENT, i, os.getpid(), i))
    line = ("x" * 76 + "\r\n").encode()
    body = (line * (size // len(line) + 1))[:size - 2] + b"\r\n"
    return head.encode() + body


class Replies:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            if line[3:4] != b"-":
                return int(line[:3]), line


def run_latency(kind, args, binary, workdir):
    n = args.latency_messages
    sink = start_sink()
    server = None
    try:
        server = PetrelServer(binary, sink.port, workdir) if kind == "petrel" else \
            PostfixServer(sink.port, workdir)
        server.start()
        time.sleep(0.5)
        load = read("/proc/loadavg").split()[0]
        busy0, total0 = cpu_times()
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r = Replies(s)
        deadline = time.monotonic() + (args.timeout or max(120.0, n / 20.0))

        def cmd(text, want):
            s.sendall(text)
            code, line = r.reply()
            if code != want:
                raise AssertionError("%r -> %r" % (text, line))
        code, _ = r.reply()
        assert code == 220
        cmd(b"EHLO client.test\r\n", 250)
        lat = []
        t_start = time.monotonic()
        for i in range(n):
            if time.monotonic() > deadline:
                break
            cmd(b"MAIL FROM:<%s>\r\n" % SENDER.encode(), 250)
            cmd(b"RCPT TO:<%s>\r\n" % RECIPIENT.encode(), 250)
            cmd(b"DATA\r\n", 354)
            data = make_message(args.size, i) + b".\r\n"
            t0 = time.perf_counter()
            s.sendall(data)
            code, line = r.reply()
            t1 = time.perf_counter()
            if code != 250:
                raise AssertionError("end of data -> %r" % line)
            lat.append(t1 - t0)
        total = time.monotonic() - t_start
        try:
            cmd(b"QUIT\r\n", 221)
        except (OSError, EOFError, AssertionError):
            pass
        s.close()
        busy1, total1 = cpu_times()
        lat.sort()

        def pct(p):
            return lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))] * 1000.0
        return {"ok": len(lat) == n, "n": len(lat), "p50_ms": pct(50), "p90_ms": pct(90),
                "p99_ms": pct(99), "max_ms": lat[-1] * 1000.0, "mean_ms": statistics.mean(lat) * 1000,
                "session_s": total, "loadavg1": load,
                "machine_busy_pct": 100.0 * (busy1 - busy0) / ((total1 - total0) or 1)}
    finally:
        if server:
            server.cleanup(args.keep)
        sink.cleanup()


# ---------------------------------------------------------------------------
# Workload: concurrency, C idle sessions that have said EHLO
# ---------------------------------------------------------------------------

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def idle_sessions(port, count, window, client_addrs):
    """Opens `count` connections at once (bounded: count sockets, `window`
    seconds), reads banners, sends EHLO, reads the reply. Returns the sockets
    (still open) and counters."""
    sel = selectors.DefaultSelector()
    socks = []
    st = {"connect_errors": 0, "banner": 0, "ehlo": 0, "refused": 0, "closed": 0,
          "banner_times": []}
    t0 = time.monotonic()
    deadline = t0 + window
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            if client_addrs > 1:
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind(("127.0.0.%d" % (1 + i % client_addrs), 0))
            err = s.connect_ex(("127.0.0.1", port))
        except OSError as e:
            err = e.errno
        if err not in (0, errno.EINPROGRESS):
            st["connect_errors"] += 1
            s.close()
            continue
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, [0, b""])  # state, buffer
        if time.monotonic() > deadline:
            break
    st["connect_s"] = time.monotonic() - t0
    pending = len(socks)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
            s, data = key.fileobj, key.data
            try:
                chunk = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                st["closed"] += 1
                sel.unregister(s)
                pending -= 1
                continue
            data[1] += chunk
            while b"\n" in data[1]:
                line, data[1] = data[1].split(b"\n", 1)
                if line[3:4] == b"-":
                    continue
                if data[0] == 0:
                    if line[:3] == b"220":
                        st["banner"] += 1
                        st["banner_times"].append(time.monotonic() - t0)
                        data[0] = 1
                        try:
                            s.send(b"EHLO client.test\r\n")
                        except OSError:
                            pass
                    else:
                        st["refused"] += 1
                        data[0] = 3
                elif data[0] == 1:
                    if line[:3] == b"250":
                        st["ehlo"] += 1
                    data[0] = 2
            if data[0] >= 2:
                sel.unregister(s)
                pending -= 1
    sel.close()
    bt = sorted(st.pop("banner_times"))
    st["banner_p50_s"] = bt[len(bt) // 2] if bt else None
    st["banner_last_s"] = bt[-1] if bt else None
    return socks, st


def close_all(socks):
    linger = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # struct linger {1, 0}: reset, no TIME_WAIT
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        s.close()


def run_concurrency(kind, args, binary, workdir):
    sink = start_sink()
    server = None
    socks = []
    try:
        server = PetrelServer(binary, sink.port, workdir) if kind == "petrel" else \
            PostfixServer(sink.port, workdir)
        server.start()
        time.sleep(0.5)
        pids = server.pids()
        rss_idle = sum(vm_rss_kib(p) for p in pids)
        load = read("/proc/loadavg").split()[0]
        socks, st = idle_sessions(server.port, args.idle_sessions, args.window, args.client_addrs)
        pids = server.pids()
        st["processes"] = len(pids)
        st["rss_mib"] = sum(vm_rss_kib(p) for p in pids) / 1024.0
        st["pss_mib"] = sum(pss_kib(p) for p in pids) / 1024.0
        st["rss_idle_mib"] = rss_idle / 1024.0
        st["loadavg1"] = load
        st["ok"] = st["banner"] == args.idle_sessions
        return st
    finally:
        close_all(socks)
        if server:
            server.cleanup(args.keep)
        sink.cleanup()


# ---------------------------------------------------------------------------
# fsync probe
# ---------------------------------------------------------------------------

def fsync_probe(workdir, records=1000, batch_records=10000, batches=(20, 100), max_s=10.0):
    out = {}
    path = os.path.join(workdir, "fsync-probe")
    rec = os.urandom(4096)

    def run(total, per_batch, sync):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fsync(fd)
            off = 0
            done = 0
            lat = []
            t0 = time.perf_counter()
            while done < total and time.perf_counter() - t0 < max_s:
                k = min(per_batch, total - done)
                t = time.perf_counter()
                n = os.pwritev(fd, [rec] * k, off)
                off += n
                sync(fd)
                lat.append(time.perf_counter() - t)
                done += k
            el = time.perf_counter() - t0
        finally:
            os.close(fd)
            os.unlink(path)
        lat.sort()
        return {"records": done, "records_per_s": done / el, "syncs_per_s": len(lat) / el,
                "sync_p50_ms": lat[len(lat) // 2] * 1000.0,
                "sync_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000.0,
                "sync_max_ms": lat[-1] * 1000.0}
    out["fdatasync_each"] = run(records, 1, os.fdatasync)
    out["fsync_each"] = run(records, 1, os.fsync)
    # The same with another process spinning on a CPU: on VMs whose idle vCPUs
    # halt (no halt polling), waking a halted vCPU for the I/O completion can
    # cost more than the sync itself; this shows how much.
    spin = subprocess.Popen([sys.executable, "-c", "import time\ne = time.time() + %g\n"
                             "while time.time() < e: pass" % (max_s + 2)])
    try:
        out["fdatasync_each_cpu_busy"] = run(records, 1, os.fdatasync)
    finally:
        spin.kill()
        spin.wait()
    for b in batches:
        out["fdatasync_batch_%d" % b] = run(batch_records, b, os.fdatasync)
    return out


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, nd=0):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if nd == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, nd)


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "–"
    return "{:.{}f}×".format(a / b, nd)


def report_header(res):
    """The lines every report starts with: when, how, what was run where."""
    m = res["machine"]
    lines = []
    add = lines.append
    add("Date: %s" % res["date"])
    add("Command: `%s`" % res["command"])
    add("Petrel: %s (sha256 %s…), git %s%s" % (
        res["petrel"]["path"], res["petrel"]["sha256"][:12], res["petrel"]["git"],
        " + uncommitted changes in src/ (binary as built in the checkout)"
        if res["petrel"]["dirty"] else ""))
    add("Postfix: %s" % res.get("postfix_version", "?"))
    d = m["disk"]
    add("Machine: %d cores (%s), %s MiB RAM, %s; disk %s (%s, %s%s, rotational=%s, %s GiB) "
        "mounted on %s" % (m["cores"], m["cpu"], fmt(m["mem_mib"]), m["kernel"], d.get("device"),
                           d.get("model", "?"), d.get("fs"),
                           " without journal" if d.get("journal") == "no" else "",
                           d.get("rotational", "?"), d.get("size_gib", "?"), d.get("mount")))
    add("cpuidle: %s" % (m.get("cpuidle") or "?"))
    add("RLIMIT_NOFILE for the servers and the client: %s; nice value of everything the "
        "benchmark runs: %s" % (res.get("nofile"), res.get("nice", "?")))
    add("Load: loadavg at start %s, at end %s" % (" ".join(m["loadavg_start"]),
                                                   " ".join(res.get("loadavg_end", []))))
    return lines


def build_report(res, args):
    lines = report_header(res)
    add = lines.append
    add("Workload: %d messages × %d bytes, %d parallel sessions (%s), %d rounds; latency %d "
        "messages; concurrency %d sessions, window %g s" % (
            args.messages, args.size, args.sessions,
            "connection reuse, -d" if args.session_reuse else "one message per connection",
            args.rounds, args.latency_messages, args.idle_sessions, args.window))
    add("")
    A = res["runs"]
    acc = A.get("accept", {})
    P, F, S = acc.get("petrel", []), acc.get("postfix", []), acc.get("smtp-sink", [])
    lat = A.get("latency", {})
    LP, LF = lat.get("petrel", []), lat.get("postfix", [])
    con = A.get("concurrency", {})
    CP, CF = con.get("petrel", []), con.get("postfix", [])
    add("| metric (median of rounds) | Petrel | Postfix | Petrel/Postfix | target | met |")
    add("|---|---:|---:|---:|---|---|")
    targets = []

    def row(name, a, b, nd, target, met, r=None):
        add("| %s | %s | %s | %s | %s | %s |" % (name, fmt(a, nd), fmt(b, nd),
                                                r if r is not None else ratio(a, b), target,
                                                "–" if met is None else ("yes" if met else "**no**")))
        if met is not None:
            targets.append((name, target, met))
    ap, af = med(P, "accept_rate"), med(F, "accept_rate")
    ep, ef = med(P, "e2e_rate"), med(F, "e2e_rate")
    cp, cf = med(P, "cpu_per_1000"), med(F, "cpu_per_1000")
    ceil = med(S, "accept_rate")
    if P or F:
        row("accept, msgs/s", ap, af, 0, "≥ 5× Postfix",
            (ap / af >= 5) if ap and af else None)
        row("accept vs smtp-sink ceiling (%s msgs/s)" % fmt(ceil), ap, af, 0, "Petrel ≥ 50%",
            (ap / ceil >= 0.5) if ap and ceil else None,
            r="%s / %s of ceiling" % (ratio(ap, ceil) if ap else "–", ratio(af, ceil) if af else "–"))
        row("end to end, msgs/s", ep, ef, 0, "≥ 3× Postfix", (ep / ef >= 3) if ep and ef else None)
        row("CPU s per 1,000 msgs (all server processes)", cp, cf, 2, "≤ 1/5 Postfix",
            (cp / cf <= 0.2) if cp and cf else None)
    if LP or LF:
        p50p, p50f = med(LP, "p50_ms"), med(LF, "p50_ms")
        p99p, p99f = med(LP, "p99_ms"), med(LF, "p99_ms")
        row("latency end-of-data→250 p50, ms", p50p, p50f, 2, "", None)
        row("latency end-of-data→250 p99, ms", p99p, p99f, 2, "Petrel p99 ≤ Postfix p50",
            (p99p <= p50f) if p99p is not None and p50f is not None else None)
    if CP or CF:
        bp, bf = med(CP, "banner"), med(CF, "banner")
        rp, rf = med(CP, "rss_mib"), med(CF, "rss_mib")
        row("banners within %g s (of %s)" % (args.window, fmt(args.idle_sessions)), bp, bf, 0,
            "all", (bp == args.idle_sessions) if bp is not None else None)
        row("total RSS with the sessions open, MiB", rp, rf, 1, "< 200 MiB",
            (rp < 200) if rp is not None else None)
        add("| total PSS with the sessions open, MiB | %s | %s | %s | | |" % (
            fmt(med(CP, "pss_mib"), 1), fmt(med(CF, "pss_mib"), 1),
            ratio(med(CP, "pss_mib"), med(CF, "pss_mib"))))
    if S:
        add("| smtp-sink alone (ceiling), msgs/s | | | | %s | |" % fmt(ceil))
    pairs = [(p_["accept_rate"], f_["accept_rate"]) for p_, f_ in zip(P, F)]
    if pairs:
        add("")
        add("Accept, Petrel/Postfix round by round (each pair run back to back): %s; median %s. "
            "Petrel/ceiling round by round: %s." % (
                ", ".join("%.2f×" % (a / b) for a, b in pairs),
                "%.2f×" % statistics.median(a / b for a, b in pairs),
                ", ".join("%.2f" % (p_["accept_rate"] / s_["accept_rate"])
                          for p_, s_ in zip(P, S)) or "–"))
    fs = res.get("fsync")
    if fs:
        add("")
        fe, fy = fs["fdatasync_each"], fs["fsync_each"]
        add("fsync probe (4 KiB appends on %s): fdatasync each %s/s (p50 %.2f ms, p99 %s ms), "
            "fsync each %s/s (p50 %.2f ms, p99 %s ms); %s%s" % (
                d.get("device"), fmt(fe["records_per_s"]), fe["sync_p50_ms"],
                fmt(fe.get("sync_p99_ms"), 2), fmt(fy["records_per_s"]), fy["sync_p50_ms"],
                fmt(fy.get("sync_p99_ms"), 2),
                ("fdatasync each while another process keeps a CPU busy %s/s (p50 %.2f ms, p99 %s "
                 "ms); " % (fmt(fs["fdatasync_each_cpu_busy"]["records_per_s"]),
                            fs["fdatasync_each_cpu_busy"]["sync_p50_ms"],
                            fmt(fs["fdatasync_each_cpu_busy"]["sync_p99_ms"], 2))
                 if "fdatasync_each_cpu_busy" in fs else ""),
                "; ".join("batches of %s: %s records/s (%s syncs/s)" % (
                    k.rsplit("_", 1)[1], fmt(v["records_per_s"]), fmt(v["syncs_per_s"]))
                    for k, v in fs.items() if k.startswith("fdatasync_batch"))))
    if targets:
        add("")
        add("Targets met: %d of %d%s" % (sum(1 for t in targets if t[2]), len(targets),
                                          "" if all(t[2] for t in targets) else " — not met: " +
                                          "; ".join("%s (%s)" % (t[0], t[1]) for t in targets if not t[2])))
    # every run, in order, so the spread and the load can be seen
    add("")
    add("Every run, in the order run (load = 1-min loadavg at start; other = CPU s used by "
        "processes outside the benchmark during the run):")
    add("")
    for wl, order in res["order"].items():
        for side, i in order:
            r = res["runs"][wl][side][i]
            if wl == "accept":
                add("- accept %-9s accept %s msgs/s, e2e %s msgs/s, CPU %s s (%s/1000, %s; "
                    "/proc %s s), client %s s, load %s, machine busy %s%%, other %s s%s" % (
                        side, fmt(r["accept_rate"]), fmt(r.get("e2e_rate")), fmt(r["cpu_s"], 2),
                        fmt(r["cpu_per_1000"], 2), r.get("cpu_method", "sink"),
                        fmt(r.get("cpu_proc_s"), 2), fmt(r["client_cpu_s"], 2), r["loadavg1"],
                        fmt(r["machine_busy_pct"]), fmt(r["other_cpu_s"], 2),
                        "" if r["ok"] else " FAILED (sink got %d; %s)" % (r["sink_got"],
                                                                          r["smtp_source_err"])))
            elif wl == "latency":
                add("- latency %-8s p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, %d msgs in "
                    "%.2f s, load %s, machine busy %s%%%s" % (
                        side, r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"], r["n"],
                        r["session_s"], r["loadavg1"], fmt(r["machine_busy_pct"]),
                        "" if r["ok"] else " INCOMPLETE"))
            elif wl == "concurrency":
                add("- concurrency %-8s banners %s, EHLO replies %s, refused %s, closed %s, "
                    "connect errors %s, last banner at %s s, %d processes, RSS %.1f MiB (idle "
                    "%.1f), PSS %.1f MiB, load %s" % (
                        side, r["banner"], r["ehlo"], r["refused"], r["closed"],
                        r["connect_errors"], fmt(r["banner_last_s"], 2), r["processes"],
                        r["rss_mib"], r["rss_idle_mib"], r["pss_mib"], r["loadavg1"]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------

def add_common_args(ap):
    """The options every benchmark in bench/ takes: which Petrel, where, what to keep."""
    ap.add_argument("--petrel", default=os.path.join(ROOT, "build", "petrel"))
    ap.add_argument("--build-rev", metavar="REV",
                    help="instead of --petrel, build Petrel from this git revision (git archive "
                    "into the work directory, make there): a clean, reproducible binary even "
                    "while the checkout is being edited")
    ap.add_argument("--workdir", default=None, help="parent of the temporary directory "
                    "(default: the system's; its disk is the one measured)")
    ap.add_argument("--keep", action="store_true", help="keep server directories")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--report", help="write the markdown report to this file too")
    ap.add_argument("--nice", type=int, default=None,
                    help="run the whole benchmark (servers, clients, sink) at this nice value, "
                    "e.g. -10 to shield both sides alike from other work on the machine")


def freeze_binary(args, top):
    """Copies (or with --build-rev builds) the Petrel under test into top:
    others may rebuild build/petrel during the run. Returns its path and
    what the report says about it."""
    binary = os.path.join(top, "petrel")
    if args.build_rev:
        git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", args.build_rev],
                             capture_output=True, text=True, check=True).stdout.strip()
        src = os.path.join(top, "src-" + git)
        os.mkdir(src)
        log("building Petrel %s in %s ..." % (git, src))
        arch = subprocess.Popen(["git", "-C", ROOT, "archive", git], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", src], stdin=arch.stdout, check=True)
        arch.wait()
        subprocess.run(["make", "-C", src, "-j%d" % (os.cpu_count() or 1), "build/petrel"],
                       check=True, stdout=subprocess.DEVNULL)
        shutil.copy2(os.path.join(src, "build", "petrel"), binary)
        shutil.rmtree(src, ignore_errors=True)
        dirty = False
        built = "built from git %s (clean tree)" % git
    else:
        shutil.copy2(args.petrel, binary)
        git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "src"],
                                    capture_output=True, text=True).stdout.strip())
        built = os.path.relpath(os.path.realpath(args.petrel), ROOT)
    with open(binary, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return binary, {"path": built, "sha256": sha, "git": git, "dirty": dirty}


def start_run(args, servers, name):
    """What every benchmark does first: root and the Postfix tools checked,
    RLIMIT_NOFILE raised, the nice value set, a work directory made, the
    binary frozen, the machine described. Returns (top, binary, res); the
    caller removes top (unless --keep) and ends with finish_run."""
    if os.geteuid() != 0:
        sys.exit("%s must run as root (Postfix starts as root; cgroups; RLIMIT_NOFILE)" % name)
    if "postfix" in servers:
        require(SMTP_SINK, SMTP_SOURCE, "/usr/sbin/postfix")
    else:
        require(SMTP_SINK, SMTP_SOURCE)
    nofile = raise_nofile()
    if args.nice is not None:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by every child
    cmdline = shlex.join([os.path.relpath(sys.argv[0], ROOT) if sys.argv[0].startswith(ROOT)
                          else sys.argv[0]] + sys.argv[1:])
    top = tempfile.mkdtemp(prefix="petrel-bench-", dir=args.workdir)
    os.chmod(top, 0o755)
    binary, petrel = freeze_binary(args, top)
    res = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": "python3 " + cmdline, "args": vars(args),
           "machine": machine_info(os.path.realpath(top)), "petrel": petrel,
           "runs": {}, "order": {}, "nofile": nofile,
           "nice": os.getpriority(os.PRIO_PROCESS, 0)}
    if "postfix" in servers:
        res["postfix_version"] = subprocess.run(
            ["/usr/sbin/postconf", "-d", "-h", "mail_version"], capture_output=True,
            text=True).stdout.strip()
    log("machine: %s" % json.dumps(res["machine"]))
    return top, binary, res


def bench_main(args, servers, name, run, build_report):
    """A benchmark's life: start_run, run(top, binary, res) (which fills
    res["runs"]), finish_run; the work directory goes unless --keep."""
    top, binary, res = start_run(args, servers, name)
    try:
        run(top, binary, res)
        finish_run(res, build_report, args)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)


def log_run(r):
    """One run's figures on stderr, and the server's log tail when it failed."""
    log("  " + ", ".join("%s=%s" % (k, round(v, 3) if isinstance(v, float) else v)
                         for k, v in r.items() if k != "log_tail"))
    if r.get("log_tail"):
        log("  server log tail:\n" + r["log_tail"])


def finish_run(res, build_report, args):
    """Notes the load at the end, builds the report (build_report(res, args)),
    prints it and writes it (and the figures) where asked."""
    res["loadavg_end"] = read("/proc/loadavg").split()[:3]
    report = build_report(res, args)
    print(report)
    if args.report:
        with open(args.report, "w") as f:
            f.write(report + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--size", type=int, default=4096, help="message payload bytes")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--session-reuse", action="store_true",
                    help="smtp-source -d: keep each session for many messages")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-messages", type=int, default=2000)
    ap.add_argument("--idle-sessions", type=int, default=10000)
    ap.add_argument("--window", type=float, default=5.0, help="banner window, seconds")
    ap.add_argument("--client-addrs", type=int, default=1,
                    help="spread the idle sessions over 127.0.0.1..127.0.0.N")
    ap.add_argument("--workloads", default="accept,latency,concurrency,fsync")
    ap.add_argument("--servers", default="petrel,postfix")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the smtp-sink-alone runs")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds after the last relayed message before CPU is read")
    ap.add_argument("--timeout", type=float, default=None, help="per-run bound, seconds")
    ap.add_argument("--perf", help="record a perf profile (cpu-clock, call graphs) of Petrel "
                    "during its first accept run into this file (perturbs that run)")
    add_common_args(ap)
    args = ap.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    top, binary, res = start_run(args, servers, "bench.py")
    try:
        if "concurrency" in workloads and res["nofile"] < args.idle_sessions + 100:
            sys.exit("RLIMIT_NOFILE is %d: too low for %d sessions" % (
                res["nofile"], args.idle_sessions))
        if "fsync" in workloads:
            log("fsync probe ...")
            res["fsync"] = fsync_probe(top)
            log(json.dumps(res["fsync"]))

        funcs = {"accept": run_accept, "latency": run_latency, "concurrency": run_concurrency}
        for wl in ("accept", "latency", "concurrency"):
            if wl not in workloads:
                continue
            sides = list(servers)
            if wl == "accept" and not args.no_ceiling:
                sides.append("smtp-sink")
            res["runs"][wl] = {s: [] for s in sides}
            res["order"][wl] = []
            for rnd in range(args.rounds):
                for side in sides:
                    log("%s round %d/%d: %s ..." % (wl, rnd + 1, args.rounds, side))
                    perf = None
                    if args.perf and wl == "accept" and side == "petrel" and rnd == 0:
                        perf = args.perf
                    if perf:
                        r = run_accept_profiled(side, args, binary, top, perf)
                    else:
                        r = funcs[wl](side, args, binary, top)
                    res["runs"][wl][side].append(r)
                    res["order"][wl].append((side, len(res["runs"][wl][side]) - 1))
                    log("  " + json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                           for k, v in r.items() if k != "server_log"}))
                    if r.get("server_log"):
                        log("  server log tail:\n" + r["server_log"])
        finish_run(res, build_report, args)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)


def run_accept_profiled(side, args, binary, workdir, perf_out):
    """run_accept with `perf record` attached to Petrel for the whole run."""
    orig_start = PetrelServer.start
    holder = {}

    def start(self):
        orig_start(self)
        holder["perf"] = subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
             "-p", str(self.proc.pid), "-o", perf_out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    orig_cleanup = PetrelServer.cleanup

    def cleanup(self, keep=False):
        p = holder.get("perf")
        if p:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        orig_cleanup(self, keep)
    PetrelServer.start, PetrelServer.cleanup = start, cleanup
    try:
        r = run_accept(side, args, binary, workdir)
    finally:
        PetrelServer.start, PetrelServer.cleanup = orig_start, orig_cleanup
    r["profiled"] = True
    return r


if __name__ == "__main__":
    main()
