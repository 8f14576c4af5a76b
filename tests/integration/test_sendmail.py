"""Local submission and local passwords against the real daemon:
`petrel sendmail` (and petrel run as `sendmail` through a symlink) queues
through the maildrop, with the daemon running or stopped; the headers it
adds and removes, -t, -f, -F, -i/-oi, the DSN options -N, -R and -V,
legacy options, usage errors, size
and write failures (exit 65 and 75); a local user's umask 077 (s-nail's)
and a maildrop file the daemon cannot read (listed, counted, logged once);
and `petrel passwd`, which must write
a yescrypt hash into a 0640 file (group: the daemon's) and never the password itself."""

import base64
import ctypes
import ctypes.util
import os
import pwd
import re
import resource
import shutil
import signal
import sys
import stat
import subprocess
import tempfile
import time

import harness
from harness import Petrel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ENV = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")
ME = pwd.getpwuid(os.getuid()).pw_name


def run(argv, data=b"", env=None, preexec=None):
    """Runs a command with data on stdin; returns (status, stdout, stderr)."""
    p = subprocess.run(argv, input=data, capture_output=True, timeout=60, env=env or ENV,
                       preexec_fn=preexec)
    err = p.stderr.decode(errors="replace")
    assert "AddressSanitizer" not in err and "runtime error:" not in err, err
    return p.returncode, p.stdout.decode(errors="replace"), err


def sendmail(d, *args, data=b"hello\n"):
    return run([harness.BINARY, "sendmail", "-c", d.config, *args], data)


def queued(d, *args, data=b"hello\n"):
    code, out, err = sendmail(d, *args, data=data)
    assert code == 0, (args, code, out, err)
    assert out == "" and err == "", (out, err)


def header(msg, name):
    """The unfolded value of the first header field called name, or None."""
    head = msg.split(b"\n\n", 1)[0].decode(errors="replace")
    m = re.search(r"^%s:[ \t]*(.*(?:\n[ \t].*)*)" % re.escape(name), head, re.M | re.I)
    return re.sub(r"\n[ \t]+", " ", m.group(1)) if m else None


def maildrop(d):
    path = os.path.join(d.dir, "spool", "maildrop")
    return sorted(n for n in os.listdir(path) if n != "quarantine")


def test_adds_date_message_id_from():
    with Petrel() as d:
        queued(d, "alice@example.test", data=b"Subject: plain\n\nhello there\n")
        msg = d.wait_mail("alice")[0]
        assert header(msg, "Return-Path") == "<%s@example.test>" % ME
        assert header(msg, "From").endswith("<%s@example.test>" % ME)
        assert re.match(r"\w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d \+0000$", header(msg, "Date"))
        assert re.match(r"<[0-9A-Z]{16}\.[0-9a-f]{16}@mx\.example\.test>$",
                        header(msg, "Message-ID"))
        received = header(msg, "Received")
        assert re.match(r"by mx\.example\.test \(Petrel, from userid %d\) id [0-9A-Z]{16}; "
                        % os.getuid(), received), received
        assert msg.endswith(b"\n\nhello there\n"), msg
        assert b"\r" not in msg
        assert maildrop(d) == []
        assert re.search(r"uid=%d, from=<%s@example.test>, size=\d+, nrcpt=1, "
                         r"status=queued \(maildrop " % (os.getuid(), ME), d.log())


def test_keeps_existing_headers_and_drops_return_path():
    with Petrel() as d:
        data = (b"From: Someone <s@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                b"Message-ID: <fixed@example.org>\nReturn-Path: <forged@example.org>\n"
                b"Subject: kept\n\nbody\n")
        queued(d, "bob", data=data)
        msg = d.wait_mail("bob")[0]
        assert header(msg, "From") == "Someone <s@example.org>"
        assert header(msg, "Date") == "Mon, 1 Jan 2024 00:00:00 +0000"
        assert header(msg, "Message-ID") == "<fixed@example.org>"
        assert msg.count(b"Return-Path:") == 1 and b"forged" not in msg


def test_extract_recipients_and_hide_bcc():
    with Petrel() as d:
        data = (b'To: "Liddell, Alice" <alice@example.test>\n'
                b"Cc: undisclosed-recipients:;\n"
                b"Bcc: bob (the builder),\n  postmaster\n"
                b"Subject: -t\n\nfor both\n")
        queued(d, "-t", data=data)
        for user in ("alice", "bob"):
            msg = d.wait_mail(user)[0]
            assert b"Bcc" not in msg and b"builder" not in msg, msg
            assert header(msg, "To") == '"Liddell, Alice" <alice@example.test>'
            assert msg.endswith(b"\n\nfor both\n")


def test_extract_adds_argument_recipients():
    with Petrel() as d:
        queued(d, "-t", "bob@example.test", data=b"To: alice@example.test\n\nx\n")
        d.wait_mail("alice")
        d.wait_mail("bob")


def test_envelope_sender_and_full_name():
    with Petrel() as d:
        queued(d, "-f", "someone@example.org", "-F", "J\u00f6rg \"J\" Doe", "alice")
        msg = d.wait_mail("alice")[0]
        assert header(msg, "Return-Path") == "<someone@example.org>"
        word = base64.b64encode("J\u00f6rg \"J\" Doe".encode()).decode()
        assert header(msg, "From") == "=?UTF-8?B?%s?= <someone@example.org>" % word
        queued(d, "-f", "<>", "-F", "Ann \"Q\" Smith\r\nBcc: x", "alice")
        msg = d.wait_mail("alice", 2)
        msg = [m for m in msg if b"Return-Path: <>" in m][0]
        assert header(msg, "From") == '"Ann \\"Q\\" Smith  Bcc: x" <%s@example.test>' % ME


def test_lone_dot_ends_input_unless_i():
    with Petrel() as d:
        data = b"Subject: dots\n\nbefore\n.\nafter\n"
        queued(d, "alice", data=data)
        msg = d.wait_mail("alice")[0]
        assert msg.endswith(b"\n\nbefore\n"), msg
        queued(d, "-i", "bob", data=data)
        msg = d.wait_mail("bob")[0]
        assert msg.endswith(b"\n\nbefore\n.\nafter\n"), msg
        queued(d, "-oi", "bob", data=data + b"..\n")
        msgs = d.wait_mail("bob", 2)
        assert any(m.endswith(b"\n.\nafter\n..\n") for m in msgs)


def test_line_ends_and_no_final_newline():
    with Petrel() as d:
        queued(d, "alice", data=b"Subject: ends\r\n\r\none\rtwo\r\nthree")
        msg = d.wait_mail("alice")[0]
        assert msg.endswith(b"\n\none\ntwo\nthree\n"), msg


def test_queued_while_daemon_stopped():
    d = Petrel()
    try:
        queued(d, "alice@example.test", data=b"Subject: offline\n\nwritten while stopped\n")
        names = maildrop(d)
        assert len(names) == 1 and re.match(r"[0-9A-Z]{16}\.\d+\.[0-9a-f]{16}$", names[0]), names
        mode = os.stat(os.path.join(d.dir, "spool", "maildrop", names[0])).st_mode
        # Readable by the daemon's own user; the directory cannot be listed.
        assert stat.S_IMODE(mode) == 0o644
        mode = os.stat(os.path.join(d.dir, "spool", "maildrop")).st_mode
        assert stat.S_IMODE(mode) == 0o1733
        d.start()
        msg = d.wait_mail("alice")[0]
        assert b"written while stopped" in msg
        harness.wait_for(lambda: maildrop(d) == [], what="the maildrop file to go")
    finally:
        d.cleanup()


def test_damaged_drop_is_quarantined():
    d = Petrel()
    try:
        queued(d, "alice")
        name = maildrop(d)[0]
        path = os.path.join(d.dir, "spool", "maildrop", name)
        with open(path, "r+b") as f:
            f.seek(40)
            f.write(b"X")
        d.start()
        d.wait_log("moved to")
        assert os.path.exists(os.path.join(d.dir, "spool", "maildrop", "quarantine", name))
        assert maildrop(d) == [] and d.maildir("alice") == []
    finally:
        d.cleanup()


def test_unknown_local_recipient_bounces():
    with Petrel() as d:
        queued(d, "-f", "alice@example.test", "nobody@example.test", "bob")
        d.wait_mail("bob")
        report = d.wait_mail("alice")[0]
        assert b"nobody@example.test" in report and b"5.1.1" in report, report
        assert header(report, "Return-Path") == "<>"


def test_dsn_options_never_hdrs_and_envid():
    with Petrel() as d:
        # -N never: the failure is not reported.
        queued(d, "-f", "alice@example.test", "-N", "never", "nobody@example.test", "bob")
        d.wait_mail("bob")
        d.wait_log("status=bounced")
        # -R hdrs -V: the report carries the ENVID (RFC 3464 2.2.1) and
        # returns the headers only; -N success,failure reports the delivery too.
        queued(d, "-f", "alice@example.test", "-R", "hdrs", "-V", "ticket 42+x",
               "-N", "success,failure", "nobody@example.test", "bob",
               data=b"Subject: dsn\n\nSECRET BODY\n")
        reports = d.wait_mail("alice", count=2)
        assert len(d.maildir("alice")) == 2, "a report for the -N never message"
        both = b"".join(reports)
        assert b"Original-Envelope-Id: ticket 42+x" in both, both
        assert b"Action: failed" in both and b"Action: delivered" in both, both
        assert b"Subject: dsn" in both and b"SECRET BODY" not in both, both
        # Bad values are usage errors.
        for args in (["-N", "never,success"], ["-R", "body"], ["-V", "tab\there"],
                     ["-V", "x" * 101]):
            code, _, err = sendmail(d, *args, "bob")
            assert code == 64 and "usage:" in err, (args, code, err)


def test_symlink_and_mail_style_script():
    with Petrel() as d, tempfile.TemporaryDirectory() as bindir:
        os.symlink(harness.BINARY, os.path.join(bindir, "sendmail"))
        env = dict(ENV, PATH=bindir + os.pathsep + os.environ["PATH"], PETREL_CONFIG=d.config)
        script = "printf 'To: alice@example.test\\nSubject: x\\n\\nhello\\n' | sendmail -oi -t"
        p = subprocess.run(["sh", "-c", script], capture_output=True, timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        msg = d.wait_mail("alice")[0]
        assert header(msg, "Subject") == "x" and msg.endswith(b"\n\nhello\n")
        # What mail(1) and friends pass: legacy modes, then the recipients.
        code, out, err = run([os.path.join(bindir, "sendmail"), "-oem", "-odi", "-odb", "-bm",
                              "-v", "-B", "8BITMIME", "-i", "--", "bob"],
                             "Subject: caf\u00e9\n\n8-bit \u00e9\n".encode(), env=env)
        assert code == 0, err
        msg = d.wait_mail("bob")[0]
        assert "8-bit \u00e9".encode() in msg


def test_usage_errors():
    with Petrel() as d:
        code, _, err = sendmail(d, "-X", "alice")
        assert code == 64 and "usage:" in err
        code, _, err = sendmail(d, "-bs")
        assert code == 64
        code, _, err = sendmail(d, "-oQ/tmp", "alice")
        assert code == 64
        code, _, err = sendmail(d)
        assert code == 64 and "no recipients" in err
        code, _, err = sendmail(d, "-t", data=b"Subject: nobody\n\nx\n")
        assert code == 64 and "no recipients" in err
        code, _, err = sendmail(d, "bad address@x")
        assert code == 64 and "'bad address@x'" in err
        code, _, err = sendmail(d, "a@b@c")
        assert code == 64
        code, _, err = sendmail(d, "-f", "not an address", "alice")
        assert code == 64 and "-f" in err
        code, _, err = sendmail(d, "-t", data=b"To: <unterminated@example.test\n\nx\n")
        assert code == 64 and "To:" in err
        code, _, err = run([harness.BINARY, "sendmail", "-c", d.dir + "/missing.conf", "alice"])
        assert code == 75 and "not queued" in err
        assert maildrop(d) == []


def test_too_large():
    with Petrel({"max-message-size": "1k"}) as d:
        code, _, err = sendmail(d, "alice", data=b"x" * 2000 + b"\n")
        assert code == 65 and "too large" in err
        queued(d, "alice", data=b"x" * 900 + b"\n")
        d.wait_mail("alice")


def test_write_failure_is_tempfail():
    d = Petrel()
    try:
        os.makedirs(os.path.join(d.dir, "spool", "maildrop"))

        def small_files():
            # A disk that fills up: writes past 4 KiB fail with EFBIG.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

        code, _, err = run([harness.BINARY, "sendmail", "-c", d.config, "alice"],
                           b"x" * 20000 + b"\n", preexec=small_files)
        assert code == 75 and "cannot queue the message" in err, (code, err)
        assert os.listdir(os.path.join(d.dir, "spool", "maildrop")) == []
    finally:
        d.cleanup()


# -- a local user's umask and files the daemon cannot read -------------------

def reachable_copy(d):
    """The binary where nobody can run it (the checkout may be out of reach)."""
    binary = os.path.join(d.dir, "petrel-copy")
    shutil.copy2(harness.BINARY, binary)
    return binary


def test_sendmail_umask_077_still_delivered():
    # The daemon runs as petrel; a file left 0600 by the umask would be
    # nobody's alone, and the message lost while sendmail said 0.
    nobody, become = harness.local_user(0o077)
    with Petrel() as d:
        code, _, err = run([reachable_copy(d), "sendmail", "-c", d.config, "-i",
                            "alice@example.test"],
                           b"Subject: umask\n\nwritten under umask 077\n", preexec=become)
        assert code == 0, err
        msg = d.wait_mail("alice")[0]
        assert b"written under umask 077" in msg
        assert ("from userid %d)" % nobody.pw_uid).encode() in msg, msg
        harness.wait_for(lambda: maildrop(d) == [], what="the maildrop file to go")
        assert "cannot import" not in d.log()


S_NAIL = "/usr/bin/s-nail"


def test_s_nail_mail_under_its_umask_077_is_delivered():
    # Debian's mail(1) runs its MTA with umask 077 whatever the caller's.
    if not os.access(S_NAIL, os.X_OK):
        raise AssertionError("this test needs s-nail (Debian package s-nail; tools/install-deps)")
    nobody, become = harness.local_user(0o022)
    with Petrel() as d:
        bindir = os.path.join(d.dir, "bin")
        os.mkdir(bindir)
        os.chmod(bindir, 0o755)
        os.symlink(reachable_copy(d), os.path.join(bindir, "sendmail"))
        env = dict(ENV, PETREL_CONFIG=d.config, HOME="/nonexistent", LC_ALL="C.UTF-8")
        p = subprocess.run([S_NAIL, "-:/", "-Ssendwait", "-Smta=" + os.path.join(bindir, "sendmail"),
                            "-s", "from s-nail", "alice@example.test"],
                           input=b"sent with mail(1)\n", capture_output=True, timeout=60,
                           env=env, preexec_fn=become)
        assert p.returncode == 0, p.stderr
        msg = d.wait_mail("alice")[0]
        assert header(msg, "Subject") == "from s-nail" and b"sent with mail(1)" in msg, msg
        assert ("from userid %d)" % nobody.pw_uid).encode() in msg, msg


def test_unreadable_maildrop_file_is_listed_counted_and_logged_once():
    from test_metrics import metrics_settings, scrape
    mport = harness.free_port()
    with Petrel(metrics_settings(mport)) as d:
        # A maildrop file made in another spool, left root's alone (0600),
        # and moved in as a submitter under umask 077 used to leave it: the
        # daemon, running as petrel, cannot read it.
        other = os.path.join(d.dir, "other.conf")
        with open(d.config) as f, open(other, "w") as g:
            g.write(f.read().replace(d.dir + "/spool", d.dir + "/other-spool"))
        code, _, err = run([harness.BINARY, "sendmail", "-c", other, "alice"],
                           b"Subject: stuck\n\nstuck in the maildrop\n")
        assert code == 0, err
        [name] = os.listdir(os.path.join(d.dir, "other-spool", "maildrop"))
        path = os.path.join(d.dir, "spool", "maildrop", name)
        os.chmod(os.path.join(d.dir, "other-spool", "maildrop", name), 0o600)
        os.rename(os.path.join(d.dir, "other-spool", "maildrop", name), path)
        d.wait_log("%s: cannot import: Permission denied" % name)
        # More pickup passes: each message dropped now is found by a scan.
        for n in (1, 2):
            queued(d, "bob", data=b"Subject: flowing %d\n\nx\n" % n)
            d.wait_mail("bob", n)
        code, out, err = run([harness.BINARY, "queue", "-c", d.config])
        assert code == 0, err
        assert re.search(r"^  %s  owner uid 0, mode 0600, \d+[smhd] old: Permission denied$"
                         % re.escape(name), out, re.M), out
        assert "-- 1 maildrop file not imported" in out, out
        assert scrape(mport)["petrel_maildrop_unimportable_files"] == 1
        code, out, err = run([harness.BINARY, "status", "-c", d.config])
        assert code == 0, err
        assert re.search(r"^maildrop +1 file\(s\) the daemon cannot read", out, re.M), out
        assert d.log().count(name + ": cannot") == 1, d.log()
        # Mended, it is imported at the next pass and leaves the list.
        os.chmod(path, 0o644)
        msg = d.wait_mail("alice")[0]
        assert b"stuck in the maildrop" in msg
        harness.wait_for(lambda: scrape(mport)["petrel_maildrop_unimportable_files"] == 0,
                         what="the gauge to drop")
        code, out, err = run([harness.BINARY, "queue", "-c", d.config])
        assert "maildrop" not in out, out


def test_pickup_out_of_descriptors_logs_once_not_every_scan():
    """A maildrop scan that finds no descriptor free (EMFILE) used to log
    "maildrop: Too many open files" at every scan, once a second for as
    long as the shortage lasted. It is logged once (then counted), the
    file is not taken for unreadable, and it is imported once descriptors
    are free again."""
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    with Petrel(preexec=low_limit) as d:
        shortage = "%s/spool/maildrop: Too many open files" % d.dir
        conns = harness.exhaust_descriptors(d)
        try:
            queued(d, "alice", data=b"Subject: short\n\nwaits for a descriptor\n")
            d.wait_log(shortage)
            # Long enough for a few more scans (one a second), which the
            # old code each logged; what is asserted does not depend on it.
            start = time.monotonic()
            harness.wait_for(lambda: time.monotonic() - start > 3, what="a few scans")
        finally:
            for c in conns:
                c.close()
        assert b"waits for a descriptor" in d.wait_mail("alice")[0]
        lines = [l for l in d.run_log().splitlines() if shortage in l]
        assert len([l for l in lines if "more times" not in l]) == 1, lines
        assert "cannot import" not in d.run_log(), d.run_log()


# -- petrel passwd ---------------------------------------------------------

def crypt(password, setting):
    lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib.crypt(password.encode(), setting.encode()).decode()


def passwd(d, *args, data=b""):
    return run([harness.BINARY, "passwd", *args, "-c", d.config], data)


def users(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split(":", 1) for line in f if ":" in line)


def test_passwd_sets_changes_and_removes():
    d = Petrel()
    try:
        path = os.path.join(d.dir, "passwd")
        with open(d.config, "a") as f:
            f.write("passwd-file %s\n" % path)
        secret = "s3cret horse-battery"
        code, out, err = passwd(d, "alice", data=(secret + "\n").encode())
        assert code == 0, err
        assert secret not in out + err
        # Readable by the daemon's group (it reloads the file as the petrel
        # user), by nobody else.
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o640
        if os.geteuid() == 0:
            assert st.st_uid == 0 and st.st_gid == pwd.getpwnam("petrel").pw_gid
        with open(path, "rb") as f:
            raw = f.read()
        assert secret.encode() not in raw
        first = users(path)["alice"]
        assert first.startswith("$y$") and crypt(secret, first) == first
        assert crypt("wrong", first) != first
        # Another user, then a new password for alice: one line each.
        assert passwd(d, "bob", data=b"bobs pass")[0] == 0
        assert passwd(d, "alice", data=b"second\r\n")[0] == 0
        now = users(path)
        assert sorted(now) == ["alice", "bob"], now
        assert now["alice"] != first and crypt("second", now["alice"]) == now["alice"]
        assert crypt("bobs pass", now["bob"]) == now["bob"]
        code, out, _ = passwd(d, "-d", "BOB")  # names ignore case
        assert code == 0 and sorted(users(path)) == ["alice"]
        code, _, err = passwd(d, "-d", "bob")
        assert code == 1 and "no user bob" in err
    finally:
        d.cleanup()


def test_passwd_refusals():
    d = Petrel()
    try:
        path = os.path.join(d.dir, "passwd")
        code, _, err = passwd(d, "alice", data=b"pw\n")
        assert code == 1 and "passwd-file" in err
        assert passwd(d, "-f", path, "alice", data=b"\n")[0] == 1
        assert passwd(d, "-f", path, "alice", data=b"")[0] == 1
        assert passwd(d, "-f", path, "bad:name", data=b"pw\n")[0] == 64
        assert passwd(d, "-f", path, data=b"pw\n")[0] == 64
        assert not os.path.exists(path)
        code, _, err = passwd(d, "-f", path, "carol", data=b"x" * 600 + b"\n")
        assert code == 1 and "at most" in err
        assert passwd(d, "-f", path, "carol", data=b"fine\n")[0] == 0
        assert list(users(path)) == ["carol"]
    finally:
        d.cleanup()
