"""Delivery to the world, against real peers on loopback: a real DNS server
(tests/dnsserver.py) serving MX/A records for test domains, Postfix's
smtp-sink as the receiving MTA (accepting, answering 4xx or 5xx, hanging up),
and Petrel itself as primary and backup MX."""

import os
import smtplib
import subprocess

import harness
from dnsserver import DNSServer
from harness import Petrel, free_port, wait_for
from postfix import SmtpSink


class World:
    """A DNS server and the Petrel settings that point at it."""

    def __init__(self, zones):
        self.dns = DNSServer(zones).start()
        self.port = free_port(host="127.0.0.2")

    def settings(self, **extra):
        s = {"dns-server": "127.0.0.1:%d" % self.dns.port, "smtp-port": str(self.port),
             "connect-timeout": "2s", "smtp-timeout": "5s"}
        s.update({k.replace("_", "-"): v for k, v in extra.items()})
        return s

    def sink(self, host, **kw):
        return SmtpSink(host, self.port, **kw)

    def stop(self):
        self.dns.stop()


def zones(**extra):
    z = {
        "remote.test": {"MX": [[10, "mx1.remote.test"]]},
        "mx1.remote.test": {"A": ["127.0.0.2"]},
        "two.test": {"MX": [[10, "down.two.test"], [20, "up.two.test"]]},
        "down.two.test": {"A": ["127.0.0.4"]},
        "up.two.test": {"A": ["127.0.0.3"]},
        "plain.test": {"A": ["127.0.0.2"]},
        "null.test": {"MX": [[0, "."]]},
        "broken.test": {"SERVFAIL": True},
    }
    z.update(extra)
    return z


def send(d, sender, rcpts, subject="test", body="hello"):
    with smtplib.SMTP(d.host, d.port, timeout=10) as s:
        return s.sendmail(sender, rcpts, "Subject: %s\r\n\r\n%s\r\n" % (subject, body))


def test_mx_delivery_one_transaction_for_two_recipients():
    w = World(zones())
    try:
        with w.sink("127.0.0.2") as sink, Petrel(w.settings()) as d:
            send(d, "alice@example.test", ["x@remote.test", "y@remote.test"], "mx")
            [msg] = sink.wait_messages(1)
            assert b"X-Rcpt-Args: <x@remote.test>" in msg
            assert b"X-Rcpt-Args: <y@remote.test>" in msg
            assert b"Subject: mx" in msg
            d.wait_log("relay=mx1.remote.test[127.0.0.2]:%d" % w.port)
            wait_for(lambda: d.run_log().count("status=sent") == 2, what="both outcomes logged")
    finally:
        w.stop()


def test_unreachable_first_mx_second_used():
    w = World(zones())
    try:
        with w.sink("127.0.0.3") as sink, Petrel(w.settings()) as d:
            send(d, "alice@example.test", ["x@two.test"], "second mx")
            sink.wait_messages(1)
            d.wait_log("relay=up.two.test[127.0.0.3]")
    finally:
        w.stop()


def test_implicit_mx_from_a_record():
    w = World(zones())
    try:
        with w.sink("127.0.0.2") as sink, Petrel(w.settings()) as d:
            send(d, "alice@example.test", ["x@plain.test"], "implicit")
            sink.wait_messages(1)
    finally:
        w.stop()


def bounce_for(d, user="alice"):
    [msg] = d.wait_mail(user)
    text = msg.decode("utf-8", "replace")
    assert "multipart/report" in text and "report-type=delivery-status" in text
    assert "Return-Path: <>" in text
    return text


def test_null_mx_bounces_at_once():
    w = World(zones())
    try:
        with Petrel(w.settings()) as d:
            send(d, "alice@example.test", ["x@null.test"], "nowhere")
            text = bounce_for(d)
            assert "Status: 5.1.10" in text and "Subject: nowhere" in text
            d.wait_log("status=bounced")
    finally:
        w.stop()


def test_550_from_peer_bounces_to_sender_maildir():
    w = World(zones())
    try:
        with w.sink("127.0.0.2", hard_reject=("RCPT",),
                    hard_reply="550 5.1.1 No such user here") as sink, \
                Petrel(w.settings()) as d:
            send(d, "alice@example.test", ["nobody@remote.test"], "will bounce")
            text = bounce_for(d)
            assert "Final-Recipient: rfc822;nobody@remote.test" in text.replace("; ", ";")
            assert "Action: failed" in text and "Status: 5.1.1" in text
            assert "No such user here" in text
            assert "Subject: will bounce" in text
            assert sink.count() == 0
    finally:
        w.stop()


def deferred_then_delivered_once(first_sink, subject):
    """The first peer fails the delivery in its own way; a healthy peer on the
    same address then gets the message exactly once, and no bounce goes out."""
    w = World(zones())
    try:
        with Petrel(w.settings()) as d:
            with w.sink("127.0.0.2", **first_sink):
                send(d, "alice@example.test", ["x@remote.test"], subject)
                d.wait_log("status=deferred")
            with w.sink("127.0.0.2") as sink:
                sink.wait_messages(1)
                d.wait_log("status=sent")
                d.stop()
                assert sink.count() == 1
                assert d.maildir("alice") == []
    finally:
        w.stop()


def test_451_first_then_accepted_delivered_once():
    deferred_then_delivered_once({"soft_reject": ("RCPT",)}, "retry me")


def test_peer_drops_mid_data_then_delivered_once():
    deferred_then_delivered_once({"disconnect": ("DATA",)}, "dropped")


def test_dns_servfail_defers():
    w = World(zones())
    try:
        with Petrel(w.settings()) as d:
            send(d, "alice@example.test", ["x@broken.test"], "servfail")
            d.wait_log("status=deferred")
            assert d.maildir("alice") == []
    finally:
        w.stop()


def test_null_sender_is_never_bounced():
    w = World(zones())
    try:
        with Petrel(w.settings()) as d:
            send(d, "", ["x@null.test"], "from nobody")
            d.wait_log("no delivery report")
            d.wait_log("status=bounced")
            assert d.maildir("alice") == [] and d.maildir("postmaster") == []
    finally:
        w.stop()


def test_delay_warning_then_return_after_expiry():
    w = World(zones())
    try:
        with Petrel(w.settings(warn_after="1s", bounce_after="4s")) as d:
            send(d, "bob@example.test", ["x@remote.test"], "slow")
            warning = d.wait_mail("bob", 1)[0].decode()
            assert "Action: delayed" in warning
            msgs = d.wait_mail("bob", 2)
            failure = [m.decode() for m in msgs if b"Action: failed" in m]
            assert failure and "Status: 4.4.7" in failure[0]
            d.wait_log("status=expired")
    finally:
        w.stop()


def petrel(d, *args):
    """Runs `petrel ARGS -c CONF`, which must succeed; returns its output."""
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")
    p = subprocess.run([harness.BINARY, *args, "-c", d.config], capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_connections_reused_and_concurrency_bounded():
    w = World(zones())
    try:
        # No retry for an hour: the retries of a 1-2 s grid would spread the
        # messages over the time it took to send them (seconds, on a loaded
        # machine), and each gap longer than a connection's idle time costs
        # a session.
        with Petrel(w.settings(dest_concurrency="2", retry_initial="1h", retry_max="1h")) as d:
            # The destination is down while ten messages arrive; the flush
            # makes them all due together once it is back.
            for i in range(10):
                send(d, "alice@example.test", ["x%d@remote.test" % i], "batch %d" % i)
            # Recorded, not only logged: a flush skips a message whose
            # attempt is still being recorded, and that attempt's outcome
            # then sets its next try an hour away.
            wait_for(lambda: petrel(d, "queue").count("last error (1 attempt)") == 10,
                     what="ten failed attempts recorded")
            with w.sink("127.0.0.2") as sink:
                petrel(d, "flush")
                sink.wait_messages(10)
                wait_for(lambda: d.run_log().count("status=sent") == 10)
                d.stop()
                counters = sink.counters()
                assert counters["sess"] <= 4, counters
    finally:
        w.stop()


def test_backup_mx_holds_mail_until_primary_returns():
    port = free_port(host="127.0.0.2")
    z = zones(**{"dom.test": {"MX": [[10, "mx1.dom.test"], [20, "mx2.dom.test"]]},
                 "mx1.dom.test": {"A": ["127.0.0.2"]}, "mx2.dom.test": {"A": ["127.0.0.3"]}})
    w = World(z)
    w.port = port
    try:
        backup = Petrel(w.settings(hostname="mx2.dom.test", relay_domain="dom.test",
                                   relay_from="10.0.0.0/8"), host="127.0.0.3", port=port)
        primary = Petrel({"hostname": "mx1.dom.test", "domain": "dom.test"},
                         host="127.0.0.2", port=port)
        with backup:
            # Anyone may hand the backup mail for dom.test (from a sender
            # whose domain exists); it cannot reach the primary and must keep
            # it (never deliver it to itself).
            send(backup, "someone@remote.test", ["alice@dom.test"], "via backup")
            backup.wait_log("status=deferred")
            assert "loops back" not in backup.run_log()
            with primary:
                [msg] = primary.wait_mail("alice")
                assert b"via backup" in msg
                backup.wait_log("status=sent")
                backup.stop()
                assert len(primary.maildir("alice")) == 1
    finally:
        w.stop()


def test_forward_alias_is_delivered_to_the_remote_address():
    w = World(zones(**{"remote.test": {"MX": [[10, "mx1.remote.test"]]}}))
    try:
        with w.sink("127.0.0.2") as sink, Petrel(w.settings()) as d:
            # etc aliases: fwd -> someone@remote.test (251 at RCPT time)
            send(d, "bob@example.test", ["fwd@example.test"], "forwarded")
            [msg] = sink.wait_messages(1)
            assert b"X-Rcpt-Args: <someone@remote.test>" in msg
            d.wait_log("orig_to=<fwd@example.test>")
    finally:
        w.stop()


def test_failed_bounce_goes_to_postmaster_once():
    w = World(zones())
    try:
        with w.sink("127.0.0.2", hard_reject=("RCPT",)), Petrel(w.settings()) as d:
            # The sender's own domain has a null MX: its bounce fails too, and
            # the failed bounce goes to the postmaster (alias of alice), once.
            send(d, "someone@null.test", ["nobody@remote.test"], "double")
            [msg] = d.wait_mail("alice")
            assert b"Action: failed" in msg and b"someone@null.test" in msg
            d.wait_log("status=bounced")
            assert d.run_log().count("non-delivery notification") == 2
    finally:
        w.stop()


def test_stalled_peer_times_out_and_defers():
    w = World(zones())
    try:
        with w.sink("127.0.0.2", data_delay=30), \
                Petrel(w.settings(smtp_timeout="1s")) as d:
            send(d, "alice@example.test", ["x@remote.test"], "stall")
            d.wait_log("status=deferred")
            assert "timed out" in d.run_log()
    finally:
        w.stop()


def test_ipv6_exchanger():
    import socket
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        return  # no IPv6 loopback here
    w = World(zones(**{"v6.test": {"MX": [[10, "mx.v6.test"]]}, "mx.v6.test": {"AAAA": ["::1"]}}))
    w.port = free_port(socket.AF_INET6, "::1")
    try:
        with SmtpSink("::1", w.port) as sink, Petrel(w.settings()) as d:
            send(d, "alice@example.test", ["x@v6.test"], "over ipv6")
            sink.wait_messages(1)
            d.wait_log("relay=mx.v6.test[::1]")
    finally:
        w.stop()


def test_relay_host_with_auth():
    import os
    w = World(zones())
    try:
        with w.sink("127.0.0.2", extra_args=["-v"]) as sink:
            d = Petrel(w.settings(relay_host="127.0.0.2:%d" % w.port))
            pw = os.path.join(d.dir, "relay.pw")
            with open(pw, "w") as f:
                f.write("s3cret\n")
            with open(d.config, "a") as f:
                f.write("relay-auth petrel %s\n" % pw)
            with d:
                # Every domain goes to the relay host, even one without DNS.
                send(d, "alice@example.test", ["x@nowhere.invalid"], "smarthost")
                sink.wait_messages(1)
                # AUTH PLAIN with "\0petrel\0s3cret" in base64.
                wait_for(lambda: "AHBldHJlbABzM2NyZXQ=" in sink.log())
                d.wait_log("status=sent")
    finally:
        w.stop()
