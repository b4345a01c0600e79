#!/usr/bin/env bash
# Runs every test of the workspace, after installing what the tests need on a fresh Debian
# machine: SIPp (sip-tester) and Kamailio for the end-to-end tests, clang and libbpf headers
# for the eBPF steering program that `cargo build` compiles.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
command -v clang >/dev/null 2>&1 || need+=(clang llvm)
[ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
[ -e /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
if [ "${#need[@]}" -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	echo "installing: ${need[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Release build: the end-to-end tests push 1,000 calls/s through the proxy.
cargo test --release --workspace
