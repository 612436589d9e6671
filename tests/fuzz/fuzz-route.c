/*
 * fuzz-route.c - route_decode (fcgi/route.c) on arbitrary request lines.
 *
 * Input: "METHOD\nURI" (no '\n': method GET, the whole input is the URI).
 * Checks the contract of route.h: a refusal has one of the documented codes
 * and leaves *out untouched, allow is set exactly for 405; an accepted
 * request carries a valid worker id where the route has one, and its
 * canonical form (id percent-encoded byte by byte, start and limit
 * re-printed) decodes to the same command.
 */
#include "config.h"

#include <inttypes.h>

#include "fuzz.h"
#include "route.h"

static const char *const route_path[] = {
	[ROUTE_RUNTIME_GET] = "/v1/runtime",
	[ROUTE_WORKERS_LIST] = "/v1/workers",
	[ROUTE_WORKER_CREATE] = "/v1/workers",
	[ROUTE_WORKER_GET] = "",
	[ROUTE_WORKER_INPUT] = "/input",
	[ROUTE_WORKER_STOP] = "/stop",
	[ROUTE_WORKER_CANCEL] = "/cancel",
	[ROUTE_WORKER_TRANSCRIPT] = "/transcript",
	[ROUTE_WORKER_DELETE] = "",
	[ROUTE_HEALTH] = "/v1/health",
	[ROUTE_METRICS] = "/v1/metrics",
	[ROUTE_DIAGNOSTICS] = "/v1/runtime/diagnostics",
	[ROUTE_ERRORS] = "/v1/errors",
};

/* The routes without a worker id in the path. */
static bool
route_has_id(enum route_op op)
{
	return op >= ROUTE_WORKER_GET && op <= ROUTE_WORKER_DELETE;
}

/* Writes cmd's canonical request URI into buf (big enough). */
static void
canonical_uri(const struct route_cmd *cmd, char *buf, size_t size)
{
	size_t n;

	if (!route_has_id(cmd->op)) {
		const char *sep = "?";

		n = (size_t)snprintf(buf, size, "%s", route_path[cmd->op]);
		if (cmd->has_diag_after) {
			n += (size_t)snprintf(buf + n, size - n, "%safter=%" PRIu64,
			                      sep, cmd->diag_after);
			sep = "&";
		}
		if (cmd->has_limit) {
			n += (size_t)snprintf(buf + n, size - n, "%slimit=%" PRIu32,
			                      sep, cmd->limit);
			sep = "&";
		}
		if (cmd->has_after) { /* an id: no escapes needed or taken */
			n += (size_t)snprintf(buf + n, size - n, "%safter=%s", sep,
			                      cmd->after);
			sep = "&";
		}
		if (cmd->has_status)
			snprintf(buf + n, size - n, "%sstatus=%s", sep,
			         wr_worker_status_name(cmd->status));
		return;
	}
	n = (size_t)snprintf(buf, size, "/v1/workers/");
	for (const char *p = cmd->worker_id; *p != '\0'; p++)
		n += (size_t)snprintf(buf + n, size - n, "%%%02X",
		                      (unsigned char)*p);
	n += (size_t)snprintf(buf + n, size - n, "%s", route_path[cmd->op]);
	if (cmd->has_start || cmd->has_limit)
		n += (size_t)snprintf(buf + n, size - n, "?");
	if (cmd->has_start)
		n += (size_t)snprintf(buf + n, size - n, "start=%" PRIu64 "%s",
		                      cmd->start, cmd->has_limit ? "&" : "");
	if (cmd->has_limit)
		snprintf(buf + n, size - n, "limit=%" PRIu32, cmd->limit);
}

static void
check_refusal(wr_err rc, const struct route_error *rerr,
              const struct route_cmd *out)
{
	static const struct route_cmd untouched = { .op = ROUTE_WORKER_CANCEL,
	                                            .worker_id = "untouched" };

	FUZZ_CHECK(rc == WR_ENOT_FOUND || rc == WR_EUNSUPPORTED ||
	           rc == WR_EINVALID_INPUT);
	FUZZ_CHECK(rerr->err.code == rc);
	FUZZ_CHECK((rerr->allow != NULL) == (rc == WR_EUNSUPPORTED));
	FUZZ_CHECK(out->op == untouched.op);
	FUZZ_CHECK(strcmp(out->worker_id, untouched.worker_id) == 0);
	FUZZ_CHECK(memchr(rerr->err.message, '\0',
	                  sizeof(rerr->err.message)) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_cmd cmd = { .op = ROUTE_WORKER_CANCEL,
	                         .worker_id = "untouched" };
	struct route_cmd again;
	struct route_error rerr;
	char *method, *uri, canon[ROUTE_URI_MAX * 4];
	wr_err rc;

	method = fuzz_take_line(&data, &size);
	uri = fuzz_strndup(data, size);
	memset(&rerr, 0, sizeof(rerr));
	rc = route_decode(method[0] != '\0' ? method : "GET", uri, &cmd, &rerr);
	if (rc != WR_OK) {
		check_refusal(rc, &rerr, &cmd);
	} else {
		FUZZ_CHECK(cmd.op <= ROUTE_ERRORS); /* the last op */
		if (route_has_id(cmd.op))
			FUZZ_CHECK(wr_id_valid(cmd.worker_id));
		else
			FUZZ_CHECK(cmd.worker_id[0] == '\0');
		FUZZ_CHECK(cmd.op == ROUTE_WORKER_TRANSCRIPT ||
		           cmd.op == ROUTE_WORKERS_LIST ||
		           cmd.op == ROUTE_DIAGNOSTICS ||
		           (!cmd.has_start && !cmd.has_limit));
		FUZZ_CHECK(cmd.op == ROUTE_WORKER_TRANSCRIPT || !cmd.has_start);
		FUZZ_CHECK(cmd.op == ROUTE_DIAGNOSTICS || !cmd.has_diag_after);
		FUZZ_CHECK(cmd.op == ROUTE_WORKERS_LIST ||
		           (!cmd.has_after && !cmd.has_status));
		canonical_uri(&cmd, canon, sizeof(canon));
		memset(&again, 0, sizeof(again));
		rc = route_decode(method[0] != '\0' ? method : "GET", canon,
		                  &again, &rerr);
		if (rc != WR_OK)
			fprintf(stderr, "canonical %s refused: %s\n", canon,
			        rerr.err.message);
		FUZZ_CHECK(rc == WR_OK);
		FUZZ_CHECK(again.op == cmd.op);
		FUZZ_CHECK(strcmp(again.worker_id, cmd.worker_id) == 0);
		FUZZ_CHECK(again.has_start == cmd.has_start);
		FUZZ_CHECK(again.has_limit == cmd.has_limit);
		FUZZ_CHECK(!cmd.has_start || again.start == cmd.start);
		FUZZ_CHECK(!cmd.has_limit || again.limit == cmd.limit);
		FUZZ_CHECK(again.has_after == cmd.has_after);
		FUZZ_CHECK(!cmd.has_after || strcmp(again.after, cmd.after) == 0);
		FUZZ_CHECK(again.has_diag_after == cmd.has_diag_after);
		FUZZ_CHECK(!cmd.has_diag_after ||
		           again.diag_after == cmd.diag_after);
		FUZZ_CHECK(again.has_status == cmd.has_status);
		FUZZ_CHECK(!cmd.has_status || again.status == cmd.status);
	}
	/* NULL arguments are refused, never dereferenced. */
	FUZZ_CHECK(route_decode(NULL, uri, &cmd, NULL) != WR_OK);
	FUZZ_CHECK(route_decode(method, NULL, &cmd, NULL) != WR_OK);
	free(method);
	free(uri);
	return 0;
}
