/*
 * test_route.c - route_decode: methods x paths x queries, table-driven.
 *
 * Each table row is one request line and the exact result: the op, id and
 * query values on success, or the code, reason, field and Allow value on
 * failure.  Every row is checked (cr_expect), so one failing row names
 * itself without hiding the others.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "route.h"

struct ok_case {
	const char *method, *uri;
	enum route_op op;
	const char *id; /* "" for non-worker routes */
	bool has_start, has_limit;
	uint64_t start;
	uint32_t limit;
};

struct err_case {
	const char *method, *uri;
	wr_err code;
	const char *reason; /* "" when none */
	const char *field;  /* "" when none */
	const char *allow;  /* NULL unless 405 */
};

static void
check_ok(const struct ok_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct route_cmd cmd;
		struct route_error rerr;
		wr_err rc;

		memset(&cmd, 0xa5, sizeof(cmd));
		rc = route_decode(c[i].method, c[i].uri, &cmd, &rerr);
		cr_expect_eq(rc, WR_OK, "%s %s: rc %d (%s: %s)", c[i].method,
		             c[i].uri, rc, wr_reason_name(rerr.err.reason), rerr.err.message);
		if (rc != WR_OK)
			continue;
		cr_expect_eq(cmd.op, c[i].op, "%s %s: op %d", c[i].method,
		             c[i].uri, cmd.op);
		cr_expect_str_eq(cmd.worker_id, c[i].id, "%s %s: id '%s'",
		                 c[i].method, c[i].uri, cmd.worker_id);
		cr_expect_eq(cmd.has_start, c[i].has_start, "%s %s: has_start",
		             c[i].method, c[i].uri);
		cr_expect_eq(cmd.has_limit, c[i].has_limit, "%s %s: has_limit",
		             c[i].method, c[i].uri);
		if (c[i].has_start)
			cr_expect_eq(cmd.start, c[i].start, "%s %s: start %llu",
			             c[i].method, c[i].uri,
			             (unsigned long long)cmd.start);
		if (c[i].has_limit)
			cr_expect_eq(cmd.limit, c[i].limit, "%s %s: limit %u",
			             c[i].method, c[i].uri, cmd.limit);
	}
}

static void
check_err(const struct err_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct route_cmd cmd, before;
		struct route_error rerr;
		const char *m = c[i].method ? c[i].method : "(null)";
		const char *u = c[i].uri ? c[i].uri : "(null)";
		wr_err rc;

		memset(&cmd, 0x5a, sizeof(cmd));
		before = cmd;
		memset(&rerr, 0x33, sizeof(rerr));
		rc = route_decode(c[i].method, c[i].uri, &cmd, &rerr);
		cr_expect_eq(rc, c[i].code, "%s %s: rc %d, want %d", m, u, rc,
		             c[i].code);
		cr_expect_eq(rerr.err.code, c[i].code, "%s %s: err.code", m, u);
		cr_expect_str_eq(wr_reason_name(rerr.err.reason), c[i].reason,
		                 "%s %s: reason '%s'", m, u, wr_reason_name(rerr.err.reason));
		cr_expect_str_eq(rerr.err.field, c[i].field,
		                 "%s %s: field '%s'", m, u, rerr.err.field);
		cr_expect_str_eq(rerr.err.worker_id, "", "%s %s: worker_id",
		                 m, u);
		cr_expect_neq(rerr.err.message[0], '\0', "%s %s: no message",
		              m, u);
		if (c[i].allow == NULL)
			cr_expect_null(rerr.allow, "%s %s: allow set", m, u);
		else
			cr_expect_str_eq(rerr.allow ? rerr.allow : "(null)",
			                 c[i].allow, "%s %s: allow", m, u);
		cr_expect_eq(memcmp(&cmd, &before, sizeof(cmd)), 0,
		             "%s %s: *out changed on failure", m, u);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define ID64 "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
#define ID65 ID64 "x"

Test(route, every_endpoint_decodes_to_its_op)
{
	static const struct ok_case c[] = {
		{"GET", "/v1/runtime", ROUTE_RUNTIME_GET, "", false, false, 0, 0},
		{"GET", "/v1/workers", ROUTE_WORKERS_LIST, "", false, false, 0, 0},
		{"POST", "/v1/workers", ROUTE_WORKER_CREATE, "", false, false, 0, 0},
		{"GET", "/v1/workers/w-1", ROUTE_WORKER_GET, "w-1", false, false, 0, 0},
		{"DELETE", "/v1/workers/w-1", ROUTE_WORKER_DELETE, "w-1", false, false, 0, 0},
		{"POST", "/v1/workers/w-1/input", ROUTE_WORKER_INPUT, "w-1", false, false, 0, 0},
		{"POST", "/v1/workers/w-1/stop", ROUTE_WORKER_STOP, "w-1", false, false, 0, 0},
		{"POST", "/v1/workers/w-1/cancel", ROUTE_WORKER_CANCEL, "w-1", false, false, 0, 0},
		{"GET", "/v1/workers/w-1/transcript", ROUTE_WORKER_TRANSCRIPT,
		 "w-1", false, false, 0, 0},
		{"GET", "/v1/workers/A.b_c-9", ROUTE_WORKER_GET, "A.b_c-9", false, false, 0, 0},
		{"GET", "/v1/workers/" ID64, ROUTE_WORKER_GET, ID64, false, false, 0, 0},
		/* An empty query is no query. */
		{"GET", "/v1/runtime?", ROUTE_RUNTIME_GET, "", false, false, 0, 0},
		{"POST", "/v1/workers?", ROUTE_WORKER_CREATE, "", false, false, 0, 0},
		{"POST", "/v1/workers/w/stop?", ROUTE_WORKER_STOP, "w", false, false, 0, 0},
	};

	check_ok(c, N(c));
}

Test(route, worker_id_is_percent_decoded)
{
	static const struct ok_case c[] = {
		{"GET", "/v1/workers/%77%31", ROUTE_WORKER_GET, "w1", false, false, 0, 0},
		{"GET", "/v1/workers/a%2eb", ROUTE_WORKER_GET, "a.b", false, false, 0, 0},
		{"GET", "/v1/workers/a%2Db/transcript", ROUTE_WORKER_TRANSCRIPT,
		 "a-b", false, false, 0, 0},
		{"POST", "/v1/workers/%5F/input", ROUTE_WORKER_INPUT, "_", false, false, 0, 0},
	};

	check_ok(c, N(c));
}

Test(route, worker_id_of_64_escapes_is_accepted_and_65_refused)
{
	/* 64 and 65 "%61" escapes: the length limit is on the decoded id. */
	char uri[512], id[WR_ID_MAX + 1];
	struct route_cmd cmd;
	struct route_error rerr;
	size_t off;

	off = (size_t)snprintf(uri, sizeof(uri), "/v1/workers/");
	for (int i = 0; i < WR_ID_MAX; i++)
		off += (size_t)snprintf(uri + off, sizeof(uri) - off, "%%61");
	memset(id, 'a', WR_ID_MAX);
	id[WR_ID_MAX] = '\0';
	cr_assert_eq(route_decode("GET", uri, &cmd, &rerr), WR_OK);
	cr_assert_str_eq(cmd.worker_id, id);

	snprintf(uri + off, sizeof(uri) - off, "%%61");
	cr_assert_eq(route_decode("GET", uri, &cmd, &rerr), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(rerr.err.reason), "invalid_worker_id");
	cr_assert_str_eq(rerr.err.field, "worker_id");
}

Test(route, transcript_query_values)
{
	static const struct ok_case c[] = {
		{"GET", "/v1/workers/w/transcript?start=5&limit=10",
		 ROUTE_WORKER_TRANSCRIPT, "w", true, true, 5, 10},
		{"GET", "/v1/workers/w/transcript?limit=10&start=5",
		 ROUTE_WORKER_TRANSCRIPT, "w", true, true, 5, 10},
		{"GET", "/v1/workers/w/transcript?start=0",
		 ROUTE_WORKER_TRANSCRIPT, "w", true, false, 0, 0},
		{"GET", "/v1/workers/w/transcript?limit=0",
		 ROUTE_WORKER_TRANSCRIPT, "w", false, true, 0, 0},
		{"GET", "/v1/workers/w/transcript?start=007",
		 ROUTE_WORKER_TRANSCRIPT, "w", true, false, 7, 0},
		{"GET", "/v1/workers/w/transcript?",
		 ROUTE_WORKER_TRANSCRIPT, "w", false, false, 0, 0},
		{"GET", "/v1/workers/w/transcript?start=18446744073709551615",
		 ROUTE_WORKER_TRANSCRIPT, "w", true, false, UINT64_MAX, 0},
		{"GET", "/v1/workers/w/transcript?limit=4294967295",
		 ROUTE_WORKER_TRANSCRIPT, "w", false, true, 0, UINT32_MAX},
	};

	check_ok(c, N(c));
}

Test(route, list_query_takes_limit_after_and_status)
{
	struct route_cmd cmd;
	struct route_error rerr;

	cr_assert_eq(route_decode("GET", "/v1/workers?limit=1000&after=w-0"
	                          "0000000000002a-0123abcd&status=cancelled",
	                          &cmd, &rerr), WR_OK, "%s", rerr.err.message);
	cr_assert_eq(cmd.op, ROUTE_WORKERS_LIST);
	cr_assert(cmd.has_limit && cmd.has_after && cmd.has_status);
	cr_assert_eq(cmd.limit, 1000);
	cr_assert_str_eq(cmd.after, "w-00000000000002a-0123abcd");
	cr_assert_eq(cmd.status, WR_STATUS_CANCELLED);
	cr_assert_eq(route_decode("GET", "/v1/workers?status=running", &cmd,
	                          &rerr), WR_OK);
	cr_assert(!cmd.has_limit && !cmd.has_after && cmd.has_status);
	cr_assert_eq(cmd.status, WR_STATUS_RUNNING);
}

Test(route, wrong_method_on_known_path_is_405_with_allow)
{
	static const struct err_case c[] = {
		{"HEAD", "/v1/runtime", WR_EUNSUPPORTED, "method_not_allowed",
		 "", "GET"},
		{"POST", "/v1/runtime", WR_EUNSUPPORTED, "method_not_allowed",
		 "", "GET"},
		{"get", "/v1/runtime", WR_EUNSUPPORTED, "method_not_allowed",
		 "", "GET"},
		{"", "/v1/runtime", WR_EUNSUPPORTED, "method_not_allowed", "",
		 "GET"},
		{NULL, "/v1/runtime", WR_EUNSUPPORTED, "method_not_allowed", "",
		 "GET"},
		{"PUT", "/v1/workers", WR_EUNSUPPORTED, "method_not_allowed",
		 "", "GET, POST"},
		{"HEAD", "/v1/workers", WR_EUNSUPPORTED, "method_not_allowed",
		 "", "GET, POST"},
		{"PUT", "/v1/workers/w1", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET, DELETE"},
		{"POST", "/v1/workers/w1", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET, DELETE"},
		{"DELETE", "/v1/workers", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET, POST"},
		{"DELETE", "/v1/workers/w1/transcript", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET"},
		{"GET", "/v1/workers/w1/input", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "POST"},
		{"GET", "/v1/workers/w1/stop", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "POST"},
		{"PUT", "/v1/workers/w1/cancel", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "POST"},
		{"POST", "/v1/workers/w1/transcript", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET"},
		{"HEAD", "/v1/workers/w1/transcript", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET"},
		/* The method is checked before the id and the query. */
		{"PATCH", "/v1/workers/bad%2Fid", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET, DELETE"},
		{"POST", "/v1/workers/w1/transcript?start=x", WR_EUNSUPPORTED,
		 "method_not_allowed", "", "GET"},
	};

	check_err(c, N(c));
}

Test(route, unknown_or_unnormalized_paths_are_not_found)
{
	static const struct err_case c[] = {
		{"GET", "/", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v2/runtime", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/V1/runtime", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/Runtime", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/runtimes", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/runtime/x", WR_ENOT_FOUND, "", "", NULL},
		{"DELETE", "/nope", WR_ENOT_FOUND, "", "", NULL},
		/* trailing slashes */
		{"GET", "/v1/runtime/", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers/", WR_ENOT_FOUND, "", "", NULL},
		{"POST", "/v1/workers/", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers/w1/", WR_ENOT_FOUND, "", "", NULL},
		{"POST", "/v1/workers/w1/input/", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/runtime/?", WR_ENOT_FOUND, "", "", NULL},
		/* double slashes and empty ids */
		{"GET", "//v1/runtime", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1//runtime", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers//transcript", WR_ENOT_FOUND, "", "", NULL},
		{"POST", "/v1/workers//input", WR_ENOT_FOUND, "", "", NULL},
		{"POST", "/v1/workers/w1//input", WR_ENOT_FOUND, "", "", NULL},
		/* dot segments are not normalized */
		{"GET", "/v1/./runtime", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers/.", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers/..", WR_ENOT_FOUND, "", "", NULL},
		{"POST", "/v1/workers/./input", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers/../runtime", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers/w1/../../runtime", WR_ENOT_FOUND, "", "",
		 NULL},
		/* literal segments are never percent-decoded */
		{"GET", "/v1/%77orkers", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/%761/runtime", WR_ENOT_FOUND, "", "", NULL},
		{"POST", "/v1/workers/w1/%69nput", WR_ENOT_FOUND, "", "", NULL},
		/* unknown actions and extra segments */
		{"POST", "/v1/workers/w1/pause", WR_ENOT_FOUND, "", "", NULL},
		{"POST", "/v1/workers/w1/input/x", WR_ENOT_FOUND, "", "", NULL},
		{"GET", "/v1/workers/w1/transcript/1", WR_ENOT_FOUND, "", "",
		 NULL},
	};

	check_err(c, N(c));
}

Test(route, malformed_uris_are_invalid_path)
{
	static const struct err_case c[] = {
		{"GET", NULL, WR_EINVALID_INPUT, "invalid_path", "", NULL},
		{"GET", "", WR_EINVALID_INPUT, "invalid_path", "", NULL},
		{"GET", "v1/runtime", WR_EINVALID_INPUT, "invalid_path", "",
		 NULL},
		{"GET", "*", WR_EINVALID_INPUT, "invalid_path", "", NULL},
		{"GET", "http://127.0.0.1/v1/runtime", WR_EINVALID_INPUT,
		 "invalid_path", "", NULL},
		{"GET", "?start=1", WR_EINVALID_INPUT, "invalid_path", "", NULL},
		/* malformed escapes, also in literal segments */
		{"GET", "/v1/workers/w%zz", WR_EINVALID_INPUT, "invalid_path",
		 "", NULL},
		{"GET", "/v1/workers/w%2", WR_EINVALID_INPUT, "invalid_path", "",
		 NULL},
		{"GET", "/v1/workers/w%", WR_EINVALID_INPUT, "invalid_path", "",
		 NULL},
		{"GET", "/v1/workers/w%/transcript", WR_EINVALID_INPUT,
		 "invalid_path", "", NULL},
		{"GET", "/v1/workers/w%2?x", WR_EINVALID_INPUT, "invalid_path",
		 "", NULL},
		{"GET", "/v1/%zzworkers", WR_EINVALID_INPUT, "invalid_path", "",
		 NULL},
		/* control bytes anywhere, query included */
		{"GET", "/v1/run\ttime", WR_EINVALID_INPUT, "invalid_path", "",
		 NULL},
		{"GET", "/v1/runtime\x7f", WR_EINVALID_INPUT, "invalid_path",
		 "", NULL},
		{"GET", "/v1/workers/w1\r\n", WR_EINVALID_INPUT, "invalid_path",
		 "", NULL},
		{"GET", "/v1/workers/w\x01/transcript", WR_EINVALID_INPUT,
		 "invalid_path", "", NULL},
		{"GET", "/v1/runtime?\x1b", WR_EINVALID_INPUT, "invalid_path",
		 "", NULL},
		/* checked before the route: no 404 or 405 hides them */
		{"DELETE", "/nope\n", WR_EINVALID_INPUT, "invalid_path", "",
		 NULL},
	};

	check_err(c, N(c));
}

Test(route, bad_worker_ids_are_invalid_worker_id)
{
	static const struct err_case c[] = {
		{"GET", "/v1/workers/a%2Fb", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"POST", "/v1/workers/a%2fb/input", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/%2e%2e", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/.hidden", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/a%00b", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/%00", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/a b", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/%20", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/a:b", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/a+b", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/caf\xc3\xa9", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/caf%C3%A9", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"GET", "/v1/workers/" ID65, WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		{"POST", "/v1/workers/" ID65 "/stop", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
		/* the id is checked before the query */
		{"GET", "/v1/workers/a%2Fb/transcript?foo=1", WR_EINVALID_INPUT,
		 "invalid_worker_id", "worker_id", NULL},
	};

	check_err(c, N(c));
}

Test(route, bad_queries_name_the_parameter)
{
#define T "/v1/workers/w/transcript"
	static const struct err_case c[] = {
		{"GET", T "?start=-1", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start=+1", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start=%201", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start=%31", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start=1.0", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start=1e3", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start=", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start", WR_EINVALID_INPUT, "invalid_query", "start",
		 NULL},
		{"GET", T "?start=1=2", WR_EINVALID_INPUT, "invalid_query",
		 "start", NULL},
		{"GET", T "?start=18446744073709551616", WR_EINVALID_INPUT,
		 "invalid_query", "start", NULL},
		{"GET", T "?start=99999999999999999999999", WR_EINVALID_INPUT,
		 "invalid_query", "start", NULL},
		{"GET", T "?limit=4294967296", WR_EINVALID_INPUT,
		 "invalid_query", "limit", NULL},
		{"GET", T "?limit=0x10", WR_EINVALID_INPUT, "invalid_query",
		 "limit", NULL},
		{"GET", T "?limit=-0", WR_EINVALID_INPUT, "invalid_query",
		 "limit", NULL},
		{"GET", T "?start=1&start=2", WR_EINVALID_INPUT,
		 "invalid_query", "start", NULL},
		{"GET", T "?limit=1&start=0&limit=1", WR_EINVALID_INPUT,
		 "invalid_query", "limit", NULL},
		{"GET", T "?start=1&", WR_EINVALID_INPUT, "invalid_query", "",
		 NULL},
		{"GET", T "?&start=1", WR_EINVALID_INPUT, "invalid_query", "",
		 NULL},
		{"GET", T "?&", WR_EINVALID_INPUT, "invalid_query", "", NULL},
		{"GET", T "?=1", WR_EINVALID_INPUT, "invalid_query", "", NULL},
		{"GET", T "?foo=1", WR_EINVALID_INPUT, "unknown_parameter",
		 "foo", NULL},
		{"GET", T "?START=1", WR_EINVALID_INPUT, "unknown_parameter",
		 "START", NULL},
		{"GET", T "?start=1&foo", WR_EINVALID_INPUT,
		 "unknown_parameter", "foo", NULL},
		{"GET", T "?st%61rt=1", WR_EINVALID_INPUT, "unknown_parameter",
		 "st%61rt", NULL},
		{"GET", T "?caf\xc3\xa9=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "caf??", NULL},
		/* only the transcript takes parameters */
		{"GET", "/v1/runtime?start=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "start", NULL},
		{"GET", "/v1/workers?start=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "start", NULL},
		{"DELETE", "/v1/workers/w?after=w", WR_EINVALID_INPUT,
		 "unknown_parameter", "after", NULL},
		/* the list's own: limit, after, status */
		{"GET", "/v1/workers?status=paused", WR_EINVALID_INPUT,
		 "invalid_query", "status", NULL},
		{"GET", "/v1/workers?status=", WR_EINVALID_INPUT,
		 "invalid_query", "status", NULL},
		{"GET", "/v1/workers?status=Running", WR_EINVALID_INPUT,
		 "invalid_query", "status", NULL},
		{"GET", "/v1/workers?after=.x", WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", "/v1/workers?after=w%2D1", WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", "/v1/workers?after", WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", "/v1/workers?after=", WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", "/v1/workers?after=" ID65, WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", "/v1/workers?after=a&after=b", WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", "/v1/workers?limit=x", WR_EINVALID_INPUT,
		 "invalid_query", "limit", NULL},
		{"POST", "/v1/workers?x", WR_EINVALID_INPUT,
		 "unknown_parameter", "x", NULL},
		{"GET", "/v1/workers/w?start=0", WR_EINVALID_INPUT,
		 "unknown_parameter", "start", NULL},
		{"POST", "/v1/workers/w/input?a=b", WR_EINVALID_INPUT,
		 "unknown_parameter", "a", NULL},
		{"POST", "/v1/workers/w/stop?force=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "force", NULL},
		{"POST", "/v1/workers/w/cancel?limit=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "limit", NULL},
	};
#undef T

	check_err(c, N(c));
}

Test(route, uri_length_limit_is_4096_bytes)
{
	static const char head[] = "/v1/workers/w/transcript?start=";
	char uri[ROUTE_URI_MAX + 2];
	struct route_cmd cmd;
	struct route_error rerr;

	/* Exactly ROUTE_URI_MAX bytes: accepted (start=000...07). */
	memcpy(uri, head, sizeof(head) - 1);
	memset(uri + sizeof(head) - 1, '0', ROUTE_URI_MAX - (sizeof(head) - 1));
	uri[ROUTE_URI_MAX - 1] = '7';
	uri[ROUTE_URI_MAX] = '\0';
	cr_assert_eq(route_decode("GET", uri, &cmd, &rerr), WR_OK,
	             "%s", rerr.err.message);
	cr_assert_eq(cmd.start, 7);

	/* One more byte: uri_too_long, before anything else is looked at. */
	uri[ROUTE_URI_MAX] = '7';
	uri[ROUTE_URI_MAX + 1] = '\0';
	cr_assert_eq(route_decode("PUT", uri, &cmd, &rerr), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(rerr.err.reason), "uri_too_long");
	cr_assert_null(rerr.allow);
}

Test(route, null_error_pointer_is_accepted)
{
	struct route_cmd cmd;

	cr_assert_eq(route_decode("GET", "/nope", &cmd, NULL), WR_ENOT_FOUND);
	cr_assert_eq(route_decode("GET", "/v1/workers/a%2Fb", &cmd, NULL),
	             WR_EINVALID_INPUT);
	cr_assert_eq(route_decode("GET", "/v1/runtime", &cmd, NULL), WR_OK);
	cr_assert_eq(cmd.op, ROUTE_RUNTIME_GET);
}

Test(route, transcript_takes_after_and_wait_and_worker_get_wait_and_after_event)
{
	struct route_cmd cmd;

	cr_assert_eq(route_decode("GET", "/v1/workers/w/transcript?after=7"
	                          "&wait=25000&limit=3", &cmd, NULL), WR_OK);
	cr_assert(cmd.has_after_seq && cmd.has_wait && cmd.has_limit);
	cr_assert(!cmd.has_start);
	cr_assert_eq(cmd.after_seq, 7);
	cr_assert_eq(cmd.wait_ms, 25000);
	cr_assert_eq(route_decode("GET", "/v1/workers/w/transcript?wait=0",
	                          &cmd, NULL), WR_OK);
	cr_assert(cmd.has_wait && cmd.wait_ms == 0 && !cmd.has_after_seq);
	cr_assert_eq(route_decode("GET", "/v1/workers/w?wait=100"
	                          "&after_event=18446744073709551615", &cmd,
	                          NULL), WR_OK);
	cr_assert_eq(cmd.op, ROUTE_WORKER_GET);
	cr_assert(cmd.has_wait && cmd.has_after_event);
	cr_assert_eq(cmd.wait_ms, 100);
	cr_assert_eq(cmd.after_event, UINT64_MAX);
	/* after_event alone is answered at once: no wait */
	cr_assert_eq(route_decode("GET", "/v1/workers/w?after_event=3", &cmd,
	                          NULL), WR_OK);
	cr_assert(!cmd.has_wait && cmd.has_after_event);
}

Test(route, bad_long_poll_queries_name_the_parameter)
{
#define T "/v1/workers/w/transcript"
	static const struct err_case c[] = {
		{"GET", T "?after=1&start=1", WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", T "?start=0&after=0", WR_EINVALID_INPUT,
		 "invalid_query", "after", NULL},
		{"GET", T "?wait=25001", WR_EINVALID_INPUT, "limit_too_large",
		 "wait", NULL},
		{"GET", T "?wait=99999999999999999999", WR_EINVALID_INPUT,
		 "invalid_query", "wait", NULL},
		{"GET", T "?wait=-1", WR_EINVALID_INPUT, "invalid_query",
		 "wait", NULL},
		{"GET", T "?wait=1&wait=1", WR_EINVALID_INPUT, "invalid_query",
		 "wait", NULL},
		{"GET", T "?after=w-1", WR_EINVALID_INPUT, "invalid_query",
		 "after", NULL},
		{"GET", T "?after=", WR_EINVALID_INPUT, "invalid_query",
		 "after", NULL},
		{"GET", T "?after_event=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "after_event", NULL},
		{"GET", "/v1/workers/w?wait=10", WR_EINVALID_INPUT,
		 "invalid_query", "after_event", NULL},
		{"GET", "/v1/workers/w?wait=25001&after_event=1",
		 WR_EINVALID_INPUT, "limit_too_large", "wait", NULL},
		{"GET", "/v1/workers/w?wait=1&after_event=+1",
		 WR_EINVALID_INPUT, "invalid_query", "after_event", NULL},
		{"GET", "/v1/workers?wait=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "wait", NULL},
		{"DELETE", "/v1/workers/w?wait=1&after_event=1",
		 WR_EINVALID_INPUT, "unknown_parameter", "wait", NULL},
		{"GET", "/v1/runtime?wait=1", WR_EINVALID_INPUT,
		 "unknown_parameter", "wait", NULL},
	};
	check_err(c, N(c));
#undef T
}
