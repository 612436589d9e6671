/*
 * test_log.c - fcgi/log.c's lines: RFC 3339 time, levels, text quoting,
 * JSON escaping of hostile strings (parsed back with json-c), truncation
 * that keeps a line one line and its JSON valid; request ids; the limits
 * on the workers' stderr lines in the log.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <limits.h>
#include <json-c/json.h>

#include "log.h"
#include "request_id.h"
#include "stderr_limit.h"

/* 2026-11-30T02:19:44.123Z */
static const struct timespec when = { 1796005184, 123456789 };

static struct json_object *
parse_line(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	cr_assert_eq(line[len - 1], '\n');
	cr_assert_null(memchr(line, '\n', len - 1), "one line: %s", line);
	o = json_tokener_parse_ex(tok, line, (int)len - 1);
	cr_assert_not_null(o, "not JSON: %s", line);
	cr_assert_eq(json_tokener_get_parse_end(tok), len - 1);
	json_tokener_free(tok);
	return o;
}

static const char *
member(struct json_object *o, const char *key)
{
	struct json_object *v;

	cr_assert(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_string(v);
}

Test(log, text_line_has_rfc3339_utc_ms_level_and_fields)
{
	char buf[LOG_LINE_MAX];
	const struct log_field f[] = {
		LOG_STR("route", "/v1/workers/{id}"), LOG_INT("status", 404),
		LOG_US_AS_MS("duration_ms", 1234567), LOG_STR("reason", ""),
	};
	size_t n = log_format_line(buf, sizeof buf, LOG_TEXT, &when, LOG_WARN,
	                           "access", f, 4);

	cr_assert_str_eq(buf, "2026-11-30T02:19:44.123Z warn worker-runtime: "
	                 "access route=/v1/workers/{id} status=404 "
	                 "duration_ms=1234.567 reason=\"\"\n");
	cr_assert_eq(n, strlen(buf));
}

/* Numbers are written in full: milliseconds keep three decimals (zeros
 * too), signed values their sign, the extremes every digit. */
Test(log, numbers_keep_their_sign_zeros_and_every_digit)
{
	char buf[LOG_LINE_MAX];
	const struct log_field f[] = {
		LOG_US_AS_MS("a", 5), LOG_US_AS_MS("b", 1000),
		LOG_US_AS_MS("c", 0), LOG_INT("d", -7), LOG_INT("e", 0),
		LOG_INT("f", LLONG_MIN), LOG_UINT("g", ULLONG_MAX),
	};

	log_format_line(buf, sizeof buf, LOG_TEXT, &when, LOG_INFO, "n", f, 7);
	cr_assert_str_eq(buf, "2026-11-30T02:19:44.123Z info worker-runtime: "
	                 "n a=0.005 b=1.000 c=0.000 d=-7 e=0 "
	                 "f=-9223372036854775808 g=18446744073709551615\n");
}

Test(log, text_values_with_blanks_quotes_or_control_bytes_are_quoted)
{
	char buf[LOG_LINE_MAX];
	const struct log_field f[] = {
		LOG_STR("a", "x y"), LOG_STR("b", "q\"\\"),
		LOG_STR("c", "l1\nfake=1"), LOG_STR("d", "caf\xc3\xa9"),
	};

	log_format_line(buf, sizeof buf, LOG_TEXT, &when, LOG_ERROR,
	                "m\nsg\x1b", f, 4);
	cr_assert_str_eq(buf, "2026-11-30T02:19:44.123Z error worker-runtime: "
	                 "m?sg? a=\"x y\" b=\"q\\\"\\\\\" "
	                 "c=\"l1\\x0afake=1\" d=\"caf\\xc3\\xa9\"\n");
}

Test(log, json_line_escapes_hostile_strings_and_stays_valid)
{
	static const char hostile[] =
		"\"}\n{\"level\":\"error\"\\\x01\x7f\t\xff\xc0\xaf\xed\xa0\x80"
		"caf\xc3\xa9 \xf0\x9f\x98\x80";
	char buf[LOG_LINE_MAX];
	const struct log_field f[] = {
		LOG_STR("worker_id", hostile), LOG_UINT("pid", 42),
		LOG_STR("null", NULL),
	};
	size_t n = log_format_line(buf, sizeof buf, LOG_JSON, &when, LOG_INFO,
	                           hostile, f, 3);
	struct json_object *o = parse_line(buf, n);
	const char *want = "\"}\n{\"level\":\"error\"\\\x01\x7f\t"
	                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                   "caf\xc3\xa9 \xf0\x9f\x98\x80";

	cr_assert_str_eq(member(o, "ts"), "2026-11-30T02:19:44.123Z");
	cr_assert_str_eq(member(o, "level"), "info");
	cr_assert_str_eq(member(o, "msg"), want);
	cr_assert_str_eq(member(o, "worker_id"), want);
	cr_assert_str_eq(member(o, "pid"), "42");
	cr_assert_str_eq(member(o, "null"), "");
	cr_assert_eq(json_object_object_length(o), 6);
	json_object_put(o);
}

Test(log, overlong_lines_are_cut_and_stay_one_valid_line)
{
	static char big[3 * LOG_LINE_MAX];
	char buf[LOG_LINE_MAX];
	const struct log_field f[] = {
		LOG_STR("a", big), LOG_UINT("b", 1), LOG_STR("c", "x"),
	};
	size_t n;

	memset(big, '"', sizeof big - 1);
	for (enum log_format fmt = LOG_TEXT; fmt <= LOG_JSON; fmt++) {
		n = log_format_line(buf, sizeof buf, fmt, &when, LOG_INFO,
		                    "m", f, 3);
		cr_assert_leq(n, sizeof buf - 1);
		cr_assert_eq(buf[n - 1], '\n');
		cr_assert_null(memchr(buf, '\n', n - 1));
		if (fmt == LOG_JSON)
			json_object_put(parse_line(buf, n));
	}
	/* A message as long as the line: the JSON keeps "msg" whole. */
	n = log_format_line(buf, sizeof buf, LOG_JSON, &when, LOG_INFO, big,
	                    NULL, 0);
	json_object_put(parse_line(buf, n));
}

/* log_access's line as written to fd 2 (a temporary file here). */
static void
access_line(char *buf, size_t size, unsigned long long bytes_sent, bool cut)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	cr_assert_not_null(f);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(fileno(f), 2), 0);
	log_access("GET", "/v1/runtime", 200, "", 1500, bytes_sent, cut,
	           "rid-1");
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* The access line names the bytes of the answer written; an answer cut
 * short (the peer closed or stopped reading) makes it a warning, with
 * the status the request was answered with. */
Test(log, an_access_line_is_a_warning_when_its_answer_was_cut_short)
{
	char buf[LOG_LINE_MAX];

	log_configure(LOG_TEXT, true);
	access_line(buf, sizeof buf, 345, false);
	cr_assert(strstr(buf, " info worker-runtime: access method=GET "
	                 "route=/v1/runtime status=200 reason=\"\" "
	                 "duration_ms=1.500 bytes_sent=345 "
	                 "request_id=rid-1\n") != NULL, "%s", buf);
	access_line(buf, sizeof buf, 0, true);
	cr_assert(strstr(buf, " warn worker-runtime: access method=GET "
	                 "route=/v1/runtime status=200 reason=\"\" "
	                 "duration_ms=1.500 bytes_sent=0 "
	                 "request_id=rid-1\n") != NULL, "%s", buf);
}

Test(log, level_names)
{
	cr_assert_str_eq(log_level_name(LOG_ERROR), "error");
	cr_assert_str_eq(log_level_name(LOG_WARN), "warn");
	cr_assert_str_eq(log_level_name(LOG_INFO), "info");
	cr_assert_str_eq(log_level_name(LOG_DEBUG), "debug");
}

Test(request_id, valid_is_1_to_64_of_the_token_alphabet)
{
	char id65[66];

	cr_assert(request_id_valid("a"));
	cr_assert(request_id_valid("AZaz09._-"));
	memset(id65, 'x', 65);
	id65[65] = '\0';
	cr_assert_not(request_id_valid(id65));
	id65[64] = '\0';
	cr_assert(request_id_valid(id65));
	cr_assert_not(request_id_valid(NULL));
	cr_assert_not(request_id_valid(""));
	cr_assert_not(request_id_valid("a b"));
	cr_assert_not(request_id_valid("a/b"));
	cr_assert_not(request_id_valid("a\nb"));
}

Test(request_id, generated_ids_are_32_hex_and_distinct)
{
	char a[REQUEST_ID_SIZE], b[REQUEST_ID_SIZE];
	const char *x = request_id_or_new("bad id", a);
	const char *y = request_id_or_new(NULL, b);

	cr_assert_eq(x, a);
	cr_assert_eq(y, b);
	cr_assert_eq(strlen(a), 32);
	cr_assert_eq(strspn(a, "0123456789abcdef"), 32);
	cr_assert_str_neq(a, b);
	cr_assert_str_eq(request_id_or_new("keep-me", a), "keep-me");
}

/* n lines of worker_id at second now; returns how many were admitted.
 * A report handed back must be empty (no new second). */
static unsigned
stderr_lines(struct stderr_limit *l, const char *worker_id, time_t now,
             unsigned n)
{
	struct stderr_drop d[STDERR_DROPS_MAX];
	size_t nd;
	unsigned i, admitted = 0;

	for (i = 0; i < n; i++) {
		admitted += stderr_limit_admit(l, worker_id, now, d, &nd);
		cr_assert(i == 0 || nd == 0);
	}
	return admitted;
}

Test(stderr_limit, one_flooding_worker_does_not_hide_another_workers_lines)
{
	static struct stderr_limit l;
	struct stderr_drop d[STDERR_DROPS_MAX];
	size_t n;

	cr_assert_eq(stderr_lines(&l, "flood", 7, 1000),
	             STDERR_LINES_PER_WORKER);
	cr_assert_eq(stderr_lines(&l, "quiet", 7, 3), 3,
	             "another worker's lines are logged during the flood");
	n = stderr_limit_take(&l, d);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(d[0].worker_id, "flood");
	cr_assert_eq(d[0].lines, 1000 - STDERR_LINES_PER_WORKER);
	cr_assert_eq(stderr_limit_take(&l, d), 0, "reported once");
	cr_assert_eq(stderr_lines(&l, "flood", 7, 1), 0,
	             "a take keeps the second's counts");
}

Test(stderr_limit, all_workers_together_are_bounded_and_a_new_second_reports)
{
	static struct stderr_limit l;
	struct stderr_drop d[STDERR_DROPS_MAX];
	char id[16];
	unsigned admitted = 0, i;
	size_t n;

	/* 40 workers of 5 lines: 16 counted one by one (80 lines), the
	 * rest together (20 more logged, 100 not) */
	for (i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "w%u", i);
		admitted += stderr_lines(&l, id, 9, 5);
	}
	cr_assert_eq(admitted, STDERR_LINES_PER_SEC);
	cr_assert(stderr_limit_admit(&l, "w0", 10, d, &n),
	          "a new second logs again");
	cr_assert_eq(n, 1, "only the workers past the slots dropped lines");
	cr_assert_str_eq(d[0].worker_id, "");
	cr_assert_eq(d[0].lines, 200 - STDERR_LINES_PER_SEC);
	cr_assert_eq(stderr_lines(&l, "w1", 10, STDERR_LINES_PER_WORKER + 5),
	             STDERR_LINES_PER_WORKER);
	cr_assert_eq(stderr_limit_take(&l, d), 1);
	cr_assert_str_eq(d[0].worker_id, "w1");
	cr_assert_eq(d[0].lines, 5);
}

Test(stderr_limit, the_report_line_states_both_limits)
{
	cr_assert_str_eq(STDERR_LIMIT_TEXT, "more than 20 a second from one "
	                 "worker or 100 from all");
}
