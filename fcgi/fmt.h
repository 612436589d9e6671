/*
 * fcgi/fmt.h - numbers as text without printf, for what every request
 * writes: its answer's head, its access-log line and, when the peer sent
 * none, its request id.  snprintf's format parsing for those was about 5%
 * of the responder's CPU per request (perf, POST .../input at 64
 * connections).  Header only; pure functions, thread-safe.
 */
#ifndef WR_FCGI_FMT_H
#define WR_FCGI_FMT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_U64_MAX 20 /* the digits of UINT64_MAX */

/* Writes v in decimal at p (room for FMT_U64_MAX bytes; no NUL) and
 * returns how many digits it wrote (1..20). */
static inline size_t fmt_u64(char *p, uint64_t v)
{
	char rev[FMT_U64_MAX];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		p[i] = rev[n - 1 - i];
	return n;
}

/* Writes v as exactly 16 lower-case hex digits at p (no NUL). */
static inline void fmt_hex64(char *p, uint64_t v)
{
	for (int i = 15; i >= 0; i--) {
		p[i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	}
}

#endif /* WR_FCGI_FMT_H */
