"""Big messages in bounded memory: a message's content is written into the
spool as it arrives (docs/spool.md, "Drafts"), so the daemon's memory does
not grow with message size, however many sessions send at once; the same
for messages picked up from the maildrop and for reports that return a
whole message (RET=FULL)."""

import hashlib
import subprocess
import threading

import harness
from harness import Petrel, WAIT

SESSIONS = 32
SIZE = 3 << 20
# What one session in the middle of a message may cost at most: the draft's
# memory part (64 KiB), the session's content chunks, one read buffer and
# the connection's own state. Before drafts each cost twice its message.
PER_SESSION = 256 << 10
SLACK = 32 << 20  # delivery workers, the writer, allocator slack


def body_of(i):
    """About SIZE octets of CRLF lines, different for every session."""
    seed = hashlib.sha256(b"%d" % i).hexdigest().encode()
    line = (seed * 3)[:190] + b"\r\n"
    return b"Subject: big %d\r\n\r\n" % i + line * (SIZE // len(line))


def peak_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for pid %d" % pid)


def send_all_at_once(d, bodies):
    """Every session sends its whole content, then waits until all have, so
    that all messages are in flight together before any of them ends."""
    barrier = threading.Barrier(len(bodies), timeout=4 * WAIT)
    replies, errors = [None] * len(bodies), []

    def session(i):
        try:
            c = d.connect(timeout=4 * WAIT)
            assert c.reply()[0] == 220
            assert c.cmd("EHLO big.example.org")[0] == 250
            assert c.cmd("MAIL FROM:<s%d@example.org>" % i)[0] == 250
            assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            body = bodies[i]
            for at in range(0, len(body), 64 << 10):
                c.send(body[at:at + (64 << 10)])
            barrier.wait()
            c.send(b".\r\n")
            replies[i] = c.reply()
            c.cmd("QUIT")
            c.close()
        except BaseException as e:  # noqa: B902 - reported by the main thread
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return replies


def test_memory_per_session_does_not_grow_with_message_size():
    with Petrel({"max-message-size": "16M"}) as d:
        base = peak_rss(d.proc.pid)
        bodies = [body_of(i) for i in range(SESSIONS)]
        replies = send_all_at_once(d, bodies)
        assert all(r and r[0] == 250 for r in replies), replies
        got = d.wait_mail("alice", SESSIONS, timeout=4 * WAIT)
        peak = peak_rss(d.proc.pid)
        # Maildir files have LF line ends; each ends with the content sent.
        want = sorted(b.replace(b"\r\n", b"\n") for b in bodies)
        bodies_got = sorted(m[m.index(b"Subject: big "):] for m in got)
        assert bodies_got == want
        bound = base + SESSIONS * PER_SESSION + SLACK
        assert peak <= bound, "peak RSS %d MiB, bound %d MiB (base %d MiB)" % (
            peak >> 20, bound >> 20, base >> 20)


def test_big_messages_by_data_and_bdat_arrive_intact():
    # Past the draft's memory part the content is spilled to a file and
    # copied into the spool by the writer; both ways of sending it.
    with Petrel({"max-message-size": "16M"}) as d:
        bodies = [body_of(100), body_of(101)]
        c = d.connect()
        assert c.reply()[0] == 220
        assert c.cmd("EHLO big.example.org")[0] == 250
        for i, body in enumerate(bodies):
            assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
            assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
            if i == 0:
                assert c.cmd("DATA")[0] == 354
                c.send(body + b".\r\n")
            else:
                half = len(body) // 2
                c.send(b"BDAT %d\r\n" % half + body[:half])
                assert c.reply()[0] == 250
                c.send(b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:])
            assert c.reply()[0] == 250
        c.cmd("QUIT")
        got = d.wait_mail("alice", 2, timeout=4 * WAIT)
        want = sorted(b.replace(b"\r\n", b"\n") for b in bodies)
        assert sorted(m[m.index(b"Subject: big "):] for m in got) == want


def test_pickup_and_full_bounces_hold_no_message_in_memory():
    # 8 MiB messages to an unknown local user: picked up from the maildrop,
    # refused by local delivery and returned whole (RET=FULL) to alice.
    size, count = 8 << 20, 3
    with Petrel({"max-message-size": "16M"}) as d:
        base = peak_rss(d.proc.pid)
        lines = []
        for i in range(count):
            line = b"line of message %d, " % i + b"x" * 150 + b"\n"
            lines.append(line)
            data = b"Subject: returned %d\n\n" % i + line * (size // len(line))
            p = subprocess.run([harness.BINARY, "sendmail", "-c", d.config, "-f",
                                "alice@example.test", "-R", "full", "nobody@example.test"],
                               input=data, capture_output=True, timeout=4 * WAIT)
            assert p.returncode == 0, p.stderr
        reports = d.wait_mail("alice", count, timeout=4 * WAIT)
        peak = peak_rss(d.proc.pid)
        for i, line in enumerate(lines):
            mine = [r for r in reports if b"Subject: returned %d\n" % i in r]
            assert len(mine) == 1 and line * (size // len(line)) in mine[0]
        bound = base + (8 << 20)
        assert peak <= bound, "peak RSS %d MiB, bound %d MiB (base %d MiB)" % (
            peak >> 20, bound >> 20, base >> 20)


# An ASan build keeps freed memory in quarantine (256 MiB by default), so its
# RSS measures the sanitizer, not Petrel.
test_memory_per_session_does_not_grow_with_message_size.plain_build_only = True
test_pickup_and_full_bounces_hold_no_message_in_memory.plain_build_only = True
