"""The manual pages, the example config and the systemd unit can't silently
fall behind the code: both pages render without a groff warning; the keyword
table, as `petrel config -a` prints it, is what petrel.conf(5) and
etc/petrel.conf describe (every keyword, none that is gone, the same
arguments and defaults); petrel(8) covers every subcommand, verb and option
the help texts name; and `make install` puts pages and unit where man
and systemd find them, with a unit that systemd-analyze accepts."""

import os
import re
import shutil
import subprocess
import tempfile

import harness

MAN8 = os.path.join(harness.ROOT, "man", "petrel.8")
MAN5 = os.path.join(harness.ROOT, "man", "petrel.conf.5")
UNIT = os.path.join(harness.ROOT, "etc", "petrel.service")
EXAMPLE = os.path.join(harness.ROOT, "etc", "petrel.conf")


def render(page):
    """The page as plain text (no bold or underline), asserting groff is silent."""
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", page],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", "%s: %s" % (page, p.stderr)
    # Hyphen and minus glyphs, as some groff setups print them, read as '-'.
    return p.stdout.replace("\u2010", "-").replace("\u2212", "-")


ESCAPES = (("\\-", "-"), ("\\ ", " "), ("\\(dq", '"'), ("\\(aq", "'"), ("\\(ga", "`"),
           ("\\&", ""), ("\\e", "\\"))


def plain(line):
    """One roff source line as the words it shows: font macros and font
    escapes dropped (the alternating ones, .BR and kin, join their
    arguments), other requests give nothing."""
    if line.startswith("."):
        name, _, rest = line[1:].partition(" ")
        args = [a.strip('"') for a in re.findall(r'"[^"]*"|(?:\\.|\S)+', rest)]
        if name in ("B", "I"):
            line = " ".join(args)
        elif re.fullmatch(r"[BIR]{2}", name):
            line = "".join(args)
        else:
            return ""
    line = re.sub(r"\\f[BIRP]", "", line)
    for esc, char in ESCAPES:
        line = line.replace(esc, char)
    return line


def entries(page):
    """Every tagged paragraph (.TP, with .TQ for further tags) of a roff page,
    as dicts: section, depth (.RS nesting), tags and body in plain text, the
    first word of the first tag as word. A paragraph's body runs on through
    nested lists until the next paragraph at its depth."""
    out, sect, depth, prev, open_at = [], "", 0, "", {}
    for line in open(page).read().splitlines():
        if line.startswith((".SH ", ".SS ")):
            sect = line[4:].strip('"') if line.startswith(".SH ") else sect
            depth, open_at = 0, {}
        elif line in (".RS", ".RE"):
            open_at = {d: e for d, e in open_at.items() if d <= depth}
            depth += 1 if line == ".RS" else -1
        elif line == ".PP":
            open_at = {d: e for d, e in open_at.items() if d < depth}
        elif prev == ".TP":
            tag = plain(line)
            entry = dict(section=sect, depth=depth, tags=[tag], body="", word=tag.split()[0])
            out.append(entry)
            open_at = {d: e for d, e in open_at.items() if d < depth}
            open_at[depth] = entry
        elif prev == ".TQ":
            open_at[depth]["tags"].append(plain(line))
        else:
            for entry in open_at.values():
                entry["body"] += " " + plain(line)
        prev = line
    return out


def section(text, name):
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+\n)" % re.escape(name), text, re.M | re.S)
    assert m, "no section " + name
    return m.group(1)


def petrel_config(*args, config="listen 127.0.0.1:2525\nspool spool\n"):
    """`petrel config ARGS` on a config file holding config (by default only
    what is required, so every other keyword shows its default)."""
    with tempfile.TemporaryDirectory(prefix="petrel-docs-") as d:
        path = os.path.join(d, "petrel.conf")
        with open(path, "w") as f:
            f.write(config)
        p = subprocess.run([harness.BINARY, "config", "-c", path] + list(args),
                           capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return p.stdout


def keyword_table():
    """The keyword table as `petrel config -a` prints it: name -> (arguments,
    default or None, doc), in table order; and the value each shows."""
    table, shown = {}, {}
    for line in petrel_config("-a").splitlines():
        head = re.fullmatch(r"# (\S+) (.*?): (.*?)(?: \(default (\S+)\))?", line)
        if head:
            table[head.group(1)] = (head.group(2), head.group(4), head.group(3))
        elif line:
            name, _, value = line.partition(" ")
            assert name in table, line
            shown.setdefault(name, []).append(value)
    assert len(table) >= 40, table
    return table, shown


def test_config_dash_a_shows_every_default_as_the_table_states_it():
    """Each default went through its keyword's own setter: what the daemon
    then holds, shown back, is the default as the table writes it."""
    table, shown = keyword_table()
    for name, (_, default, _) in table.items():
        if default is not None:
            assert shown.get(name) == [default], (name, shown.get(name), default)


def test_config_shows_only_what_differs_from_the_default():
    """Set to its default, however written, a keyword is not shown; values
    are shown as the daemon holds them, quoted to read back the same."""
    text = petrel_config(config="listen 127.0.0.1:2525\nspool /var/spool/x\ndomain a.test\n"
                         "maildir-root /var/mail/x\nmax-recipients 100\ndata-timeout 600\n"
                         "command-timeout 60\nvrfy off\nlog-level info\n"
                         "mailbox postmaster \"The \\\"Boss\\\"\"\n")
    assert text.splitlines() == ["listen 127.0.0.1:2525", "spool /var/spool/x",
                                 "maildir-root /var/mail/x", "domain a.test",
                                 'mailbox postmaster "The \\"Boss\\""', "command-timeout 1m",
                                 "vrfy off"], text


def test_conf_page_documents_every_keyword_with_its_arguments_and_default():
    table, _ = keyword_table()
    documented = {e["word"]: e for e in entries(MAN5)
                  if e["depth"] == 0 and re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", e["word"])}
    missing = [k for k in table if k not in documented]
    assert not missing, "petrel.conf.5 has no entry for: " + ", ".join(missing)
    # A documented keyword that the table lost is just as wrong.
    stale = sorted(set(documented) - set(table))
    assert not stale, "petrel.conf.5 documents unknown keywords: " + ", ".join(stale)
    for name, (usage, default, _) in table.items():
        entry = documented[name]
        tags = " | ".join(t.split(" ", 1)[1] for t in entry["tags"])
        assert tags == usage, (name, tags, usage)
        stated = re.search(r"Default:\s*(\S+?)[.,]?(?:\s|$)", entry["body"])
        if default is not None:
            assert stated and stated.group(1) == default, (name, default, entry["body"])


def example_descriptions(text, keywords):
    """For each keyword line of an example config (set, or commented out as
    "# keyword ..."), the comment lines above it: the keyword lines right
    above share them, a blank line or another description ends them. (So a
    line of prose never starts with a keyword.)"""
    lines = text.splitlines()
    keyword_line = re.compile(r"^(?:# )?(%s) \S" % "|".join(map(re.escape, keywords)))
    out = {}
    for i, line in enumerate(lines):
        m = keyword_line.match(line)
        if not m:
            continue
        j = i - 1
        while j >= 0 and keyword_line.match(lines[j]):
            j -= 1
        doc = []
        while j >= 0 and lines[j].startswith("#") and not keyword_line.match(lines[j]):
            doc.insert(0, lines[j].lstrip("# "))
            j -= 1
        out.setdefault(m.group(1), " ".join(doc))
    return out


def test_example_config_names_every_keyword_with_its_default():
    """etc/petrel.conf is the annotated example the README points to: every
    keyword appears in it, set or as a commented-out line, and the default
    its description states is the table's."""
    table, _ = keyword_table()
    docs = example_descriptions(open(EXAMPLE).read(), table)
    missing = [k for k in table if k not in docs]
    assert not missing, "etc/petrel.conf does not mention: " + ", ".join(missing)
    for name, (_, default, _) in table.items():
        if default is not None:
            stated = re.search(r"\bDefaults?: ([^.]*(?:\.\d[^.]*)*)", docs[name])
            assert stated and default in re.split(r"[ ,]+", stated.group(1)), \
                (name, default, docs[name])


def run_petrel(*args, binary=None):
    return subprocess.run([binary or harness.BINARY] + list(args), capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def help_of(*args, binary=None):
    """What `petrel ARGS` prints as help, asserting it is help: on standard
    output, exit 0."""
    p = run_petrel(*args, binary=binary)
    assert p.returncode == 0 and p.stderr == "" and p.stdout.startswith("usage: "), \
        (args, p.returncode, p.stdout, p.stderr)
    return p.stdout


def help_synopses():
    """Each synopsis line of `petrel --help`, by command: "petrel serve",
    "mailq", "sendmail" (the installed names)."""
    out = {}
    for line in help_of("--help").split("\n\n")[0].splitlines():
        line = line[len("usage:"):].strip()
        words = line.split()
        out[" ".join(words[:2]) if words[0] == "petrel" else words[0]] = line
    return out


def options(text):
    """The single-dash options text names: -c, -oi (not --help, not check-config)."""
    return set(re.findall(r"(?<![\w-])(-[a-zA-Z]+)", text))


def man_synopses():
    """The options of each command's block (.SY ... .YS) in petrel(8)'s SYNOPSIS."""
    out, name = {}, None
    for line in open(MAN8).read().splitlines():
        if line.startswith(".SY "):
            name = plain(line[4:])
            out[name] = set()
        elif line == ".YS":
            name = None
        elif name:
            out[name] |= {"-" + o for o in re.findall(r"(?<!\\-)\\-([a-zA-Z]+)", line)}
    return out


def test_help_and_dash_h_exit_0_for_petrel_and_every_command():
    """petrel --help, -h and help print every synopsis; each command answers
    --help and -h (anywhere among its arguments) with its own, exit 0,
    also under its installed names mailq and sendmail."""
    full = help_of("--help")
    assert help_of("-h") == full and help_of("help") == full
    synopses = help_synopses()
    for cmd, line in synopses.items():
        if not cmd.startswith("petrel "):
            continue
        sub = cmd.split()[1]
        own = help_of(sub, "--help")
        assert own.splitlines()[0] == "usage: " + line, (own, line)
        assert help_of(sub, "-h") == own and help_of("help", sub) == own
    assert help_of("serve", "-c", "/nonexistent.conf", "--help") == help_of("serve", "--help")
    with tempfile.TemporaryDirectory(prefix="petrel-links-") as d:
        for name in ("mailq", "sendmail"):
            os.symlink(harness.BINARY, os.path.join(d, name))
        assert help_of("--help", binary=os.path.join(d, "mailq")) == help_of("mailq", "--help")
        assert help_of("-h", binary=os.path.join(d, "sendmail")) == help_of("sendmail", "-h")
    bad = run_petrel("no-such-command")
    assert bad.returncode == 2 and bad.stdout == "" and "unknown command" in bad.stderr


def test_version_is_printed_by_dash_dash_version_and_version():
    out = run_petrel("--version")
    assert out.returncode == 0 and re.fullmatch(r"petrel \d+\.\d+(\.\d+)? \(\S+\)\n|"
                                                r"petrel \d+\.\d+(\.\d+)?\n", out.stdout), out
    assert run_petrel("version").stdout == out.stdout


def test_help_synopses_and_petrel8_synopsis_name_the_same_commands_and_options():
    """Both ways: an option (or a command) in one and not in the other is
    drift, whichever was edited last."""
    man = man_synopses()
    synopses = help_synopses()
    assert set(man) == set(synopses), (sorted(man), sorted(synopses))
    for cmd, line in synopses.items():
        assert options(line) == man[cmd], (cmd, sorted(options(line)), sorted(man[cmd]))


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


def test_petrel8_documents_every_subcommand_and_option():
    usage = help_of("--help")
    text = render(MAN8)
    synopsis = section(text, "SYNOPSIS")
    commands = {e["word"] for e in entries(MAN8) if e["section"] == "COMMANDS" and e["depth"] == 0}
    verb_entries = {e["word"] for e in entries(MAN8)
                    if e["section"] == "COMMANDS" and e["depth"] == 1}
    subs = set(re.findall(r"\bpetrel ([a-z][a-z-]+)", usage))
    assert {"serve", "check-config", "queue", "flush", "passwd", "sendmail"} <= subs, subs
    for sub in subs:
        assert "petrel " + sub in synopsis, "SYNOPSIS lacks petrel " + sub
        assert sub in commands, "COMMANDS has no entry for " + sub
    # The installed names: mailq and sendmail.
    for name in ("mailq", "sendmail"):
        assert re.search(r"^ {7}%s\b" % name, synopsis, re.M), "SYNOPSIS lacks " + name
    verbs = set()
    for group in re.findall(r"\b((?:[a-z]+\|)+[a-z]+) ID", usage):
        verbs |= set(group.split("|"))
    assert verbs == {"show", "delete", "hold", "release"}, verbs
    assert verbs <= verb_entries, "petrel.8 has no entry for queue %s" % (verbs - verb_entries)
    named = options(usage)
    assert {"-c", "-d", "-t", "-i", "-f", "-F", "-N", "-R", "-V", "-a"} <= named, named
    for opt in named:
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
    default = parse_seconds(keyword_table()[0]["shutdown-timeout"][1])
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
