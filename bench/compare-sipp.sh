#!/usr/bin/env bash
# Side by side on this machine, one core per side: the highest call rate with zero failed
# calls of
#   ferrosip-bench -sn uac -n 1 (taskset -c 0)  ->  ferrosip-bench -sn uas -n 1 (taskset -c 1)
#   sipp -sn uac             (taskset -c 0)  ->  sipp -sn uas             (taskset -c 1)
# each found by stepping the rate: doubling from START until a step fails, then BISECT
# bisection steps; a step is STEP_SECS seconds of calls (rate × STEP_SECS calls) and passes
# with 0 failed calls, all calls completed, and the calls done within STEP_SECS/0.95 (+0.3 s
# of process start) — i.e. the achieved rate is at least 95 % of the offered one.
#
# The machine's other load changes over minutes, so the two searches alternate ROUNDS times
# (ferrosip, sipp, ferrosip, sipp...) and every round's figures are printed, then the best of
# each and their ratio.
#
#   bench/compare-sipp.sh                       # START=1000 STEP_SECS=3 BISECT=3 ROUNDS=2
#   START=2000 STEP_SECS=2 bench/compare-sipp.sh
#
# Loopback only; every process is started here, bounded (-m, -timeout, timeout(1)) and
# stopped by PID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
START=${START:-1000}
STEP_SECS=${STEP_SECS:-3}
BISECT=${BISECT:-3}
ROUNDS=${ROUNDS:-2}
MAX_RATE=${MAX_RATE:-400000}
BENCH=${BENCH:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrosip-bench}
WORK=${WORK:-$(mktemp -d /tmp/compare-sipp.XXXXXX)}
UAC_CORE=${UAC_CORE:-0}
UAS_CORE=${UAS_CORE:-1}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
FB_ARGS=${FB_ARGS:-}                # extra ferrosip-bench flags, e.g. "--buffer 0"
command -v sipp >/dev/null || { echo "sipp is required (Debian sip-tester)"; exit 1; }
[ -x "$BENCH" ] || (cd "$ROOT" && cargo build --release -p ferrosip-bench) || exit 1

UAS_PID=""
stop_uas() {
	[ -z "$UAS_PID" ] && return 0
	kill -TERM "$UAS_PID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$UAS_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$UAS_PID" 2>/dev/null
	wait "$UAS_PID" 2>/dev/null
	UAS_PID=""
}
trap stop_uas EXIT

# step_ferrosip RATE -> exit 0 if the step passes
step_ferrosip() {
	local rate=$1 calls
	calls=$(awk -v r="$rate" -v s="$STEP_SECS" 'BEGIN{printf "%d", r*s}')
	local j="$WORK/fb-$rate.json"
	timeout $((STEP_SECS * 3 + 40)) taskset -c "$UAC_CORE" "$BENCH" -sn uac -n 1 $FB_ARGS -r "$rate" -m "$calls" \
		--json "$j" "127.0.0.1:$PORT" >"$WORK/fb-$rate.out" 2>&1
	python3 - "$j" "$rate" "$calls" <<'PY'
import json, sys
v = json.load(open(sys.argv[1])); rate = float(sys.argv[2]); calls = int(sys.argv[3])
ok = v["completed"] == calls and v["failed"] == 0 and v["rate_achieved"] >= 0.95 * rate
print(f'  ferrosip-bench {rate:>9.0f}/s: completed {v["completed"]} failed {v["failed"]} '
      f'retrans {v["retransmissions"]} achieved {v["rate_achieved"]:.0f}/s '
      f'invite p99 {v["latency_us"].get("invite", {}).get("p99", 0)} us -> {"pass" if ok else "FAIL"}')
sys.exit(0 if ok else 1)
PY
}

# step_sipp RATE -> exit 0 if the step passes
step_sipp() {
	local rate=$1 calls t0 t1
	calls=$(awk -v r="$rate" -v s="$STEP_SECS" 'BEGIN{printf "%d", r*s}')
	t0=$(date +%s.%N)
	(cd "$WORK" && timeout $((STEP_SECS * 3 + 40)) taskset -c "$UAC_CORE" sipp -sn uac -i 127.0.0.1 \
		-p $((PORT + 1)) -bind_local -nostdin -r "$rate" -m "$calls" -timeout $((STEP_SECS * 3 + 30))s \
		-recv_timeout 4000 -buff_size 4194304 "127.0.0.1:$PORT" >"$WORK/sipp-$rate.out" 2>&1)
	t1=$(date +%s.%N)
	python3 - "$WORK/sipp-$rate.out" "$rate" "$calls" "$t0" "$t1" "$STEP_SECS" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
rate = float(sys.argv[2]); calls = int(sys.argv[3]); el = float(sys.argv[5]) - float(sys.argv[4])
def last(name):
    m = re.findall(name + r"\s*\|\s*\d+\s*\|\s*(\d+)", text)
    return int(m[-1]) if m else -1
ok_calls, failed, retr = last("Successful call"), last("Failed call"), 0
achieved = ok_calls / el if el > 0 else 0
ok = ok_calls == calls and failed == 0 and el <= float(sys.argv[6]) / 0.95 + 0.3
print(f'  sipp           {rate:>9.0f}/s: completed {ok_calls} failed {failed} elapsed {el:.2f} s '
      f'achieved {achieved:.0f}/s -> {"pass" if ok else "FAIL"}')
sys.exit(0 if ok else 1)
PY
}

# search NAME -> prints the highest passing rate
search() {
	local name=$1 rate=$START lo=0 hi=0 i
	while :; do
		if "step_$name" "$rate"; then lo=$rate; else hi=$rate; break; fi
		rate=$((rate * 2))
		[ "$rate" -gt "$MAX_RATE" ] && break
		sleep 0.5
	done
	if [ "$hi" -gt 0 ] && [ "$lo" -gt 0 ]; then
		for i in $(seq "$BISECT"); do
			rate=$(((lo + hi) / 2))
			sleep 0.5
			if "step_$name" "$rate"; then lo=$rate; else hi=$rate; fi
		done
	fi
	echo "$lo" >"$WORK/$name.max"
	echo "$lo" >>"$WORK/$name.all"
}

echo "work dir: $WORK (uac on CPU $UAC_CORE, uas on CPU $UAS_CORE, steps of $STEP_SECS s, $ROUNDS rounds)"
for round in $(seq "$ROUNDS"); do
	echo "round $round: ferrosip-bench -sn uac -n 1  ->  ferrosip-bench -sn uas -n 1 (load: $(cut -d' ' -f1-3 /proc/loadavg))"
	taskset -c "$UAS_CORE" "$BENCH" -sn uas -n 1 $FB_ARGS -i 127.0.0.1 -p "$PORT" --duration 900 >"$WORK/fb-uas.out" 2>&1 &
	UAS_PID=$!
	sleep 0.5
	search ferrosip
	stop_uas
	echo "round $round: sipp -sn uac  ->  sipp -sn uas (load: $(cut -d' ' -f1-3 /proc/loadavg))"
	(cd "$WORK" && exec taskset -c "$UAS_CORE" sipp -sn uas -i 127.0.0.1 -p "$PORT" -bind_local -nostdin \
		-buff_size 4194304 -timeout 900s >"$WORK/sipp-uas.out" 2>&1) &
	UAS_PID=$!
	sleep 0.5
	search sipp
	stop_uas
	echo "round $round: ferrosip-bench $(cat "$WORK/ferrosip.max") calls/s, sipp $(cat "$WORK/sipp.max") calls/s"
done
F=$(sort -n "$WORK/ferrosip.all" | tail -1); S=$(sort -n "$WORK/sipp.all" | tail -1)
echo "max rate with 0 failures, best of $ROUNDS rounds: ferrosip-bench $F calls/s, sipp $S calls/s, ratio $(awk -v f="$F" -v s="$S" 'BEGIN{ if (s > 0) printf "%.2f", f/s; else print "n/a"}')"
