"""Running Petrel in production: the root privilege drop, SIGHUP reload and a
graceful SIGTERM, against the real daemon."""

import os
import pwd
import shutil
import signal
import socket
import smtplib
import subprocess
import time

from harness import Petrel, free_port, local_user, make_cert, wait_for


def proc_ids(pid):
    """(real, effective, saved uids), (real, effective, saved gids) of pid."""
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid"):
                ids[key] = set(int(x) for x in rest.split()[:3])
    return ids["Uid"], ids["Gid"]


def send(d, rcpt, subject, port=None):
    with smtplib.SMTP("127.0.0.1", port or d.port, timeout=10) as s:
        s.sendmail("s@example.org", [rcpt], "Subject: %s\r\n\r\nbody\r\n" % subject)


def rewrite_config(d, edit):
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(edit(text))


def in_data(d, name):
    """A session for bob@example.test that has just been told 354."""
    c = d.connect()
    c.reply()
    c.cmd("EHLO %s.example.org" % name)
    c.cmd("MAIL FROM:<s@example.org>")
    c.cmd("RCPT TO:<bob@example.test>")
    assert c.cmd("DATA")[0] == 354
    return c


def test_started_as_root_runs_as_the_petrel_user():
    if os.geteuid() != 0:
        raise AssertionError("this test needs root (the suite runs as root on CI)")
    petrel = pwd.getpwnam("petrel")
    with Petrel() as d:
        uids, gids = proc_ids(d.proc.pid)
        assert uids == {petrel.pw_uid}, uids
        assert gids == {petrel.pw_gid}, gids
        send(d, "alice@example.test", "dropped")
        d.wait_mail("alice")
        [path] = d.maildir("alice")
        assert os.stat(path).st_uid == petrel.pw_uid
        for top, dirs, files in os.walk(os.path.join(d.dir, "spool")):
            for name in dirs + files:
                assert os.lstat(os.path.join(top, name)).st_uid == petrel.pw_uid, name
        assert "running as user petrel" in d.run_log()


def test_refuses_to_run_as_root_or_an_unknown_user():
    for user, why in (("root", "refusing to run as root"), ("no-such-user-x", "no such user")):
        d = Petrel({"user": user})
        try:
            d.start(wait=False)
            assert d.proc.wait(timeout=60) == 1
            assert why in d.log(), d.log()
        finally:
            d.proc = None
            d.cleanup()


def test_sighup_reload_new_sessions_see_new_mailbox_old_session_keeps_its_config():
    with Petrel() as d:
        old = d.connect()
        assert old.reply()[0] == 220
        assert old.cmd("EHLO old.example.org")[0] == 250
        rewrite_config(d, lambda t: t + 'mailbox dave "Dave"\n')
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("reloaded " + d.config)
        new = d.connect()
        new.reply()
        new.cmd("EHLO new.example.org")
        assert new.cmd("MAIL FROM:<s@example.org>")[0] == 250
        assert new.cmd("RCPT TO:<dave@example.test>")[0] == 250
        new.cmd("QUIT")
        # The session opened before the reload finishes under its snapshot.
        assert old.cmd("MAIL FROM:<s@example.org>")[0] == 250
        assert old.cmd("RCPT TO:<dave@example.test>")[0] == 550
        assert old.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert old.cmd("DATA")[0] == 354
        old.send("Subject: old session\r\n\r\nstill here\r\n.\r\n")
        assert old.reply()[0] == 250
        old.cmd("QUIT")
        d.wait_mail("alice")
        send(d, "dave@example.test", "after reload")
        [msg] = d.wait_mail("dave")
        assert b"after reload" in msg


def test_sighup_with_a_bad_config_is_refused_and_the_old_one_keeps_running():
    with Petrel() as d:
        good = open(d.config).read()
        rewrite_config(d, lambda t: t + "no-such-keyword 1\nmax-recipients many\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("refused; the running config stays")
        # The reasons follow the refusal line, one line each.
        d.wait_log("unknown keyword 'no-such-keyword'")
        d.wait_log("max-recipients")
        send(d, "alice@example.test", "still serving")
        d.wait_mail("alice")
        # Fixed again, the next reload goes through.
        rewrite_config(d, lambda t: good)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("reloaded " + d.config)
        assert d.proc.poll() is None


def test_sighup_reports_settings_that_need_a_restart():
    with Petrel() as d:
        rewrite_config(d, lambda t: t.replace("retry-max 2s", "retry-max 3s") +
                       "delivery-workers 7\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("reloaded " + d.config)
        assert "'delivery-workers' changed; it takes effect at the next restart" in d.run_log()


def test_sigterm_lets_a_message_in_data_finish_and_refuses_new_connections():
    with Petrel() as d:
        idle = d.connect()
        idle.reply()
        idle.cmd("EHLO idle.example.org")
        busy = in_data(d, "busy")
        busy.send("Subject: in flight\r\n\r\nfirst half\r\n")
        d.proc.terminate()
        code, text = idle.reply()
        assert code == 421, (code, text)
        # New clients are told, not left hanging: 421 and close.
        late = d.connect()
        code, text = late.reply()
        assert code == 421 and "shutting down" in text[0], text
        busy.send("second half\r\n.\r\n")
        assert busy.reply()[0] == 250
        assert busy.reply()[0] == 421
        assert d.proc.wait(timeout=60) == 0
        # Whatever the stop left undelivered is still queued: after a
        # restart the message is in bob's Maildir exactly once.
        d.start()
        wait_for(lambda: len(d.maildir("bob")) >= 1, what="bob's message")
        [msg] = d.messages("bob")
        assert b"first half" in msg and b"second half" in msg


def test_sigterm_bound_cuts_a_stalled_data_and_leaves_nothing_half_queued():
    with Petrel({"shutdown-timeout": "1s"}) as d:
        stuck = in_data(d, "stuck")
        stuck.send("Subject: never finished\r\n\r\npartial")
        began = time.monotonic()
        d.proc.terminate()
        assert d.proc.wait(timeout=60) == 0
        waited = time.monotonic() - began
        # Without the bound the stalled client would hold the daemon for
        # data-timeout (10 min); the margin above 1 s is for a loaded
        # machine and an ASan build's exit.
        assert waited < 20, waited
        print("stop with a stalled DATA took %.2f s (bound 1 s)" % waited)
        d.start()
        d.wait_log("petrel started: 0 queued")
        assert d.maildir("bob") == []


def test_local_user_submits_with_sendmail_while_the_daemon_runs_as_petrel():
    nobody, become_nobody = local_user()
    d = Petrel()
    # A secret only root may read does not stop a local user's sendmail.
    secret = os.path.join(d.dir, "relay.pw")
    with open(secret, "w") as f:
        f.write("s3cret\n")
    os.chmod(secret, 0o600)
    with open(d.config, "a") as f:
        f.write("relay-auth petrel %s\n" % secret)
    # The checkout may sit where nobody cannot reach it: run a copy.
    binary = os.path.join(d.dir, "petrel-copy")
    shutil.copy2(d.binary, binary)
    with d:
        p = subprocess.run([binary, "sendmail", "-c", d.config, "-i", "alice@example.test"],
                           input=b"Subject: from nobody\n\nlocal user\n", capture_output=True,
                           timeout=30, preexec_fn=become_nobody)
        assert p.returncode == 0, p.stderr
        [msg] = d.wait_mail("alice")
        assert b"local user" in msg
        # The Received line names the submitting user's uid, taken from the
        # maildrop file's owner, not from anything the user wrote.
        assert ("from userid %d)" % nobody.pw_uid).encode() in msg, msg
        # The daemon, though, needs it: as the petrel user it cannot reload.
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("relay-auth: cannot read the password file")


def let_petrel_read(key):
    # The daemon reloads as its own user: the key must be readable by it.
    if os.geteuid() == 0:
        os.chown(key, 0, pwd.getpwnam("petrel").pw_gid)
        os.chmod(key, 0o640)


def served_cert(port):
    """The DER certificate an implicit-TLS listener presents."""
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def test_sighup_reloads_the_certificate_and_the_passwd_file():
    import ssl
    tls_port = free_port()
    d = Petrel(listen=None)
    cert_a = make_cert(d.dir, "a.example.test")
    cert_b = make_cert(d.dir, "b.example.test")
    live_c, live_k = os.path.join(d.dir, "live.pem"), os.path.join(d.dir, "live.key")
    for src, dst in zip(cert_a, (live_c, live_k)):
        shutil.copy2(src, dst)
    let_petrel_read(live_k)
    passwd = os.path.join(d.dir, "passwd")
    with open(d.config, "a") as f:
        f.write("listen 127.0.0.1:%d submissions\ntls-cert %s\ntls-key %s\npasswd-file %s\n"
                % (tls_port, live_c, live_k, passwd))

    def set_password(user, pw):
        p = subprocess.run([d.binary, "passwd", "-c", d.config, user], input=pw + "\n",
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr

    set_password("alice", "first")
    with d:
        der_a = served_cert(tls_port)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        before = smtplib.SMTP_SSL("127.0.0.1", tls_port, timeout=10, context=ctx)
        before.ehlo("before.example.org")
        for src, dst in zip(cert_b, (live_c, live_k)):
            shutil.copy2(src, dst)
        let_petrel_read(live_k)
        set_password("dave", "second")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("reloaded " + d.config)
        der_b = served_cert(tls_port)
        assert der_a != der_b
        assert der_b == ssl.PEM_cert_to_DER_cert(open(cert_b[0]).read())
        with smtplib.SMTP_SSL("127.0.0.1", tls_port, timeout=10, context=ctx) as s:
            s.login("dave", "second")
            s.sendmail("dave@example.test", ["alice@example.test"], "Subject: new user\r\n\r\nx\r\n")
        # The session opened before the reload is still served.
        before.login("alice", "first")
        before.sendmail("alice@example.test", ["bob@example.test"], "Subject: old\r\n\r\ny\r\n")
        before.quit()
        d.wait_mail("alice")
        d.wait_mail("bob")


def test_second_sigterm_stops_at_once():
    with Petrel({"shutdown-timeout": "1h"}) as d:
        stuck = in_data(d, "stuck")
        d.proc.terminate()
        d.wait_log("signal 15: stopping")
        began = time.monotonic()
        d.proc.terminate()
        assert d.proc.wait(timeout=60) == 0
        # Against an hour's shutdown-timeout; the margin is for a loaded machine.
        assert time.monotonic() - began < 20
        assert "stopping at once" in d.run_log()


def test_session_begun_with_tls_keeps_it_after_a_reload_drops_the_certificate():
    import ssl
    d = Petrel()
    cert, key = make_cert(d.dir, "mx.example.test")
    with open(d.config, "a") as f:
        f.write("tls-cert %s\ntls-key %s\n" % (cert, key))
    with d:
        old = smtplib.SMTP("127.0.0.1", d.port, timeout=10)
        old.ehlo("old.example.org")
        assert old.has_extn("starttls")
        rewrite_config(d, lambda t: "\n".join(l for l in t.splitlines()
                                              if not l.startswith("tls-")) + "\n")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("reloaded " + d.config)
        with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as new:
            new.ehlo("new.example.org")
            assert not new.has_extn("starttls")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        old.starttls(context=ctx)
        old.ehlo("old.example.org")
        old.sendmail("s@example.org", ["alice@example.test"], "Subject: tls\r\n\r\nx\r\n")
        old.quit()
        [msg] = d.wait_mail("alice")
        assert b"with ESMTPS" in msg
