"""Spool recovery at start-up: a corrupt record is quarantined, never fatal,
and the intact messages around it are still delivered."""

import glob
import os
import smtplib

from harness import Petrel


def test_corrupt_record_quarantined_and_others_delivered():
    with Petrel() as d:
        # Three messages held in the queue: bob's mailbox path is blocked.
        os.makedirs(os.path.join(d.dir, "mail"), exist_ok=True)
        blocker = os.path.join(d.dir, "mail", "bob")
        with open(blocker, "w") as f:
            f.write("blocked")
        for i in range(3):
            with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
                s.sendmail("s@example.org", ["bob@example.test"],
                           "Subject: m%d\r\n\r\n%s\r\n" % (i, "MARK%d " % i * 50))
        d.wait_log("status=deferred")
        d.kill9()
        os.unlink(blocker)
        [seg] = glob.glob(os.path.join(d.dir, "spool", "log", "*.seg"))
        with open(seg, "r+b") as f:
            data = f.read()
            pos = data.index(b"MARK1")
            f.seek(pos)
            f.write(b"XXXX")  # flip bytes inside message 1's record
        d.start()
        msgs = d.wait_mail("bob", count=2)
        bodies = b"".join(msgs)
        assert b"MARK0" in bodies and b"MARK2" in bodies
        assert b"XXXX" not in bodies
        assert glob.glob(os.path.join(d.dir, "spool", "quarantine", "*"))
        assert "quarantine" in d.run_log()


def test_make_install_honours_prefix_and_destdir():
    import subprocess
    import tempfile
    import harness
    dest = tempfile.mkdtemp(prefix="petrel-install-")
    p = subprocess.run(["make", "-s", "install", "DESTDIR=" + dest, "PREFIX=/opt/petrel"],
                       cwd=harness.ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    binary = os.path.join(dest, "opt/petrel/sbin/petrel")
    assert os.access(binary, os.X_OK)
    assert os.path.exists(os.path.join(dest, "opt/petrel/share/doc/petrel/petrel.conf.example"))
    subprocess.run(["rm", "-rf", dest])
