/*
 * codec/codec.c - what the JSON encoder and decoder share: the wire names of
 * the enums and the RFC 3339 timestamps of DESIGN section 3.
 *
 * Timestamps are always UTC with exactly three fraction digits
 * ("2026-11-24T10:21:56.123Z"); the parser accepts that one form only, so a
 * decoded text re-encodes byte for byte.  No libc time functions are used:
 * gmtime/timegm depend on TZ handling and time_t range, the arithmetic
 * below depends on nothing.  Everything here is reentrant.
 */
#include "config.h"

#include "codec/codec.h"

#include <string.h>

/* ---- wire names ----------------------------------------------------- */

#define NAME_AT(tab, i) \
	((i) >= 0 && (size_t)(i) < sizeof(tab) / sizeof((tab)[0]) ? (tab)[i] : NULL)

const char *
wr__intent_kind_name(int kind)
{
	static const char *const names[] = {
		[WR_INTENT_ASSISTANT] = "assistant",
		[WR_INTENT_TASK] = "task",
		[WR_INTENT_ROLE] = "role",
	};
	return NAME_AT(names, kind);
}

const char *
wr__profile_kind_name(int kind)
{
	static const char *const names[] = {
		[WR_PROFILE_RUNTIME_DEFAULT] = "runtime_default",
		[WR_PROFILE_BUILTIN] = "builtin",
		[WR_PROFILE_NAMED] = "named",
	};
	return NAME_AT(names, kind);
}

const char *
wr__input_kind_name(int kind)
{
	static const char *const names[] = {
		[WR_INPUT_USER] = "user",
		[WR_INPUT_SYSTEM] = "system",
	};
	return NAME_AT(names, kind);
}

const char *
wr__backend_name(int b)
{
	static const char *const names[] = { "memory", "fs_store" };
	return NAME_AT(names, b);
}

/* The public name functions take enums; an int outside the enumerators is
 * still a valid argument (they return NULL for it). */
const char *
wr__status_name(int s)
{
	return wr_worker_status_name((enum wr_worker_status)s);
}

const char *
wr__run_state_name(int s)
{
	return wr_run_state_name((enum wr_run_state)s);
}

const char *
wr__role_name(int r)
{
	return wr_role_name((enum wr_role)r);
}

const char *
wr__runtime_status_name(int s)
{
	return wr_runtime_status_name((enum wr_runtime_status)s);
}

/* ---- time ----------------------------------------------------------- */

#define MS_PER_DAY INT64_C(86400000)

/*
 * Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.  The
 * year is counted from March so that the leap day is the last day of a
 * "year"; 400-year eras of 146097 days make the rest plain division.
 * Only used for years 0..9999, so every intermediate value is small.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	if (m <= 2)
		y--;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                        /* 0..399 */
	int64_t mp = m > 2 ? m - 3 : m + 9;                 /* Mar = 0 */
	int64_t doy = (153 * mp + 2) / 5 + d - 1;           /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
	return era * 146097 + doe - 719468; /* 719468: 0000-03-01 .. 1970 */
}

/* The inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the range four
 * year digits can show. */
#define TIME_MIN_MS (INT64_C(-719528) * MS_PER_DAY)
#define TIME_MAX_MS (INT64_C(2932897) * MS_PER_DAY - 1)
_Static_assert(TIME_MAX_MS == WR__TIME_MAX_MS, "restore bounds stored times "
               "by what the API prints");

static char *
put_digits(char *p, int64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

/*
 * Writes exactly 24 characters plus NUL.  Values outside years 0000..9999
 * are clamped to that range rather than overflowing the buffer; the
 * Runtime only ever formats its own clock.
 */
void
wr_time_format(int64_t ms, char buf[static 25])
{
	if (ms < TIME_MIN_MS)
		ms = TIME_MIN_MS;
	if (ms > TIME_MAX_MS)
		ms = TIME_MAX_MS;
	/* Floor division: ms is negative before 1970. */
	int64_t days = ms / MS_PER_DAY;
	int64_t rem = ms % MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);

	char *p = buf;
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, rem / 3600000, 2);
	*p++ = ':';
	p = put_digits(p, rem / 60000 % 60, 2);
	*p++ = ':';
	p = put_digits(p, rem / 1000 % 60, 2);
	*p++ = '.';
	p = put_digits(p, rem % 1000, 3);
	*p++ = 'Z';
	*p = '\0';
}

/* Reads n decimal digits at s; false if any is not a digit. */
static bool
get_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int
days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30,
		                    31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

/*
 * Accepts exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" (what wr_time_format writes):
 * upper-case T and Z, three fraction digits, no offset, no leap second.
 * A stricter grammar than RFC 3339 on purpose: one spelling per instant.
 * *ms is written only on success.
 */
bool
wr_time_parse(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac;

	if (s == NULL || ms == NULL || strnlen(s, 25) != 24)
		return false;
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[23] != 'Z')
		return false;
	if (!get_digits(s, 4, &y) || !get_digits(s + 5, 2, &mo) ||
	    !get_digits(s + 8, 2, &d) || !get_digits(s + 11, 2, &h) ||
	    !get_digits(s + 14, 2, &mi) || !get_digits(s + 17, 2, &sec) ||
	    !get_digits(s + 20, 3, &frac))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 59)
		return false;

	*ms = days_from_civil(y, mo, d) * MS_PER_DAY +
	      (int64_t)h * 3600000 + (int64_t)mi * 60000 +
	      (int64_t)sec * 1000 + frac;
	return true;
}
