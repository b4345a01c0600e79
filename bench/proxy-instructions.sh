#!/usr/bin/env bash
# User-space instructions per call of a ferrosip binary under SIPp's stateless load, counted by
# callgrind: load-independent, so it can compare two binaries on a busy machine where
# CPU-seconds (proxy-cpu.sh) move by 10% from run to run. Kernel time is not counted.
#   bench/proxy-instructions.sh [BINARY...]     # default: target/release/ferrosip
#   CFG=... RATE=60 SHORT=400 LONG=1200 bench/proxy-instructions.sh /tmp/a /tmp/b
# Each binary runs twice (SHORT and LONG calls, -n 1, under valgrind); the difference of the
# two totals divided by LONG - SHORT is its cost per call without start-up. Only loopback is
# used, on free ports; every process is started here and stopped by PID; sipp is bounded by -m
# and timeout(1).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/.." && pwd)
CFG=${CFG:-$ROOT/../shared/bench-anchor/cfg/stateless.cfg}
RATE=${RATE:-60}      # calls/s: slow enough for a proxy under valgrind
SHORT=${SHORT:-400}
LONG=${LONG:-1200}
WORK=${WORK:-$(mktemp -d /tmp/proxy-instr.XXXXXX)}
[ $# -gt 0 ] || set -- "$ROOT/target/release/ferrosip"
for t in valgrind sipp python3; do
	command -v "$t" >/dev/null || { echo "$t is required" >&2; exit 1; }
done
free_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; PIDS=(); }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# total BINARY CALLS TAG -> prints the instructions callgrind counted for the whole run
total() {
	local bin=$1 calls=$2 dir="$WORK/$3" p u c fp up ok
	mkdir -p "$dir"
	p=$(free_port); u=$(free_port); c=$(free_port)
	valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" -n 1 -m 256 -f "$CFG" \
		-A "LISTEN=udp:127.0.0.1:$p" -A "UAS=\"sip:127.0.0.1:$u\"" >"$dir/proxy.log" 2>&1 &
	fp=$!; PIDS+=("$fp")
	sleep 4 # start-up under valgrind
	(cd "$dir" && exec sipp -sn uas -i 127.0.0.1 -p "$u" -bind_local -nostdin >uas.out 2>&1) &
	up=$!; PIDS+=("$up")
	sleep 0.5
	(cd "$dir" && timeout $((calls / RATE + 60)) sipp -sn uac -i 127.0.0.1 -p "$c" -bind_local -nostdin \
		-r "$RATE" -m "$calls" -timeout $((calls / RATE + 40))s -default_behaviors all,-abortunexp \
		"127.0.0.1:$p" >uac.out 2>&1)
	ok=$(grep -E "Successful call" "$dir/uac.out" | awk '{print $NF}')
	stop_pid "$up"; stop_pid "$fp"; PIDS=()
	[ "$ok" = "$calls" ] || { echo "only ${ok:-0} of $calls calls completed ($dir)" >&2; return 1; }
	awk '/^summary:/ {print $2}' "$dir/cg.out"
}

for bin in "$@"; do
	tag=$(basename "$bin")-$$
	a=$(total "$bin" "$SHORT" "$tag-short") || exit 1
	b=$(total "$bin" "$LONG" "$tag-long") || exit 1
	echo "$bin: $(( (b - a) / (LONG - SHORT) )) user-space instructions per call (work dir $WORK)"
done
