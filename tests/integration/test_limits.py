"""Limits and failure handling of the receiving side: connection limit (421),
timeouts (421 4.4.2), oversized messages (552, session goes on), a client
that disconnects mid-DATA, thousands of concurrent sessions."""

import os
import socket

from harness import Petrel, wait_for


def test_connection_limit_answers_421():
    with Petrel({"max-connections": "2"}) as d:
        a, b = d.connect(), d.connect()
        assert a.reply()[0] == 220 and b.reply()[0] == 220
        c = d.connect()
        code, text = c.reply()
        assert code == 421 and "4.7.0" in text[0]
        assert c.closed()
        a.cmd("QUIT")
        wait_for(lambda: a.closed())
        e = d.connect()
        wait_for(lambda: e.reply()[0] == 220, what="a slot to free up")


def test_idle_client_times_out_with_421():
    with Petrel({"command-timeout": "1s"}) as d:
        c = d.connect()
        assert c.reply()[0] == 220
        code, text = c.reply()
        assert code == 421 and text[0].startswith("4.4.2")
        assert c.closed()


def test_oversized_message_552_and_session_continues():
    with Petrel({"max-message-size": "1k"}) as d:
        c = d.connect()
        c.reply()
        c.cmd("EHLO c.example.org")
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send("x" * 900 + "\r\n" + "y" * 900 + "\r\n.\r\n")
        assert c.reply()[0] == 552
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send("small\r\n.\r\n")
        assert c.reply()[0] == 250
        [msg] = d.wait_mail("alice")
        assert msg.endswith(b"small\n")


def test_disconnect_mid_data_leaves_nothing():
    with Petrel() as d:
        c = d.connect()
        c.reply()
        c.cmd("EHLO c.example.org")
        c.cmd("MAIL FROM:<s@example.org>")
        c.cmd("RCPT TO:<alice@example.test>")
        assert c.cmd("DATA")[0] == 354
        c.send("Subject: half\r\n\r\nhalf a message")
        c.close()
        d.wait_log("disconnect from")
        # A complete message afterwards proves the daemon went on; the half one
        # must never show up, not even after a restart.
        c2 = d.connect()
        c2.reply()
        c2.cmd("HELO c")
        c2.cmd("MAIL FROM:<s@example.org>")
        c2.cmd("RCPT TO:<alice@example.test>")
        c2.cmd("DATA")
        c2.send("Subject: whole\r\n\r\nwhole\r\n.\r\n")
        assert c2.reply()[0] == 250
        d.wait_mail("alice")
        d.stop()
        d.start()
        d.wait_log("petrel started: 0 queued")
        msgs = d.messages("alice")
        assert len(msgs) == 1 and b"whole" in msgs[0]


def test_thousand_concurrent_sessions():
    with Petrel({"max-connections": "5000"}) as d:
        socks = []
        try:
            for _ in range(1000):
                s = socket.create_connection(("127.0.0.1", d.port), timeout=20)
                socks.append(s)
            for s in socks:
                f = s.recv(512)
                assert f.startswith(b"220"), f
            for s in socks:
                s.sendall(b"EHLO c.example.org\r\n")
            for s in socks:
                data = b""
                while b"\r\n250 " not in data:
                    chunk = s.recv(4096)
                    assert chunk
                    data += chunk
            # One of them can still complete a transaction.
            s = socks[500]
            s.sendall(b"MAIL FROM:<s@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
            data = b""
            while data.count(b"\r\n") < 3:
                data += s.recv(4096)
            s.sendall(b"hi\r\n.\r\n")
            assert s.recv(4096).startswith(b"250")
            d.wait_mail("bob")
        finally:
            for s in socks:
                s.close()


def test_mailbox_failure_deferred_then_delivered():
    with Petrel() as d:
        os.makedirs(os.path.join(d.dir, "mail"), exist_ok=True)
        blocker = os.path.join(d.dir, "mail", "alice")
        with open(blocker, "w") as f:
            f.write("not a maildir")
        c = d.connect()
        c.reply()
        c.cmd("HELO c")
        c.cmd("MAIL FROM:<s@example.org>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        c.send("Subject: later\r\n\r\nretry me\r\n.\r\n")
        assert c.reply()[0] == 250
        d.wait_log("status=deferred")
        os.unlink(blocker)
        [msg] = d.wait_mail("alice")
        assert b"retry me" in msg
        d.wait_log("status=sent")


def test_sigterm_sends_421_to_idle_sessions():
    d = Petrel()
    d.start()
    try:
        c = d.connect()
        assert c.reply()[0] == 220
        assert c.cmd("EHLO c.example.org")[0] == 250
        d.proc.terminate()
        code, text = c.reply()
        assert code == 421 and text[0].startswith("4.3.2")
        assert c.closed()
        assert d.proc.wait(timeout=60) == 0
    finally:
        d.cleanup()


def test_vrfy_and_expn_can_be_switched_off():
    with Petrel({"vrfy": "off", "expn": "off"}) as d:
        c = d.connect()
        c.reply()
        code, text = c.cmd("VRFY alice")
        assert code == 252
        assert "Alice" not in text[0]
        assert c.cmd("EXPN team")[0] == 502


def test_connections_per_client_limited_for_strangers():
    # 127.0.0.1 is not a trusted network here, so the per-address limit applies.
    with Petrel({"relay-from": "10.0.0.0/8", "max-connections-per-client": "3"}) as d:
        held = [d.connect() for _ in range(3)]
        for c in held:
            assert c.reply()[0] == 220
        extra = d.connect()
        code, text = extra.reply()
        assert code == 421 and "from your address" in text[0]
        held[0].cmd("QUIT")
        wait_for(lambda: held[0].closed())
        again = d.connect()
        wait_for(lambda: again.reply()[0] == 220, what="a slot for this address")


def test_rcpt_harvesting_gets_421():
    with Petrel({"max-no-progress": "10"}) as d:
        c = d.connect()
        c.reply()
        c.cmd("EHLO harvester.example")
        c.cmd("MAIL FROM:<h@example.org>")
        codes = [c.cmd("RCPT TO:<guess%d@example.test>" % i)[0] for i in range(10)]
        assert codes == [550] * 10
        code, text = c.cmd("RCPT TO:<guess10@example.test>")
        assert code == 421 and text[0].startswith("4.7.0")
        assert c.closed()
        # Accepted recipients are progress: a 100-recipient message is fine.
        c2 = d.connect()
        c2.reply()
        c2.cmd("EHLO c")
        c2.cmd("MAIL FROM:<s@example.org>")
        for i in range(20):
            assert c2.cmd("RCPT TO:<%s@example.test>" % ("alice" if i % 2 else "bob"))[0] == 250


def test_421_reaches_a_client_whose_junk_is_left_unread():
    # The last reply before a close waits for the FIN (MSG_MORE); a close
    # with unread input resets the connection, which would drop it unsent.
    with Petrel() as d:
        c = d.connect()
        c.reply()
        c.send(b"BOGUS\r\n" * 25 + b"x" * 60000 + b"\r\n")
        codes = []
        try:
            while not codes or codes[-1] != 421:
                codes.append(c.reply()[0])
        except (EOFError, ConnectionResetError):
            pass
        assert codes[-1:] == [421], codes
        assert codes[:-1] == [500] * 20, codes


def test_message_rate_per_client():
    # A stranger's sender domain would be looked up: no DNS here.
    with Petrel({"relay-from": "10.0.0.0/8", "max-messages-per-client": "3",
                 "reject-unknown-sender-domain": "off"}) as d:
        c = d.connect()
        c.reply()
        c.cmd("EHLO c")
        for i in range(3):
            assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
            assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            c.send("Subject: %d\r\n\r\nx\r\n.\r\n" % i)
            assert c.reply()[0] == 250
        code, text = c.cmd("MAIL FROM:<s@example.org>")
        assert code == 450 and text[0].startswith("4.7.1")
        d.wait_mail("alice", 3)
