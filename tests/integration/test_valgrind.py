"""The daemon under valgrind for a short, complete life: start (as root, the
privilege drop included), sessions with local and remote delivery, a bad
command or two, a reload, and a stop. Valgrind must report no error (invalid
read or write, use of uninitialised memory, bad free) and no definite leak.
Only the plain build: valgrind cannot run an ASan-instrumented binary."""

import re
import shutil
import signal
import smtplib

from harness import Petrel, wait_for
from postfix import SmtpSink


def test_short_session_is_valgrind_clean():
    if not shutil.which("valgrind"):
        raise AssertionError("valgrind is missing (tools/install-deps installs it)")
    with SmtpSink() as sink:
        d = Petrel({"route": "remote.test 127.0.0.1:%d" % sink.port, "delivery-workers": "2"})
        vlog = d.dir + "/valgrind.log"
        d.wrapper = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                     "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                     "--log-file=" + vlog]
        d.start()
        try:
            wait_for(lambda: "petrel started" in d.run_log(), 30, "petrel under valgrind")
            with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as s:
                s.ehlo("client.example.org")
                assert s.docmd("VRFY", "alice")[0] == 250
                assert s.docmd("FOO")[0] == 500
                s.sendmail("s@example.org", ["alice@example.test", "x@remote.test"],
                           "Subject: under valgrind\r\n\r\nbody\r\n")
            d.wait_mail("alice", timeout=30)
            sink.wait_messages(1, timeout=30)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log("reloaded", timeout=30)
            d.proc.send_signal(signal.SIGTERM)
            code = d.proc.wait(timeout=60)
        finally:
            d.stop()
        report = open(vlog).read()
        assert code == 0 and not re.search(r"ERROR SUMMARY: [1-9]", report), report
        assert "definitely lost" not in report and "Invalid" not in report, report
        d.cleanup()


test_short_session_is_valgrind_clean.plain_build_only = True
