#!/usr/bin/env python3
"""Runs Petrel's whole suite and ends with one line: "N passed, N failed".

Levels: cmocka unit tests (each test case counts), golden dialogues against
the pure session (dialogue runner) and against the live daemon, and the
integration tests in tests/integration/test_*.py (each test_* function
counts). Unit tests, dialogues and integration tests run for the normal build
and again for the ASan+UBSan build."""

import argparse
import glob
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import harness  # noqa: E402
import dialogue_live  # noqa: E402
from dnsserver import DNSServer  # noqa: E402

passed = failed = 0
failures = []


def record(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        failures.append(name)
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, ("\n" + detail) if detail and not ok else ""),
          flush=True)


def run_unit(build, tag):
    san_env = dict(os.environ, UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    for binary in sorted(glob.glob(os.path.join(build, "tests", "test_*"))):
        name = "%s unit %s" % (tag, os.path.basename(binary))
        p = subprocess.run([binary], capture_output=True, text=True, timeout=300, env=san_env)
        out = p.stdout + p.stderr
        ok_n = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out))
        bad_n = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", out))
        sanitizer = "AddressSanitizer" in out or "runtime error:" in out
        if p.returncode != 0 or sanitizer or (ok_n == 0 and bad_n == 0):
            bad_n = max(bad_n, 1)
        for _ in range(ok_n):
            record(name, True)
        for _ in range(bad_n):
            record(name, False, out[-3000:])


def dialogue_config(workdir, port, dns_port):
    with open(os.path.join(HERE, "dialogues", "dialogue.conf.in")) as f:
        text = f.read()
    text = text.replace("@DIR@", workdir).replace("@PORT@", str(port)).replace("@SRC@", ROOT)
    text = text.replace("@DNS@", str(dns_port))
    path = os.path.join(workdir, "dialogue.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_dialogues(build, tag, live):
    files = sorted(glob.glob(os.path.join(HERE, "dialogues", "*.dlg")))
    zones = dialogue_live.sender_zones(os.path.join(HERE, "dialogues", "sender-domains"))
    with tempfile.TemporaryDirectory(prefix="petrel-dlg-") as workdir, DNSServer(zones) as dns:
        os.chmod(workdir, 0o755)  # the live daemon may run as the petrel user
        port = harness.free_port()
        conf = dialogue_config(workdir, port, dns.port)
        runner = os.path.join(build, "tests", "dialogue")
        for f in files:
            p = subprocess.run([runner, conf, f], capture_output=True, text=True, timeout=60)
            record("%s dialogue(pure) %s" % (tag, os.path.basename(f)), p.returncode == 0,
                   p.stdout + p.stderr)
        if not live:
            return
        d = harness.Petrel(binary=os.path.join(build, "petrel"))
        d.config, d.port = conf, port
        d.logpath = os.path.join(workdir, "petrel.log")
        d.start()
        try:
            for f in files:
                try:
                    dialogue_live.play(f, port)
                    record("%s dialogue(live) %s" % (tag, os.path.basename(f)), True)
                except Exception:
                    record("%s dialogue(live) %s" % (tag, os.path.basename(f)), False,
                           traceback.format_exc())
        finally:
            d.stop()
            shutil.rmtree(d.dir, ignore_errors=True)  # made by Petrel(), unused here
            log = d.log()
            if "AddressSanitizer" in log or "runtime error:" in log:
                record("%s dialogue(live) daemon sanitizer-clean" % tag, False, log[-3000:])


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("test took longer than 120 s")


def run_integration(build, tag, only):
    harness.BINARY = os.path.join(build, "petrel")
    signal.signal(signal.SIGALRM, on_alarm)
    for path in sorted(glob.glob(os.path.join(HERE, "integration", "test_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = "%s %s.%s" % (tag, modname, name)
            if only and not re.search(only, full):
                continue
            # A test of the uninstrumented binary itself (valgrind cannot run
            # an ASan build) belongs to the plain build's pass only.
            if getattr(getattr(mod, name), "plain_build_only", False) and tag == "[asan]":
                continue
            t0 = time.monotonic()
            signal.alarm(120)
            try:
                getattr(mod, name)()
                ok, detail = True, ""
            except BaseException as e:  # noqa: B902 - a test may raise anything
                if isinstance(e, KeyboardInterrupt):
                    raise
                ok, detail = False, traceback.format_exc()
            finally:
                signal.alarm(0)
            record("%s (%.1fs)" % (full, time.monotonic() - t0), ok, detail)


def run_fuzz_smoke():
    """Each libFuzzer harness for 3 s (make fuzz-smoke): it builds and finds nothing."""
    p = subprocess.run(["make", "-s", "fuzz-smoke"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    out = p.stdout + p.stderr
    seen = 0
    for line in out.splitlines():
        if line.startswith("ok fuzz") or line.startswith("FAIL fuzz"):
            seen += 1
            record(line.split(" ", 1)[1], line.startswith("ok"), out[-3000:])
    if p.returncode != 0 and not seen:
        record("fuzz smoke", False, out[-3000:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--asan-build")
    ap.add_argument("--only", help="regex: run only matching integration tests")
    ap.add_argument("--fuzz-smoke", action="store_true", help="also run make fuzz-smoke")
    args = ap.parse_args()
    builds = [(os.path.join(ROOT, args.build), "")]
    if args.asan_build:
        builds.append((os.path.join(ROOT, args.asan_build), "[asan]"))
    for build, tag in builds:
        tag = tag or "[gcc]"
        if not args.only:
            run_unit(build, tag)
            run_dialogues(build, tag, live=True)
        run_integration(build, tag, args.only)
    if args.fuzz_smoke and not args.only:
        run_fuzz_smoke()
    if failures:
        print("\nfailed:\n  " + "\n  ".join(failures))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
