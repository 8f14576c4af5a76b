"""Recipients past max-recipients (100 by default) get 452 4.5.3, and the
client sends them in a later transaction (RFC 5321 4.5.3.1.10). With
PIPELINING (RFC 2920) a client sends its whole list before it reads a reply,
so those 452s are no client error: they must neither close the session nor
cost the recipients already accepted."""

import smtplib

from harness import Petrel, wait_for

USERS = ["u%03d" % i for i in range(126)]


def petrel_with_mailboxes():
    d = Petrel()
    with open(d.config, "a") as f:
        f.write("".join("mailbox %s\n" % u for u in USERS))
    return d


def wait_delivered(d, users):
    wait_for(lambda: all(d.maildir(u) for u in users), 120,
             "a message in each of %d mailboxes" % len(users))


def test_pipelined_recipients_past_the_limit_are_not_errors():
    with petrel_with_mailboxes() as d:
        c = d.connect(timeout=60)
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example.org")[0] == 250
        # One write: MAIL, 126 RCPTs and DATA, as a pipelining client sends them.
        c.send("MAIL FROM:<sender@example.org>\r\n" +
               "".join("RCPT TO:<%s@example.test>\r\n" % u for u in USERS) + "DATA\r\n")
        assert c.reply()[0] == 250
        replies = [c.reply() for _ in USERS]
        assert [code for code, _ in replies] == [250] * 100 + [452] * 26
        assert all(text[0].startswith("4.5.3") for _, text in replies[100:])
        assert c.reply()[0] == 354
        c.send("Subject: pipelined\r\n\r\nto the first hundred\r\n.\r\n")
        code, text = c.reply()
        assert code == 250, text
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("QUIT")[0] == 221
        wait_delivered(d, USERS[:100])
        for u in USERS[:100]:
            [msg] = d.messages(u)
            assert b"to the first hundred" in msg
        d.wait_log("nrcpt=100")
        assert not any(d.maildir(u) for u in USERS[100:])


def test_smtplib_sends_the_refused_recipients_in_a_second_transaction():
    with petrel_with_mailboxes() as d:
        rcpts = ["%s@example.test" % u for u in USERS]
        with smtplib.SMTP("127.0.0.1", d.port, timeout=60) as s:
            refused = s.sendmail("sender@example.org", rcpts,
                                 b"Subject: twice\r\n\r\nbody\r\n")
            assert sorted(refused) == rcpts[100:]
            assert all(code == 452 and reply.startswith(b"4.5.3")
                       for code, reply in refused.values())
            # The same connection takes the rest, as RFC 5321 4.5.3.1.10 means.
            assert s.sendmail("sender@example.org", sorted(refused),
                              b"Subject: twice\r\n\r\nbody\r\n") == {}
        wait_delivered(d, USERS)
        assert all(len(d.maildir(u)) == 1 for u in USERS)
