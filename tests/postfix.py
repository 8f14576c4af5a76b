"""Real Postfix peers for Petrel's tests and benchmarks (Python stdlib only).

SmtpSink        Postfix's smtp-sink(1) as a receiving peer on a loopback
                address: captures each message into its own file, or answers
                chosen commands with 4xx/5xx, hangs up, or stalls.
PostfixInstance A private Postfix (own config, queue, data and log directories
                under a temporary directory, smtpd on a loopback port), which
                never touches the machine's own /etc/postfix or port 25.

Both are context managers; stop() always stops every process they started.
The binaries come from the Debian package `postfix` (tools/install-deps,
run by `make test`); if they are missing, constructing either raises
PostfixMissing with a clear message instead of skipping."""

import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import WAIT, free_port, read_log, wait_for

SBIN = "/usr/sbin"
POSTFIX = os.path.join(SBIN, "postfix")
POSTQUEUE = os.path.join(SBIN, "postqueue")
POSTCONF = os.path.join(SBIN, "postconf")
SMTP_SINK = os.path.join(SBIN, "smtp-sink")
SMTP_SOURCE = os.path.join(SBIN, "smtp-source")


class PostfixMissing(AssertionError):
    pass


def require(*binaries):
    missing = [b for b in binaries if not os.access(b, os.X_OK)]
    if missing:
        raise PostfixMissing("Postfix test peers need %s; install the Debian package `postfix` "
                             "(`make deps` / tools/install-deps does it without configuring "
                             "the system's mail)" % ", ".join(missing))


def _is_root():
    return os.geteuid() == 0


def _unprivileged_user():
    """The account smtp-sink and the virtual delivery agent run as when we are root."""
    for name in ("nobody",):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_name, pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
    return None, 65534, 65534


def listening(host, port):
    """True when a TCP socket is in LISTEN state on host:port (no connection is
    made, so peers that count sessions are not disturbed)."""
    want_port = "%04X" % port
    v6 = ":" in host
    try:
        packed = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, host)
    except OSError:
        packed = None
    for table in ("/proc/net/tcp6", "/proc/net/tcp"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    addr, port_hex = fields[1].rsplit(":", 1)
                    if port_hex != want_port or fields[3] != "0A":
                        continue
                    raw = bytes.fromhex(addr)
                    # /proc prints each 32-bit word in host (little-endian) order
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                    if packed is None or raw == packed or raw == bytes(len(raw)):
                        return True
                    if len(raw) == 16 and not v6 and raw[:12] == bytes(10) + b"\xff\xff" \
                            and raw[12:] == packed:
                        return True
        except FileNotFoundError:
            continue
    return False


def _proc_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _session_members(sid):
    """Pids of live processes in session sid (Postfix's master is a session leader)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields: state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            out.append(int(name))
    return out


# ---------------------------------------------------------------------------
# smtp-sink
# ---------------------------------------------------------------------------

class SmtpSink:
    """smtp-sink(1) listening on host:port.

        SmtpSink(host="127.0.0.1", port=None, extra_args=(), *, dump=True,
                 soft_reject=(), soft_reply=None, hard_reject=(), hard_reply=None,
                 disconnect=(), reply_421=(), abort_after_data=None,
                 data_delay=None, delays=(), hostname=None, max_connections=None)

    Commands are SMTP verbs as smtp-sink names them: CONNECT, HELO, EHLO, MAIL,
    RCPT, DATA, "." (end of message content), RSET, NOOP, QUIT.
      soft_reject=("RCPT",), soft_reply="452 4.2.2 Mailbox full"   -> -r RCPT -b ...
      hard_reject=("DATA",), hard_reply="554 5.7.1 Go away"        -> -f DATA -B ...
          (defaults: "450 4.3.0 Error: command failed" / "500 5.3.0 Error: command
          failed"; -r and -f also turn PIPELINING off)
      disconnect=(".",)        -> -q .  hang up without a reply (after "." the message
                                        is still captured: the sender cannot know)
      reply_421=("MAIL",)      -> -Q MAIL  send 421 and hang up
      abort_after_data=0       -> -A 0  after 354 wait N s, send 550 and hang up
                                        without reading the content (nothing captured)
      data_delay=5             -> -w 5  wait 5 s before answering DATA
      delays=("RCPT:3",)       -> -W RCPT:3  wait before answering a command
    extra_args are passed to smtp-sink unchanged (e.g. ["-M", "10"]).

    With dump=True every completed message is written to its own file in
    self.dumpdir (-d): messages() returns their contents (smtp-sink's X-Client-*,
    X-Mail-Args, X-Rcpt-Args and Received lines, then the message as received,
    LF line endings, then one empty line), count() how many there are. A file
    still open by smtp-sink (transaction in progress or abandoned mid-DATA) is
    not counted. Capture means "content received up to the final dot": a
    message answered with soft_reject/hard_reject "." or cut off with
    disconnect "." is still captured; -A, -q DATA and RSET leave nothing. counters() returns smtp-sink's own -c counters
    {"sess": .., "quit": .., "mesg": ..} ("mesg" counts every "." received)."""

    def __init__(self, host="127.0.0.1", port=None, extra_args=(), *, dump=True,
                 soft_reject=(), soft_reply=None, hard_reject=(), hard_reply=None,
                 disconnect=(), reply_421=(), abort_after_data=None, data_delay=None,
                 delays=(), hostname=None, max_connections=None, backlog=128):
        require(SMTP_SINK)
        self.host = host
        self.port = port or free_port(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        self.dir = tempfile.mkdtemp(prefix="petrel-sink-")
        os.chmod(self.dir, 0o755)
        self.dumpdir = os.path.join(self.dir, "dump") if dump else None
        self.logpath = os.path.join(self.dir, "sink.log")
        self.counterpath = os.path.join(self.dir, "counters")
        self.proc = None
        args = [SMTP_SINK, "-c"]
        if _is_root():
            user, uid, gid = _unprivileged_user()
            args += ["-u", user or str(uid)]
        else:
            uid = gid = None
        if self.dumpdir:
            os.mkdir(self.dumpdir)
            if uid is not None:
                os.chown(self.dumpdir, uid, gid)
            args += ["-d", self.dumpdir + "/msg."]

        def verbs(v):
            return ",".join([v] if isinstance(v, str) else v)
        if soft_reject:
            args += ["-r", verbs(soft_reject)]
        if soft_reply:
            args += ["-b", soft_reply]
        if hard_reject:
            args += ["-f", verbs(hard_reject)]
        if hard_reply:
            args += ["-B", hard_reply]
        if disconnect:
            args += ["-q", verbs(disconnect)]
        if reply_421:
            args += ["-Q", verbs(reply_421)]
        if abort_after_data is not None:
            args += ["-A", str(abort_after_data)]
        if data_delay is not None:
            args += ["-w", str(data_delay)]
        for d in ([delays] if isinstance(delays, str) else delays):
            args += ["-W", d]
        if hostname:
            args += ["-h", hostname]
        if max_connections:
            args += ["-m", str(max_connections)]
        args += list(extra_args)
        endpoint = "[%s]:%d" % (host, self.port) if ":" in host else "%s:%d" % (host, self.port)
        self.args = args + [endpoint, str(backlog)]

    def start(self, timeout=WAIT):
        with open(self.counterpath, "wb") as out, open(self.logpath, "ab") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("smtp-sink exited with %s: %s\n%s" % (
                    self.proc.returncode, " ".join(self.args), self.log()))
            return listening(self.host, self.port)
        wait_for(ready, timeout, "smtp-sink to listen on %s:%d" % (self.host, self.port))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.cleanup()
        else:
            self.stop()
            print("--- smtp-sink (%s) kept for inspection; log:\n%s" % (self.dir, self.log()[-2000:]))

    # -- inspection --------------------------------------------------------
    def log(self):
        return read_log(self.logpath)

    def counters(self):
        """smtp-sink's -c counters, e.g. {"sess": 2, "quit": 1, "mesg": 1}."""
        try:
            with open(self.counterpath, "rb") as f:
                text = f.read().decode("ascii", "replace")
        except FileNotFoundError:
            text = ""
        last = [r for r in text.replace("\n", "\r").split("\r") if "=" in r]
        out = {"sess": 0, "quit": 0, "mesg": 0}
        if last:
            for item in last[-1].split():
                k, _, v = item.partition("=")
                if v.isdigit():
                    out[k] = int(v)
        return out

    def _open_files(self):
        if not self.proc or self.proc.poll() is not None:
            return set()
        fddir = "/proc/%d/fd" % self.proc.pid
        out = set()
        try:
            for fd in os.listdir(fddir):
                try:
                    out.add(os.readlink(os.path.join(fddir, fd)))
                except OSError:
                    pass
        except OSError:
            pass
        return out

    def files(self):
        """Paths of the completely received messages, oldest first."""
        if not self.dumpdir:
            raise AssertionError("SmtpSink(dump=False) captures nothing")
        names = os.listdir(self.dumpdir)
        busy = self._open_files()
        paths = [os.path.join(self.dumpdir, n) for n in names]
        done = []
        for p in paths:
            if p in busy:
                continue
            try:
                done.append((os.stat(p).st_mtime_ns, p))
            except FileNotFoundError:  # a transaction was reset meanwhile
                pass
        return [p for _, p in sorted(done)]

    def messages(self):
        """The captured messages as bytes (see the class doc for the format)."""
        out = []
        for p in self.files():
            try:
                with open(p, "rb") as f:
                    out.append(f.read())
            except FileNotFoundError:
                pass
        return out

    def count(self):
        return len(self.files())

    def wait_messages(self, count=1, timeout=WAIT):
        wait_for(lambda: self.count() >= count, timeout,
                 "%d message(s) captured by smtp-sink on port %d" % (count, self.port))
        return self.messages()

    @staticmethod
    def split(dumped):
        """One dump file -> (envelope dict, message bytes). envelope has
        "mail" (the MAIL FROM arguments), "rcpt" (list of RCPT TO arguments),
        "helo", "client"."""
        env = {"rcpt": []}
        rest = dumped
        while True:
            line, _, after = rest.partition(b"\n")
            key, _, value = line.decode("utf-8", "replace").partition(": ")
            if key == "X-Rcpt-Args":
                env["rcpt"].append(value)
            elif key == "X-Mail-Args":
                env["mail"] = value
            elif key == "X-Helo-Args":
                env["helo"] = value
            elif key == "X-Client-Addr":
                env["client"] = value
            elif key == "Received":
                # smtp-sink's own three-line Received header ends its part
                for _ in range(2):
                    _, _, after = after.partition(b"\n")
                rest = after
                break
            elif not key.startswith("X-"):
                break
            rest = after
        if rest.endswith(b"\n\n"):
            rest = rest[:-1]
        return env, rest


# ---------------------------------------------------------------------------
# A private Postfix instance
# ---------------------------------------------------------------------------

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixInstance:
    """A private Postfix on a loopback port.

        PostfixInstance(dir=None, port=None, host="127.0.0.1", *,
                        hostname="mx.postfix.test", domain="postfix.test",
                        mailboxes=("carol",), transport=None, relayhost=None,
                        main=None)

    dir        base directory (created with tempfile.mkdtemp when None); holds
               etc/ (main.cf, master.cf, transport, vmailbox), queue/, data/,
               vmail/ (the Maildirs) and postfix.log (maillog_file, via postlogd).
    port,host  smtpd listens on host:port only (inet_interfaces = host).
    domain     accepted as final destination (virtual_mailbox_domains); each
               name in `mailboxes` gets a Maildir vmail/DOMAIN/NAME/ (owned by
               nobody when run as root). Unknown users are rejected at RCPT.
    transport  {"example.test": "smtp:[127.0.0.1]:2525", ...} -> transport_maps
               (texthash, so no postmap is needed).
    relayhost  e.g. "[127.0.0.1]:2525" for everything else.
    main       extra main.cf settings {name: value}, applied last.

    DNS is never used (smtp_dns_support_level = disabled, no peer-name lookups),
    retries are fast (queue_run_delay 1s, backoff 1s..2s), mynetworks is
    127.0.0.0/8 so loopback clients may relay.

    start() runs `postfix -c DIR check` and `postfix -c DIR start` and waits
    until the port listens; stop() runs `postfix -c DIR stop` and waits until
    every process of the instance (master's session) is gone, killing
    stragglers. flush() = `postqueue -c DIR -f`; queue() = parsed
    `postqueue -c DIR -j`; queue_empty(); wait_queue_empty(timeout).
    maildir("carol") / messages("carol") / wait_mail("carol", n) read the
    virtual Maildir; log() / wait_log(text) read postfix.log. Postfix must be
    started as root (it drops to user postfix itself)."""

    def __init__(self, dir=None, port=None, host="127.0.0.1", *, hostname="mx.postfix.test",
                 domain="postfix.test", mailboxes=("carol",), transport=None, relayhost=None,
                 main=None):
        require(POSTFIX, POSTQUEUE, POSTCONF)
        self.own_dir = dir is None
        self.dir = os.path.abspath(dir or tempfile.mkdtemp(prefix="petrel-postfix-"))
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)  # postfix daemons (user postfix) must reach their dirs
        self.host = host
        self.port = port or free_port(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        self.hostname = hostname
        self.domain = domain
        self.confdir = os.path.join(self.dir, "etc")
        self.queuedir = os.path.join(self.dir, "queue")
        self.datadir = os.path.join(self.dir, "data")
        self.vmail = os.path.join(self.dir, "vmail")
        self.logpath = os.path.join(self.dir, "postfix.log")
        self.master_pid = None
        self.started = False
        for d in (self.confdir, self.queuedir, self.datadir, self.vmail):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.confdir, 0o755)
        os.chmod(self.queuedir, 0o755)
        if _is_root():
            pf = pwd.getpwnam("postfix")
            os.chown(self.datadir, pf.pw_uid, pf.pw_gid)
            _, uid, gid = _unprivileged_user()
            os.chown(self.vmail, uid, gid)
        else:
            uid, gid = os.getuid(), os.getgid()

        with open(os.path.join(self.confdir, "vmailbox"), "w") as f:
            for name in mailboxes:
                f.write("%s@%s %s/%s/\n" % (name, domain, domain, name))
        with open(os.path.join(self.confdir, "transport"), "w") as f:
            for dom, nexthop in (transport or {}).items():
                f.write("%s %s\n" % (dom, nexthop))

        v6 = ":" in host
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.queuedir,
            "data_directory": self.datadir,
            "meta_directory": "/etc/postfix",
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": hostname,
            "mydomain": domain,
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            # must name a configured interface address; smtpd itself binds to
            # host:port as master.cf says (any 127.x address works there)
            "inet_interfaces": "[::1]" if v6 else "127.0.0.1",
            "inet_protocols": "ipv6" if v6 else "ipv4",
            "mynetworks": "[::1]/128" if v6 else "127.0.0.0/8",
            "smtp_dns_support_level": "disabled",
            "lmtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "virtual_mailbox_domains": domain,
            "virtual_mailbox_base": self.vmail,
            "virtual_mailbox_maps": "texthash:" + os.path.join(self.confdir, "vmailbox"),
            "virtual_uid_maps": "static:%d" % uid,
            "virtual_gid_maps": "static:%d" % gid,
            "virtual_minimum_uid": "1",
            "transport_maps": "texthash:" + os.path.join(self.confdir, "transport"),
            "relayhost": relayhost or "",
            "maillog_file": self.logpath,
            "maillog_file_prefixes": self.dir,
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtpd_banner": "$myhostname ESMTP $mail_name",
        }
        settings.update(main or {})
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write("# generated by tests/postfix.py\n")
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        listen = "[%s]:%d" % (host, self.port) if v6 else "%s:%d" % (host, self.port)
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen=listen))

    # -- commands ------------------------------------------------------------
    def _env(self):
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        return env

    def run(self, *argv, check=True, timeout=60):
        """Runs a Postfix command with -c DIR inserted after its name."""
        p = subprocess.run([argv[0], "-c", self.confdir] + list(argv[1:]), capture_output=True,
                           text=True, timeout=timeout, env=self._env(), stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s\n--- postfix.log ---\n%s" % (
                " ".join(argv), p.returncode, p.stdout, p.stderr, self.log()[-3000:]))
        return p

    def postconf(self, *args):
        return self.run(POSTCONF, *args).stdout

    def check(self, timeout=60.0):
        """`postfix -c DIR check`; raises if it fails or warns. Postfix commands
        print their diagnostics only to a terminal (or syslog), so this one runs
        on a pseudo-terminal to capture them."""
        argv = [POSTFIX, "-c", self.confdir, "check"]
        master, slave = os.openpty()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                 env=self._env())
        finally:
            os.close(slave)
        chunks = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: every writer has closed the terminal
                        break
                    if not data:
                        break
                    chunks.append(data)
                elif p.poll() is not None:
                    break
        finally:
            os.close(master)
        try:
            code = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            code = "timeout"
        out = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
        if code != 0 or "warning" in out or "fatal" in out:
            raise AssertionError("`%s` failed (%s):\n%s" % (" ".join(argv), code, out))

    def _read_master_pid(self):
        try:
            with open(os.path.join(self.queuedir, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def start(self, timeout=2 * WAIT):
        self.check()
        self.started = True
        self.run(POSTFIX, "start")

        def ready():
            pid = self._read_master_pid()
            if pid and not _proc_alive(pid):
                raise AssertionError("postfix master exited:\n" + self.log()[-3000:])
            if pid:
                self.master_pid = pid
            return pid and listening(self.host, self.port)
        wait_for(ready, timeout, "postfix to listen on %s:%d" % (self.host, self.port))
        return self

    def stop(self, timeout=15.0):
        """Stops the instance and waits until all its processes are gone."""
        if not self.started:
            return
        pid = self.master_pid or self._read_master_pid()
        members = set(_session_members(pid)) if pid else set()
        if pid and _proc_alive(pid):
            self.run(POSTFIX, "stop", check=False, timeout=timeout + 10)
        members |= set(_session_members(pid)) if pid else set()
        deadline = time.monotonic() + timeout
        while True:
            alive = [p for p in members | ({pid} if pid else set()) if _proc_alive(p)]
            alive += [p for p in (_session_members(pid) if pid else []) if p not in alive]
            if not alive:
                break
            if time.monotonic() > deadline:
                for p in alive:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 5
                if all(not _proc_alive(p) for p in alive):
                    break
            time.sleep(0.05)
        self.started = False

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        if exc[0] is None:
            self.cleanup()
        else:
            self.stop()
            print("--- postfix log (%s) ---\n%s" % (self.dir, self.log()[-4000:]))

    # -- queue ---------------------------------------------------------------
    def flush(self):
        """`postqueue -f`: attempt delivery of everything queued now."""
        self.run(POSTQUEUE, "-f")

    def queue(self):
        """The queue as a list of dicts (`postqueue -j`: queue_id, queue_name,
        sender, recipients [{address, delay_reason?}], ...)."""
        out = self.run(POSTQUEUE, "-j").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def queue_empty(self):
        return "Mail queue is empty" in self.run(POSTQUEUE, "-p").stdout

    def wait_queue_empty(self, timeout=WAIT):
        wait_for(self.queue_empty, timeout, "postfix queue in %s to drain" % self.dir)

    # -- mail and logs --------------------------------------------------------
    def _maildir_path(self, user, sub):
        local, _, dom = user.partition("@")
        return os.path.join(self.vmail, dom or self.domain, local, sub)

    def maildir(self, user, sub="new"):
        path = self._maildir_path(user, sub)
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
                 "%d message(s) in postfix Maildir of %s" % (count, user))
        return self.messages(user)

    def log(self):
        return read_log(self.logpath)

    def wait_log(self, text, timeout=WAIT):
        wait_for(lambda: text in self.log(), timeout, "postfix log line containing %r" % text)
