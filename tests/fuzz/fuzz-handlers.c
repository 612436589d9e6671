/*
 * fuzz-handlers.c - http_handle (fcgi/handlers.c) end to end on a live
 * in-memory Runtime whose state carries across inputs.
 *
 * Input: "METHOD\nURI\nCONTENT-TYPE\nBODY" (a missing line is empty; an
 * empty method is GET, an empty content type application/json, "-" none).
 * In the URI, "@" + digit d stands for the id of worker d modulo the
 * workers created so far, so inputs can reach live workers.  Profiles:
 * the builtin transcript driver (default), "slow" (a turn lasts until the
 * harness ends it: byte 'T' in the body's first position ends every turn)
 * and "refuse", "failstart" (tests/test_driver.c).
 *
 * Checks per request: a status of 2xx/4xx/5xx with a JSON body of the
 * stated length; an error status carries a decodable {"error":...}; a 4xx
 * changes nothing (the Runtime's counts and the addressed worker's events
 * and transcript are as before).  Every RESET_EVERY inputs the Runtime is
 * closed and LeakSanitizer checks that closing freed everything.
 */
#include "config.h"

#include <sanitizer/lsan_interface.h>

#include "fuzz.h"
#include "handlers.h"
#include "route.h"
#include "../test_driver.h"

#define RESET_EVERY 500
#define TOKEN "fuzz-token"

static struct wr_runtime *rt;
static unsigned inputs;
static const struct wr_profile profiles[] = {
	{ "slow", &wr_test_busy_driver, NULL },
	{ "refuse", &wr_test_refuse_driver, NULL },
	{ "failstart", &wr_test_failstart_driver, NULL },
};

static void
runtime_open(void)
{
	struct wr_config cfg = {
		.runtime_id = "rt-fuzz",
		.limits = { .max_transcript_projection_items = 16,
		            .max_input_bytes = 4096, .max_workers = 64 },
		.profiles = profiles,
		.n_profiles = sizeof(profiles) / sizeof(profiles[0]),
	};
	struct wr_error err;

	FUZZ_CHECK(wr_runtime_open(&cfg, &rt, &err) == WR_OK);
}

/* Closes the Runtime; everything it allocated must be freed by then. */
static void
runtime_reset(void)
{
	wr_runtime_close(rt);
	rt = NULL;
	FUZZ_CHECK(__lsan_do_recoverable_leak_check() == 0);
	runtime_open();
}

/* The uri with every "@d" replaced by a live worker's id. */
static char *
expand_uri(const char *uri)
{
	struct wr_worker_list list = { 0 };
	struct wr_error err;
	size_t n = strlen(uri), o = 0;
	char *out = malloc(n * (WR_ID_MAX + 1) + 1);

	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(wr_worker_list(rt, NULL, &list, &err) == WR_OK);
	for (size_t i = 0; i < n; i++) {
		if (uri[i] == '@' && uri[i + 1] >= '0' && uri[i + 1] <= '9' &&
		    list.count > 0) {
			const char *id = list.items[(size_t)(uri[i + 1] - '0') %
			                            list.count]->ref.worker_id;
			memcpy(out + o, id, strlen(id));
			o += strlen(id);
			i++;
		} else {
			out[o++] = uri[i];
		}
	}
	out[o] = '\0';
	wr_worker_list_free(&list);
	return out;
}

/* What a refused request must leave as it was. */
struct observed {
	struct wr_runtime_summary sum;
	bool has_worker;
	uint64_t last_event_id, transcript_len;
	enum wr_worker_status status;
};

static void
observe(const char *method, const char *uri, struct observed *o)
{
	struct route_cmd cmd;
	struct wr_worker_info *w;
	struct wr_error err;

	memset(o, 0, sizeof(*o));
	FUZZ_CHECK(wr_runtime_summary(rt, &o->sum, &err) == WR_OK);
	if (route_decode(method, uri, &cmd, NULL) != WR_OK ||
	    cmd.worker_id[0] == '\0' ||
	    wr_worker_get(rt, cmd.worker_id, &w, &err) != WR_OK)
		return;
	o->has_worker = true;
	o->last_event_id = w->last_event_id;
	o->transcript_len = w->transcript_len;
	o->status = w->status;
	wr_worker_info_free(w);
}

static void
check_unchanged(const struct observed *a, const struct observed *b)
{
	FUZZ_CHECK(a->sum.status == b->sum.status);
	FUZZ_CHECK(a->sum.worker_count == b->sum.worker_count);
	FUZZ_CHECK(a->sum.active_worker_count == b->sum.active_worker_count);
	FUZZ_CHECK(a->has_worker == b->has_worker);
	FUZZ_CHECK(a->last_event_id == b->last_event_id);
	FUZZ_CHECK(a->transcript_len == b->transcript_len);
	FUZZ_CHECK(a->status == b->status);
}

static void
check_response(const struct http_response *res)
{
	struct wr_error e, err;

	FUZZ_CHECK(res->body != NULL);
	FUZZ_CHECK(strlen(res->body) == res->body_len);
	FUZZ_CHECK(res->n_headers <= HTTP_MAX_HEADERS);
	FUZZ_CHECK((res->status >= 200 && res->status < 300) ||
	           (res->status >= 400 && res->status < 600));
	if (res->status >= 400) {
		wr_err rc = wr_json_decode_error(res->body, res->body_len, &e,
		                                 &err);

		if (rc != WR_OK)
			fprintf(stderr, "status %d, body %s: %s\n", res->status,
			        res->body, err.message);
		FUZZ_CHECK(rc == WR_OK);
	}
}

/* Ends the turn of every busy worker (the "slow" profile's turns). */
static void
end_turns(void)
{
	struct wr_worker_list list = { 0 };
	struct wr_error err;

	FUZZ_CHECK(wr_worker_list(rt, NULL, &list, &err) == WR_OK);
	for (size_t i = 0; i < list.count; i++)
		if (list.items[i]->run_state == WR_RUN_BUSY)
			wr_worker_turn_end(rt, list.items[i]->ref.worker_id,
			                   NULL);
	wr_worker_list_free(&list);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_ctx ctx;
	struct http_request req;
	struct http_response res;
	struct observed before, after;
	char *method, *raw_uri, *uri, *ctype;

	if (rt == NULL)
		runtime_open();
	method = fuzz_take_line(&data, &size);
	raw_uri = fuzz_take_line(&data, &size);
	ctype = fuzz_take_line(&data, &size);
	uri = expand_uri(raw_uri);
	ctx = (struct http_ctx){ .rt = rt, .token = TOKEN, .max_body = 4096,
	                         .retry_after_s = 1 };
	req = (struct http_request){
		.method = method[0] != '\0' ? method : "GET",
		.uri = uri,
		.content_type = ctype[0] == '\0' ? "application/json"
		                : strcmp(ctype, "-") == 0 ? NULL : ctype,
		.authorization = "Bearer " TOKEN,
		.body = size > 0 ? (const char *)data : NULL,
		.body_len = size > 4096 ? 4096 : size,
		.body_too_large = size > 4096,
	};
	observe(req.method, uri, &before);
	memset(&res, 0, sizeof(res));
	http_handle(&ctx, &req, &res);
	check_response(&res);
	if (res.status >= 400 && res.status < 500) {
		observe(req.method, uri, &after);
		check_unchanged(&before, &after);
	}
	http_response_clear(&res);
	if (size > 0 && data[0] == 'T')
		end_turns();
	free(method);
	free(raw_uri);
	free(uri);
	free(ctype);
	if (++inputs % RESET_EVERY == 0)
		runtime_reset();
	return 0;
}
