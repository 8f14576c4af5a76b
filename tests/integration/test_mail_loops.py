"""Mail loops (RFC 5321 6.3). A message with more Received: fields than
max-hops (default 100) has gone round in a loop: refused with 554 5.4.6 at
the end of DATA or BDAT LAST, and by `petrel sendmail` (exit 65, nothing
queued). Two servers whose aliases forward to each other stop when the
count passes the limit, and the sender gets the bounce. A message that
already carries "Delivered-To: <recipient>" was delivered here before and
has come back: that recipient's copy is returned with 5.4.6."""

import os
import smtplib
import subprocess

import harness
from harness import Petrel, free_port

ENV = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")


def trace(hops, eol="\r\n"):
    """hops Received: fields, each folded over two lines, as relays write them."""
    return "".join("Received: from relay%d.example.org (relay%d.example.org [192.0.2.%d])%s"
                   "\tby relay%d.example.net; Mon, 1 Jan 2024 00:00:%02d +0000%s"
                   % (i, i, i % 250 + 1, eol, i + 1, i % 60, eol) for i in range(hops))


def message(hops, subject, eol="\r\n"):
    # A body line that looks like a trace field must not count.
    return (trace(hops, eol) + "Subject: %s%s%sReceived: in the body, not a hop%s"
            % (subject, eol, eol, eol))


def flat(msg):
    """A message's text with all white space runs (line wraps) made one space."""
    return " ".join(msg.decode("utf-8", "replace").split())


def sendmail(d, *args, data):
    p = subprocess.run([harness.BINARY, "sendmail", "-c", d.config, *args], input=data,
                       capture_output=True, timeout=60, env=ENV)
    err = p.stderr.decode(errors="replace")
    assert "AddressSanitizer" not in err and "runtime error:" not in err, err
    return p.returncode, err


def test_101_received_fields_are_refused_as_a_loop_100_are_delivered():
    with Petrel() as d:
        with smtplib.SMTP(d.host, d.port, timeout=30) as s:
            assert s.sendmail("sender@example.org", ["alice@example.test"],
                              message(100, "a hundred hops")) == {}
            try:
                s.sendmail("sender@example.org", ["alice@example.test"],
                           message(101, "one hop too many"))
                raise AssertionError("101 Received: fields were accepted")
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 554 and e.smtp_error.startswith(b"5.4.6"), e
            assert s.noop()[0] == 250  # the session goes on
        # BDAT LAST (RFC 3030) ends a message as DATA does.
        c = d.connect(timeout=30)
        c.reply()
        c.cmd("EHLO client.example.org")
        assert c.cmd("MAIL FROM:<sender@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        body = message(101, "by bdat").encode()
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
        code, text = c.reply()
        assert code == 554 and text[0].startswith("5.4.6"), (code, text)
        assert c.cmd("QUIT")[0] == 221
        [msg] = d.wait_mail("alice")
        assert b"Subject: a hundred hops" in msg
        head = msg.split(b"\n\n", 1)[0]
        assert head.count(b"\nReceived: ") == 101  # theirs and ours
        d.stop()
        assert len(d.maildir("alice")) == 1


def test_sendmail_refuses_101_received_fields_and_queues_100():
    with Petrel() as d:
        code, err = sendmail(d, "alice", data=message(101, "loop", "\n").encode())
        assert code == 65, (code, err)
        assert "mail loop" in err and "101 Received:" in err and "not queued" in err, err
        assert os.listdir(os.path.join(d.dir, "spool", "maildrop")) in ([], ["quarantine"])
        code, err = sendmail(d, "alice", data=message(100, "hundred", "\n").encode())
        assert code == 0 and err == "", (code, err)
        [msg] = d.wait_mail("alice")
        assert b"Subject: hundred" in msg


def test_forwarding_loop_between_two_servers_is_stopped_and_bounced():
    """example.test forwards loop@ to loop@b.test, which forwards it back:
    each pass adds a Received: field, and the pass that takes it over
    max-hops is refused; the sender hears of it."""
    pa, pb = free_port(), free_port()
    a = Petrel({"max-hops": "10", "route": "b.test 127.0.0.1:%d" % pb},
               aliases="postmaster: alice\nloop: loop@b.test\n", port=pa)
    b = Petrel({"hostname": "mx.b.test", "domain": "b.test", "max-hops": "10",
                "route": "example.test 127.0.0.1:%d" % pa},
               aliases="postmaster: alice\nloop: loop@example.test\n", port=pb)
    with a, b:
        with smtplib.SMTP(a.host, a.port, timeout=30) as s:
            s.sendmail("alice@example.test", ["loop@example.test"],
                       "Subject: round and round\r\n\r\nhi\r\n")
        [report] = a.wait_mail("alice", timeout=120)
        text = flat(report)
        assert "Return-Path: <>" in text and "Status: 5.4.6" in text, text
        assert "Too many hops: 11 Received: header fields, more than 10" in text, text
        assert not a.maildir("bob") and not b.maildir("alice")


def test_delivered_to_loop_is_bounced_5_4_6():
    with Petrel() as d:
        # team: alice, bob. bob's copy has been delivered here before.
        with smtplib.SMTP(d.host, d.port, timeout=30) as s:
            s.sendmail("alice@example.test", ["team@example.test"],
                       "Delivered-To: <Bob@Example.Test>\r\nSubject: came back\r\n\r\nhi\r\n")
        msgs = d.wait_mail("alice", 2, timeout=30)
        [report] = [m for m in msgs if m.startswith(b"Return-Path: <>")]
        text = flat(report)
        assert "Status: 5.4.6" in text and "mail forwarding loop for bob@example.test" in text
        d.stop()
        assert d.maildir("bob") == []


def test_message_resent_by_sendmail_to_its_mailbox_is_a_loop():
    """A delivered message carries Delivered-To: of its mailbox; resending it
    as it is (a filter, a "redirect" script) to that mailbox would loop."""
    with Petrel() as d:
        code, err = sendmail(d, "bob", data=b"Subject: first\n\nhello\n")
        assert code == 0, err
        [first] = d.wait_mail("bob")
        assert b"\nDelivered-To: bob@example.test\n" in first
        code, err = sendmail(d, "-f", "alice@example.test", "bob", data=first)
        assert code == 0, err
        [report] = d.wait_mail("alice", timeout=30)
        assert "mail forwarding loop for bob@example.test" in flat(report)
        d.stop()
        assert len(d.maildir("bob")) == 1
