"""Observability against the real daemon: the Prometheus endpoint
(metrics-listen; counters move by exactly what the test did, the queue
gauges follow a deferred message, 404/405 for anything but GET /metrics,
loopback only), `petrel status` from the running daemon and without one,
and JSON logs (log-format json) that parse line by line, carry queue_id and
the delivery fields, and keep hostile text (quoted addresses, AUTH names
with quotes, backslashes, control and non-UTF-8 bytes) inside its string."""

import base64
import json
import os
import re
import smtplib
import subprocess
import sys
import urllib.error
import urllib.request

import harness
from harness import Petrel, free_port, wait_for
from postfix import SmtpSink

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_submission import Sub  # noqa: E402  (its TLS and passwd fixture)

SAMPLE = re.compile(r"^(petrel_[a-z_]+)(\{[^}]*\})? (-?[0-9]+)$")


def metrics_settings(port, **extra):
    s = {"metrics-listen": "127.0.0.1:%d" % port}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def scrape(port, path="/metrics"):
    """Parses the exposition text into {"name{labels}": value}, checking
    that every sample's family was announced with HELP and TYPE first."""
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out, typed = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            typed[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or typed.get(family) == "histogram", line
        if typed.get(m.group(1)) == "counter":
            assert m.group(1).endswith("_total"), line
        out[m.group(1) + (m.group(2) or "")] = int(m.group(3))
    return out


def settled(port, mode="smtp"):
    """A scrape once no connection of that mode is open (the harness's
    readiness probe, a client that just quit)."""
    key = 'petrel_connections_open{mode="%s"}' % mode
    return wait_for(lambda: (lambda m: m if m[key] == 0 else None)(scrape(port)),
                    what="no open %s connection" % mode)


def delta(before, after):
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def http_status(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def petrel(d, *args):
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")
    p = subprocess.run([harness.BINARY, *args, "-c", d.config], capture_output=True, text=True,
                       timeout=60, env=env)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p


MSG = "Subject: metrics\r\n\r\ncounted\r\n"


def test_counters_move_by_what_was_done():
    mport = free_port()
    with SmtpSink("127.0.0.1") as sink:
        settings = metrics_settings(mport, route="remote.test 127.0.0.1:%d" % sink.port)
        with Petrel(settings) as d:
            before = settled(mport)
            with smtplib.SMTP(d.host, d.port, timeout=10) as s:
                s.ehlo("client.example")
                s.mail("s@example.org")
                assert s.rcpt("alice@example.test")[0] == 250
                assert s.rcpt("x@remote.test")[0] == 250
                assert s.rcpt("nobody@example.test")[0] == 550
                assert s.data(MSG.encode())[0] == 250
            d.wait_mail("alice")
            sink.wait_messages(1)
            wait_for(lambda: d.run_log().count("status=sent") == 2, what="two deliveries")
            wait_for(lambda: scrape(mport)["petrel_queue_messages"] == 0, what="an empty queue")
            after = settled(mport)
            got = delta(before, after)
            assert_latency_counted(got, 2)
            assert got == {
                'petrel_connections_total{mode="smtp"}': 1,
                'petrel_smtp_replies_total{class="2xx"}': 7,  # 220 EHLO MAIL RCPT RCPT 250 221
                'petrel_smtp_replies_total{class="3xx"}': 1,
                'petrel_smtp_replies_total{class="5xx"}': 1,
                'petrel_messages_received_total{source="smtp"}': 1,
                'petrel_received_bytes_total{source="smtp"}': len(MSG),
                'petrel_deliveries_total{dest="local",status="sent"}': 1,
                'petrel_deliveries_total{dest="remote",status="sent"}': 1,
            }, got
            assert after["petrel_start_time_seconds"] > 0


def assert_latency_counted(dl, n):
    """Takes the delivery latency histogram out of a delta and checks that
    it counted n deliveries. Which buckets they fall in is the machine's
    speed (latency is whole seconds since arrival, and a loaded machine
    takes a second or more), so only the shape is checked: cumulative
    buckets that reach n at +Inf."""
    hist = {k: dl.pop(k) for k in list(dl) if k.startswith("petrel_delivery_latency_seconds")}
    assert hist.get("petrel_delivery_latency_seconds_count") == n, hist
    buckets = sorted((float(re.search(r'le="([^"]+)"', k).group(1)), v)
                     for k, v in hist.items() if "_bucket{" in k)
    counts = [v for _, v in buckets]
    assert buckets and buckets[-1][0] == float("inf") and counts == sorted(counts) \
        and counts[-1] == n, hist


def queued(m):
    return m if m["petrel_queue_messages"] == 1 and m["petrel_queue_recipients"] == 1 else None


def test_deferred_message_in_queue_gauges_and_status():
    mport = free_port()
    with Petrel(metrics_settings(mport, route="remote.test 127.0.0.1:1")) as d:
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            s.sendmail("s@example.org", ["later@remote.test"], MSG)
        d.wait_log("status=deferred")
        m = wait_for(lambda: queued(scrape(mport)), what="one deferred message in the gauges")
        assert m['petrel_deliveries_total{dest="remote",status="deferred"}'] >= 1
        assert m['petrel_deliveries_total{dest="remote",status="sent"}'] == 0
        assert 0 <= m["petrel_queue_oldest_age_seconds"] < 60
        p = petrel(d, "status")
        assert p.returncode == 0, p.stderr
        lines = dict(re.split(r"\s{2,}", l, 1) for l in p.stdout.splitlines())
        assert re.fullmatch(r"\d+s|\d+m \d\ds", lines["uptime"]), lines
        assert lines["messages received"] == "1 (smtp 1, maildrop 0), %d bytes" % len(MSG)
        assert re.fullmatch(r"local 0, remote [1-9]\d*", lines["deferred"]), lines
        assert lines["sent"] == "local 0, remote 0"
        assert re.fullmatch(r"1 message\(s\), 1 recipient\(s\) pending, 0 held, oldest \d+s",
                            lines["queue"]), lines
        assert lines["delivery latency"] == "no deliveries yet"
        # The same queue, deleted by the postmaster, leaves the gauges.
        mid = re.search(r"^([0-9A-Z]{16})", petrel(d, "queue").stdout, re.M).group(1)
        assert petrel(d, "queue", "delete", mid).returncode == 0
        wait_for(lambda: scrape(mport)["petrel_queue_messages"] == 0, what="an empty queue")


def test_status_without_daemon():
    d = Petrel()
    p = petrel(d, "status")
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert "not running" in p.stderr and p.stdout == ""
    d.cleanup()


def test_only_get_metrics_is_served():
    mport = free_port()
    with Petrel(metrics_settings(mport)):
        for path in ("/", "/metric", "/metrics/", "/metrics/x", "/other?metrics"):
            assert http_status(mport, path)[0] == 404, path
        for method in ("POST", "PUT", "DELETE"):
            code, headers = http_status(mport, "/metrics", method)
            assert code == 405 and headers["Allow"] == "GET, HEAD", (method, code)
        assert http_status(mport, "/metrics", "HEAD")[0] == 200
        assert "petrel_queue_messages" in scrape(mport, "/metrics?name=x")


def test_metrics_listen_must_be_loopback():
    for addr, ok in (("0.0.0.0:9100", False), ("192.0.2.1:9100", False), ("[::]:9100", False),
                     ("127.0.0.1:9100", True), ("[::1]:9100", True)):
        d = Petrel({"metrics-listen": addr})
        p = petrel(d, "check-config")
        assert (p.returncode == 0) == ok, (addr, p.stdout, p.stderr)
        if not ok:
            assert "loopback" in p.stderr, p.stderr
        d.cleanup()


def json_lines(d):
    """Every line of the daemon's log as a JSON object (fails on any other)."""
    lines = d.run_log().splitlines()
    assert lines
    out = []
    for l in lines:
        obj = json.loads(l)
        assert isinstance(obj, dict) and {"ts", "level", "pid", "msg"} <= set(obj), l
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"]), l
        out.append(obj)
    return out


HOSTILE_FROM = '"we\\"ird\\\\x, status=sent>"@example.org'
HOSTILE_TO = '"a>, relay=forged"@remote.test'


def test_json_log_lines():
    with SmtpSink("127.0.0.1") as sink:
        with Petrel({"log-format": "json", "route": "remote.test 127.0.0.1:%d" % sink.port}) as d:
            c = d.connect()
            assert c.reply()[0] == 220
            assert c.cmd("EHLO client.example")[0] == 250
            assert c.cmd("MAIL FROM:<%s>" % HOSTILE_FROM)[0] == 250
            assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
            assert c.cmd("RCPT TO:<%s>" % HOSTILE_TO)[0] == 250
            assert c.cmd("DATA")[0] == 354
            code, text = c.cmd("Subject: json\r\n\r\nbody\r\n.")
            assert code == 250
            qid = re.search(r"queued as ([0-9A-Z]{16})", text[0]).group(1)
            c.cmd("QUIT")
            c.close()
            d.wait_mail("alice")
            sink.wait_messages(1)
            wait_for(lambda: sum(l.get("status") == "sent" for l in json_lines(d)) == 2,
                     what="two deliveries")
            lines = json_lines(d)
            mine = [l for l in lines if l.get("queue_id") == qid]
            [q] = [l for l in mine if l.get("status") == "queued"]
            assert q["from"] == HOSTILE_FROM and q["size"] == len("Subject: json\r\n\r\nbody\r\n")
            assert q["msg"].startswith(qid + ": client=[127.0.0.1]")
            sent = {l["to"]: l for l in mine if l.get("status") == "sent"}
            assert set(sent) == {"alice@example.test", HOSTILE_TO}, mine
            assert sent["alice@example.test"]["relay"] == "local"
            assert sent["alice@example.test"]["detail"] == "delivered to maildir"
            assert sent[HOSTILE_TO]["relay"].startswith("127.0.0.1[127.0.0.1]:")
            assert isinstance(sent[HOSTILE_TO]["delay"], int)


def test_json_log_hostile_auth_name_and_tls_metrics():
    mport = free_port()
    d = Sub(dict(metrics_settings(mport), **{"log-format": "json"}))
    with d:
        before = settled(mport, "submission")
        s = d.submission()
        user = b'ev"il\\\n{"level":"forged"}\x01\x1b[31m\xff\xc3'
        blob = base64.b64encode(b"\0" + user + b"\0wrong").decode()
        assert s.docmd("AUTH", "PLAIN " + blob)[0] == 535
        s.login("alice", "wonderland")
        s.quit()
        d.wait_log("user=<alice>, ok")
        after = settled(mport, "submission")
        dl = delta(before, after)
        assert dl['petrel_connections_total{mode="submission"}'] == 1
        assert dl['petrel_tls_sessions_total{direction="inbound"}'] == 1
        assert 'petrel_tls_sessions_total{direction="outbound"}' not in dl
        assert dl['petrel_auth_total{result="failed"}'] == 1
        assert dl['petrel_auth_total{result="ok"}'] == 1
        lines = json_lines(d)
        [bad] = [l for l in lines if l["msg"].startswith("auth from") and "failed" in l["msg"]]
        # Whatever the text, it stayed inside the one line's string.
        assert bad["msg"].startswith('auth from [127.0.0.1]: user=<ev"il'), bad
        assert bad["msg"].endswith(">, failed"), bad
        assert not any(l.get("level") == "forged" for l in lines)


def test_tls_counted_in_both_directions():
    """One Petrel relays to another that offers STARTTLS: the sender counts an
    outbound TLS session, the receiver an inbound one."""
    rport, sport = free_port(), free_port()
    receiver = Sub(metrics_settings(rport))
    with receiver:
        r0 = settled(rport)
        sender = Petrel(metrics_settings(sport, domain="sender.test",
                                         route="example.test 127.0.0.1:%d" % receiver.port))
        with sender:
            with smtplib.SMTP(sender.host, sender.port, timeout=10) as s:
                s.sendmail("s@example.org", ["alice@example.test"], MSG)
            receiver.wait_mail("alice")
            # The file is in the Maildir before the delivery is recorded
            # and counted.
            receiver.wait_log("status=sent")
            sender.wait_log("status=sent")
            out = scrape(sport)
            assert out['petrel_tls_sessions_total{direction="outbound"}'] == 1
            assert out['petrel_tls_sessions_total{direction="inbound"}'] == 0
            assert out['petrel_deliveries_total{dest="remote",status="sent"}'] == 1
        dl = delta(r0, settled(rport))
        assert dl['petrel_tls_sessions_total{direction="inbound"}'] == 1, dl
        assert dl['petrel_messages_received_total{source="smtp"}'] == 1, dl
        assert dl['petrel_deliveries_total{dest="local",status="sent"}'] == 1, dl
