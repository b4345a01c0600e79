// SPDX-License-Identifier: GPL-2.0
/*
 * ferrosip call steering: a BPF_PROG_TYPE_SK_REUSEPORT program that sends every UDP
 * datagram of a SIP call to the worker socket owning its Call-ID.
 *
 * It finds the Call-ID header (`Call-ID` in any letter case or the compact `i`, at a line
 * start, optional SP/HTAB before the colon) in the first WINDOW bytes of the UDP payload,
 * takes the value (leading SP/HTAB skipped, stopped at CR/LF, trailing SP/HTAB trimmed),
 * hashes it with FNV-1a 32 (finished with murmur3's fmix32) and selects slot ((u64)hash * N) >> 32 of `socks`, N being
 * cfg[0]. Must stay identical to `call_id_hash`/`owner_of` in transports/src/steer.rs.
 *
 * Without a Call-ID (keep-alives, garbage, header beyond the window or after the end of the
 * headers, empty value, absurd spacing beyond the scan bounds), with N == 0, or when the
 * selection fails (empty slot), it returns SK_PASS without selecting and the kernel falls
 * back to its 4-tuple hash; the receiving worker then hands the message to its owner.
 *
 * Cost: the payload's first WINDOW bytes are copied into a per-CPU scratch map value
 * (bpf_skb_load_bytes works on non-linear skbs too); the headers are then walked line by
 * line with 8-byte loads (SWAR newline search, 16 bytes per step within a line); only lines
 * starting with c/C/i/I/CR/LF get the full name check; the value is hashed byte by byte.
 *
 * Written for the verifier, loaded by a tiny loader with no BTF:
 *  - no BPF-to-BPF calls: every helper is static __always_inline;
 *  - maps are plain `struct ferrosip_map_def` records in section "maps";
 *  - loops are bounded; tests are computed arithmetically (hidden from clang's pattern
 *    matching by an empty asm, so that they do not become branches) and selections multiply
 *    by a 0/1 bit (masking with -bit makes the verifier fork), so each iteration has few
 *    branches, the verifier walks it about once, and its stack of pending branches stays
 *    well below its 8192 limit;
 *  - each scan hands its result to the next through the per-CPU scratch map (volatile), so
 *    all exits of one loop reach the next with the same verifier state and are pruned;
 *  - 64-bit lengths and indices, masked with WINDOW - 1 at every access.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define WINDOW 2048u /* bytes of UDP payload examined; a power of two */
#define UDP_HDR_LEN 8
#define MAX_SLOTS 256

#define FNV_BASIS 2166136261ull
#define FNV_PRIME 16777619ull

/* "call-id" as a little-endian load of 7 bytes; 'i'. */
#define NAME_LONG 0x0064692d6c6c6163ull
#define NAME_SHORT 0x69ull

#define ONES 0x0101010101010101ull
#define LOW7 0x7f7f7f7f7f7f7f7full
#define BIT6 0x4040404040404040ull

/* Bounds of the scans, all large enough for any sane message (else: no selection). */
#define MAX_STEPS 1024 /* line-scan steps: one per newline or per 16 bytes without one */
#define MAX_GAP 64     /* SP/HTAB around the colon */
#define MAX_TRIM 64    /* trailing SP/HTAB of the value */

/* Map definitions read by ferrosip's loader (not libbpf's BTF-defined maps). */
struct ferrosip_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

struct scratch {
	__u64 pos;   /* hand-over between the scans (see the top comment) */
	__u64 end;   /* end of the Call-ID value */
	__u8 buf[WINDOW + 8]; /* + 8: room for an 8-byte load at any index below WINDOW */
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

/* 0x80 in each byte of v that is zero, 0 elsewhere (exact, no false positives). */
static __always_inline __u64 zero_bytes(__u64 v)
{
	__u64 t = (v & LOW7) + LOW7;
	return ~(t | v | LOW7);
}

/* 1 when c (a byte value) is ':', SP or HTAB. */
static __always_inline __u64 is_delim(__u64 c)
{
	return is_zero(c ^ ':') | is_ws(c);
}

/* An 8-byte little-endian load at any index below WINDOW. */
static __always_inline __u64 load8(struct scratch *s, __u64 at)
{
	return *(__u64 *)(s->buf + (at & (WINDOW - 1)));
}

/* Index in 0..7 of the lowest flagged byte of a zero_bytes() result m != 0. */
static __always_inline __u64 first_flag(__u64 m)
{
	__u64 low = m & (0 - m);
	return opaque((low >> 7) * 0x0001020304050607ull) >> 56;
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
	 * with n == WINDOW and one with n unknown, and it would walk the scans twice.
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
	 * Scan 1, line by line: p is the scan position, ls whether p starts a line. The common
	 * step is cheap: p moves past the first LF among the 8 bytes at p, or by 8 when there is
	 * none. Only at a line start whose first byte could begin "call-id", "i" or a blank line
	 * are the 8 bytes checked in full: "call-id" or "i" (any case) followed by ':', SP or
	 * HTAB is the Call-ID header; CRLF or LF ends the headers. Bytes past n are stale, but a
	 * match there leaves the value past n, which scan 2 rejects.
	 */
	*(volatile __u64 *)&s->pos = 0;
	__u64 p = 0, ls = 0;
	for (__u64 step = 0; step < MAX_STEPS; step++) {
		if (p >= n)
			break;
		__u64 y = load8(s, p);
		if (ls) {
			/* lower-cased first byte: 'c', 'i', or CR/LF seen as '-'/'*' */
			__u64 b0 = (y & 0xff) | 0x20;
			__u64 maybe = is_zero(b0 ^ 'c') | is_zero(b0 ^ 'i') | is_zero(b0 ^ ('\r' | 0x20)) |
				      is_zero(b0 ^ ('\n' | 0x20));
			if (maybe) {
				__u64 lc = y | ((y & BIT6) >> 1);
				__u64 is_long = is_zero((lc & 0x00ffffffffffffffull) ^ NAME_LONG) &
						is_delim(y >> 56);
				__u64 is_short =
					is_zero((lc & 0xff) ^ NAME_SHORT) & is_delim((y >> 8) & 0xff);
				__u64 hit = is_long | is_short;
				__u64 blank =
					is_zero((y & 0xff) ^ '\n') | is_zero((y & 0xffff) ^ 0x0a0d);
				if (hit | blank) {
					/* pos = index after the name, or 0: not found. */
					*(volatile __u64 *)&s->pos = (p + 1 + 6 * is_long) * hit;
					break;
				}
			}
		}
		/* Advance past the first LF in the next 16 bytes, or by 16. */
		__u64 nl = zero_bytes(y ^ (ONES * '\n'));
		__u64 nl2 = zero_bytes(load8(s, p + 8) ^ (ONES * '\n'));
		__u64 in1 = is_zero(nl) ^ 1;
		ls = in1 | (is_zero(nl2) ^ 1);
		__u64 adv2 = sel(ls, 9 + first_flag(nl2), 16);
		p += sel(in1, first_flag(nl) + 1, adv2);
	}

	__u64 pos = *(volatile __u64 *)&s->pos;
	if (pos == 0 || pos >= n)
		return SK_PASS;

	/* Scan 2a: SP/HTAB, one colon, SP/HTAB. Anything else before the colon: no Call-ID. */
	*(volatile __u64 *)&s->pos = 0;
	__u64 colon = 0;
	for (__u64 k = 0; k < MAX_GAP; k++) {
		__u64 j = pos + k;
		__u64 c = s->buf[j & (WINDOW - 1)];
		__u64 is_colon = is_zero(c ^ ':');
		__u64 skip = is_ws(c) | (is_colon & (colon ^ 1));
		__u64 past = is_below(n, j + 1);
		if (past | (skip ^ 1)) {
			/* value start, or 0 when the colon is missing or the value is empty */
			*(volatile __u64 *)&s->pos = j * (colon & (past ^ 1));
			break;
		}
		colon |= is_colon;
	}
	__u64 start = *(volatile __u64 *)&s->pos;
	if (start == 0 || start >= n)
		return SK_PASS;

	/* Scan 2b: the end of the line, 8 bytes at a time. */
	*(volatile __u64 *)&s->end = 0;
	for (__u64 k = 0; k < WINDOW / 8 + 1; k++) {
		__u64 at = start + 8 * k;
		__u64 y = load8(s, at);
		__u64 eol = zero_bytes(y ^ (ONES * '\n')) | zero_bytes(y ^ (ONES * '\r'));
		__u64 found = is_zero(eol) ^ 1;
		__u64 past = is_below(n, at + 8);
		if (found | past) {
			__u64 e = at + first_flag(eol) + 8 * (found ^ 1);
			/* min(e, n) */
			*(volatile __u64 *)&s->end = sel(is_below(n, e), n, e);
			break;
		}
	}
	__u64 end = *(volatile __u64 *)&s->end;
	if (end <= start || end > n)
		return SK_PASS;

	/* Scan 2c: trim trailing SP/HTAB (the value has a non-blank first byte). */
	*(volatile __u64 *)&s->end = 0;
	for (__u64 k = 0; k < MAX_TRIM; k++) {
		__u64 e = end - k;
		__u64 c = s->buf[(e - 1) & (WINDOW - 1)];
		if ((is_ws(c) ^ 1) | is_zero(e - start)) {
			*(volatile __u64 *)&s->end = e;
			break;
		}
	}
	end = *(volatile __u64 *)&s->end;
	if (end <= start || end > n)
		return SK_PASS;

	/* Scan 2d: FNV-1a over [start, end). */
	__u64 h = FNV_BASIS;
	for (__u64 k = 0; k < WINDOW; k++) {
		__u64 j = start + k;
		if (j >= end)
			break;
		h = ((h ^ s->buf[j & (WINDOW - 1)]) * FNV_PRIME) & 0xffffffffull;
	}

	/* murmur3 fmix32: FNV-1a's top bits barely change between Call-IDs that differ only in
	 * a counter prefix (SIPp's "N-pid@ip"), and the owner is taken from the top bits. */
	h ^= h >> 16;
	h = (h * 0x85ebca6bull) & 0xffffffffull;
	h ^= h >> 13;
	h = (h * 0xc2b2ae35ull) & 0xffffffffull;
	h ^= h >> 16;

	__u32 key = (__u32)((h * nworkers) >> 32);
	if (bpf_sk_select_reuseport(ctx, &socks, &key, 0) < 0)
		return SK_PASS;
	return SK_PASS;
}

char _license[] SEC("license") = "GPL";
