"""What a newcomer copies from the README works as written: installs do not
stop at a prompt, the real-domain guide installs every tool it later uses,
and the quick start's commands name the config `make run` uses."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def code_lines(text):
    blocks = re.findall(r"^```\n(.*?)^```", text, re.M | re.S)
    return [l for b in blocks for l in b.replace("\\\n", " ").splitlines()]


def test_readme_apt_get_never_prompts():
    installs = [l for l in code_lines(readme()) if "apt-get install" in l]
    assert installs
    for line in installs:
        assert re.search(r"apt-get install( \S+)* -y\b", line), line


def test_readme_guide_installs_swaks_before_using_it():
    guide = readme().split("## Running Petrel for a real domain", 1)[1]
    lines = code_lines(guide)
    first_use = next(i for i, l in enumerate(lines) if l.startswith("swaks "))
    assert any("apt-get install" in l and " swaks" in l for l in lines[:first_use])


def test_readme_quick_start_petrel_commands_name_the_config():
    quick = readme().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    cmds = [l for l in code_lines(quick) if re.match(r"(build/)?petrel ", l)]
    assert cmds
    for line in cmds:
        assert line.startswith("build/petrel ") and "-c etc/petrel.conf" in line, line


def test_readme_adduser_home_exists_or_is_nonexistent():
    for line in code_lines(readme()):
        m = re.search(r"adduser .*--home (\S+)", line)
        if m:
            assert m.group(1) == "/nonexistent", line
