#!/bin/sh
# run.sh BUILD NAME SECONDS keep|fresh - runs one libFuzzer harness.
#
# The harness works on a scratch corpus under BUILD (fresh: a new copy of the
# committed seeds; keep: the copy from earlier runs, topped up with the seeds),
# so fuzzing never writes into fuzz/corpus/. Prints exactly one line,
# "ok fuzz NAME (N execs)" or "FAIL fuzz NAME ...", so callers can count them,
# and exits non-zero on a crash, a leak, a timeout or an out-of-memory.
# Paths are made absolute because some harnesses change directory while they
# run, and libFuzzer writes crash files relative to the current directory.
build=$(cd "$1" && pwd) || exit 1
name=$2
secs=$3
mode=$4
bin=$build/fuzz/fuzz_$name
seeds=$(pwd)/fuzz/corpus/$name
corpus=$build/corpus/$name
[ "$mode" = fresh ] && corpus=$build/smoke/$name && rm -rf "$corpus"
crashes=$build/crashes/$name
log=$build/logs/$name.log
mkdir -p "$corpus" "$crashes" "$build/logs"
[ -d "$seeds" ] && cp "$seeds"/* "$corpus"/ 2>/dev/null

"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$crashes/" "$corpus" </dev/null >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
if [ "$rc" -eq 0 ]; then
	echo "ok fuzz $name (${execs:-0} execs)"
	exit 0
fi
echo "FAIL fuzz $name (exit $rc; log $log; crashes in $crashes/)"
grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 | sed 's/^/  /'
exit 1
