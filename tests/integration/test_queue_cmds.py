"""The postmaster's queue commands against the real daemon (over its control
socket) and with the daemon stopped (the command opens the spool itself):
petrel queue / queue show / hold / release / delete / flush, and mailq.
Mail stays queued because it goes to remote.test, routed to a closed port."""

import os
import re
import select
import smtplib
import socket
import stat
import subprocess
import tempfile

import harness
from harness import Petrel

SETTINGS = {"route": "remote.test 127.0.0.1:1"}


def petrel(d, *args, binary=None):
    """Runs a queue command; returns (exit status, stdout, stderr)."""
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")
    p = subprocess.run([binary or harness.BINARY, *args, "-c", d.config],
                       capture_output=True, text=True, timeout=60, env=env)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p.returncode, p.stdout, p.stderr


def ok(d, *args):
    code, out, err = petrel(d, *args)
    assert code == 0, (args, code, out, err)
    return out


def send(d, rcpts, subject="queued for later", sender="s@example.org", extra=""):
    """Sends one message; returns its queue ID from the 250 reply."""
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.ehlo("client.example")
        s.mail(sender)
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        code, text = s.data(("Subject: %s\r\n%s\r\nthe body text\r\n" % (subject, extra)).encode())
        assert code == 250, text
        return re.search(rb"queued as ([0-9A-Z]{16})", text).group(1).decode()


def test_list_and_show():
    with Petrel(SETTINGS) as d:
        mid = send(d, ["bob@remote.test"], extra="X-Evil: \x1b]0;owned\x07\r\n")
        out = ok(d, "queue")
        assert re.search(r"^%s  \d+ bytes  \d+s old  from <s@example.org>$" % mid, out, re.M), out
        assert "\n  to <bob@remote.test>\n" in out
        assert out.rstrip().endswith("not yet final, 0 held")
        assert "-- 1 message, " in out
        out = ok(d, "queue", "show", mid)
        for want in ("id:       " + mid, "sender:   <s@example.org>", "client:   127.0.0.1",
                     "helo:     client.example", "status:   active", "<bob@remote.test>  pending",
                     "header section:", "  Received: from client.example",
                     "  Subject: queued for later", "  X-Evil: \\x1B]0;owned\\x07"):
            assert want in out, (want, out)
        assert "the body text" not in out
        assert "\x1b" not in out and "\x07" not in out


def test_failed_attempts_show_their_last_error():
    with Petrel(SETTINGS) as d:
        mid = send(d, ["bob@remote.test"])

        def listing_with_error():
            out = ok(d, "queue")
            return out if "last error (" in out else None
        out = harness.wait_for(listing_with_error, what="a failed attempt in the listing")
        assert re.search(r"^  to <bob@remote.test>\n    last error \(\d+ attempts?\): .*refused",
                         out, re.M | re.I), out
        out = ok(d, "queue", "show", mid)
        assert re.search(r"<bob@remote.test>  pending, \d+ attempts?, next try", out), out
        assert re.search(r"^    last error: .*refused", out, re.M | re.I), out


def test_hold_and_release_change_the_listing():
    with Petrel(SETTINGS) as d:
        mid = send(d, ["bob@remote.test"])
        assert ok(d, "queue", "hold", mid) == "%s: held\n" % mid
        assert re.search(r"^%s .*  \[held\]$" % mid, ok(d, "queue"), re.M)
        assert "status:   held" in ok(d, "queue", "show", mid)
        # IDs typed in lower case are accepted.
        assert ok(d, "queue", "release", mid.lower()) == "%s: released\n" % mid
        out = ok(d, "queue")
        assert mid in out and "[held]" not in out


def test_delete_is_final_across_restart():
    with Petrel(SETTINGS) as d:
        keep = send(d, ["carol@remote.test"])
        gone = send(d, ["bob@remote.test", "dave@remote.test"])
        assert ok(d, "queue", "delete", gone) == "%s: deleted\n" % gone
        out = ok(d, "queue")
        assert gone not in out and keep in out
        assert petrel(d, "queue", "show", gone)[0] == 1
        d.stop()
        d.start()
        d.wait_log("petrel started: 1 queued")
        out = ok(d, "queue")
        assert gone not in out and keep in out


def test_flush_unknown_ids_and_usage():
    with Petrel(SETTINGS) as d:
        send(d, ["bob@remote.test"])
        assert "every pending recipient is due now" in ok(d, "flush")
        d.wait_log("flush requested by the administrator")
        for verb in ("show", "delete", "hold", "release"):
            code, out, err = petrel(d, "queue", verb, "0000000000000000")
            assert code == 1 and out == "" and "no such message: 0000000000000000" in err, err
        code, _, err = petrel(d, "queue", "show", "../../etc/passwd")
        assert code == 1 and "no such message" in err
        for args in (["queue", "frob"], ["queue", "show"], ["queue", "delete", "A", "B"],
                     ["flush", "now"], ["queue", "-x"]):
            code, _, err = petrel(d, *args)
            assert code == 2 and "usage:" in err, (args, code, err)
        assert petrel(d, "queue", "-c")[0] == 2


def test_control_socket_is_private_and_robust():
    with Petrel(SETTINGS) as d:
        path = os.path.join(d.dir, "spool", "control.sock")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(path).st_mode)

        def ask(data):
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(10)
                s.connect(path)
                s.sendall(data)
                answer = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        return answer
                    answer += chunk
        assert ask(b"x" * 600) == b"error: request too long\n"
        assert ask(b"frob\n") == b"error: unknown request\n"
        assert ask(b"show \x1b[2J\n").startswith(b"error: no such message: \\x1B[2J")
        assert ask(b"list\r\n") == b"ok\nMail queue is empty\n"
        d.stop()
        assert not os.path.exists(path)


def test_offline_commands_on_the_spool():
    with Petrel(SETTINGS) as d:
        a = send(d, ["bob@remote.test"], subject="first")
        b = send(d, ["carol@remote.test"], subject="second")
        d.stop()
        out = ok(d, "queue")
        assert a in out and b in out and "-- 2 messages" in out
        assert "  Subject: second" in ok(d, "queue", "show", b)
        assert ok(d, "queue", "hold", b) == "%s: held\n" % b
        assert ok(d, "queue", "delete", a) == "%s: deleted\n" % a
        out = ok(d, "queue")
        assert a not in out and re.search(r"^%s .*\[held\]$" % b, out, re.M), out
        assert petrel(d, "queue", "show", a)[0] == 1
        assert "the daemon is not running" in ok(d, "flush")
        d.start()
        d.wait_log("petrel started: 1 queued")
        out = ok(d, "queue")
        assert a not in out and re.search(r"^%s .*\[held\]$" % b, out, re.M), out
        ok(d, "queue", "release", b)
        d.stop()
        assert "[held]" not in ok(d, "queue")


def test_offline_without_spool_directory():
    d = Petrel(SETTINGS)
    try:
        assert ok(d, "queue") == "Mail queue is empty\n"
        assert petrel(d, "queue", "delete", "0000000000000000")[0] == 1
        assert not os.path.exists(os.path.join(d.dir, "spool"))
    finally:
        d.cleanup()


def test_mailq_alias():
    # One attempt, then none for an hour: both listings see the same queue
    # once the first attempt's error is recorded (a retry between the two
    # snapshots would change the attempt count).
    with Petrel(dict(SETTINGS, **{"retry-initial": "1h", "retry-max": "1h"})) as d:
        mid = send(d, ["bob@remote.test"])
        harness.wait_for(lambda: "last error (1 attempt)" in ok(d, "queue"),
                         what="the first attempt recorded")
        with tempfile.TemporaryDirectory(prefix="petrel-mailq-") as tmp:
            link = os.path.join(tmp, "mailq")
            os.symlink(os.path.abspath(harness.BINARY), link)
            code, out, err = petrel(d, binary=link)
            assert code == 0, err
            age = re.compile(r"\d+s old")
            assert age.sub("", out) == age.sub("", ok(d, "queue"))
            assert mid in out
            code, _, err = petrel(d, "show", mid, binary=link)
            assert code == 2 and "usage:" in err


def established_to(port):
    """Whether a TCP connection to 127.0.0.1:port is open (/proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        rows = [l.split() for l in f.readlines()[1:]]
    return any(r[2] == "0100007F:%04X" % port and r[3] == "01" for r in rows)


def test_flush_during_an_attempt_still_makes_it_due_now():
    """A flush asked for while an attempt is under way: the attempt's
    deferral must not push the recipient an hour back (the man page: flush
    makes every deferred recipient due now)."""
    from postfix import SmtpSink
    with SmtpSink(soft_reject=("RCPT",), delays=("MAIL:3",)) as sink, \
            Petrel({"route": "remote.test 127.0.0.1:%d" % sink.port,
                    "retry-initial": "1h", "retry-max": "1h"}) as d:
        send(d, ["bob@remote.test"])
        harness.wait_for(lambda: established_to(sink.port), what="the attempt under way")
        ok(d, "flush")
        d.wait_log("status=deferred")
        harness.wait_for(lambda: d.run_log().count("status=deferred") >= 2,
                         what="a second attempt right after the flushed one")


def test_delete_while_delivering_is_not_a_use_after_free():
    """petrel queue delete of a message whose delivery is under way, and of
    one waiting behind it at the same destination: the delete used to free
    the message under both jobs (a use-after-free when the first reported
    and when the second started). Now the first one's outcome is discarded
    and the second is never tried."""
    from postfix import SmtpSink
    # No PIPELINING: smtp-sink answers a pipelined RCPT behind a delayed MAIL
    # with 503.
    with SmtpSink(delays=("MAIL:6",), extra_args=["-p"]) as sink, \
            Petrel({"route": "remote.test 127.0.0.1:%d" % sink.port,
                    "dest-concurrency": "1"}) as d:
        under_way = send(d, ["bob@remote.test"], subject="under way")
        harness.wait_for(lambda: established_to(sink.port), what="the attempt under way")
        waiting = send(d, ["bob@remote.test"], subject="waiting")
        ok(d, "queue", "delete", waiting)
        ok(d, "queue", "delete", under_way)
        d.wait_log("%s: delivery outcome discarded" % under_way)
        # One connection, first come first served: had the waiting job
        # survived its delete, it would go before this one.
        send(d, ["bob@remote.test"], subject="after the deletes")
        harness.wait_for(lambda: any(b"Subject: after the deletes" in m
                                     for m in sink.messages()),
                         what="the next message delivered")
        assert not any(b"Subject: waiting" in m for m in sink.messages())
        assert under_way not in ok(d, "queue") and waiting not in ok(d, "queue")
        log = d.run_log()
        assert "%s: to=" % waiting not in log, log


def fill(d, n, rcpt, sessions=8):
    """Queues n one-recipient messages over a few parallel sessions."""
    import threading
    errors = []

    def one_session(count):
        try:
            with smtplib.SMTP("127.0.0.1", d.port, timeout=60) as s:
                s.ehlo("client.example")
                for _ in range(count):
                    s.sendmail("s@example.org", [rcpt], b"Subject: many\r\n\r\nbody\r\n")
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)
    threads = [threading.Thread(target=one_session, args=(n // sessions,))
               for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def banner_answered(d):
    with socket.create_connection(("127.0.0.1", d.port), timeout=30) as s:
        return s.recv(512).startswith(b"220")


def test_flush_with_thousands_queued_never_exhausts_descriptors():
    """Thousands of deferred messages made due at once by petrel flush, under
    a low descriptor limit: a job used to hold a descriptor of its own, so
    the limit was hit, the local EMFILE was blamed on the destination
    ("unreachable") and logged once per message. Now jobs are capped and
    share one descriptor per spool segment."""
    import resource
    from postfix import SmtpSink

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    n = 2000
    with SmtpSink(soft_reject=("RCPT",)) as sink:
        port = sink.port
        # More connections allowed than there are descriptors: some
        # connects fail with EMFILE, which must hold mail back briefly,
        # never make the destination "unreachable".
        d = Petrel({"route": "remote.test 127.0.0.1:%d" % port,
                    "dest-concurrency": "100", "max-outbound": "100",
                    "retry-initial": "1h", "retry-max": "1h"}, preexec=low_limit)
        with d:
            fill(d, n, "bob@remote.test")
            harness.wait_for(lambda: d.run_log().count("status=deferred") >= n, timeout=300,
                             what="every message tried once")
            ok(d, "flush")
            harness.wait_for(lambda: d.run_log().count("status=deferred") >= 2 * n,
                             timeout=300, what="every message tried again after the flush")
            assert banner_answered(d)
            log = d.run_log()
            assert "unreachable" not in log, log[-3000:]
            assert "cannot open a queued message" not in log, log[-3000:]
            # A line for each message queued and each attempt, a few more.
            assert log.count("\n") < 3 * n + 200, log.count("\n")
            sink.stop()
            with SmtpSink(port=port) as accepting:
                ok(d, "flush")
                accepting.wait_messages(n, timeout=300)
                harness.wait_for(lambda: "Mail queue is empty" in ok(d, "queue"),
                                 timeout=120, what="an empty queue")
def test_listing_of_thousands_is_streamed_complete_while_smtp_is_served():
    """The daemon used to build the whole listing in one buffer in its loop
    (140 MB at a million messages). It now sends it a piece at a time as
    the client reads: a reader that stops half-way holds the daemon up in
    nothing (SMTP is answered meanwhile), and the listing, read to the end,
    names every message once with the right totals."""
    n = 3000
    with Petrel(dict(SETTINGS, **{"retry-initial": "1h", "retry-max": "1h"})) as d:
        fill(d, n, "bob@remote.test")
        harness.wait_for(lambda: ok(d, "queue", "--count").startswith("-- %d messages" % n),
                         timeout=300, what="every message queued")
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(60)
            c.connect(os.path.join(d.dir, "spool", "control.sock"))
            c.sendall(b"list\n")
            head = c.recv(4096)
            assert head.startswith(b"ok\n"), head
            # The reader pauses with most of the listing unsent.
            assert banner_answered(d)
            meanwhile = send(d, ["alice@example.test"])
            chunks = [head]
            while True:
                data = c.recv(65536)
                if not data:
                    break
                chunks.append(data)
        out = b"".join(chunks).decode()
        # The message queued meanwhile may be listed too, once at most.
        ids = [i for i in re.findall(r"^([0-9A-Z]{16})  ", out, re.M) if i != meanwhile]
        assert len(ids) == n and len(set(ids)) == n, (len(ids), len(set(ids)))
        extra = out.count(meanwhile)
        assert extra <= 1
        assert re.search(r"^-- %d messages, \d+ bytes, %d recipients not yet final, 0 held$"
                         % (n + extra, n + extra), out, re.M), out[-300:]


def test_show_after_flush_says_next_try_now_not_the_old_retry_time():
    """A flush makes every pending recipient due at once in the scheduler
    without writing the spool, and `petrel queue show` used to print the
    retry time recorded before it until the next attempt. With the one
    job slot taken (max-jobs 1, a peer that never answers), the flushed
    message waits its turn: show says it is due now."""
    with socket.socket() as stall:
        stall.bind(("127.0.0.1", 0))
        stall.listen(4)
        stall.setblocking(False)
        routes = "remote.test 127.0.0.1:1\nroute stall.test 127.0.0.1:%d" % stall.getsockname()[1]
        with Petrel({"route": routes, "max-jobs": "1", "retry-initial": "1h",
                     "retry-max": "1h"}) as d:
            a = send(d, ["bob@remote.test"])
            harness.wait_for(lambda: "1 attempt, next try 20" in ok(d, "queue", "show", a),
                             what="the first attempt recorded")
            send(d, ["x@stall.test"])
            held = []
            harness.wait_for(lambda: held.append(stall.accept()[0]) is None if
                             select.select([stall], [], [], 0)[0] else False,
                             what="the one job slot taken by the silent peer")
            ok(d, "flush")
            out = ok(d, "queue", "show", a)
            assert "1 attempt, next try now" in out, out
            for c in held:
                c.close()


# --- petrel queue --count: the summary of a queue too long to list ---------

def test_queue_count_sums_up_without_listing():
    """The listing's last line, the oldest age and the pending recipients by
    destination, and no message line; the same from the daemon and from the
    spool opened directly."""
    with Petrel(dict(SETTINGS, **{"retry-initial": "1h", "retry-max": "1h"})) as d:
        assert ok(d, "queue", "--count") == "Mail queue is empty\n"
        a = send(d, ["bob@remote.test", "carol@Remote.Test"])
        b = send(d, ["dave@remote.test"])
        assert ok(d, "queue", "hold", b) == "%s: held\n" % b
        # b may have had its first attempt before the hold, or not.
        harness.wait_for(lambda: re.search(r" [23] deferred", ok(d, "queue", "--count")),
                         what="the first attempts of a recorded")
        out = ok(d, "queue", "--count")
        lines = out.splitlines()
        assert lines[0] == ok(d, "queue").splitlines()[-1], out
        assert lines[0].startswith("-- 2 messages, ") and lines[0].endswith(
            "3 recipients not yet final, 1 held"), out
        assert re.fullmatch(r"-- oldest \d+s; pending recipients by destination, "
                            r"the 1 largest of 1:", lines[1]), out
        assert re.fullmatch(r" +3  remote\.test  [23] deferred, e\.g\. .*refused.*", lines[2],
                            re.I), out
        assert len(lines) == 3 and a not in out and b not in out, out
        d.stop()
        offline = ok(d, "queue", "--count")
        # Ages move on; b's first attempt may be recorded after the hold.
        varying = re.compile(r"oldest \d+s|[23] deferred")
        assert varying.sub("", offline) == varying.sub("", out), (offline, out)
        for args in (["queue", "--count", "show", a], ["flush", "--count"],
                     ["mailq", "--count"], ["queue", "--count", "x"]):
            code, _, err = petrel(d, *args)
            assert code == 2 and "usage:" in err, (args, code, err)
