"""Crash safety under load: while 20 concurrent clients send 2,000 messages
to two local mailboxes, the daemon is killed with SIGKILL several times at
random points and restarted. Clients resend whatever did not get its 250.
Proves that every message acknowledged with 250 is delivered to every
recipient at least once (delivered >= acknowledged: nothing is lost), and
counts and prints the duplicates a crash may cause (allowed, never a loss).

The random choices come from a fixed seed printed in the output
(PETREL_CRASH_SEED overrides it) so a failure can be replayed."""

import os
import random
import smtplib
import subprocess
import threading
import time

import harness
from harness import Petrel, wait_for

SEED = int(os.environ.get("PETREL_CRASH_SEED", "1729"))
MESSAGES = 2000
CONNECTIONS = 20
KILLS = 4
RECIPIENTS = ("alice", "bob")
DEADLINE = 60.0  # seconds for the whole load; a bound, not an expectation (~2-5 s)


class Load:
    """Client threads sending numbered messages; each one is resent until it
    gets a 250. Every attempt carries the message's marker and its own
    attempt id, so duplicates can be told apart afterwards."""

    def __init__(self, port, rng):
        self.port = port
        self.rng = rng
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # notified on each 250
        self.next = 0
        self.acked = set()      # markers that got a 250
        self.attempts = {}      # marker -> number of attempts made
        self.errors = []        # failures that are not crash fallout
        self.stopped = threading.Event()
        self.deadline = time.monotonic() + DEADLINE
        self.threads = [threading.Thread(target=self.client, args=(n,), daemon=True)
                        for n in range(CONNECTIONS)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(max(0.1, self.deadline - time.monotonic() + 5))
        assert not any(t.is_alive() for t in self.threads), "client threads still running"

    def stop(self):
        """Makes the clients give up at once (after a failure elsewhere)."""
        self.stopped.set()
        for t in self.threads:
            if t.ident is not None:
                t.join(30)

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, count):
        """Waits until count messages got their 250 (or a client failed)."""
        with self.changed:
            ok = self.changed.wait_for(lambda: len(self.acked) >= count or self.errors,
                                       timeout=max(0, self.deadline - time.monotonic()))
        assert ok, "timed out waiting for %d acknowledgements" % count

    def fail(self, why):
        with self.changed:
            self.errors.append(why)
            self.changed.notify_all()

    def take(self):
        with self.lock:
            if self.next >= MESSAGES:
                return None
            self.next += 1
            return self.next - 1

    def client(self, n):
        smtp = None
        delay = 0.005
        try:
            while True:
                i = self.take()
                if i is None:
                    return
                marker = "m%05d" % i
                attempt = 0
                while True:
                    if self.stopped.is_set():
                        return
                    if time.monotonic() > self.deadline:
                        self.fail("%s: no 250 before the deadline" % marker)
                        return
                    attempt += 1
                    with self.lock:
                        self.attempts[marker] = attempt
                    msg = ("Subject: load %s\r\nX-Marker: %s\r\nX-Attempt: %s.%d\r\n\r\n"
                           "client %d, message %d, attempt %d\r\n"
                           % (marker, marker, marker, attempt, n, i, attempt))
                    try:
                        if smtp is None:
                            smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=20)
                        smtp.sendmail("load@example.org",
                                      ["%s@example.test" % r for r in RECIPIENTS], msg)
                    except smtplib.SMTPResponseException as e:
                        # 421 while shutting down, 451/452 from the spool: retry;
                        # a 5xx is a real failure.
                        if e.smtp_code >= 500:
                            self.fail("%s: %d %r" % (marker, e.smtp_code, e.smtp_error))
                            return
                    except (smtplib.SMTPException, OSError):
                        pass  # the daemon was killed: reconnect and resend
                    else:
                        with self.changed:
                            self.acked.add(marker)
                            self.changed.notify_all()
                        delay = 0.005
                        break
                    if smtp is not None:
                        try:
                            smtp.close()
                        except OSError:
                            pass
                        smtp = None
                    # Back off while the daemon is down (bounded by the deadline).
                    self.stopped.wait(delay * (1 + self.rng.random()))
                    delay = min(delay * 2, 0.1)
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    pass


def queue_empty(d):
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:exitcode=66")
    p = subprocess.run([harness.BINARY, "queue", "-c", d.config], capture_output=True,
                       text=True, timeout=30, env=env)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p.returncode == 0 and "Mail queue is empty" in p.stdout


def delivered(d, user):
    """marker -> list of attempt ids, one per copy in the user's Maildir."""
    copies = {}
    for path in d.maildir(user):
        with open(path, "rb") as f:
            head = f.read().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        fields = {}
        for line in head.splitlines():
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().decode()
        assert b"x-marker" in fields, "a message without a marker in %s: %r" % (path, head)
        copies.setdefault(fields[b"x-marker"], []).append(fields.get(b"x-attempt"))
    return copies


def test_sigkill_under_load_loses_nothing():
    rng = random.Random(SEED)
    print("crash test seed %d (PETREL_CRASH_SEED=%d replays it)" % (SEED, SEED))
    # Kill points: after a random number of acknowledgements, plus a random
    # delay of up to 30 ms so the kill lands anywhere in the daemon's work.
    points = sorted(rng.sample(range(MESSAGES // 10, MESSAGES * 9 // 10), KILLS))
    d = Petrel({"max-connections": "1000"})
    d.start()
    load = Load(d.port, random.Random(rng.random()))
    try:
        t0 = time.monotonic()
        load.start()
        for k, point in enumerate(points):
            load.wait_acked(point)
            assert not load.errors, load.errors[:5]
            time.sleep(rng.random() * 0.03)
            # The daemon must still be running on its own before we kill it.
            assert d.proc.poll() is None, "petrel exited by itself:\n" + d.run_log()[-3000:]
            d.kill9()
            print("kill %d after %d acknowledgements (%.1fs)" % (k + 1, load.acked_count(),
                                                                 time.monotonic() - t0))
            d.start()
        load.join()
        assert not load.errors, load.errors[:5]
        assert len(load.acked) == MESSAGES
        print("load done in %.1fs; %d resends" % (
            time.monotonic() - t0, sum(a - 1 for a in load.attempts.values())))
        wait_for(lambda: queue_empty(d), timeout=45, what="the queue to empty")
        print("queue empty after %.1fs" % (time.monotonic() - t0))

        resent = sum(1 for a in load.attempts.values() if a > 1)
        for user in RECIPIENTS:
            copies = delivered(d, user)
            missing = sorted(load.acked - set(copies))
            assert not missing, "%s lost %d acknowledged message(s): %s" % (
                user, len(missing), missing[:20])
            unknown = sorted(set(copies) - set(load.attempts))
            assert not unknown, "%s got messages nobody sent: %s" % (user, unknown[:20])
            # Two copies of one attempt: redelivered after a crash between the
            # Maildir write and its spool record. Two attempts: the client
            # resent a message whose 250 the kill swallowed.
            redelivered = {m: a for m, a in copies.items() if len(a) != len(set(a))}
            resent_both = {m: a for m, a in copies.items() if len(set(a)) > 1}
            extra = sum(len(a) - 1 for a in copies.values())
            print("%s: %d messages, %d copies, %d duplicate copies: %d redelivered by "
                  "petrel %s, %d delivered twice after a resend %s" % (
                      user, len(copies), sum(len(a) for a in copies.values()), extra,
                      len(redelivered), sorted(redelivered)[:10], len(resent_both),
                      sorted(resent_both)[:10]))
            # Only a message in flight at a kill can lose its 250: at most one
            # per client per kill.
            assert len(resent_both) <= min(resent, KILLS * CONNECTIONS), resent_both
    except BaseException:
        load.stop()
        d.stop()
        print("--- petrel log (%s) ---\n%s" % (d.dir, d.log()[-4000:]))
        raise
    finally:
        load.stop()
        d.stop()
    d.cleanup()
