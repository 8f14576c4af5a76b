"""Real Postfix as Petrel's peer: a private Postfix instance relays into
Petrel, Petrel relays out to Postfix, and smtp-sink works as a capturing
peer. Needs the Debian package `postfix` (installed by `make test` via
tools/install-deps); without it these tests fail with PostfixMissing."""

import email
import os
import smtplib

from harness import Petrel, wait_for
from postfix import PostfixInstance, SmtpSink


def unfolded_received(msg):
    parsed = email.message_from_bytes(msg)
    return [" ".join(h.split()) for h in parsed.get_all("Received", [])]


def test_postfix_relays_to_petrel():
    with Petrel() as d, \
            PostfixInstance(transport={"example.test": "smtp:[127.0.0.1]:%d" % d.port}) as pf:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as s:
            refused = s.sendmail("sender@example.org", ["alice@example.test"],
                                 "Subject: via postfix\r\nMessage-ID: <relay-1@example.org>\r\n"
                                 "\r\nHello from Postfix.\r\n")
        assert refused == {}
        [msg] = d.wait_mail("alice", timeout=30)
        # Postfix got Petrel's 250 and is done with it; Petrel recorded the delivery.
        pf.wait_log("to=<alice@example.test>, relay=127.0.0.1[127.0.0.1]:%d" % d.port)
        pf.wait_queue_empty()
        assert "status=sent (250" in pf.log(), pf.log()
        d.wait_log("to=<alice@example.test>")
        assert len(d.maildir("alice")) == 1, "delivered more than once"
        received = unfolded_received(msg)
        assert any("by mx.postfix.test (Postfix) with ESMTP id" in r and "<alice@example.test>" in r
                   for r in received), received
        assert "by mx.example.test (Petrel)" in received[0], received
        parsed = email.message_from_bytes(msg)
        assert parsed["Message-ID"] == "<relay-1@example.org>"
        assert parsed.get_payload() == "Hello from Postfix.\n"
        assert msg.startswith(b"Return-Path: <sender@example.org>\n")


def test_smtp_sink_captures_and_rejects():
    with SmtpSink() as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as s:
            s.sendmail("a@example.org", ["b@sink.test", "c@sink.test"],
                       "Subject: to the sink\r\n\r\n.leading dot\r\nbody\r\n")
        [dump] = sink.wait_messages(1)
        env, msg = SmtpSink.split(dump)
        assert env["mail"] == "<a@example.org>"
        assert env["rcpt"] == ["<b@sink.test>", "<c@sink.test>"]
        assert msg == b"Subject: to the sink\n\n.leading dot\nbody\n", msg
        wait_for(lambda: sink.counters()["mesg"] == 1, what="smtp-sink counter mesg=1")
        assert sink.count() == 1

    with SmtpSink(soft_reject="RCPT", soft_reply="452 4.2.2 Mailbox full",
                  hard_reject="DATA", hard_reply="554 5.7.1 No thanks") as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as s:
            s.ehlo()
            s.mail("a@example.org")
            assert s.rcpt("b@sink.test") == (452, b"4.2.2 Mailbox full")
            assert s.docmd("DATA") == (554, b"5.7.1 No thanks")
        assert sink.count() == 0


def test_petrel_relays_to_postfix():
    # Needs Petrel's outbound SMTP delivery over static routes.
    with PostfixInstance(mailboxes=("carol",)) as pf, \
            Petrel(settings={"route": "postfix.test 127.0.0.1:%d" % pf.port}) as d:
        with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
            refused = s.sendmail("alice@example.test", ["carol@postfix.test"],
                                 "Subject: to postfix\r\nMessage-ID: <out-1@example.test>\r\n"
                                 "\r\nHello Carol.\r\n")
        assert refused == {}
        [msg] = pf.wait_mail("carol@postfix.test", timeout=30)
        pf.wait_log("to=<carol@postfix.test>, relay=virtual")
        assert "status=sent (delivered to maildir)" in pf.log()
        # Petrel recorded the delivery as done, so it will not send it again.
        wait_for(lambda: any("to=<carol@postfix.test>" in line and "status=sent" in line
                             for line in d.run_log().splitlines()),
                 30, "petrel to log status=sent for carol@postfix.test")
        assert len(pf.maildir("carol")) == 1, "delivered more than once"
        received = unfolded_received(msg)
        assert "by mx.postfix.test (Postfix) with ESMTP id" in received[0], received
        assert any("by mx.example.test (Petrel)" in r for r in received), received
        parsed = email.message_from_bytes(msg)
        assert parsed["Message-ID"] == "<out-1@example.test>"
        assert parsed.get_payload() == "Hello Carol.\n"
        assert msg.startswith(b"Return-Path: <alice@example.test>\n")


def test_petrel_uses_starttls_when_postfix_offers_it():
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory(prefix="petrel-tls-") as certdir:
        cert, key = certdir + "/cert.pem", certdir + "/key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=mx.postfix.test", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        os.chmod(key, 0o644)
        tls = {"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": cert,
               "smtpd_tls_key_file": key, "smtpd_tls_loglevel": "1"}
        with PostfixInstance(mailboxes=("carol",), main=tls) as pf, \
                Petrel(settings={"route": "postfix.test 127.0.0.1:%d" % pf.port}) as d:
            with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
                s.sendmail("alice@example.test", ["carol@postfix.test"],
                           "Subject: tls\r\n\r\nx\r\n")
            [msg] = pf.wait_mail("carol@postfix.test", timeout=30)
            received = unfolded_received(msg)
            # RFC 3848: ESMTPS means the hop ran over TLS.
            assert "with ESMTPS id" in received[0], received
            pf.wait_log("TLS connection established")
