"""The config: check-config reports file:line errors and exits non-zero;
serve refuses a bad config; the bundled example is valid."""

import os
import subprocess

import harness
from harness import Petrel


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
                       text=True, timeout=10)
    assert s.returncode != 0
    d.cleanup()


def test_bundled_example_config_is_valid():
    p = subprocess.run([harness.BINARY, "check-config", "-c", "etc/petrel.conf"],
                       capture_output=True, text=True, cwd=harness.ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
