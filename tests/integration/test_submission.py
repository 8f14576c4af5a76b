"""Petrel for its own users: STARTTLS (RFC 3207) and implicit TLS (RFC 8314),
AUTH PLAIN/LOGIN (RFC 4954) only under TLS with crypt(3) password hashes,
the submission rules (RFC 6409: AUTH required, sender ownership, Date and
Message-ID added), the STARTTLS injection attack (CVE-2011-0411), and real
clients: Python smtplib, swaks, msmtp, openssl s_client."""

import os
import smtplib
import socket
import ssl
import subprocess
import tempfile

import harness
from dnsserver import DNSServer
from harness import Petrel, free_port, wait_for
from postfix import SmtpSink

_CERT = None
_CERT_DIR = None


def cert():
    """A self-signed certificate for mx.example.test, made once per run
    (its directory goes when the run ends)."""
    global _CERT, _CERT_DIR
    if _CERT is None:
        _CERT_DIR = tempfile.TemporaryDirectory(prefix="petrel-cert-")
        d = _CERT_DIR.name
        c, k = d + "/cert.pem", d + "/key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=mx.example.test", "-keyout", k, "-out", c],
                       check=True, capture_output=True, timeout=60)
        _CERT = (c, k)
    return _CERT


class Sub(Petrel):
    """A Petrel with an MX port, a submission port and an implicit-TLS port,
    and users alice (password "wonderland") and bob ("builder")."""

    def __init__(self, settings=None):
        self.sub_port = free_port()
        self.tls_port = free_port()
        port = free_port()
        c, k = cert()
        s = {"tls-cert": c, "tls-key": k, "auth-max-failures": "3"}
        s.update(settings or {})
        super().__init__(s, port=port, listen=["127.0.0.1:%d" % port,
                                               "127.0.0.1:%d submission" % self.sub_port,
                                               "127.0.0.1:%d submissions" % self.tls_port])
        self.passwd = os.path.join(self.dir, "passwd")
        with open(self.config, "a") as f:
            f.write("passwd-file %s\n" % self.passwd)
        for user, pw in (("alice", "wonderland"), ("bob", "builder")):
            p = subprocess.run([harness.BINARY, "passwd", "-c", self.config, user],
                               input=pw + "\n", capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stdout + p.stderr

    def submission(self):
        s = smtplib.SMTP("127.0.0.1", self.sub_port, timeout=10)
        s.ehlo("client.example.org")
        s.starttls(context=insecure())
        s.ehlo("client.example.org")
        return s


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_passwd_file_holds_hashes_only():
    d = Sub()
    with open(d.passwd) as f:
        text = f.read()
    assert "wonderland" not in text and "builder" not in text
    assert text.startswith("alice:$y$") or "\nalice:$y$" in text or "alice:$y$" in text
    # Group-readable at most (the daemon's group), never by others.
    assert os.stat(d.passwd).st_mode & 0o037 == 0
    d.cleanup()


def test_auth_offered_only_under_tls():
    with Sub() as d:
        with smtplib.SMTP("127.0.0.1", d.sub_port, timeout=10) as s:
            code, caps = s.ehlo("c")
            assert b"STARTTLS" in caps and b"AUTH" not in caps
            code, text = s.docmd("AUTH", "PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=")
            assert code == 538
            s.starttls(context=insecure())
            code, caps = s.ehlo("c")
            assert b"AUTH PLAIN LOGIN" in caps and b"STARTTLS" not in caps


def test_smtplib_starttls_login_local_and_remote():
    dns = DNSServer({"remote.test": {"MX": [[10, "mx.remote.test"]]},
                     "mx.remote.test": {"A": ["127.0.0.2"]}}).start()
    try:
        with SmtpSink("127.0.0.2") as sink, \
                Sub({"dns-server": "127.0.0.1:%d" % dns.port, "smtp-port": str(sink.port),
                     "relay-from": "10.0.0.0/8"}) as d:
            with d.submission() as s:
                s.login("alice", "wonderland")
                refused = s.sendmail("alice@example.test", ["bob@example.test", "x@remote.test"],
                                     "Subject: submitted\r\n\r\nhello\r\n")
                assert refused == {}
            [msg] = d.wait_mail("bob")
            # RFC 6409 8: Date and Message-ID were missing, so they were added.
            assert b"\nDate: " in msg and b"\nMessage-ID: <" in msg
            assert b"with ESMTPS" in msg or b"ESMTP" in msg
            sink.wait_messages(1)
    finally:
        dns.stop()


def test_submission_requires_auth_and_owned_sender():
    with Sub() as d:
        with d.submission() as s:
            code, text = s.mail("alice@example.test")
            assert code == 530
            s.login("bob", "builder")
            code, text = s.mail("alice@example.test")
            assert code == 553 and b"5.7.1" in text
            assert s.mail("bob@example.test")[0] == 250


def test_bad_password_535_then_rate_limited():
    import base64
    bad = base64.b64encode(b"\0alice\0wrong").decode()
    good = base64.b64encode(b"\0alice\0wonderland").decode()
    with Sub() as d:
        codes = []
        for _ in range(4):
            with d.submission() as s:
                codes.append(s.docmd("AUTH", "PLAIN " + bad)[0])
        assert codes == [535, 535, 535, 454], codes
        # Blocked means blocked: even the right password waits out the window.
        with d.submission() as s:
            assert s.docmd("AUTH", "PLAIN " + good)[0] == 454
        assert "wrong" not in d.log() and "wonderland" not in d.log()


def test_auth_login_mechanism():
    with Sub() as d:
        with d.submission() as s:
            s.user, s.password = "bob", "builder"
            code, text = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
            assert code == 235


def test_implicit_tls_submission():
    with Sub() as d:
        with smtplib.SMTP_SSL("127.0.0.1", d.tls_port, timeout=10, context=insecure()) as s:
            code, caps = s.ehlo("c")
            assert b"AUTH PLAIN LOGIN" in caps and b"STARTTLS" not in caps
            s.login("alice", "wonderland")
            s.sendmail("alice@example.test", ["bob@example.test"],
                       "Subject: 465\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
                       "Message-ID: <mine@example.test>\r\n\r\nx\r\n")
        [msg] = d.wait_mail("bob")
        assert msg.count(b"Message-ID:") == 1 and b"<mine@example.test>" in msg


def test_starttls_injection_is_not_executed():
    """CVE-2011-0411: plaintext pipelined after STARTTLS must be discarded."""
    with Sub() as d:
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        c = harness.LineClient(raw)
        c.reply()
        c.cmd("EHLO attacker.example")
        c.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        code, _ = c.reply()
        assert code == 220
        assert c.buf == b""
        tls = insecure().wrap_socket(raw, server_hostname="mx.example.test")
        t = harness.LineClient(tls)
        # The injected MAIL must not have been executed: a fresh session
        # needs EHLO, and RCPT finds no transaction.
        code, _ = t.cmd("EHLO c")
        assert code == 250
        code, _ = t.cmd("RCPT TO:<alice@example.test>")
        assert code == 503
        tls.close()


def test_swaks_tls_auth():
    with Sub() as d:
        p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % d.sub_port, "--tls",
                            "--auth", "PLAIN", "--auth-user", "alice", "--auth-password",
                            "wonderland", "--from", "alice@example.test",
                            "--to", "bob@example.test"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        d.wait_mail("bob")


def test_msmtp_client():
    with Sub() as d:
        conf = os.path.join(d.dir, "msmtprc")
        with open(conf, "w") as f:
            f.write("account default\nhost 127.0.0.1\nport %d\ntls on\ntls_starttls on\n"
                    "tls_trust_file %s\ntls_certcheck off\nauth on\nuser alice\n"
                    "password wonderland\nfrom alice@example.test\n" % (d.sub_port, cert()[0]))
        os.chmod(conf, 0o600)
        p = subprocess.run(["msmtp", "-C", conf, "bob@example.test"],
                           input="Subject: via msmtp\n\nhello\n", capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        [msg] = d.wait_mail("bob")
        assert b"Subject: via msmtp" in msg


def test_openssl_s_client_starttls():
    with Sub() as d:
        p = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:%d" % d.port, "-brief"],
                           input="QUIT\n", capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        assert "CONNECTION ESTABLISHED" in out or "Protocol version" in out, out
        assert "TLSv1.3" in out or "TLSv1.2" in out, out
