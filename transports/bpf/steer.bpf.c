// SPDX-License-Identifier: GPL-2.0
/*
 * ferrosip call steering: a BPF_PROG_TYPE_SK_REUSEPORT program that sends every UDP
 * datagram of a SIP call to the worker socket owning its Call-ID.
 *
 * It finds the Call-ID header (`Call-ID` in any letter case or the compact `i`, at a line
 * start, optional SP/HTAB before the colon) in the first WINDOW bytes of the UDP payload,
 * takes the value (leading SP/HTAB skipped, stopped at CR/LF, trailing SP/HTAB trimmed),
 * hashes it with FNV-1a 32 and selects slot ((u64)hash * N) >> 32 of `socks`, N being
 * cfg[0]. Must stay identical to `call_id_hash`/`owner_of` in transports/src/steer.rs.
 *
 * Without a Call-ID (keep-alives, garbage, header beyond the window or after the end of the
 * headers), with N == 0, or when the selection fails (empty slot), it returns SK_PASS
 * without selecting and the kernel falls back to its 4-tuple hash.
 *
 * Written for the verifier, loaded by a tiny loader with no BTF:
 *  - no BPF-to-BPF calls: every helper is static __always_inline;
 *  - maps are plain `struct ferrosip_map_def` records in section "maps";
 *  - both scans are byte-at-a-time bounded loops whose bodies have no data-dependent
 *    branch except the one that leaves the loop (the tests are computed arithmetically,
 *    hidden from clang's pattern matching by an empty asm), so the verifier walks each
 *    iteration once and its stack of pending branches stays small;
 *  - the position found by the first scan goes through the per-CPU scratch map (volatile),
 *    so all exits of the first loop reach the second with the same verifier state.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define WINDOW 2048u /* bytes of UDP payload examined; a power of two */
#define UDP_HDR_LEN 8
#define MAX_SLOTS 256

#define FNV_BASIS 2166136261ull
#define FNV_PRIME 16777619ull

/* "\ncall-id" with the newest byte lowest, and "\ni": the header names before the colon. */
#define NAME_LONG 0x0a63616c6c2d6964ull
#define NAME_SHORT 0x0a69ull

/* Map definitions read by ferrosip's loader (not libbpf's BTF-defined maps). */
struct ferrosip_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

struct scratch {
	__u64 pos; /* index just after the Call-ID colon, 0 when none was found */
	__u8 buf[WINDOW];
};

/* Worker sockets, slot i = worker i. */
struct ferrosip_map_def socks SEC("maps") = {
	.type = BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = MAX_SLOTS,
};

/* cfg[0]: number of workers N. */
struct ferrosip_map_def cfg SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 1,
};

/* Per-CPU copy of the payload's first WINDOW bytes. */
struct ferrosip_map_def scratch SEC("maps") = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct scratch),
	.max_entries = 1,
};

/* Hides a value from clang so that it cannot turn arithmetic back into compare+branch. */
static __always_inline __u64 opaque(__u64 x)
{
	asm volatile("" : "+r"(x));
	return x;
}

/*
 * The 0/1 tests below are arithmetic, and their results are hidden from clang, so that
 * they stay arithmetic. Selections multiply by such a bit instead of masking with -bit:
 * the verifier forks its state on AND/OR of a register in [-1, 0] with a constant.
 */

/* 1 when x == 0, else 0. */
static __always_inline __u64 is_zero(__u64 x)
{
	__u64 nz = opaque(x | (0 - x));
	return opaque((nz >> 63) ^ 1);
}

/* 1 when a < b (both below 2^63), else 0. */
static __always_inline __u64 is_below(__u64 a, __u64 b)
{
	return opaque(opaque(a - b) >> 63);
}

/* bit ? x : y, for bit in {0, 1}. */
static __always_inline __u64 sel(__u64 bit, __u64 x, __u64 y)
{
	return y + (x - y) * bit;
}

static __always_inline __u64 is_ws(__u64 c)
{
	return is_zero(c ^ ' ') | is_zero(c ^ '\t');
}

SEC("sk_reuseport")
int ferrosip_steer(struct sk_reuseport_md *ctx)
{
	__u32 zero = 0;
	__u64 len = ctx->len;
	__u64 n;

	if (len <= UDP_HDR_LEN)
		return SK_PASS;
	/*
	 * n = min(len - 8, WINDOW) without a branch: a branch would leave the verifier one path
	 * with n == WINDOW and one with n unknown, and it would walk both scans twice.
	 */
	n = len - UDP_HDR_LEN;
	n = opaque(sel(is_below(WINDOW, n), WINDOW, n));
	if (n == 0 || n > WINDOW)
		return SK_PASS;

	__u32 *workers = bpf_map_lookup_elem(&cfg, &zero);
	if (!workers)
		return SK_PASS;
	__u64 nworkers = *workers;
	if (nworkers == 0 || nworkers > MAX_SLOTS)
		return SK_PASS;

	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return SK_PASS;
	if (bpf_skb_load_bytes(ctx, UDP_HDR_LEN, s->buf, n) < 0)
		return SK_PASS;

	/*
	 * Scan 1: w holds the last 8 bytes, letters lowered, SP/HTAB dropped; a run of SP/HTAB
	 * followed by anything but a colon leaves one SP in w, so "Call-ID :" matches while
	 * "Call ID:" or a folded " i:" does not. At a colon, w == "\ncall-id" or ends in "\ni"
	 * marks the Call-ID header. A blank line ends the headers: stop there.
	 */
	*(volatile __u64 *)&s->pos = 0;
	__u64 w = 0, prev_ws = 0;
	for (__u64 i = 0; i < WINDOW; i++) {
		__u64 c = s->buf[i];
		__u64 ws = is_ws(c);
		__u64 colon = is_zero(c ^ ':');
		__u64 hit = colon & (is_zero(w ^ NAME_LONG) | is_zero((w & 0xffff) ^ NAME_SHORT));
		__u64 eoh = is_zero(c ^ '\n') &
			    (is_zero((w & 0xffff) ^ 0x0a0d) | is_zero((w & 0xff) ^ 0x0a));
		__u64 past = is_below(n, i + 1);
		if (hit | eoh | past) {
			*(volatile __u64 *)&s->pos = (i + 1) * (hit & (past ^ 1));
			break;
		}
		__u64 ins = prev_ws & (colon ^ 1) & (ws ^ 1);
		w = (w << (ins << 3)) | (ins << 5);
		__u64 lc = c | ((c & 0x40) >> 1);
		w = sel(ws, w, (w << 8) | lc);
		prev_ws = ws;
	}

	__u64 pos = *(volatile __u64 *)&s->pos;
	if (pos == 0 || pos >= n)
		return SK_PASS;

	/*
	 * Scan 2: the value. run is the hash over everything from the first non-blank byte,
	 * h the hash as of the last non-blank byte (trailing SP/HTAB trimmed).
	 */
	__u64 run = FNV_BASIS, h = FNV_BASIS, started = 0;
	for (__u64 k = 0; k < WINDOW; k++) {
		__u64 j = pos + k;
		__u64 c = s->buf[j & (WINDOW - 1)];
		__u64 stop = is_below(n, j + 1) | is_zero(c ^ '\r') | is_zero(c ^ '\n');
		if (stop)
			break;
		__u64 blank = is_ws(c);
		started |= blank ^ 1;
		__u64 next = ((run ^ c) * FNV_PRIME) & 0xffffffffull;
		run = sel(started, next, run);
		h = sel(started & (blank ^ 1), run, h);
	}
	if (!started)
		return SK_PASS;

	__u32 key = (__u32)((h * nworkers) >> 32);
	if (bpf_sk_select_reuseport(ctx, &socks, &key, 0) < 0)
		return SK_PASS;
	return SK_PASS;
}

char _license[] SEC("license") = "GPL";
