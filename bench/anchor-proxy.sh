#!/usr/bin/env bash
# ferrosip under ../shared/bench-anchor/run.sh, with the cfg and defines Kamailio gets there:
#   PROXY_CMD="$PWD/bench/anchor-proxy.sh" ../shared/bench-anchor/run.sh stateless stateful
# run.sh exports BENCH_SCEN (cfg name), PROXY_PORT, UAS_PORT and SHM (MB) to PROXY_CMD.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/bench-anchor}
CFG=$ANCHOR/cfg/${BENCH_SCEN%_m2g}.cfg
exec "${FERROSIP:-$ROOT/target/release/ferrosip}" -n "${WORKERS:-2}" -m "$SHM" -f "$CFG" \
	-A "LISTEN=udp:127.0.0.1:$PROXY_PORT" -A "UAS=\"sip:127.0.0.1:$UAS_PORT\""
