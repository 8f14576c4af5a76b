"""8-bit mail relayed to peers with and without 8BITMIME (RFC 6152), with
Postfix's smtp-sink as the peer (-8: it does not announce 8BITMIME) and
every message it takes dumped to a file: to a peer without 8BITMIME only
7-bit octets go on the wire, without BODY=8BITMIME, and the message decodes
(Python's email package) to what was sent; a peer that offers 8BITMIME gets
the message unchanged with BODY=8BITMIME, also when the client sent 8-bit
octets without declaring them; a message that cannot be made 7-bit (8-bit
octets in a header field) bounces with 5.6.3 and is not sent at all. Such
refusals of our own end the transaction at once, also on a reused idle
connection."""

import email
import smtplib

from harness import Petrel
from postfix import SmtpSink

SENDER = "bob@example.test"  # local: a bounce lands in bob's Maildir
E = "\u00e9".encode()        # é in UTF-8

# A soft line break (RFC 2045 6.7) falls right before ".xyz": that encoded
# line starts with a dot and must be dot-stuffed on the wire.
DOT_AFTER_SOFT_BREAK = E * 12 + b"abc.xyz"

MULTIPART = b"\r\n".join([
    b"From: Alice <alice@example.test>",
    b"To: x@remote.test",
    b"Subject: 8-bit parts",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/mixed; boundary="b1"',
    b"",
    b"--b1",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Transfer-Encoding: 8bit",
    b"",
    b"Caf" + E + b" cr\xc3\xa8me, na\xc3\xafve = r" + E + b"sum" + E + b" ",
    b".a line that starts with a dot " + E,
    DOT_AFTER_SOFT_BREAK,
    b"-".join([E * 5] * 20) + b"\t",
    b"--b1",
    b"Content-Type: text/plain; charset=us-ascii",
    b"",
    b"plain ascii = stays  ",
    b"--b1--",
    b"",
])

NON_MIME = b"Subject: latin-1, no MIME\r\n\r\ncaf\xe9 au lait\r\n.\xe9t\xe9\r\n"


def routed(port):
    return {"route": "remote.test 127.0.0.1:%d" % port, "connect-timeout": "2s",
            "smtp-timeout": "5s"}


def send(d, msg, mail_options=()):
    with smtplib.SMTP(d.host, d.port, timeout=10) as s:
        s.sendmail(SENDER, ["x@remote.test"], msg, mail_options=list(mail_options))


def leaves(raw):
    """(Content-Type, decoded payload with LF line ends) of every leaf part."""
    msg = email.message_from_bytes(raw)
    return [(p.get_content_type(), p.get_payload(decode=True).replace(b"\r\n", b"\n"))
            for p in msg.walk() if not p.is_multipart()]


def captured(sink, n):
    """The n dumped messages as (MAIL FROM arguments, message), in order."""
    out = []
    for dumped in sink.wait_messages(n, timeout=20):
        env, msg = SmtpSink.split(dumped)
        out.append((env["mail"], msg))
    return sorted(out, key=lambda m: b"latin-1" in m[1])


def test_8bit_to_peer_without_8bitmime_is_sent_as_quoted_printable():
    with SmtpSink(extra_args=["-8"]) as sink, Petrel(routed(sink.port)) as d:
        send(d, MULTIPART)                                   # 8-bit, BODY= not given
        send(d, NON_MIME, mail_options=["BODY=8BITMIME"])
        [(mail1, multi), (mail2, plain)] = captured(sink, 2)
        for mail, msg in ((mail1, multi), (mail2, plain)):
            assert "BODY=8BITMIME" not in mail, mail
            assert max(msg) < 0x80, "8-bit octet on the wire"
        assert leaves(multi) == leaves(MULTIPART)
        assert b"Content-Transfer-Encoding: quoted-printable" in multi
        assert b"\nplain ascii = stays  \n" in multi  # the 7-bit part as it was
        assert b"\n.xyz\n" in multi                     # the stuffed line arrived whole
        parsed = email.message_from_bytes(plain)
        assert parsed["MIME-Version"] == "1.0"
        assert parsed.get_content_type() == "text/plain"
        assert parsed.get_param("charset") == "unknown-8bit"
        assert parsed.get_payload(decode=True).replace(b"\r\n", b"\n") == \
            b"caf\xe9 au lait\n.\xe9t\xe9\n"
        d.wait_log("status=sent")


def test_8bit_to_peer_with_8bitmime_is_sent_unchanged_with_body_8bitmime():
    with SmtpSink() as sink, Petrel(routed(sink.port)) as d:
        send(d, MULTIPART)  # the client did not declare it: Petrel found the 8-bit octets
        [(mail, msg)] = captured(sink, 1)
        assert "BODY=8BITMIME" in mail, mail
        assert msg.endswith(MULTIPART.replace(b"\r\n", b"\n")), msg


def test_big_8bit_message_is_scanned_and_converted_in_pieces():
    # Several MiB: the scan takes several loop turns, the conversion many
    # chunks, with output waiting on the socket in between.
    body = (("Z\u00fcrich, M\u00fcnchen, K\u00f8benhavn. " * 3).encode() + b"\r\n") * 40000
    msg = b"Subject: big\r\n\r\n" + body
    with SmtpSink(extra_args=["-8"]) as sink, Petrel(routed(sink.port)) as d:
        send(d, msg, mail_options=["BODY=8BITMIME"])
        [(mail, got)] = captured(sink, 1)
        assert "BODY=8BITMIME" not in mail and max(got) < 0x80
        parsed = email.message_from_bytes(got)
        assert parsed.get_payload(decode=True) == body.replace(b"\r\n", b"\n")


def test_8bit_header_to_peer_without_8bitmime_bounces_5_6_3():
    with SmtpSink(extra_args=["-8"]) as sink, Petrel(routed(sink.port)) as d:
        send(d, b"Subject: caf" + E + b"\r\n\r\nbody " + E + b"\r\n")
        [bounce] = d.wait_mail("bob", 1, timeout=20)
        text = bounce.decode("utf-8", "replace")
        assert "Action: failed" in text and "Status: 5.6.3" in text, text
        assert "SMTPUTF8" in text
        # The refusal is ours: no remote MTA reported it (RFC 3464 2.3.5).
        assert "Remote-MTA" not in text and "X-Petrel; 554 5.6.3" in text, text
        d.wait_log("status=bounced")
        assert sink.count() == 0 and sink.counters()["mesg"] == 0


def test_refusal_on_an_idle_reused_connection_bounces_at_once():
    # The first message leaves the connection idle (kept 2 s for reuse); the
    # second needs SMTPUTF8, which smtp-sink does not offer, so the client
    # refuses it before MAIL FROM. That refusal used to wait for a reply
    # that never came: the bounce came only after smtp-timeout (here 60 s).
    with SmtpSink(extra_args=["-8"]) as sink, \
            Petrel(dict(routed(sink.port), **{"smtp-timeout": "60s"})) as d:
        send(d, b"Subject: first\r\n\r\nascii\r\n")
        sink.wait_messages(1)
        d.wait_log("status=sent")
        send(d, b"Subject: second\r\n\r\nascii\r\n", mail_options=["SMTPUTF8"])
        [bounce] = d.wait_mail("bob", 1, timeout=20)
        assert b"Status: 5.6.7" in bounce, bounce
        assert sink.count() == 1
