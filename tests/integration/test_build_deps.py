"""`make run` installs only what building and running Petrel need; `make test`
adds the test tools and peers (a newcomer's `make run` must not install and
configure Postfix or Dovecot)."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = {"postfix", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd", "clang", "valgrind",
         "libcmocka-dev", "swaks", "msmtp"}


def packages(*args):
    p = subprocess.run(["sh", os.path.join(ROOT, "tools", "install-deps"), "--list", *args],
                       capture_output=True, text=True, timeout=30, check=True)
    return set(p.stdout.split())


def make_dry_run(target):
    p = subprocess.run(["make", "-n", "-C", ROOT, target], capture_output=True, text=True,
                       timeout=60, check=True)
    return [l for l in p.stdout.splitlines() if "install-deps" in l]


def test_make_run_installs_no_test_peers():
    calls = make_dry_run("run")
    assert calls and all(not l.rstrip().endswith(" test") for l in calls), calls
    build = packages()
    assert not build & PEERS, build & PEERS
    # What the build links against comes from the build list.
    for dev in ("libevent-dev", "libssl-dev", "libc-ares-dev", "zlib1g-dev", "libcrypt-dev"):
        assert dev in build, dev


def test_make_test_adds_the_test_peers():
    calls = make_dry_run("test")
    assert any(l.rstrip().endswith(" test") for l in calls), calls
    full = packages("test")
    assert packages() < full and PEERS <= full, PEERS - full
