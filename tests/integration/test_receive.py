"""Receiving with real clients (Python smtplib, swaks): delivery into
Maildir with trace headers, aliases and lists, the multi-recipient dialogue
with one unknown user, dot-stuffing, 8-bit data, relay control."""

import email
import smtplib
import subprocess

from harness import Petrel, wait_for


def send(d, sender, rcpts, body, **kw):
    with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
        return s.sendmail(sender, rcpts, body, **kw)


def test_smtplib_delivers_to_maildir_with_trace_headers():
    with Petrel() as d:
        send(d, "sender@example.org", ["alice@example.test"],
             "Subject: hello\r\n\r\nHello Alice.\r\n")
        [msg] = d.wait_mail("alice")
        text = msg.decode()
        assert text.startswith("Return-Path: <sender@example.org>\nDelivered-To: alice@example.test\n")
        assert "\r" not in text, "Maildir files use LF line endings"
        parsed = email.message_from_string(text)
        assert parsed["Subject"] == "hello"
        received = parsed["Received"]
        qid = received.split(" id ")[1].split()[0].rstrip(";")
        assert "by mx.example.test (Petrel) with ESMTP id" in " ".join(received.split())
        assert parsed.get_payload() == "Hello Alice.\n"
        d.wait_log("%s: to=<alice@example.test>" % qid)
        assert "status=sent" in d.log()


def test_one_unknown_recipient_others_delivered_exactly_once():
    with Petrel() as d:
        refused = send(d, "s@example.org",
                       ["alice@example.test", "nobody@example.test", "bob@example.test"],
                       "Subject: three\r\n\r\nbody\r\n")
        assert list(refused) == ["nobody@example.test"]
        assert refused["nobody@example.test"][0] == 550
        d.wait_mail("alice")
        d.wait_mail("bob")
        d.wait_log("to=<bob@example.test>")
        d.wait_log("to=<alice@example.test>")
        assert len(d.maildir("alice")) == 1 and len(d.maildir("bob")) == 1
        assert d.maildir("nobody") == []


def test_aliases_lists_and_duplicates_expand_once():
    with Petrel() as d:
        # postmaster -> alice, abuse -> postmaster -> alice, team -> alice, bob:
        # alice must get exactly one copy.
        send(d, "s@example.org",
             ["postmaster@example.test", "abuse@example.test", "team@example.test",
              "alice@example.test"], "Subject: lists\r\n\r\nbody\r\n")
        [a] = d.wait_mail("alice")
        [b] = d.wait_mail("bob")
        d.wait_log("to=<bob@example.test>")
        assert b"Delivered-To: alice@example.test" in a
        assert len(d.maildir("alice")) == 1


def test_dot_stuffing_and_8bit_bytes_survive():
    with Petrel() as d:
        body = ("Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
                "caf\xe9 \u2603\r\n").encode("utf-8")
        send(d, "s@example.org", ["bob@example.test"], body)
        [msg] = d.wait_mail("bob")
        assert msg.endswith(".leading dot\n..two dots\n.\ncaf\xe9 \u2603\n".encode("utf-8"))


def test_swaks_sends_to_alice():
    with Petrel() as d:
        p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % d.port, "--to",
                            "alice@example.test", "--from", "swaks@example.org",
                            "--header", "Subject: from swaks"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        [msg] = d.wait_mail("alice")
        assert b"Subject: from swaks" in msg


def test_swaks_pipelining():
    with Petrel() as d:
        p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % d.port, "--pipeline",
                            "--to", "alice@example.test,bob@example.test",
                            "--from", "p@example.org"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "PIPELINING" in p.stdout
        d.wait_mail("alice")
        d.wait_mail("bob")


def test_relay_allowed_from_trusted_network_and_queued():
    with Petrel() as d:
        refused = send(d, "s@example.org", ["friend@remote.test"], "Subject: out\r\n\r\nx\r\n")
        assert refused == {}
        d.wait_log("status=queued")


def test_relay_denied_to_untrusted_client():
    # A stranger's sender domain would be looked up: no DNS here.
    with Petrel({"relay-from": "10.0.0.0/8", "reject-unknown-sender-domain": "off"}) as d:
        with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
            s.ehlo("c.example.org")
            s.mail("s@example.org")
            code, text = s.rcpt("friend@remote.test")
            assert code == 554 and b"5.7.1" in text
            # Local mail is still accepted from anyone.
            assert s.rcpt("alice@example.test")[0] == 250


def test_forward_alias_answers_251_and_queues():
    with Petrel() as d:
        with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
            s.ehlo("c.example.org")
            s.mail("s@example.org")
            code, text = s.rcpt("fwd@example.test")
            assert code == 251 and b"<someone@remote.test>" in text
            assert s.data(b"Subject: fwd\r\n\r\nx\r\n")[0] == 250
        d.wait_log("status=queued")


def test_ipv6_listener():
    import socket
    try:
        socket.create_connection  # noqa: B018
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        return  # no IPv6 loopback on this machine
    from harness import free_port
    port6 = free_port(socket.AF_INET6, "::1")
    d = Petrel()
    with open(d.config) as f:
        conf = f.read()
    with open(d.config, "w") as f:
        f.write("listen [::1]:%d\n" % port6 + conf)
    with d:
        with smtplib.SMTP("::1", port6, timeout=10) as s:
            s.sendmail("v6@example.org", ["alice@example.test"], "Subject: v6\r\n\r\nx\r\n")
        [msg] = d.wait_mail("alice")
        assert b"[IPv6:::1]" in msg
