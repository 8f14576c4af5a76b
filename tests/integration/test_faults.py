"""Faults around the daemon, not in it. A spool file system that fills up:
the message that does not fit gets 452 4.3.1, nothing already queued is lost
or damaged (not even by a crash and a restart on the full file system), and
mail is accepted again as soon as space is back, without a restart. A DNS
server that never answers: the message is deferred, not bounced or lost.
An unwritable mailbox (test_limits.py), a SERVFAIL and a stalled peer
(test_outbound.py) are tested elsewhere."""

import hashlib
import os
import re
import smtplib
import subprocess

import harness
from dnsserver import DNSServer
from harness import Petrel, wait_for


def petrel_cmd(d, *args):
    """Runs `petrel ARGS -c CONF`, which must succeed; returns its output."""
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")
    p = subprocess.run([harness.BINARY, *args, "-c", d.config], capture_output=True,
                       text=True, timeout=30, env=env)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p.stdout


def petrel_queue(d):
    return petrel_cmd(d, "queue")


def queued_count(d):
    out = petrel_queue(d)
    if "Mail queue is empty" in out:
        return 0
    m = re.search(r"^-- (\d+) messages?, ", out, re.M)
    assert m, out
    return int(m.group(1))


def mount_small_fs(path, mib):
    """Mounts a file system of mib MiB on path: tmpfs, or else a loop-mounted
    ext4 image. Returns a description, or None when neither can be mounted
    (not root)."""
    os.makedirs(path)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % mib, "tmpfs", path],
                       capture_output=True, text=True)
    if p.returncode == 0:
        return "tmpfs"
    image = path + ".img"
    with open(image, "wb") as f:
        f.truncate(mib << 20)
    for cmd in (["mkfs.ext4", "-q", "-F", "-m", "0", image],
                ["mount", "-o", "loop", image, path]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print("cannot mount a small file system (%s): %s" % (" ".join(cmd), p.stderr.strip()))
            return None
    return "ext4 on a loop device"


def unmount(path):
    if os.path.ismount(path):
        if subprocess.run(["umount", path], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", path], capture_output=True)
    assert not os.path.ismount(path), "could not unmount " + path


def body_of(n, size):
    """A body of about size bytes that only message n has, so a damaged or
    mixed-up copy shows."""
    lines, i = ["Subject: fill %d" % n, "X-Fill: %d" % n, ""], 0
    while sum(len(l) + 2 for l in lines) < size:
        lines.append(hashlib.sha256(b"%d/%d" % (n, i)).hexdigest())
        i += 1
    return "\r\n".join(lines) + "\r\n"


def send(d, n, size):
    """(code, reply text) of the DATA of message n."""
    with smtplib.SMTP("127.0.0.1", d.port, timeout=20) as s:
        s.ehlo("filler.example.org")
        s.mail("filler@example.org")
        assert s.rcpt("alice@example.test")[0] == 250
        return s.data(body_of(n, size).encode())


def test_full_spool_452_nothing_lost_and_recovers_without_restart():
    # Delivery is held back (alice's Maildir path is a regular file; retries
    # an hour apart), so everything accepted stays in the spool.
    d = Petrel({"retry-initial": "1h", "retry-max": "1h"})
    fs = os.path.join(d.dir, "spoolfs")
    kind = mount_small_fs(fs, 4)
    if kind is None:
        return  # not root: no small file system to fill
    try:
        with open(d.config) as f:
            conf = f.read()
        with open(d.config, "w") as f:
            f.write(conf.replace("spool %s/spool\n" % d.dir, "spool %s/spool\n" % fs))
        os.makedirs(os.path.join(d.dir, "mail"))
        blocker = os.path.join(d.dir, "mail", "alice")
        with open(blocker, "w") as f:
            f.write("not a maildir")
        d.start()
        # Leave room for a handful of messages only.
        st = os.statvfs(fs)
        filler = os.path.join(fs, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - (640 << 10)))
            f.flush()
            os.fsync(f.fileno())
        size = 48 << 10
        accepted, rejected = [], None
        for n in range(200):  # bounded: 640 KiB hold about a dozen
            code, text = send(d, n, size)
            if code == 250:
                accepted.append(n)
                continue
            assert code == 452 and text.startswith(b"4.3.1"), (code, text)
            rejected = n
            break
        print("%s: %d messages of %d KiB accepted, then 452" % (kind, len(accepted), size >> 10))
        assert rejected is not None and len(accepted) >= 3, accepted
        assert "No space left on device" in d.run_log()
        # The daemon goes on; the queue holds exactly what got a 250, also
        # after a crash and a restart on the full file system.
        assert d.proc.poll() is None
        assert queued_count(d) == len(accepted)
        d.kill9()
        d.start()
        assert "petrel started: %d queued" % len(accepted) in d.run_log()
        assert queued_count(d) == len(accepted)
        code, _ = send(d, 1000, size)
        assert code == 452

        # Space is back: the same daemon accepts mail again.
        os.unlink(filler)
        code, text = send(d, 1001, size)
        assert code == 250, (code, text)
        accepted.append(1001)
        assert queued_count(d) == len(accepted)

        # Restart with the mailbox unblocked and flush (retry times survive
        # the restart): every accepted message is delivered intact and once;
        # the rejected ones never are.
        d.stop()
        os.unlink(blocker)
        d.start()
        assert "petrel started: %d queued" % len(accepted) in d.run_log()
        petrel_cmd(d, "flush")
        msgs = d.wait_mail("alice", len(accepted), timeout=30)
        wait_for(lambda: queued_count(d) == 0, what="the queue to empty")
        assert len(d.maildir("alice")) == len(accepted)
        got = {}
        for m in msgs:
            n = int(re.search(rb"^X-Fill: (\d+)\r?$", m, re.M).group(1))
            got[n] = m
        assert sorted(got) == sorted(accepted), (sorted(got), accepted)
        for n, m in got.items():
            want = body_of(n, size).replace("\r\n", "\n").encode()
            assert m.replace(b"\r\n", b"\n").endswith(want), "message %d damaged" % n
    except BaseException:
        print("--- petrel log (%s) ---\n%s" % (d.dir, d.log()[-4000:]))
        raise
    finally:
        d.stop()
        unmount(fs)
    d.cleanup()


def test_dns_timeout_defers():
    dns = DNSServer({"slow.test": {"DROP": True}}).start()
    try:
        with Petrel({"dns-server": "127.0.0.1:%d" % dns.port}) as d:
            with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
                s.sendmail("alice@example.test", ["x@slow.test"],
                           "Subject: no answer\r\n\r\nthe resolver times out\r\n")
            # The resolver gives up after its timeouts and retries: deferred.
            d.wait_log("status=deferred", timeout=30)
            assert any(q[0] == "slow.test" for q in dns.queries), dns.queries
            assert "status=bounced" not in d.run_log()
            assert d.maildir("alice") == []  # no bounce to the sender
            out = petrel_queue(d)
            assert "to <x@slow.test>" in out and "-- 1 message, " in out, out
    finally:
        dns.stop()


def test_lmtp_and_dns_short_of_descriptors_hold_mail_back_not_blame_the_peer():
    """Out of descriptors, the LMTP connect and the DNS lookup could not
    even make a socket, and the EMFILE was taken for the LMTP server's or
    the domain's failure: an attempt recorded (deferred, backoff growing)
    and the destination marked unreachable. Now each is our own shortage:
    held back a few seconds, logged once, no attempt recorded."""
    import resource

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    with Petrel({"local-delivery": "lmtp unix:/nonexistent/lmtp", "route": None},
                preexec=low_limit) as d:
        send_to(d, "alice@example.test")
        send_to(d, "x@remote.test")
        # First attempts: the LMTP socket is not there, the DNS server
        # does not answer (harness default): both deferred, retried in 1 s.
        wait_for(lambda: d.run_log().count("status=deferred") >= 2, what="first attempts")
        conns = harness.exhaust_descriptors(d)
        try:
            for what in ("lmtp unix:/nonexistent/lmtp: socket: Too many open files",
                         "dns: MX remote.test: Too many open files"):
                wait_for(lambda: "short of a local resource (%s" % what in d.run_log(),
                         what="held back for want of a descriptor: " + what)
        finally:
            for c in conns:
                c.close()
        log = d.run_log()
        assert not re.search(r"status=deferred.*Too many open files", log), log
        assert "unreachable (dns: MX remote.test: Too many" not in log, log


def send_to(d, rcpt):
    with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as s:
        s.sendmail("s@example.org", [rcpt], b"Subject: short\r\n\r\nbody\r\n")
