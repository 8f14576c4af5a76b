"""The manual pages and the systemd unit can't silently fall behind the code:
both pages render without a groff warning, petrel.conf(5) has an entry for
every keyword of the config's keyword table (and none for a keyword that is
gone), petrel(8) covers every subcommand, verb and option the usage messages
name, and `make install` puts pages and unit where man and systemd find them,
with a unit that systemd-analyze accepts."""

import os
import re
import shutil
import subprocess
import tempfile

import harness

MAN8 = os.path.join(harness.ROOT, "man", "petrel.8")
MAN5 = os.path.join(harness.ROOT, "man", "petrel.conf.5")
UNIT = os.path.join(harness.ROOT, "etc", "petrel.service")
CONFIG_C = os.path.join(harness.ROOT, "src", "config", "config.c")


def render(page):
    """The page as plain text (no bold or underline), asserting groff is silent."""
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", page],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", "%s: %s" % (page, p.stderr)
    # Hyphen and minus glyphs, as some groff setups print them, read as '-'.
    return p.stdout.replace("\u2010", "-").replace("\u2212", "-")


def entries(page):
    """(section, depth, word) of every tagged paragraph (.TP/.TQ) in the roff
    source: the first word of its tag, at .RS nesting depth."""
    out, sect, depth, prev = [], "", 0, ""
    for line in open(page).read().splitlines():
        if line.startswith(".SH "):
            sect, depth = line[4:].strip('"'), 0
        depth += (line == ".RS") - (line == ".RE")
        if prev in (".TP", ".TQ") and line.startswith("."):
            tag = re.sub(r"^\.\w+\s+", "", line).replace("\\-", "-").lstrip('"')
            out.append((sect, depth, re.split(r'\\ |\\f|\s|"', tag)[0]))
        prev = line
    return out


def section(text, name):
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+\n)" % re.escape(name), text, re.M | re.S)
    assert m, "no section " + name
    return m.group(1)


def config_keywords():
    src = open(CONFIG_C).read()
    table = re.search(r"\bkeywords\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert table, "keyword table not found in " + CONFIG_C
    names = re.findall(r'^\s*\{"([a-z0-9-]+)",', table.group(1), re.M)
    assert len(names) >= 40, names
    return names


def usage_texts():
    """What petrel prints for a bad command line, for itself and per subcommand."""
    runs = [[], ["queue", "-Z"], ["passwd"], ["sendmail", "-Z"]]
    out = []
    for args in runs:
        p = subprocess.run([harness.BINARY] + args, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        assert p.returncode != 0 and "usage:" in p.stderr, (args, p.returncode, p.stderr)
        out.append(p.stderr)
    return "\n".join(out)


def test_man_pages_render_without_warnings():
    for page in (MAN8, MAN5):
        text = render(page)
        for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
            assert re.search("^%s$" % name, text, re.M), (page, name)
    # man itself (as man-db runs it) must not complain either.
    if shutil.which("man"):
        for page in (MAN8, MAN5):
            p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                               timeout=60, env=dict(os.environ, MANPAGER="cat", PAGER="cat"))
            assert p.returncode == 0 and p.stderr == "", (page, p.stderr)


def test_conf_page_documents_every_keyword():
    keywords = config_keywords()
    documented = {w for _, depth, w in entries(MAN5)
                  if depth == 0 and re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", w)}
    missing = [k for k in keywords if k not in documented]
    assert not missing, "petrel.conf.5 has no entry for: " + ", ".join(missing)
    # A documented keyword that the table lost is just as wrong.
    stale = sorted(documented - set(keywords))
    assert not stale, "petrel.conf.5 documents unknown keywords: " + ", ".join(stale)


def test_example_config_names_every_keyword():
    """etc/petrel.conf is the annotated example the README points to: every
    keyword appears in it, set or as a commented-out line."""
    text = open(os.path.join(harness.ROOT, "etc", "petrel.conf")).read()
    used = set(re.findall(r"^(?:# )?([a-z]+(?:-[a-z0-9]+)*) ", text, re.M))
    missing = [k for k in config_keywords() if k not in used]
    assert not missing, "etc/petrel.conf does not mention: " + ", ".join(missing)


UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def c_constant(expr):
    """The value of a constant like "5 * DAY", "4 * 3600" or "300"."""
    expr = expr.replace("DAY", "86400").replace("u", "")
    assert re.fullmatch(r"[0-9 *]+", expr), expr
    value = 1
    for factor in expr.split("*"):
        value *= int(factor)
    return value


def as_duration(seconds):
    """Seconds written as the page writes them: 30s, 5m, 4h, 5d."""
    unit, size = next((u, n) for u, n in UNITS if seconds % n == 0)
    return "%d%s" % (seconds // size, unit)


def test_conf_page_defaults_match_set_defaults():
    """Every count and duration default that set_defaults() gives is the one
    the page states for that keyword."""
    src = open(CONFIG_C).read()
    body = re.search(r"static void set_defaults\(struct config \*cfg\)\n\{(.*?)\n\}", src, re.S)
    fields = dict(re.findall(r"cfg->(\w+) = ([0-9 *uDAY]+);", body.group(1)))
    table = re.findall(r'\{"([a-z0-9-]+)", "[^"]*", \d+, \w+, set_(count|duration), '
                       r'CFG\((\w+)\)', src)
    text = re.sub(r"\s+", " ", render(MAN5))
    checked = 0
    for name, kind, field in table:
        if field not in fields:
            continue
        value = c_constant(fields[field])
        shown = as_duration(value) if kind == "duration" else str(value)
        entry = re.search(r" %s [A-Z]+ (.*?)Default: ([^ ,.]+)" % re.escape(name), text)
        assert entry, "no default stated for " + name
        assert entry.group(2) == shown, (name, entry.group(2), shown)
        checked += 1
    assert checked >= 20, checked


def test_petrel8_documents_every_subcommand_and_option():
    usage = usage_texts()
    text = render(MAN8)
    synopsis = section(text, "SYNOPSIS")
    commands = {w for sect, depth, w in entries(MAN8) if sect == "COMMANDS" and depth == 0}
    verb_entries = {w for sect, depth, w in entries(MAN8) if sect == "COMMANDS" and depth == 1}
    subs = set(re.findall(r"\bpetrel ([a-z][a-z-]+)", usage))
    assert {"serve", "check-config", "queue", "flush", "passwd", "sendmail"} <= subs, subs
    for sub in subs:
        assert "petrel " + sub in synopsis, "SYNOPSIS lacks petrel " + sub
        assert sub in commands, "COMMANDS has no entry for " + sub
    # The installed names: mailq and sendmail.
    for name in set(re.findall(r"\(also: (\w+)\)", usage)) | {"mailq"}:
        assert re.search(r"^ {7}%s\b" % name, synopsis, re.M), "SYNOPSIS lacks " + name
    verbs = set()
    for group in re.findall(r"\b((?:[a-z]+\|)+[a-z]+) ID", usage):
        verbs |= set(group.split("|"))
    assert verbs == {"show", "delete", "hold", "release"}, verbs
    assert verbs <= verb_entries, "petrel.8 has no entry for queue %s" % (verbs - verb_entries)
    options = set(re.findall(r"(?<![\w-])(-[a-zA-Z]{1,2})\b", usage))
    assert {"-c", "-d", "-t", "-i", "-f", "-F"} <= options, options
    for opt in options:
        assert re.search(r"(?<![\w-])%s\b" % re.escape(opt), text), "petrel.8 lacks " + opt
    for sig in ("SIGHUP", "SIGTERM", "SIGINT"):
        assert sig in section(text, "SIGNALS"), sig


def unit_settings(text):
    settings = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def parse_seconds(value):
    m = re.fullmatch(r"(\d+)(s|min)?", value)
    assert m, value
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


def test_systemd_unit_key_lines():
    s = unit_settings(open(UNIT).read())
    serve = "/usr/local/sbin/petrel serve -c /etc/petrel/petrel.conf"
    assert s["Type"] == ["simple"] and s["ExecStart"] == [serve], s
    assert "/bin/kill -HUP $MAINPID" in s["ExecReload"]
    assert s["Restart"] == ["on-failure"]
    # Started as root: Petrel binds low ports and drops privileges itself.
    assert "User" not in s and "DynamicUser" not in s
    assert "CAP_NET_BIND_SERVICE" in s["CapabilityBoundingSet"][0]
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert s[key] == ["strict" if key == "ProtectSystem" else "yes"], key
    # The writable paths are the spool and the Maildirs the README sets up.
    readme = open(os.path.join(harness.ROOT, "README.md")).read()
    writable = s["ReadWritePaths"][0].split()
    assert writable == ["/var/spool/petrel", "/var/mail/petrel"], writable
    for path in writable:
        assert re.search(r"^(spool|maildir-root)\s+%s$" % re.escape(path), readme, re.M), path
    # SIGTERM to the daemon, which gets shutdown-timeout and then some to
    # finish before systemd kills it.
    src = open(CONFIG_C).read()
    default = int(re.search(r"cfg->shutdown_timeout = (\d+);", src).group(1))
    assert s["KillMode"] == ["mixed"] and s["KillSignal"] == ["SIGTERM"]
    assert parse_seconds(s["TimeoutStopSec"][0]) >= default + 10, s["TimeoutStopSec"]


def test_install_puts_pages_and_unit_where_they_are_found():
    """make install into a scratch PREFIX: the pages are found by man, and the
    installed unit (ExecStart pointing at the installed binary) passes
    systemd-analyze verify, documentation links included."""
    build = os.path.dirname(harness.BINARY)
    with tempfile.TemporaryDirectory(prefix="petrel-install-") as prefix:
        # -o: use the binary as built; the test must not rebuild anything.
        p = subprocess.run(["make", "-s", "-o", harness.BINARY, "install", "BUILD=" + build,
                            "PREFIX=" + prefix], cwd=harness.ROOT, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        unit = os.path.join(prefix, "lib", "systemd", "system", "petrel.service")
        installed = open(unit).read()
        assert "ExecStart=%s/sbin/petrel serve" % prefix in installed
        assert os.access(os.path.join(prefix, "sbin", "petrel"), os.X_OK)
        # sendmail and mailq are the same program under the names scripts use.
        for link in ("sbin/sendmail", "bin/mailq"):
            path = os.path.join(prefix, link)
            assert os.path.realpath(path) == os.path.join(prefix, "sbin", "petrel"), link
        q = subprocess.run([os.path.join(prefix, "bin", "mailq"), "-c", "/nonexistent.conf"],
                           capture_output=True, text=True, timeout=30)
        assert "nonexistent.conf" in q.stderr, q.stderr
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man"))
        if shutil.which("man"):
            for name in (["8", "petrel"], ["5", "petrel.conf"]):
                w = subprocess.run(["man", "-w"] + name, capture_output=True, text=True,
                                   env=env, timeout=30)
                assert w.stdout.startswith(prefix), (name, w.stdout, w.stderr)
        if shutil.which("systemd-analyze"):
            v = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                               text=True, env=env, timeout=60)
            assert v.returncode == 0 and not (v.stdout + v.stderr).strip(), v.stdout + v.stderr
