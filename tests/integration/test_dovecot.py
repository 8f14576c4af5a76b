"""Petrel with a real mailbox server: a private Dovecot (tests/dovecot.py).

(a) Petrel writes its own Maildirs and Dovecot serves them over POP3 and IMAP;
(b) `local-delivery lmtp` hands mail to Dovecot's LMTP (unix socket and TCP)
    and it is read back the same way; one LMTP transaction with three
    recipients gets three different per-recipient answers from Dovecot
    (delivered, over quota after the final dot: deferred, unknown at RCPT:
    bounced). Failures Dovecot cannot easily be made to produce - no server
    at all, a server that hangs up halfway through its per-recipient replies
    - use a small LMTP server written here with the standard library."""

import os
import re
import smtplib
import socket
import sys
import tempfile
import threading
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dovecot import Dovecot, mail_petrel  # noqa: E402
from harness import WAIT, Petrel, free_port, wait_for  # noqa: E402

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}


def send(d, rcpts, subject, body, sender="sender@remote.test"):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        s.send_message(msg, from_addr=sender, to_addrs=rcpts)


def outcome(d, rcpt):
    """status=... and the reply text of rcpt's last outcome line in the log."""
    found = re.findall(r"(?<!\w)to=<%s>.*? relay=(\S+), .*?status=(\w+) \((.*)\)" % re.escape(rcpt),
                       d.run_log())
    return found[-1] if found else None


def wait_outcome(d, rcpt, status):
    return wait_for(lambda: (outcome(d, rcpt) or (0, 0))[1] == status and outcome(d, rcpt), WAIT,
                    "%s to be %s:\n%s" % (rcpt, status, d.run_log()[-2000:]))


def assert_served(dv, user, subject, body):
    """The message is in user's mailbox as both IMAP and POP3 show it."""
    for proto, read in (("IMAP", dv.imap_messages), ("POP3", dv.pop3_messages)):
        msgs = [m for m in read(user)
                if ("Subject: " + subject).encode() in m.split(b"\r\n\r\n", 1)[0]]
        assert len(msgs) == 1, "%s: %d messages with subject %r" % (proto, len(msgs), subject)
        assert body.encode() in msgs[0], "%s: body missing in %r" % (proto, msgs[0][-300:])


def test_dovecot_serves_petrel_maildir():
    """(a) Petrel delivers into maildir-root; Dovecot reads that very Maildir."""
    with mail_petrel() as d:
        with Dovecot(PASSWORDS, mail_root=os.path.join(d.dir, "mail")) as dv:
            send(d, ["alice@example.test"], "maildir via dovecot", "Hello from the Maildir path.")
            wait_outcome(d, "alice@example.test", "sent")
            assert len(d.maildir("alice")) == 1
            assert_served(dv, "alice", "maildir via dovecot", "Hello from the Maildir path.")


def test_lmtp_unix_socket_to_dovecot():
    """(b) local-delivery lmtp unix:PATH: Dovecot stores it, Petrel's Maildir stays empty."""
    with Dovecot(PASSWORDS) as dv:
        with Petrel({"local-delivery": "lmtp unix:" + dv.lmtp_socket}) as d:
            send(d, ["alice@example.test"], "lmtp over unix", "Hello from the LMTP path.")
            relay, _, text = wait_outcome(d, "alice@example.test", "sent")
            assert relay == "lmtp:unix:" + dv.lmtp_socket
            assert text.startswith("250 2.0.0 <alice@example.test>"), text
            assert_served(dv, "alice", "lmtp over unix", "Hello from the LMTP path.")
            assert d.maildir("alice") == []


def test_lmtp_per_recipient_replies_from_dovecot():
    """One transaction, three recipients, three answers from Dovecot over TCP:
    alice delivered, bob over quota (452 after the dot: deferred), dave a
    Petrel mailbox Dovecot does not know (550 at RCPT: bounced, and the
    report reaches the sender, alice, through LMTP too)."""
    with Dovecot(PASSWORDS, quota={"bob": "1k"}) as dv:
        target = "127.0.0.1:%d" % dv.lmtp_port
        with Petrel({"local-delivery": "lmtp " + target, "mailbox dave": '"Dave"'}) as d:
            body = "A line long enough to fill a tiny quota.\n" * 100
            send(d, ["alice@example.test", "bob@example.test", "dave@example.test"],
                 "three answers", body, sender="alice@example.test")
            relay, _, text = wait_outcome(d, "alice@example.test", "sent")
            assert relay == "lmtp:" + target and text.startswith("250 2.0.0"), (relay, text)
            _, _, text = wait_outcome(d, "bob@example.test", "deferred")
            assert text.startswith("452 4.2.2 <bob@example.test>"), text
            _, _, text = wait_outcome(d, "dave@example.test", "bounced")
            assert text.startswith("550 5.1.1 <dave@example.test>"), text
            wait_for(lambda: len(dv.imap_messages("alice")) == 2, WAIT, "alice's bounce report")
            report = [m for m in dv.imap_messages("alice") if b"dave@example.test" in m
                      and b"Subject: three answers" not in m.split(b"\r\n\r\n", 1)[0]]
            assert len(report) == 1 and b"5.1.1" in report[0], report
            assert_served(dv, "alice", "three answers", "A line long enough")
            assert dv.imap_messages("bob") == []


def test_lmtp_unreachable_defers_everyone():
    """No LMTP server at the socket: every recipient deferred, nothing stored."""
    with tempfile.TemporaryDirectory(prefix="petrel-nolmtp-") as tmp:
        path = os.path.join(tmp, "no-such-socket")
        unreachable(path)


def unreachable(path):
    with Petrel({"local-delivery": "lmtp unix:" + path}) as d:
        send(d, ["alice@example.test", "bob@example.test"], "nobody home", "body")
        for rcpt in ("alice@example.test", "bob@example.test"):
            _, _, text = wait_outcome(d, rcpt, "deferred")
            assert "lmtp unix:%s: connect:" % path in text, text
        assert d.maildir("alice") == [] and d.maildir("bob") == []


def test_lmtp_silent_server_times_out():
    """A server that accepts the connection and never says a word: after
    smtp-timeout every recipient is deferred, the worker is not stuck."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        target = "127.0.0.1:%d" % silent.getsockname()[1]
        with Petrel({"local-delivery": "lmtp " + target, "smtp-timeout": "1s"}) as d:
            send(d, ["alice@example.test"], "silence", "body")
            relay, _, text = wait_outcome(d, "alice@example.test", "deferred")
            assert relay == "lmtp:" + target, relay
            assert text == "lmtp %s: timeout talking to the LMTP server" % target, text


class HangUpLmtp:
    """A minimal LMTP server (RFC 2033) that accepts every recipient, answers
    the final dot for the first one only, then closes the connection."""

    def __init__(self):
        self.port = free_port()
        self.srv = socket.create_server(("127.0.0.1", self.port))
        self.sessions = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                self.session(conn.makefile("rwb"))

    def session(self, f):
        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()
        say("220 hangup LMTP")
        rcpts = []
        for line in f:
            verb = line[:4].upper()
            if verb == b"LHLO":
                say("250-hangup\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES")
            elif verb == b"MAIL":
                say("250 2.1.0 ok")
            elif verb == b"RCPT":
                rcpts.append(line)
                say("250 2.1.5 ok")
            elif verb == b"DATA":
                say("354 go")
                for body in f:
                    if body == b".\r\n":
                        break
                self.sessions += 1
                say("250 2.0.0 first recipient saved")
                return
            else:
                say("502 5.5.2 no")


def test_lmtp_connection_lost_between_recipient_replies():
    """The first recipient's own 250 to the final dot stands (no duplicate
    later); the one whose reply never came is deferred."""
    srv = HangUpLmtp()
    try:
        with Petrel({"local-delivery": "lmtp 127.0.0.1:%d" % srv.port}) as d:
            send(d, ["alice@example.test", "bob@example.test"], "half answered", "body")
            _, _, text = wait_outcome(d, "alice@example.test", "sent")
            assert text == "250 2.0.0 first recipient saved", text
            _, _, text = wait_outcome(d, "bob@example.test", "deferred")
            assert "closed the connection" in text, text
            # bob's retry is a new transaction for bob alone; alice is done.
            wait_for(lambda: srv.sessions >= 2, WAIT, "the retry for bob")
            assert len(re.findall(r"(?<!\w)to=<alice@example.test>", d.run_log())) == 1
    finally:
        srv.srv.close()
