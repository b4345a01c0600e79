# Shell helpers shared by the side-by-side scripts (proxy-cpu.sh, compare-all.sh); sourced.

# stop_pid PID: stops a process this script started (TERM, then KILL after 5 s) and reaps it.
stop_pid() {
	local p=$1 i
	[ -z "$p" ] && return 0
	kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

# cpu_ns PID: CPU nanoseconds of a process and its direct children, all threads (schedstat:
# nanosecond resolution).
cpu_ns() {
	local p=$1 all c
	all="$p $(ps -o pid= --ppid "$p" 2>/dev/null | tr '\n' ' ')"
	for c in $all; do cat /proc/"$c"/task/*/schedstat 2>/dev/null; done | awk '{s+=$1} END{printf "%d\n", s}'
}
