#!/usr/bin/env bash
# ferrosip vs Kamailio 5.6, side by side, with ferrosip-bench as the load, in one run:
#   stateless          bench-anchor cfg/stateless.cfg        uac -> proxy -> uas (forward())
#   stateful           bench-anchor cfg/stateful.cfg         record_route + t_relay; the uac sends
#                                                             ACK and BYE with the Route set taken
#                                                             from the 2xx's Record-Route
#   registrar_auth_ht  bench-anchor cfg/registrar_auth_ht.cfg REGISTER -> 401 -> REGISTER with
#                                                             digest (htable HA1, no qop) -> 200
# Both servers run the same cfg file with `-n $WORKERS -m $SHM` (2 and 256 by default).
# A server that rejects a cfg (ferrosip has no registrar/auth modules yet: its config load
# stops with file:line:col) gets a "not supported" row with the error; nothing is measured.
#
# Per config and server:
#   1. max sustainable rate: fresh server (and uas) per step, 200 unmeasured warm-up calls,
#      then rate x STEP_SECS calls (STATEFUL_STEP_SECS for stateful: longer than tm's 5 s
#      wait timer). A step passes when every call completed, none failed and the p99 of the
#      main latency (INVITE->200, or REGISTER->final 200 with the challenge) is <= P99_MS.
#      Rates double from START_RATE up to MAX_RATE (halve while START_RATE fails), then
#      BISECT bisection steps.
#   2. p99 at 50 % of that rate: one run of LAT_SECS at that rate (fresh server, warm-up).
#   3. server CPU-seconds per 1,000 calls (schedstat of the server PID and its direct
#      children, all threads, as proxy-cpu.sh) at the SAME offered rate for both servers:
#      50 % of the lower of the two maxima (the per-call cost falls with the rate, so
#      comparing each at its own rate would flatter the faster one).
# Output: a Markdown table on stdout and in $OUT/table.md; per-run JSON in $OUT.
#
#   flock /tmp/ferrosip-bench.lock bench/compare-all.sh
#   MAX_RATE=4000 STEP_SECS=1 STATEFUL_STEP_SECS=2 TOTAL_LIMIT=120 \
#     flock /tmp/ferrosip-bench.lock bench/compare-all.sh        # a quick smoke run
#   CONFIGS="stateless registrar_auth" SERVERS=kamailio bench/compare-all.sh
#
# Only 127.0.0.1 is used, on free ports; every process is started here and stopped by PID;
# every load is bounded by its call count, the bench's transaction timeout, timeout(1) and
# TOTAL_LIMIT (no new step starts after it; unmeasured cells then say so).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
ANCHOR=$(cd "${ANCHOR:-$ROOT/../shared/bench-anchor}" 2>/dev/null && pwd) || { echo "bench-anchor not found (set ANCHOR)" >&2; exit 1; }
CONFIGS=${CONFIGS:-"stateless stateful registrar_auth_ht"}
SERVERS=${SERVERS:-"ferrosip kamailio"}
WORKERS=${WORKERS:-2}                # -n of both servers
SHM=${SHM:-256}                      # -m of both servers (MB)
START_RATE=${START_RATE:-1000}       # calls/s of the first step
MAX_RATE=${MAX_RATE:-32000}       # no step above this; a max equal to it is reported as ">="
MIN_RATE=${MIN_RATE:-125}            # give up halving below this
STEP_SECS=${STEP_SECS:-2}            # seconds of traffic per search step
STATEFUL_STEP_SECS=${STATEFUL_STEP_SECS:-6}
BISECT=${BISECT:-2}                  # bisection steps after the first failing rate
P99_MS=${P99_MS:-50}                 # a step fails above this p99 (ms)
LAT_SECS=${LAT_SECS:-4}              # seconds of the p99 / CPU runs
TIMEOUT_MS=${TIMEOUT_MS:-4000}       # bench transaction timeout (Timer B/F), keeps failing steps short
TOTAL_LIMIT=${TOTAL_LIMIT:-540}      # seconds; no new run starts after this
AUTH_USERS=${AUTH_USERS:-10000}      # subscribers for the registrar (gen_users.py)
WARMUP_CALLS=${WARMUP_CALLS:-200}    # unmeasured calls at 200/s before every measured run
FERROSIP=${FERROSIP:-$ROOT/target/release/ferrosip}
BENCH=${BENCH:-$ROOT/target/release/ferrosip-bench}
OUT=${OUT:-$ROOT/target/compare-all/run-$(date +%Y%m%d-%H%M%S)}

for t in kamailio python3 ss timeout; do
	command -v "$t" >/dev/null || { echo "$t is required" >&2; exit 1; }
done
if [ ! -x "$FERROSIP" ] || [ ! -x "$BENCH" ]; then
	(cd "$ROOT" && cargo build --release -p ferrosip -p ferrosip-bench) || exit 1
fi
[ -d "$ANCHOR/cfg" ] || { echo "bench-anchor not found at $ANCHOR (set ANCHOR)" >&2; exit 1; }
mkdir -p "$OUT" || exit 1
STEPS="$OUT/runs.jsonl"; : >"$STEPS"
ROWS="$OUT/rows.jsonl"; : >"$ROWS"
log() { echo "[$(date +%T) +${SECONDS}s] $*" | tee -a "$OUT/run.log" >&2; }

free_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port_up() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
wait_up() { local i; for i in $(seq 100); do port_up "$1" && return 0; sleep 0.1; done; return 1; }
wait_free() { local i; for i in $(seq 100); do port_up "$1" || return 0; sleep 0.1; done; return 1; }

# ---- processes: only PIDs started here, TERM then KILL after 5 s ----
SPID=""; SCHILD=""; UPID=""
stop_server() {
	local c
	stop_pid "$SPID"
	# kamailio's main process stops its children; make sure, by their PIDs
	for c in $SCHILD; do kill -0 "$c" 2>/dev/null && { sleep 0.5; kill -KILL "$c" 2>/dev/null; }; done
	SPID=""; SCHILD=""
}
cleanup() { stop_pid "$UPID"; UPID=""; stop_server; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

cfg_file() { echo "$ANCHOR/cfg/$1.cfg"; }
is_reg() { case $1 in registrar*) return 0 ;; *) return 1 ;; esac; }
step_secs() { case $1 in stateful*) echo "$STATEFUL_STEP_SECS" ;; *) echo "$STEP_SECS" ;; esac; }
time_left() { [ "$SECONDS" -lt "$TOTAL_LIMIT" ]; }

# registrar credentials: the anchor's generator (db_text subscriber + htable), written here
DATA="$ROOT/target/compare-all/data-$AUTH_USERS"
need_data() {
	[ -s "$DATA/dbtext/htable" ] || python3 "$ANCHOR/gen_users.py" "$AUTH_USERS" "$DATA" >/dev/null || exit 1
}

set_defs() { # set_defs CONFIG : DEFS = the -A defines (ports, UAS, db_text folder)
	DEFS=(-A "LISTEN=udp:127.0.0.1:$PPORT" -A "UAS=\"sip:127.0.0.1:$UPORT\"")
	if is_reg "$1"; then DEFS+=(-A "DBURL=\"text://$DATA/dbtext\""); fi
}

# check_cfg SERVER CONFIG : empty output if the server accepts the cfg, else its error
check_cfg() {
	local srv=$1 cfg out rc
	cfg=$(cfg_file "$2")
	set_defs "$2"
	[ -f "$cfg" ] || { echo "no $cfg"; return; }
	case $srv in
	ferrosip) out=$(timeout 20 "$FERROSIP" -c -n "$WORKERS" -m "$SHM" -f "$cfg" "${DEFS[@]}" 2>&1); rc=$? ;;
	kamailio) out=$(timeout 20 kamailio -c -f "$cfg" -n "$WORKERS" -m "$SHM" "${DEFS[@]}" 2>&1); rc=$? ;;
	esac
	[ "$rc" = 0 ] && return
	# the first error line (ferrosip: file:line:col: message), without the folder
	echo "$out" | grep -m1 -iE 'error|not |unknown|:[0-9]+:[0-9]+:' | sed "s#$ANCHOR/##g" | cut -c1-200
}

start_server() { # start_server SERVER CONFIG LOG
	local srv=$1 cfg
	cfg=$(cfg_file "$2")
	set_defs "$2"
	wait_free "$PPORT" || { log "port $PPORT busy"; return 1; }
	case $srv in
	ferrosip) "$FERROSIP" -n "$WORKERS" -m "$SHM" -f "$cfg" "${DEFS[@]}" >"$3" 2>&1 & ;;
	kamailio) kamailio -DD -E -f "$cfg" -n "$WORKERS" -m "$SHM" "${DEFS[@]}" >"$3" 2>&1 & ;;
	esac
	SPID=$!
	wait_up "$PPORT" || { log "$srv did not open $PPORT: $(tail -2 "$3")"; stop_server; return 1; }
	sleep 0.7 # workers finish their start-up (kamailio child_init)
	kill -0 "$SPID" 2>/dev/null || { log "$srv exited: $(tail -2 "$3")"; return 1; }
	SCHILD=$(ps -o pid= --ppid "$SPID" | tr '\n' ' ')
}

# the load: uac calls through the proxy to a bench uas, or REGISTER with digest
load_args() { # load_args CONFIG
	if is_reg "$1"; then
		echo "-sn register --users u%06d@127.0.0.1 1-$AUTH_USERS --password pw%06d"
	else
		echo "-sn uac"
	fi
}

# run_once SERVER CONFIG RATE SECS TAG -> appends one JSON line to $STEPS, returns 0 on pass
run_once() {
	local srv=$1 conf=$2 rate=$3 secs=$4 tag=$5 dir calls before after rc=0
	calls=$((rate * secs))
	dir="$OUT/$conf/$srv/r$rate-$tag"
	mkdir -p "$dir"
	start_server "$srv" "$conf" "$dir/server.log" || { echo '{"error": "server did not start"}' >"$dir/uac.json"; return 2; }
	if ! is_reg "$conf"; then
		wait_free "$UPORT"
		"$BENCH" -sn uas -i 127.0.0.1 -p "$UPORT" -n 1 --no-pin --duration $((secs * 3 + 60)) >"$dir/uas.out" 2>&1 &
		UPID=$!
		wait_up "$UPORT" || log "uas did not open $UPORT"
	fi
	# warm-up, not measured
	timeout -k 5 30 "$BENCH" $(load_args "$conf") -i 127.0.0.1 --no-pin -r 200 -m "$WARMUP_CALLS" \
		--timeout-ms "$TIMEOUT_MS" --json "$dir/warmup.json" "127.0.0.1:$PPORT" >"$dir/warmup.out" 2>&1
	before=$(cpu_ns "$SPID")
	timeout -k 5 $((secs * 3 + TIMEOUT_MS / 1000 + 30)) "$BENCH" $(load_args "$conf") -i 127.0.0.1 --no-pin \
		-r "$rate" -m "$calls" --timeout-ms "$TIMEOUT_MS" --json "$dir/uac.json" "127.0.0.1:$PPORT" >"$dir/uac.out" 2>&1
	after=$(cpu_ns "$SPID")
	kill -0 "$SPID" 2>/dev/null || log "$srv died during $conf r$rate ($(tail -2 "$dir/server.log"))"
	stop_pid "$UPID"; UPID=""
	stop_server
	python3 - "$dir/uac.json" "$srv" "$conf" "$rate" "$calls" "$tag" "$((after - before))" "$P99_MS" >>"$STEPS" <<'PY' || rc=1
import json, sys
f, srv, conf, rate, calls, tag, ns, p99max = sys.argv[1:]
rate, calls, ns, p99max = int(rate), int(calls), int(ns), float(p99max)
try:
    d = json.load(open(f))
except Exception as e:
    d = {"error": str(e)}
kind = "register" if conf.startswith("registrar") else "invite"
lat = d.get("latency_us", {}).get(kind, {})
completed, failed = d.get("completed", 0), d.get("failed", 0)
p99 = lat.get("p99")
ok = completed == calls and failed == 0 and p99 is not None and p99 <= p99max * 1000
reasons = {k: v for k, v in d.get("failed_by_reason", {}).items() if v}
print(json.dumps({"config": conf, "server": srv, "tag": tag, "rate": rate, "calls": calls,
    "completed": completed, "failed": failed, "failed_by_reason": reasons,
    "retransmissions": d.get("retransmissions"), "rate_achieved": round(d.get("rate_achieved", 0), 1),
    "p50_us": lat.get("p50"), "p99_us": p99, "cpu_ns": ns, "pass": ok}))
sys.exit(0 if ok else 1)
PY
	log "$conf $srv $tag r$rate: $(tail -1 "$STEPS")"
	return $rc
}

# search SERVER CONFIG -> S_PASS (max sustainable rate), S_FAIL (first failing), S_CAP (1 if
# MAX_RATE passed), S_CUT (1 if TOTAL_LIMIT ended the search); 0 when none
search() {
	local srv=$1 conf=$2 secs rate pass=0 fail=0 n=0 mid capped=0 cut=0
	secs=$(step_secs "$conf")
	rate=$START_RATE
	while [ "$rate" -le "$MAX_RATE" ]; do
		time_left || { cut=1; break; }
		if run_once "$srv" "$conf" "$rate" "$secs" step; then
			pass=$rate
			[ "$fail" -gt 0 ] && break
			[ "$rate" -eq "$MAX_RATE" ] && { capped=1; break; }
			rate=$((rate * 2)); [ "$rate" -gt "$MAX_RATE" ] && rate=$MAX_RATE
		else
			fail=$rate
			[ "$pass" -gt 0 ] && break
			rate=$((rate / 2)); [ "$rate" -lt "$MIN_RATE" ] && break
		fi
	done
	while [ "$n" -lt "$BISECT" ] && [ "$pass" -gt 0 ] && [ "$fail" -gt "$pass" ]; do
		time_left || { cut=1; break; }
		mid=$(((pass + fail) / 2 / 50 * 50))
		{ [ "$mid" -le "$pass" ] || [ "$mid" -ge "$fail" ]; } && break
		if run_once "$srv" "$conf" "$mid" "$secs" step; then pass=$mid; else fail=$mid; fi
		n=$((n + 1))
	done
	S_PASS=$pass; S_FAIL=$fail; S_CAP=$capped; S_CUT=$cut
}

{
	echo "date: $(date -Is)"; uname -r; nproc; grep -m1 'model name' /proc/cpuinfo
	kamailio -v 2>/dev/null | head -1; "$FERROSIP" -V; git -C "$ROOT" rev-parse --short HEAD 2>/dev/null
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "CONFIGS=$CONFIGS SERVERS=$SERVERS WORKERS=$WORKERS SHM=$SHM START_RATE=$START_RATE MAX_RATE=$MAX_RATE"
	echo "STEP_SECS=$STEP_SECS STATEFUL_STEP_SECS=$STATEFUL_STEP_SECS BISECT=$BISECT P99_MS=$P99_MS LAT_SECS=$LAT_SECS"
	echo "TIMEOUT_MS=$TIMEOUT_MS TOTAL_LIMIT=$TOTAL_LIMIT AUTH_USERS=$AUTH_USERS WARMUP_CALLS=$WARMUP_CALLS"
} >"$OUT/env.txt"
log "output in $OUT"

for conf in $CONFIGS; do
	is_reg "$conf" && need_data
	PPORT=$(free_port); UPORT=$(free_port)
	declare -A MAX=() FIRST=() CAP=() CUT=() ERR=()
	for srv in $SERVERS; do
		err=$(check_cfg "$srv" "$conf")
		if [ -n "$err" ]; then
			ERR[$srv]=$err
			log "$conf: $srv rejects the cfg: $err"
			continue
		fi
		if ! time_left; then ERR[$srv]="not measured: TOTAL_LIMIT reached"; continue; fi
		search "$srv" "$conf"
		MAX[$srv]=$S_PASS; FIRST[$srv]=$S_FAIL; CAP[$srv]=$S_CAP; CUT[$srv]=$S_CUT
		log "$conf: $srv max sustainable ${MAX[$srv]}/s (first failing ${FIRST[$srv]}, capped ${CAP[$srv]})"
	done
	# the common CPU rate: 50 % of the lower maximum
	common=0
	for srv in "${!MAX[@]}"; do
		h=$((MAX[$srv] / 2 / 50 * 50))
		[ "$h" -gt 0 ] && { [ "$common" -eq 0 ] || [ "$h" -lt "$common" ]; } && common=$h
	done
	secs=$LAT_SECS
	for srv in "${!MAX[@]}"; do
		half=$((MAX[$srv] / 2 / 50 * 50))
		if [ "$half" -gt 0 ] && time_left; then run_once "$srv" "$conf" "$half" "$secs" lat; fi
		if [ "$common" -gt 0 ] && [ "$common" -ne "$half" ] && time_left; then run_once "$srv" "$conf" "$common" "$secs" cpu; fi
	done
	for srv in $SERVERS; do
		python3 -c 'import json,sys; print(json.dumps(dict(zip(["config","server","max","first_failing","capped","cut","error","half","common"], sys.argv[1:]))))' \
			"$conf" "$srv" "${MAX[$srv]:-0}" "${FIRST[$srv]:-0}" "${CAP[$srv]:-0}" "${CUT[$srv]:-0}" "${ERR[$srv]:-}" \
			"$(( ${MAX[$srv]:-0} / 2 / 50 * 50 ))" "$common" >>"$ROWS"
	done
	unset MAX FIRST CAP CUT ERR
done

if [ -z "$(ls "$ANCHOR/cfg" | grep -iE 'dispatch|lb|balanc')" ]; then
	echo "no load-balancer (dispatcher) cfg in $ANCHOR/cfg: no row for it" >"$OUT/notes.txt"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"

python3 - "$ROWS" "$STEPS" "$OUT" "$P99_MS" "$WORKERS" "$SHM" "$MAX_RATE" <<'PY' | tee "$OUT/table.md"
import json, os, sys
rows_f, steps_f, out, p99max, workers, shm, max_rate = sys.argv[1:]
rows = [json.loads(l) for l in open(rows_f) if l.strip()]
runs = [json.loads(l) for l in open(steps_f) if l.strip()]

def run(conf, srv, tags, rate):
    """The run of conf/srv at rate, the first of tags that exists (in that order)."""
    for t in tags:
        for r in runs:
            if r["config"] == conf and r["server"] == srv and r["rate"] == rate and r["tag"] == t:
                return r
    return None

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "—"

print(f"ferrosip vs Kamailio 5.6, both `-n {workers} -m {shm}`, loopback UDP, load: ferrosip-bench "
      f"(uac → proxy → bench uas; REGISTER with digest for the registrar).")
print(f"Max = highest rate with every call completed, 0 failed and p99 ≤ {p99max} ms (steps up to {max_rate}/s); "
      "p99 = INVITE→200 (REGISTER→final 200 incl. the 401 round) at 50 % of each server's own max; "
      "CPU = server CPU-s per 1,000 calls at the same rate for both (50 % of the lower max), "
      "where the p99 of both is shown too. Ratios are ferrosip / Kamailio.")
print()
print("| config | max calls/s ferrosip | max calls/s Kamailio | ratio | p99 ms @50% ferrosip | p99 ms @50% Kamailio | ratio "
      "| CPU rate /s | CPU-s/1k ferrosip | CPU-s/1k Kamailio | ratio | p99 ms @CPU rate ferrosip / Kamailio | notes |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
confs = []
for r in rows:
    if r["config"] not in confs:
        confs.append(r["config"])
for conf in confs:
    per = {r["server"]: r for r in rows if r["config"] == conf}
    cells = {}
    notes = []
    for srv in ("ferrosip", "kamailio"):
        r = per.get(srv)
        c = {"max": None, "max_s": "—", "p99": None, "p99_s": "—", "cpu": None, "cpu_s": "—", "p99c_s": "—"}
        cells[srv] = c
        if r is None:
            continue
        if r["error"]:
            c["max_s"] = c["p99_s"] = c["cpu_s"] = c["p99c_s"] = "n/a"
            if r["error"].startswith("not measured"):
                notes.append(f"{srv}: {r['error']}")
            else:
                notes.append(f"not supported by {srv} (config error: {r['error']})")
            continue
        mx = int(r["max"])
        if r["cut"] == "1":
            notes.append(f"{srv}: search cut short by TOTAL_LIMIT")
        if mx == 0:
            c["max_s"] = "not measured" if r["cut"] == "1" else "0 (even the lowest step failed)"
            continue
        c["max"] = mx
        c["max_s"] = (">= " if r["capped"] == "1" else "") + f"{mx:,}"
        if int(r["first_failing"]):
            fr = run(conf, srv, ("step",), int(r["first_failing"]))
            why = ""
            if fr:
                why = (f"{fr['failed']} failed: " + ", ".join(f"{k} {v}" for k, v in fr["failed_by_reason"].items())) if fr["failed"] else (
                    f"p99 {fr['p99_us'] / 1000:.1f} ms" if fr["p99_us"] is not None else "no result")
                if fr["completed"] + fr["failed"] < fr["calls"] and not fr["failed"]:
                    why = f"{fr['calls'] - fr['completed']} not completed"
            notes.append(f"{srv} first failing {int(r['first_failing']):,}/s ({why})")
        lr = run(conf, srv, ("lat",), int(r["half"]))
        if lr and lr["p99_us"] is not None:
            c["p99"] = lr["p99_us"] / 1000
            c["p99_s"] = f"{c['p99']:.2f}" + ("" if lr["failed"] == 0 else f" ({lr['failed']} failed)")
        elif lr is None:
            c["p99_s"] = "not measured"
        cr = run(conf, srv, ("lat", "cpu"), int(r["common"]))
        if cr and cr["p99_us"] is not None:
            c["p99c_s"] = f"{cr['p99_us'] / 1000:.2f}"
        if cr and cr["completed"]:
            c["cpu"] = cr["cpu_ns"] / 1e9 / cr["completed"] * 1000
            c["cpu_s"] = f"{c['cpu']:.4f}"
        elif cr is None:
            c["cpu_s"] = "not measured"
    f, k = cells["ferrosip"], cells["kamailio"]
    common = next((r["common"] for r in per.values()), "0")
    print(f"| {conf} | {f['max_s']} | {k['max_s']} | {ratio(f['max'], k['max'])} | {f['p99_s']} | {k['p99_s']} "
          f"| {ratio(f['p99'], k['p99'])} | {common if common != '0' else '—'} | {f['cpu_s']} | {k['cpu_s']} "
          f"| {ratio(f['cpu'], k['cpu'])} | {f['p99c_s']} / {k['p99c_s']} | {'; '.join(notes)} |")
notes_f = os.path.join(out, "notes.txt")
if os.path.exists(notes_f):
    print()
    print(open(notes_f).read().strip())
print()
print(f"Every run: {steps_f} (one JSON line each); bench JSON and server logs under {out}/<config>/<server>/.")
PY
log "total ${SECONDS}s; table in $OUT/table.md"
