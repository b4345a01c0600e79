#!/usr/bin/env bash
# Side-by-side CPU cost of relaying calls, measured in one run on this machine:
#   ferrosip  -n $WORKERS -m 256 -f ../shared/bench-anchor/cfg/$MODE.cfg    (WORKERS=2)
#   kamailio  -n $WORKERS -m 256 -f the same cfg
#   nullfwd   (the I/O floor: a blocking recvfrom/sendto relay that does not parse)
# MODE=stateless (default): sipp -sn uac -> proxy (forward) -> sipp -sn uas.
# MODE=stateful: record-route + t_relay; SIPp runs engine/tests/scen/uac_rr.xml and
# uas_rr.xml, whose ACK and BYE follow the Record-Route set through the proxy.
# Each gets the same SIPp load (CALLS calls at RATE/s), and the script prints each one's
# CPU-seconds per 1,000 calls and the ratios. As in bench-anchor/run.sh, a 180 relayed after
# its 200 (two parallel Kamailio workers reorder them) does not abort the call
# (-default_behaviors all,-abortunexp).
#
#   bench/proxy-cpu.sh                              # MODE=stateless RATE=1000 CALLS=10000
#   MODE=stateful RATE=1000 CALLS=10000 ROUNDS=3 bench/proxy-cpu.sh
#
# Only loopback is used; every process is started here and stopped by PID; every load is
# bounded by sipp -m, -timeout and timeout(1).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/bench-anchor}
MODE=${MODE:-stateless}
CFG=${CFG:-$ANCHOR/cfg/$MODE.cfg}
case $MODE in
stateless) UAC_SCEN=(-sn uac); UAS_SCEN=(-sn uas) ;;
stateful) UAC_SCEN=(-sf "$ROOT/engine/tests/scen/uac_rr.xml"); UAS_SCEN=(-sf "$ROOT/engine/tests/scen/uas_rr.xml") ;;
*) echo "MODE must be stateless or stateful" >&2; exit 2 ;;
esac
RATE=${RATE:-1000}
CALLS=${CALLS:-10000}
ROUNDS=${ROUNDS:-1}
TARGETS=${TARGETS:-"nullfwd ferrosip kamailio"}
WORKERS=${WORKERS:-2}                # -n for ferrosip and kamailio
WORK=${WORK:-$(mktemp -d /tmp/ferrosip-bench.XXXXXX)}
FERROSIP=${FERROSIP:-$ROOT/target/release/ferrosip}
NULLFWD=${NULLFWD:-$ROOT/target/nullfwd/release/nullfwd}

for t in sipp kamailio python3; do
	command -v "$t" >/dev/null || { echo "$t is required (see README: the test command installs it)"; exit 1; }
done
[ -x "$FERROSIP" ] || (cd "$ROOT" && cargo build --release -p ferrosip) || exit 1
if [ ! -x "$NULLFWD" ]; then
	# build a copy: the anchor folder is read-only
	rm -rf "$ROOT/target/nullfwd-src" && mkdir -p "$ROOT/target" && cp -r "$ANCHOR/nullfwd" "$ROOT/target/nullfwd-src"
	cargo build --release --manifest-path "$ROOT/target/nullfwd-src/Cargo.toml" --target-dir "$ROOT/target/nullfwd" || exit 1
fi

free_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PPORT=$(free_port); UPORT=$(free_port); CPORT=$(free_port)

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; PIDS=(); }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

wait_port() { local i; for i in $(seq 100); do ss -Hlun "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }

run_target() { # run_target NAME -> prints CPU-s per 1000 calls and failed calls
	local name=$1 dir pid upid before after fails
	dir="$WORK/$name"
	mkdir -p "$dir"
	case $name in
	ferrosip) "$FERROSIP" -n "$WORKERS" -m 256 -f "$CFG" -A "LISTEN=udp:127.0.0.1:$PPORT" -A "UAS=\"sip:127.0.0.1:$UPORT\"" >"$dir/proxy.log" 2>&1 & ;;
	kamailio) kamailio -DD -E -f "$CFG" -n "$WORKERS" -m 256 -A "LISTEN=udp:127.0.0.1:$PPORT" -A "UAS=\"sip:127.0.0.1:$UPORT\"" >"$dir/proxy.log" 2>&1 & ;;
	nullfwd) "$NULLFWD" "127.0.0.1:$PPORT" "127.0.0.1:$UPORT" --std >"$dir/proxy.log" 2>&1 & ;;
	esac
	pid=$!; PIDS+=("$pid")
	wait_port "$PPORT" || { echo "$name did not start: $(tail -3 "$dir/proxy.log")" >&2; return 1; }
	sleep 0.7
	(cd "$dir" && exec sipp "${UAS_SCEN[@]}" -i 127.0.0.1 -p "$UPORT" -bind_local -nostdin -buff_size 4194304 -timeout $((CALLS / RATE + 60))s >uas.out 2>&1) &
	upid=$!; PIDS+=("$upid")
	wait_port "$UPORT"
	# warm-up, not measured
	(cd "$dir" && timeout 30 sipp "${UAC_SCEN[@]}" -default_behaviors all,-abortunexp -i 127.0.0.1 -p "$CPORT" -bind_local -nostdin -r 200 -m 200 -timeout 20s "127.0.0.1:$PPORT" >warm.out 2>&1)
	before=$(cpu_ns "$pid")
	(cd "$dir" && timeout $((CALLS / RATE + 60)) sipp "${UAC_SCEN[@]}" -i 127.0.0.1 -p "$CPORT" -bind_local -nostdin \
		-buff_size 4194304 -default_behaviors all,-abortunexp -r "$RATE" -m "$CALLS" -timeout $((CALLS / RATE + 40))s -recv_timeout 8000 \
		-trace_stat -stf stat.csv -fd 1 "127.0.0.1:$PPORT" >uac.out 2>&1)
	after=$(cpu_ns "$pid")
	stop_pid "$upid"; stop_pid "$pid"; PIDS=()
	fails=$(python3 - "$dir/stat.csv" <<'PY'
import sys
rows=[l.rstrip('\n').split(';') for l in open(sys.argv[1]) if l.strip()]
h=rows[0]; last=rows[-1]
print(last[h.index('FailedCall(C)')], last[h.index('SuccessfulCall(C)')])
PY
)
	echo "$name $((after - before)) $fails"
}

echo "$MODE relay, $CALLS calls at $RATE/s, $ROUNDS round(s); cfg $CFG; work dir $WORK"
RES="$WORK/results.txt"; : >"$RES"
for r in $(seq "$ROUNDS"); do
	for t in $TARGETS; do
		line=$(run_target "$t") || exit 1
		echo "round $r: $line" | tee -a "$RES"
	done
done
python3 - "$RES" "$CALLS" <<'PY'
import sys, statistics
calls = int(sys.argv[2]); per = {}
for l in open(sys.argv[1]):
    _, _, name, ns, failed, ok = l.split()
    per.setdefault(name, []).append((int(ns) / 1e9 / calls * 1000, int(failed), int(ok)))
print()
print("| target | CPU-s per 1,000 calls (median) | failed calls | successful calls |")
print("|---|---|---|---|")
med = {}
for n, v in per.items():
    med[n] = statistics.median(x[0] for x in v)
    print(f"| {n} | {med[n]:.4f} | {sum(x[1] for x in v)} | {sum(x[2] for x in v)} |")
if "ferrosip" in med:
    print()
    if "kamailio" in med:
        print(f"ferrosip / kamailio = {med['ferrosip'] / med['kamailio']:.3f}  (target <= 0.333)")
    if "nullfwd" in med:
        print(f"ferrosip / nullfwd (blocking floor) = {med['ferrosip'] / med['nullfwd']:.3f}  (target <= 1.3)")
PY
