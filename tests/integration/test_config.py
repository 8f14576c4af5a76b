"""The config: check-config reports file:line errors and exits non-zero;
serve refuses a bad config; the bundled example is valid."""

import contextlib
import os
import pwd
import subprocess
import tempfile

import harness
from harness import Petrel, make_cert


def test_check_config_reports_file_and_line():
    d = Petrel()
    with open(d.config, "a") as f:
        f.write("max-recipients lots\nbogus-keyword 1\n")
    p = subprocess.run([harness.BINARY, "check-config", "-c", d.config],
                       capture_output=True, text=True)
    assert p.returncode != 0
    n = sum(1 for _ in open(d.config))
    assert "%s:%d:" % (d.config, n - 1) in p.stderr + p.stdout
    assert "%s:%d:" % (d.config, n) in p.stderr + p.stdout
    s = subprocess.run([harness.BINARY, "serve", "-c", d.config], capture_output=True,
                       text=True, timeout=60)
    assert s.returncode != 0
    d.cleanup()


def test_bundled_example_config_is_valid():
    p = subprocess.run([harness.BINARY, "check-config", "-c", "etc/petrel.conf"],
                       capture_output=True, text=True, cwd=harness.ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


# -- check-config loads what serve loads -------------------------------------

def check_config(path, user=None):
    """check-config on path (as user, when given and we are root): exit
    status and everything it printed."""
    preexec = None
    if user and os.geteuid() == 0:
        pw = pwd.getpwnam(user)

        def preexec():
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
    p = subprocess.run([harness.BINARY, "check-config", "-c", path], capture_output=True,
                       text=True, timeout=30, preexec_fn=preexec)
    return p.returncode, p.stdout + p.stderr


def serve_refuses(d):
    """serve on d's config exits 1 without starting; what it printed."""
    p = subprocess.run([harness.BINARY, "serve", "-c", d.config], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1, p.stdout + p.stderr
    return p.stdout + p.stderr


@contextlib.contextmanager
def scratch(settings=None):
    """A Petrel's directory and config, never started; removed afterwards."""
    d = Petrel(settings)
    try:
        yield d
    finally:
        d.cleanup()


def with_lines(d, *lines):
    """Appends lines to d's config; the line number of each."""
    first = sum(1 for _ in open(d.config)) + 1
    with open(d.config, "a") as f:
        f.write("".join(line + "\n" for line in lines))
    return range(first, first + len(lines))


def assert_refused(d, where, *reason):
    """check-config and serve both refuse d's config, with an error at
    where ("file:line:") that says every part of reason."""
    for out in (check_config(d.config), (1, serve_refuses(d))):
        code, text = out
        assert code == 1, text
        line = next((l for l in text.splitlines() if l.startswith(where)), None)
        assert line and all(r in line for r in reason), (where, reason, text)


def test_check_config_refuses_a_missing_tls_cert():
    with scratch() as d:
        cert, key = make_cert(d.dir, "mx")
        missing = os.path.join(d.dir, "nonexistent.pem")
        n, _ = with_lines(d, "tls-cert " + missing, "tls-key " + key)
        assert_refused(d, "%s:%d: tls-cert:" % (d.config, n), missing,
                       "No such file or directory")


def test_check_config_refuses_a_tls_key_the_daemon_cannot_read():
    with scratch() as d:
        cert, key = make_cert(d.dir, "mx")
        os.chmod(key, 0o600)
        os.chmod(d.config, 0o644)
        _, n = with_lines(d, "tls-cert " + cert, "tls-key " + key)
        code, text = check_config(d.config, user="nobody")
        assert code == 1, text
        assert "%s:%d: tls-key: cannot read %s: Permission denied" % (d.config, n, key) in text


def test_check_config_refuses_a_certificate_and_key_that_do_not_match():
    with scratch() as d:
        cert, _ = make_cert(d.dir, "a")
        _, other_key = make_cert(d.dir, "b")
        _, n = with_lines(d, "tls-cert " + cert, "tls-key " + other_key)
        assert_refused(d, "%s:%d: tls-key:" % (d.config, n), other_key, "not the key of", cert)


def test_check_config_refuses_certificate_and_key_given_the_wrong_way_round():
    with scratch() as d:
        cert, key = make_cert(d.dir, "mx")
        n, _ = with_lines(d, "tls-cert " + key, "tls-key " + cert)
        assert_refused(d, "%s:%d: tls-cert:" % (d.config, n), key, "wrong way round")


def test_check_config_refuses_a_missing_passwd_file():
    with scratch() as d:
        missing = os.path.join(d.dir, "passwd")
        [n] = with_lines(d, "passwd-file " + missing)
        assert_refused(d, "%s:%d: passwd-file:" % (d.config, n), missing,
                       "No such file or directory")


def test_check_config_blames_the_submissions_listen_line_not_the_first_listen():
    with scratch() as d:
        [n] = with_lines(d, "listen 127.0.0.1:%d submissions" % harness.free_port())
        code, text = check_config(d.config)
        assert code == 1, text
        assert "%s:%d: listen: 'submissions'" % (d.config, n) in text, text
        assert "%s:1:" % d.config not in text, text


def test_check_config_accepts_what_serve_accepts():
    """The same files, loaded by the same code, pass: the TLS and passwd
    checks above are not just refusing everything."""
    with scratch() as d:
        cert, key = make_cert(d.dir, "mx")
        passwd = os.path.join(d.dir, "passwd")
        with open(passwd, "w") as f:
            f.write("# no users yet\n")
        os.chmod(passwd, 0o600)
        with_lines(d, "tls-cert " + cert, "tls-key " + key, "passwd-file " + passwd,
                   "listen 127.0.0.1:%d submissions" % harness.free_port())
        code, text = check_config(d.config)
        assert code == 0 and text == "%s: ok\n" % d.config, text


# -- paths and the installed example -----------------------------------------

def test_relative_paths_are_taken_from_the_config_files_directory():
    with scratch({"aliases": "aliases", "relocated": "./relocated", "spool": "spool"}) as d, \
            tempfile.TemporaryDirectory(prefix="petrel-cwd-") as elsewhere:
        p = subprocess.run([harness.BINARY, "config", "-c", d.config], capture_output=True,
                           text=True, timeout=30, cwd=elsewhere)
        assert p.returncode == 0, p.stderr
        shown = dict(line.split(" ", 1) for line in p.stdout.splitlines())
        assert shown["aliases"] == os.path.join(d.dir, "aliases"), p.stdout
        assert shown["relocated"] == os.path.join(d.dir, "./relocated"), p.stdout
        assert shown["spool"] == os.path.join(d.dir, "spool"), p.stdout


def test_missing_aliases_file_is_one_error_naming_the_file():
    """Not also "no postmaster": that follows from the file not being read."""
    with scratch({"aliases": "/nonexistent/aliases"}) as d:
        code, text = check_config(d.config)
        n = next(i for i, line in enumerate(open(d.config), 1) if line.startswith("aliases "))
        assert code == 1
        assert text == ("%s:%d: aliases: cannot read '/nonexistent/aliases': "
                        "No such file or directory\n" % (d.config, n)), text


def test_installed_example_config_passes_check_config_from_another_directory():
    """make install DESTDIR=... PREFIX=/usr, then the example as installed,
    checked from elsewhere: its aliases and relocated files lie beside it.
    (check-config does not need the spool or the Maildirs to exist: serve
    creates them.)"""
    build = os.path.dirname(harness.BINARY)
    with tempfile.TemporaryDirectory(prefix="petrel-destdir-") as dest:
        p = subprocess.run(["make", "-s", "-o", harness.BINARY, "install", "BUILD=" + build,
                            "DESTDIR=" + dest, "PREFIX=/usr"], cwd=harness.ROOT,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        doc = os.path.join(dest, "usr", "share", "doc", "petrel")
        example = os.path.join(doc, "petrel.conf.example")
        with tempfile.TemporaryDirectory(prefix="petrel-cwd-") as elsewhere:
            c = subprocess.run([os.path.join(dest, "usr", "sbin", "petrel"), "check-config",
                                "-c", example], capture_output=True, text=True, timeout=30,
                               cwd=elsewhere)
            assert c.returncode == 0, c.stdout + c.stderr
            shown = subprocess.run([harness.BINARY, "config", "-c", example],
                                   capture_output=True, text=True, timeout=30, cwd=elsewhere)
        assert "aliases %s/aliases\n" % doc in shown.stdout, shown.stdout
        assert "relocated %s/relocated\n" % doc in shown.stdout, shown.stdout


def test_every_command_reads_petrel_config_without_c():
    """$PETREL_CONFIG names the file for every command, not only sendmail
    and passwd (`make run`'s instance: PETREL_CONFIG=etc/petrel.conf)."""
    with Petrel({"max-hops": "42"}) as d:
        env = dict(os.environ, PETREL_CONFIG=d.config)
        for args, want in ((["config"], "max-hops 42"), (["check-config"], "ok"),
                           (["queue"], "empty"), (["status"], "connections")):
            p = subprocess.run([harness.BINARY, *args], capture_output=True, text=True,
                               env=env, timeout=60)
            assert p.returncode == 0 and want in (p.stdout + p.stderr).lower(), (args, p)
