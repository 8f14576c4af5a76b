"""A private Dovecot for Petrel's tests (Python stdlib only).

Dovecot       `dovecot -F -c <generated conf>` with everything under a temporary
              directory (base_dir, state_dir, log, users file): IMAP, POP3 and
              LMTP on loopback ports, LMTP also on a unix socket; users from a
              passwd-file (plain test passwords, optional quota), mailboxes
              `maildir:<mail_root>/<user>` - the layout of Petrel's maildir-root.
mail_petrel() a harness.Petrel that runs as the account owning the mailboxes,
              so that the Maildirs it writes are the ones Dovecot serves -
              as in production, where the MTA and the IMAP server share
              the mailboxes' owner.

Dovecot refuses mail access as root, so when the tests run as root the
mailboxes belong to `nobody` (Dovecot's master stays root to switch to it);
otherwise everything runs as the current user. The binaries come from the
Debian packages dovecot-imapd, dovecot-pop3d and dovecot-lmtpd
(tools/install-deps); if they are missing, Dovecot() raises DovecotMissing
instead of skipping."""

import imaplib
import os
import poplib
import pwd
import shutil
import signal
import subprocess
import tempfile

from harness import WAIT, Petrel, free_port, read_log, wait_for
from postfix import listening

DOVECOT = "/usr/sbin/dovecot"
MODULES = "/usr/lib/dovecot/modules"


class DovecotMissing(AssertionError):
    pass


def require():
    missing = [p for p in (DOVECOT, os.path.join(MODULES, "lib10_quota_plugin.so"),
                           "/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3", "/usr/lib/dovecot/lmtp")
               if not os.path.exists(p)]
    if missing:
        raise DovecotMissing("the Dovecot tests need %s; install the Debian packages dovecot-imapd "
                             "dovecot-pop3d dovecot-lmtpd (tools/install-deps does it without "
                             "starting the system's service)" % ", ".join(missing))


def mail_account():
    """(name, uid, gid) that owns the mailboxes: nobody when root, else ourselves."""
    pw = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def mail_petrel(settings=None, **kw):
    """A Petrel whose Maildirs belong to the mail account: started as root it
    becomes that user (its `user` setting) and hands it the maildir-root."""
    settings = dict(settings or {})
    if os.geteuid() == 0:
        settings["user"] = mail_account()[0]
    return Petrel(settings, **kw)


CONF = """\
protocols = imap pop3 lmtp
instance_name = {name}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# LMTP recipients arrive as user@domain; the users file knows plain names
auth_username_format = %Ln
{accounts}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{mail_root}/%n
mail_plugins = quota
quota_full_tempfail = yes
plugin {{
  quota = maildir:User quota
}}
passdb {{
  driver = passwd-file
  args = {dir}/users
}}
userdb {{
  driver = passwd-file
  args = {dir}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener {dir}/lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""


class Dovecot:
    """users: {name: password}; quota: {name: "1k"} storage limits (over quota
    is a temporary failure, 452 4.2.2); mail_root: where the Maildirs are."""

    def __init__(self, users, quota=None, mail_root=None):
        require()
        self.dir = tempfile.mkdtemp(prefix="petrel-dovecot-")
        # Dovecot's unprivileged processes must reach their sockets in here.
        os.chmod(self.dir, 0o755)
        name, uid, gid = mail_account()
        self.mail_root = mail_root or os.path.join(self.dir, "mail")
        if not mail_root:
            os.mkdir(self.mail_root)
            os.chown(self.mail_root, uid, gid)
        self.users = users
        self.imap_port, self.pop3_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.lmtp_socket = os.path.join(self.dir, "lmtp")
        self.logpath = os.path.join(self.dir, "dovecot.log")
        with open(os.path.join(self.dir, "users"), "w") as f:
            for user, password in users.items():
                extra = "userdb_quota_rule=*:storage=%s" % quota[user] if user in (quota or {}) else ""
                f.write("%s:{PLAIN}%s::::::%s\n" % (user, password, extra))
        me = pwd.getpwuid(os.geteuid()).pw_name
        accounts = "" if os.geteuid() == 0 else (
            "default_login_user = %s\ndefault_internal_user = %s\n" % (me, me))
        self.config = os.path.join(self.dir, "dovecot.conf")
        with open(self.config, "w") as f:
            f.write(CONF.format(name=os.path.basename(self.dir), dir=self.dir, accounts=accounts,
                                uid=uid, gid=gid, mail_root=self.mail_root,
                                imap_port=self.imap_port, pop3_port=self.pop3_port,
                                lmtp_port=self.lmtp_port))
        self.proc = None

    def start(self):
        out = open(os.path.join(self.dir, "dovecot.out"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.config], stdout=out, stderr=out,
                                     start_new_session=True)
        out.close()
        wait_for(self._ready, 2 * WAIT, "dovecot to listen on its IMAP, POP3 and LMTP ports")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("dovecot exited with %s:\n%s" % (self.proc.returncode, self.log()))
        return (all(listening("127.0.0.1", p) for p in (self.imap_port, self.pop3_port,
                                                        self.lmtp_port))
                and os.path.exists(self.lmtp_socket))

    def stop(self):
        """SIGTERM to the master, which stops its children; any straggler of
        the process group we started is killed after it."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def log(self):
        return read_log(self.logpath)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("--- dovecot log (%s) ---\n%s" % (self.dir, self.log()[-4000:]))

    # -- reading mail back ---------------------------------------------------
    def imap_messages(self, user):
        """Every message in user's INBOX over IMAP (FETCH BODY.PEEK[]), oldest first."""
        with imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10) as m:
            m.login(user, self.users[user])
            typ, _ = m.select("INBOX", readonly=True)
            assert typ == "OK", "IMAP SELECT INBOX failed for %s" % user
            _, nums = m.search(None, "ALL")
            out = []
            for num in nums[0].split():
                typ, data = m.fetch(num, "(BODY.PEEK[])")
                assert typ == "OK"
                out.append(data[0][1])
            m.logout()
        return out

    def pop3_messages(self, user):
        """Every message in user's maildrop over POP3 (RETR, nothing deleted)."""
        p = poplib.POP3("127.0.0.1", self.pop3_port, timeout=10)
        try:
            p.user(user)
            p.pass_(self.users[user])
            count, _ = p.stat()
            return [b"\r\n".join(p.retr(i)[1]) + b"\r\n" for i in range(1, count + 1)]
        finally:
            p.quit()
