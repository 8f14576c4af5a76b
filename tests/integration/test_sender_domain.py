"""Senders whose domain could take no bounce (Postfix's
reject_unknown_sender_domain), against the real daemon and a loopback DNS
server: from a client outside relay-from (127.0.0.2 here), MAIL from a
domain that does not exist, or has neither MX nor address, gets 550 5.1.8,
from a null-MX domain 550 5.7.27 (RFC 7505 4.1), and a DNS failure or
silence 450 4.1.8 within the lookup's bound. Trusted networks, logged-in
users, the null sender and our own domains are never looked up. Pipelined
commands wait for the answer; a client that leaves, or a daemon that stops,
while a lookup is pending frees everything once (see ASan)."""

import os
import signal
import smtplib
import socket
import sys
import time

from dnsserver import DNSServer
from harness import LineClient, Petrel, wait_for

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_submission import Sub  # noqa: E402  (its TLS and passwd fixture)

STRANGER = "127.0.0.2"  # not in the harness's relay-from (127.0.0.1/32)

ZONES = {
    "known.test": {"MX": [[10, "mx.known.test"]]},
    "mx.known.test": {"A": ["127.0.0.1"]},
    "aonly.test": {"A": ["127.0.0.3"]},
    "nullmx.test": {"MX": [[0, "."]]},
    "nomail.test": {"TXT": "a domain without MX or address"},
    "broken.test": {"SERVFAIL": True},
    "silent.test": {"DROP": True},
}


class World:
    """A loopback DNS server and a daemon that asks it."""

    def __init__(self, settings=None):
        self.dns = DNSServer(ZONES).start()
        s = {"dns-server": "127.0.0.1:%d" % self.dns.port}
        s.update(settings or {})
        self.d = Petrel(s)

    def __enter__(self):
        self.d.start()
        return self

    def __exit__(self, *exc):
        try:
            self.d.__exit__(*exc)
        finally:
            self.dns.stop()

    def client(self, source=STRANGER):
        s = socket.create_connection((self.d.host, self.d.port), timeout=30,
                                     source_address=(source, 0))
        c = LineClient(s)
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example.org")[0] == 250
        return c

    def looked_up(self, domain):
        return any(name == domain for name, _ in self.dns.queries)


def mail_reply(w, sender, source=STRANGER):
    c = w.client(source)
    try:
        return c.cmd("MAIL FROM:<%s>" % sender)
    finally:
        c.close()


def refused(sender, code, status, log=None):
    """MAIL from a stranger with sender gets code and the enhanced status."""
    with World() as w:
        got, text = mail_reply(w, sender)
        assert got == code and text[0].startswith("%s <%s>" % (status, sender)), text
        if log:
            w.d.wait_log(log)


def test_sender_domain_nxdomain_refused():
    refused("s@nowhere.test", 550, "5.1.8", "sender domain nowhere.test from [127.0.0.2] "
            "refused: dns: MX nowhere.test: domain not found")


def test_sender_domain_without_mx_or_address_refused():
    refused("s@nomail.test", 550, "5.1.8")


def test_sender_domain_null_mx_refused():
    refused("s@nullmx.test", 550, "5.7.27")


def test_sender_domain_servfail_deferred():
    refused("s@broken.test", 450, "4.1.8")


def test_sender_domain_dns_silence_deferred_and_pipelined_commands_wait():
    # The server never answers: the lookup's own bound (5 s) ends it, and
    # what was pipelined behind the MAIL is answered after it, in order.
    with World() as w:
        c = w.client()
        t0 = time.monotonic()
        c.send("MAIL FROM:<s@silent.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        code, text = c.reply()
        assert code == 450 and text[0].startswith("4.1.8"), text
        assert time.monotonic() - t0 < 20
        assert c.reply()[0] == 503
        assert c.reply()[0] == 503
        assert c.cmd("MAIL FROM:<s@known.test>")[0] == 250
        c.close()
        w.d.wait_log("sender domain silent.test from [127.0.0.2] refused: dns: no answer in time")


def test_sender_domain_with_only_an_address_accepted():
    with World() as w:
        with smtplib.SMTP(w.d.host, w.d.port, timeout=30, source_address=(STRANGER, 0)) as s:
            s.sendmail("s@aonly.test", ["alice@example.test"], "Subject: a only\r\n\r\nhi\r\n")
        w.d.wait_mail("alice")


def test_sender_domain_with_mx_accepted_pipelined_in_order():
    with World() as w:
        c = w.client()
        c.send("MAIL FROM:<s@known.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        assert c.reply() == (250, ["2.1.0 Ok"])
        assert c.reply() == (250, ["2.1.5 Ok"])
        assert c.reply()[0] == 354
        assert c.cmd("Subject: pipelined\r\n\r\nhi\r\n.")[0] == 250
        c.close()
        w.d.wait_mail("alice")


def test_trusted_client_sender_domain_not_looked_up():
    with World() as w:
        assert mail_reply(w, "s@nowhere.test", source="127.0.0.1")[0] == 250
        assert not w.looked_up("nowhere.test")


def test_null_sender_and_local_domain_not_looked_up():
    with World() as w:
        c = w.client()
        assert c.cmd("MAIL FROM:<>")[0] == 250
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("MAIL FROM:<bob@example.test>")[0] == 250
        c.close()
        assert not w.looked_up("example.test")


def test_sender_domain_check_off_accepts_unknown_domain():
    with World({"reject-unknown-sender-domain": "off"}) as w:
        assert mail_reply(w, "s@nowhere.test")[0] == 250
        assert not w.looked_up("nowhere.test")


def test_authenticated_submission_user_sender_domain_not_looked_up():
    dns = DNSServer(ZONES).start()
    try:
        # 127.0.0.1 is a stranger here; alice may send as an unknown domain.
        with Sub({"dns-server": "127.0.0.1:%d" % dns.port, "relay-from": "10.0.0.0/8",
                  "send-as": "alice alice@nowhere.test"}) as d:
            with d.submission() as s:
                s.login("alice", "wonderland")
                assert s.mail("alice@nowhere.test")[0] == 250
        assert not any(name == "nowhere.test" for name, _ in dns.queries)
    finally:
        dns.stop()


def test_client_gone_during_sender_lookup_freed_once():
    with World() as w:
        c = w.client()
        c.send("MAIL FROM:<s@silent.test>\r\nRCPT TO:<alice@example.test>\r\n")
        wait_for(lambda: w.looked_up("silent.test"), what="the lookup to start")
        c.close()
        w.d.wait_log("sender domain silent.test from [127.0.0.2] refused", timeout=30)
        w.d.wait_log("disconnect from [127.0.0.2]", timeout=30)
        # Still serving; the harness checks the log for sanitizer reports.
        assert mail_reply(w, "s@known.test")[0] == 250


def test_stop_during_sender_lookup_answers_421():
    with World() as w:
        c = w.client()
        c.send("MAIL FROM:<s@silent.test>\r\n")
        wait_for(lambda: w.looked_up("silent.test"), what="the lookup to start")
        w.d.proc.send_signal(signal.SIGTERM)
        code, text = c.reply()
        assert code == 421 and text[0].startswith("4.3.2"), text
        assert c.closed()
        assert w.d.proc.wait(timeout=30) == 0
