"""Test harness: starts the real petrel daemon on a loopback port with a
config written into a temporary directory, and offers helpers to wait on
conditions (never sleep-and-hope) and to inspect Maildirs and logs."""

import collections
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("PETREL_BIN", os.path.join(ROOT, "build", "petrel"))

DEFAULT_ALIASES = """\
postmaster: alice
abuse: postmaster
team: alice, bob
fwd: someone@remote.test
"""


_recent_ports = collections.deque(maxlen=1000)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free now and not among the last ones handed out. The caller
    binds it only later, and bind(0) may well return a port it returned a
    moment ago (measured: once in 2,500 triples), so two ports asked for
    one after the other could otherwise be the same."""
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _recent_ports:
            _recent_ports.append(port)
            return port
    raise AssertionError("no fresh port after 100 tries")


def read_log(path):
    """A log file's whole lines so far; "" before it exists. A line still
    being written (a reader may see a write half done) shows up once it is
    complete, so a test never matches the first half of a line."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    return text[:text.rfind("\n") + 1]


# How long a wait may take before it counts as a failure: a bound, not an
# expectation. Generous, so that an ASan build on a loaded 2-CPU machine
# (several times slower than a quiet one) still passes; a wait that
# succeeds returns as soon as its condition holds.
WAIT = 30.0


def wait_for(cond, timeout=WAIT, what="condition"):
    """Polls cond() until it returns a true value; raises on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def make_cert(dirname, name):
    """A self-signed certificate for name and its key, as dirname/name.pem
    and dirname/name.key."""
    c, k = os.path.join(dirname, name + ".pem"), os.path.join(dirname, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=" + name, "-keyout", k, "-out", c],
                   check=True, capture_output=True, timeout=60)
    return c, k


def local_user(umask=None):
    """nobody's passwd entry, and a preexec_fn for subprocess that becomes
    nobody (with umask, when given): a local user's command, as root runs it."""
    if os.geteuid() != 0:
        raise AssertionError("this test needs root (the suite runs as root on CI)")
    nobody = pwd.getpwnam("nobody")

    def become():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        if umask is not None:
            os.umask(umask)
    return nobody, become


def exhaust_descriptors(d):
    """For a daemon started with a low RLIMIT_NOFILE (preexec): connects until the daemon's accept fails for want of a descriptor;
    returns the connections, which hold every descriptor it has."""
    conns = []
    while "accept: Too many open files" not in d.run_log():
        c = socket.create_connection((d.host, d.port), timeout=WAIT)
        conns.append(c)
        wait_for(lambda: select.select([c], [], [], 0)[0] or
                 "accept: Too many open files" in d.run_log(),
                 what="a banner or an accept out of descriptors")
        assert len(conns) < 256, "the descriptor limit was not reached"
    return conns


class Petrel:
    """One daemon instance with its own directory, config, spool and mail."""

    def __init__(self, settings=None, aliases=DEFAULT_ALIASES, relocated="carol carol@elsewhere.test\n",
                 listen=None, binary=None, host="127.0.0.1", port=None, preexec=None):
        self.dir = tempfile.mkdtemp(prefix="petrel-test-")
        # Run as root, the daemon becomes the petrel user: it must reach its
        # spool and mail under this directory.
        os.chmod(self.dir, 0o755)
        self.host = host
        self.port = port or free_port(host=host)
        self.binary = binary or BINARY
        self.preexec = preexec  # runs in the child before exec (limits, say)
        self.wrapper = []       # a command the daemon runs under (valgrind, say)
        self.proc = None
        self.logpath = os.path.join(self.dir, "petrel.log")
        with open(os.path.join(self.dir, "aliases"), "w") as f:
            f.write(aliases)
        with open(os.path.join(self.dir, "relocated"), "w") as f:
            f.write(relocated)
        base = {
            "hostname": "mx.example.test",
            "spool": self.dir + "/spool",
            "maildir-root": self.dir + "/mail",
            "domain": "example.test",
            "aliases": self.dir + "/aliases",
            "relocated": self.dir + "/relocated",
            "relay-from": "127.0.0.1/32 ::1/128",
            "retry-initial": "1s",
            "retry-max": "2s",
            # Never the machine's resolver: nothing answers here, so a
            # lookup fails at once (tests that need DNS run tests/dnsserver.py).
            "dns-server": "127.0.0.1:1",
        }
        base.update(settings or {})
        lines = ["listen " + l for l in (listen or ["%s:%d" % (host, self.port)])]
        lines += ['mailbox alice "Alice Liddell"', 'mailbox bob "Bob Builder"']
        for key, value in base.items():
            if value is not None:
                lines.append("%s %s" % (key, value))
        self.config = os.path.join(self.dir, "petrel.conf")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- lifecycle ---------------------------------------------------------
    def start(self, wait=True):
        log = open(self.logpath, "ab")
        self.log_offset = log.tell()
        env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")
        self.proc = subprocess.Popen(self.wrapper + [self.binary, "serve", "-c", self.config],
                                     stdout=log, stderr=log, env=env, preexec_fn=self.preexec)
        log.close()
        if wait:
            # Start-up under valgrind, or ASan on a loaded machine, is slow.
            wait_for(self._ready, 2 * WAIT, "petrel to accept connections on port %d" % self.port)
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("petrel exited with %s:\n%s" % (self.proc.returncode, self.log()))
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as s:
                if not s.recv(512).startswith(b"220"):
                    return False
                # Leave by QUIT and wait for the close, so this probe no
                # longer counts against any connection limit once we return.
                s.sendall(b"QUIT\r\n")
                while s.recv(512):
                    pass
                return True
        except OSError:
            return False

    def stop(self):
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cleanup(self):
        code = self.stop()
        log = self.log()
        if "ERROR: AddressSanitizer" in log or "runtime error:" in log:
            raise AssertionError("sanitizer report in the daemon log:\n" + log)
        if code not in (0, None, -9):
            raise AssertionError("petrel exited with %s:\n%s" % (code, log))
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.cleanup()
        else:
            self.stop()
            print("--- petrel log (%s) ---\n%s" % (self.dir, self.log()[-4000:]))

    # -- inspection --------------------------------------------------------
    def log(self):
        return read_log(self.logpath)

    def maildir(self, user, sub="new"):
        path = os.path.join(self.dir, "mail", user, sub)
        try:
            return sorted(os.path.join(path, n) for n in os.listdir(path))
        except FileNotFoundError:
            return []

    def messages(self, user):
        out = []
        for p in self.maildir(user):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def wait_mail(self, user, count=1, timeout=WAIT):
        wait_for(lambda: len(self.maildir(user)) >= count, timeout,
                 "%d message(s) for %s" % (count, user))
        return self.messages(user)

    def run_log(self):
        """The log of the current run only (since the last start)."""
        return self.log()[getattr(self, "log_offset", 0):]

    def wait_log(self, text, timeout=WAIT):
        wait_for(lambda: text in self.run_log(), timeout, "log line containing %r" % text)

    def connect(self, timeout=WAIT):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        return LineClient(s)


class LineClient:
    """A raw SMTP client for exact bytes: send anything, read reply lines."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """A whole (multi-line) reply as (code, [texts])."""
        texts = []
        while True:
            l = self.line()
            texts.append(l[4:])
            if l[3:4] != "-":
                return int(l[:3]), texts

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed(self):
        """True once the server has closed the connection."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()
