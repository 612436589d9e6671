/*
 * test_codec.c - the JSON codec: exact wire shapes (DESIGN section 3), round
 * trips in both directions, every rejection rule with its reason and field,
 * and RFC 3339 timestamps.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker-runtime.h"

/* A string literal and its length, for the (json, len) decoders. */
#define S(lit) (lit), strlen(lit)

#define T_CREATED 1795515716123  /* 2026-11-24T10:21:56.123Z */
#define T_UPDATED 1795515720000  /* 2026-11-24T10:22:00.000Z */

#define REF_JSON "{\"runtime_id\":\"rt-1\",\"worker_id\":\"w-1\"}"

/* ---- fixtures ----------------------------------------------------------- */

static struct wr_capability sample_caps[] = {
	{ "fs", "read files" },
	{ "net", NULL },
};
static struct wr_mount_ref sample_ws[] = { { "ws", "/srv/ws" } };
static struct wr_mount_ref sample_mounts[] = {
	{ "data", "vol:data" },
	{ "cache", "vol:cache" },
};

/* A worker with every optional part set (borrowed static strings). */
static struct wr_worker_info sample_worker(void)
{
	struct wr_worker_info w = {
		.ref = { "rt-1", "w-1" },
		.status = WR_STATUS_RUNNING,
		.run_state = WR_RUN_IDLE,
		.intent = { .kind = WR_INTENT_ROLE, .role = "reviewer",
		            .purpose = "check" },
		.profile = { .kind = WR_PROFILE_NAMED, .value = "py" },
		.config_bundle_id = "cb-1",
		.capabilities = sample_caps,
		.n_capabilities = 2,
		.workspace_refs = sample_ws,
		.n_workspace_refs = 1,
		.transcript_len = 3,
		.last_event_id = 7,
		.created_at_ms = T_CREATED,
		.updated_at_ms = T_UPDATED,
	};
	return w;
}

#define SAMPLE_SUMMARY_JSON                                                  \
	"{\"worker_ref\":" REF_JSON ",\"runtime_id\":\"rt-1\","              \
	"\"worker_id\":\"w-1\",\"status\":\"running\",\"run_state\":\"idle\"," \
	"\"intent\":{\"kind\":\"role\",\"role\":\"reviewer\","               \
	"\"purpose\":\"check\"},\"profile\":{\"kind\":\"named\","            \
	"\"value\":\"py\"},\"requested_capability_count\":2,"                \
	"\"has_config_bundle\":true,\"transcript_len\":3,"                   \
	"\"last_event_id\":7,\"created_at\":\"2026-11-24T10:21:56.123Z\","   \
	"\"updated_at\":\"2026-11-24T10:22:00.000Z\""

#define SAMPLE_DETAIL_JSON                                                   \
	SAMPLE_SUMMARY_JSON ",\"config_bundle\":{\"id\":\"cb-1\"},"           \
	"\"requested_capabilities\":[{\"name\":\"fs\",\"reason\":"           \
	"\"read files\"},{\"name\":\"net\"}],\"workspace_refs\":"            \
	"[{\"name\":\"ws\",\"reference\":\"/srv/ws\"}],\"mount_refs\":[]}"

static struct wr_transcript_entry sample_entries[] = {
	{ 1, WR_ROLE_USER, "hi", 2, T_CREATED },
	{ 2, WR_ROLE_WORKER, "h\xc3\xa9llo \"x\"/\n", 3, T_UPDATED },
};

/* The worker's state every page carries (sample_page's). */
#define PAGE_WORKER_JSON                                                     \
	",\"status\":\"running\",\"run_state\":\"busy\",\"last_event_id\":5"

static struct wr_transcript_page sample_page(bool has_next)
{
	struct wr_transcript_page p = {
		.ref = { "rt-1", "w-1" },
		.start = 0,
		.limit = 2,
		.total_items = 3,
		.items = sample_entries,
		.count = 2,
		.has_next = has_next,
		.next_start = has_next ? 2 : 0,
		.status = WR_STATUS_RUNNING,
		.run_state = WR_RUN_BUSY,
		.last_event_id = 5,
	};
	return p;
}

#define SAMPLE_PAGE_ITEMS_JSON                                               \
	"[{\"sequence\":1,\"worker_ref\":" REF_JSON ",\"role\":\"user\","    \
	"\"content\":\"hi\",\"event_id\":2,"                                 \
	"\"created_at\":\"2026-11-24T10:21:56.123Z\"},"                      \
	"{\"sequence\":2,\"worker_ref\":" REF_JSON ",\"role\":\"worker\","   \
	"\"content\":\"h\xc3\xa9llo \\\"x\\\"/\\n\",\"event_id\":3,"         \
	"\"created_at\":\"2026-11-24T10:22:00.000Z\"}]"

static struct wr_runtime_summary sample_runtime(bool named)
{
	struct wr_runtime_summary s = {
		.runtime_id = "rt-1",
		.has_display_name = named,
		.display_name = "",
		.backend = "memory",
		.status = WR_RUNTIME_RUNNING,
		.worker_count = 5,
		.active_worker_count = 2,
		.stopped_worker_count = 1,
		.cancelled_worker_count = 1,
		.failed_worker_count = 1,
		.diagnostic_count = 0,
		.limits = { 256, 1048576, 10000 },
		.version = "0.1.0",
		.started_at_ms = T_CREATED,
	};
	if (named)
		strcpy(s.display_name, "Main \"runtime\"");
	return s;
}

#define RUNTIME_JSON(display_name)                                           \
	"{\"runtime_id\":\"rt-1\",\"display_name\":" display_name ","        \
	"\"backend\":\"memory\",\"status\":\"running\",\"worker_count\":5,"   \
	"\"active_worker_count\":2,\"stopped_worker_count\":1,"              \
	"\"cancelled_worker_count\":1,\"failed_worker_count\":1,"            \
	"\"deleted_worker_count\":0,"                                       \
	"\"diagnostic_count\":0,\"limits\":"                                 \
	"{\"max_transcript_projection_items\":256,"                          \
	"\"max_input_bytes\":1048576,\"max_workers\":10000},"                \
	"\"version\":\"0.1.0\",\"started_at\":\"2026-11-24T10:21:56.123Z\"}"

/* ---- helpers ------------------------------------------------------------ */

static void assert_str_or_null(const char *got, const char *want,
                               const char *what)
{
	if (want == NULL)
		cr_assert_null(got, "%s should be NULL", what);
	else {
		cr_assert_not_null(got, "%s should be set", what);
		cr_assert_str_eq(got, want, "%s", what);
	}
}

/* Equal as far as the shape carries (summary: no lists, no bundle id). */
static void assert_worker_eq(const struct wr_worker_info *a,
                             const struct wr_worker_info *b, bool detail)
{
	cr_assert_str_eq(a->ref.runtime_id, b->ref.runtime_id);
	cr_assert_str_eq(a->ref.worker_id, b->ref.worker_id);
	cr_assert_eq(a->status, b->status);
	cr_assert_eq(a->run_state, b->run_state);
	cr_assert_eq(a->intent.kind, b->intent.kind);
	assert_str_or_null(a->intent.purpose, b->intent.purpose, "purpose");
	assert_str_or_null(a->intent.objective, b->intent.objective,
	                   "objective");
	assert_str_or_null(a->intent.role, b->intent.role, "role");
	cr_assert_eq(a->profile.kind, b->profile.kind);
	assert_str_or_null(a->profile.value, b->profile.value, "value");
	cr_assert_eq(a->n_capabilities, b->n_capabilities);
	cr_assert_eq(a->config_bundle_id != NULL, b->config_bundle_id != NULL);
	cr_assert_eq(a->transcript_len, b->transcript_len);
	cr_assert_eq(a->last_event_id, b->last_event_id);
	cr_assert_eq(a->created_at_ms, b->created_at_ms);
	cr_assert_eq(a->updated_at_ms, b->updated_at_ms);
	if (!detail)
		return;
	assert_str_or_null(a->config_bundle_id, b->config_bundle_id, "bundle");
	for (size_t i = 0; i < a->n_capabilities; i++) {
		cr_assert_str_eq(a->capabilities[i].name, b->capabilities[i].name);
		assert_str_or_null(a->capabilities[i].reason,
		                   b->capabilities[i].reason, "reason");
	}
	cr_assert_eq(a->n_workspace_refs, b->n_workspace_refs);
	for (size_t i = 0; i < a->n_workspace_refs; i++) {
		cr_assert_str_eq(a->workspace_refs[i].name,
		                 b->workspace_refs[i].name);
		cr_assert_str_eq(a->workspace_refs[i].reference,
		                 b->workspace_refs[i].reference);
	}
	cr_assert_eq(a->n_mount_refs, b->n_mount_refs);
	for (size_t i = 0; i < a->n_mount_refs; i++) {
		cr_assert_str_eq(a->mount_refs[i].name, b->mount_refs[i].name);
		cr_assert_str_eq(a->mount_refs[i].reference,
		                 b->mount_refs[i].reference);
	}
}

/* Asserts text is exactly want (and *len agrees), then frees text.  len is
 * a pointer: the encoder call in the same argument list writes it. */
static void assert_json(char *text, const size_t *len, const char *want)
{
	cr_assert_not_null(text);
	cr_assert_str_eq(text, want);
	cr_assert_eq(*len, strlen(want));
	free(text);
}

/* Returns a malloc'd copy of s with the one occurrence of from replaced. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	cr_assert_not_null(at, "'%s' not in the text", from);
	cr_assert_null(strstr(at + 1, from), "'%s' occurs twice", from);
	size_t head = (size_t)(at - s), n = strlen(s) - strlen(from) + strlen(to);
	char *out = malloc(n + 1);
	cr_assert_not_null(out);
	memcpy(out, s, head);
	strcpy(out + head, to);
	strcat(out, at + strlen(from));
	return out;
}

enum shape {
	CREATE, INPUT, LIFECYCLE, RUNTIME, SUMMARY, DETAIL, LIST, INPUT_ACK,
	LIFECYCLE_ACK, PAGE, ERROR
};

/* Decodes with the decoder of shape, frees any result, returns the code. */
static wr_err decode_any(enum shape s, const char *json, size_t len,
                         const char *env, struct wr_error *e)
{
	struct wr_create_request *req = NULL;
	struct wr_input in = { 0 };
	char *reason = NULL;
	struct wr_runtime_summary rs;
	struct wr_worker_info *w = NULL;
	struct wr_worker_list l = { 0 };
	struct wr_input_ack ia;
	struct wr_lifecycle_ack la;
	struct wr_transcript_page p = { 0 };
	struct wr_error out;
	wr_err rc = WR_EINTERNAL;

	wr_error_clear(e);
	switch (s) {
	case CREATE:
		rc = wr_json_decode_create_request(json, len, env, &req, e);
		break;
	case INPUT:
		rc = wr_json_decode_input(json, len, env, &in, e);
		break;
	case LIFECYCLE:
		rc = wr_json_decode_lifecycle_request(json, len, env, &reason,
		                                      e);
		break;
	case RUNTIME:
		rc = wr_json_decode_runtime_summary(json, len, env, &rs, e);
		break;
	case SUMMARY:
	case DETAIL:
		rc = wr_json_decode_worker(json, len, env, s == DETAIL, &w, e);
		break;
	case LIST:
		rc = wr_json_decode_worker_list(json, len, env, &l, e);
		break;
	case INPUT_ACK:
		rc = wr_json_decode_input_ack(json, len, env, &ia, e);
		break;
	case LIFECYCLE_ACK:
		rc = wr_json_decode_lifecycle_ack(json, len, env, &la, e);
		break;
	case PAGE:
		rc = wr_json_decode_transcript_page(json, len, env, &p, e);
		break;
	case ERROR:
		rc = wr_json_decode_error(json, len, &out, e);
		break;
	}
	if (rc == WR_OK) {
		wr_create_request_free(req);
		wr_input_clear(&in);
		free(reason);
		wr_worker_info_free(w);
		wr_worker_list_free(&l);
		wr_transcript_page_clear(&p);
	}
	return rc;
}

/* Expects the text to be rejected as invalid_input with reason and field. */
static void expect_reject_len(enum shape s, const char *json, size_t len,
                              const char *env, const char *reason,
                              const char *field)
{
	struct wr_error e;
	wr_err rc = decode_any(s, json, len, env, &e);

	cr_expect_eq(rc, WR_EINVALID_INPUT, "%.120s: rc %d", json, rc);
	cr_expect_eq(e.code, WR_EINVALID_INPUT, "%.120s: code", json);
	cr_expect_str_eq(wr_reason_name(e.reason), reason, "%.120s: reason '%s', want '%s'",
	                 json, wr_reason_name(e.reason), reason);
	cr_expect_str_eq(e.field, field, "%.120s: field '%s', want '%s'", json,
	                 e.field, field);
	cr_expect_str_not_empty(e.message, "%.120s: no message", json);
}

static void expect_reject(enum shape s, const char *json, const char *reason,
                          const char *field)
{
	expect_reject_len(s, json, strlen(json), NULL, reason, field);
}

static void expect_accept(enum shape s, const char *json)
{
	struct wr_error e;
	wr_err rc = decode_any(s, json, strlen(json), NULL, &e);

	cr_expect_eq(rc, WR_OK, "%.120s: rc %d (%s at '%s': %s)", json, rc,
	             wr_reason_name(e.reason), e.field, e.message);
}

/* ---- time --------------------------------------------------------------- */

Test(codec, time_format_writes_utc_with_milliseconds)
{
	char buf[25];

	wr_time_format(0, buf);
	cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	wr_time_format(T_CREATED, buf);
	cr_assert_str_eq(buf, "2026-11-24T10:21:56.123Z");
	wr_time_format(1767323045006, buf);
	cr_assert_str_eq(buf, "2026-01-02T03:04:05.006Z");
	wr_time_format(1709251199999, buf);
	cr_assert_str_eq(buf, "2024-02-29T23:59:59.999Z");
	wr_time_format(-1, buf);
	cr_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	wr_time_format(951782400000, buf); /* 2000 is a leap year */
	cr_assert_str_eq(buf, "2000-02-29T00:00:00.000Z");
}

Test(codec, time_format_clamps_to_four_digit_years)
{
	char buf[25];

	wr_time_format(INT64_MIN, buf);
	cr_assert_str_eq(buf, "0000-01-01T00:00:00.000Z");
	wr_time_format(INT64_MAX, buf);
	cr_assert_str_eq(buf, "9999-12-31T23:59:59.999Z");
}

Test(codec, time_parse_reads_what_format_writes)
{
	int64_t ms = 0;

	cr_assert(wr_time_parse("2026-11-24T10:21:56.123Z", &ms));
	cr_assert_eq(ms, T_CREATED);
	cr_assert(wr_time_parse("1969-12-31T23:59:59.999Z", &ms));
	cr_assert_eq(ms, -1);
	cr_assert(wr_time_parse("0000-01-01T00:00:00.000Z", &ms));
	cr_assert_eq(ms, INT64_C(-62167219200000));
	cr_assert(wr_time_parse("9999-12-31T23:59:59.999Z", &ms));
	cr_assert_eq(ms, INT64_C(253402300799999));

	/* Bounded sweep over the whole range, negative values included. */
	uint64_t x = 88172645463325252u;
	for (int i = 0; i < 5000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t v = (int64_t)(x % UINT64_C(315000000000000)) -
		            INT64_C(62000000000000);
		char buf[25];
		wr_time_format(v, buf);
		cr_assert(wr_time_parse(buf, &ms), "%s", buf);
		cr_assert_eq(ms, v, "%s", buf);
	}
}

Test(codec, time_parse_rejects_malformed_strings_and_keeps_the_output)
{
	static const char *bad[] = {
		"",
		"2026-11-24",
		"2026-11-24T10:21:56Z",
		"2026-11-24T10:21:56.12Z",
		"2026-11-24T10:21:56.1234Z",
		"2026-11-24T10:21:56.123",
		"2026-11-24T10:21:56.123Z ",
		" 2026-11-24T10:21:56.123Z",
		"2026-11-24 10:21:56.123Z",
		"2026-11-24t10:21:56.123z",
		"2026-11-24T10:21:56.123+00:00",
		"2026/11/24T10:21:56.123Z",
		"+026-11-24T10:21:56.123Z",
		"2026-1a-24T10:21:56.123Z",
		"2026-00-24T10:21:56.123Z",
		"2026-13-24T10:21:56.123Z",
		"2026-11-00T10:21:56.123Z",
		"2026-11-31T10:21:56.123Z",
		"2026-02-29T10:21:56.123Z",
		"1900-02-29T10:21:56.123Z",
		"2026-11-24T24:00:00.000Z",
		"2026-11-24T10:60:00.000Z",
		"2026-11-24T10:21:60.000Z",
		"2026-11-24T10:21:56.-12Z",
	};
	int64_t ms = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_not(wr_time_parse(bad[i], &ms), "'%s'", bad[i]);
		cr_expect_eq(ms, 42, "'%s' changed the output", bad[i]);
	}
	cr_assert_not(wr_time_parse(NULL, &ms));
	cr_assert(wr_time_parse("2024-02-29T00:00:00.000Z", &ms), "leap day");
}

/* ---- exact wire shapes ---------------------------------------------------- */

Test(codec, worker_summary_has_exact_member_names_and_order)
{
	struct wr_worker_info w = sample_worker();
	size_t len = 0;

	assert_json(wr_json_encode_worker_summary(&w, NULL, &len), &len,
	            SAMPLE_SUMMARY_JSON "}");
}

Test(codec, worker_detail_adds_bundle_capabilities_and_refs)
{
	struct wr_worker_info w = sample_worker();
	size_t len = 0;

	assert_json(wr_json_encode_worker_detail(&w, NULL, &len), &len,
	            SAMPLE_DETAIL_JSON);
}

Test(codec, worker_detail_omits_absent_optional_members)
{
	struct wr_worker_info w = sample_worker();
	size_t len = 0;

	w.intent = (struct wr_intent){ .kind = WR_INTENT_ASSISTANT };
	w.profile = (struct wr_profile_ref){ .kind = WR_PROFILE_RUNTIME_DEFAULT };
	w.config_bundle_id = NULL;
	w.n_capabilities = 0;
	w.n_workspace_refs = 0;
	w.status = WR_STATUS_CANCELLED;
	w.run_state = WR_RUN_NONE;
	assert_json(
		wr_json_encode_worker_detail(&w, "worker", &len), &len,
		"{\"worker\":{\"worker_ref\":" REF_JSON ",\"runtime_id\":"
		"\"rt-1\",\"worker_id\":\"w-1\",\"status\":\"cancelled\","
		"\"run_state\":\"none\",\"intent\":{\"kind\":\"assistant\"},"
		"\"profile\":{\"kind\":\"runtime_default\"},"
		"\"requested_capability_count\":0,\"has_config_bundle\":false,"
		"\"transcript_len\":3,\"last_event_id\":7,"
		"\"created_at\":\"2026-11-24T10:21:56.123Z\","
		"\"updated_at\":\"2026-11-24T10:22:00.000Z\","
		"\"requested_capabilities\":[],\"workspace_refs\":[],"
		"\"mount_refs\":[]}}");
}

Test(codec, intent_task_encodes_objective_only)
{
	struct wr_worker_info w = sample_worker();
	char *text;

	w.intent = (struct wr_intent){ .kind = WR_INTENT_TASK,
		                       .objective = "fix it",
		                       .purpose = "ignored" };
	w.profile = (struct wr_profile_ref){ .kind = WR_PROFILE_BUILTIN,
		                             .value = "transcript" };
	text = wr_json_encode_worker_summary(&w, NULL, NULL);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "\"intent\":{\"kind\":\"task\","
	                                "\"objective\":\"fix it\"},"));
	cr_assert_not_null(strstr(text, "\"profile\":{\"kind\":\"builtin\","
	                                "\"value\":\"transcript\"},"));
	free(text);
}

Test(codec, input_ack_has_exact_member_names)
{
	struct wr_input_ack a = { { "rt-1", "w-1" }, WR_STATUS_RUNNING,
		                  WR_RUN_BUSY, 4, 9 };
	size_t len = 0;

	assert_json(wr_json_encode_input_ack(&a, NULL, &len), &len,
	            "{\"worker_ref\":" REF_JSON ",\"status\":\"running\","
	            "\"run_state\":\"busy\",\"transcript_sequence\":4,"
	            "\"event_id\":9}");
	assert_json(wr_json_encode_input_ack(&a, "ack", &len), &len,
	            "{\"ack\":{\"worker_ref\":" REF_JSON ",\"status\":"
	            "\"running\",\"run_state\":\"busy\","
	            "\"transcript_sequence\":4,\"event_id\":9}}");
}

Test(codec, lifecycle_ack_has_exact_member_names)
{
	struct wr_lifecycle_ack a = { { "rt-1", "w-1" }, WR_STATUS_STOPPED,
		                      UINT64_MAX, false };
	size_t len = 0;

	assert_json(wr_json_encode_lifecycle_ack(&a, "ack", &len), &len,
	            "{\"ack\":{\"worker_ref\":" REF_JSON ",\"status\":"
	            "\"stopped\",\"event_id\":18446744073709551615}}");
}

Test(codec, delete_ack_says_deleted_true_and_round_trips)
{
	struct wr_lifecycle_ack a = { { "rt-1", "w-1" }, WR_STATUS_STOPPED,
		                      7, true }, b;
	struct wr_error e;
	size_t len = 0;
	char *text = wr_json_encode_lifecycle_ack(&a, "ack", &len);

	cr_assert_str_eq(text, "{\"ack\":{\"worker_ref\":" REF_JSON
	                 ",\"status\":\"stopped\",\"event_id\":7,"
	                 "\"deleted\":true}}");
	cr_assert_eq(wr_json_decode_lifecycle_ack(text, len, "ack", &b, &e),
	             WR_OK, "%s", e.message);
	cr_assert(b.deleted);
	free(text);
	text = "{\"worker_ref\":" REF_JSON ",\"status\":\"stopped\","
	       "\"event_id\":7,\"deleted\":false}";
	cr_assert_eq(wr_json_decode_lifecycle_ack(text, strlen(text), NULL, &b,
	                                          &e), WR_EINVALID_INPUT);
	cr_assert_str_eq(e.field, "deleted");
}

Test(codec, transcript_page_with_next_start_has_exact_members)
{
	struct wr_transcript_page p = sample_page(true);
	size_t len = 0;

	assert_json(wr_json_encode_transcript_page(&p, NULL, &len), &len,
	            "{\"worker_ref\":" REF_JSON ",\"start\":0,\"limit\":2,"
	            "\"total_items\":3,\"items\":" SAMPLE_PAGE_ITEMS_JSON
	            ",\"next_start\":2" PAGE_WORKER_JSON "}");
}

Test(codec, last_transcript_page_has_null_next_start)
{
	struct wr_transcript_page p = sample_page(false);
	size_t len = 0;

	p.start = 3;
	p.count = 0;
	assert_json(wr_json_encode_transcript_page(&p, "transcript", &len),
	            &len,
	            "{\"transcript\":{\"worker_ref\":" REF_JSON ",\"start\":3,"
	            "\"limit\":2,\"total_items\":3,\"items\":[],"
	            "\"next_start\":null" PAGE_WORKER_JSON "}}");
}

/* The reference for pages: the same page as a json-c tree, written with
 * the flags the codec uses for every other shape. */
static json_object *jref(const struct wr_worker_ref *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "runtime_id",
	                       json_object_new_string(r->runtime_id));
	json_object_object_add(o, "worker_id",
	                       json_object_new_string(r->worker_id));
	return o;
}

static char *page_by_json_c(const struct wr_transcript_page *p,
                            const char *envelope)
{
	json_object *o = json_object_new_object(), *items, *root = o;
	char at[25], *out;

	json_object_object_add(o, "worker_ref", jref(&p->ref));
	json_object_object_add(o, "start", json_object_new_uint64(p->start));
	json_object_object_add(o, "limit", json_object_new_uint64(p->limit));
	json_object_object_add(o, "total_items",
	                       json_object_new_uint64(p->total_items));
	items = json_object_new_array();
	for (size_t i = 0; i < p->count; i++) {
		const struct wr_transcript_entry *e = &p->items[i];
		json_object *x = json_object_new_object();

		wr_time_format(e->created_at_ms, at);
		json_object_object_add(x, "sequence",
		                       json_object_new_uint64(e->sequence));
		json_object_object_add(x, "worker_ref", jref(&p->ref));
		json_object_object_add(x, "role",
		                       json_object_new_string(wr_role_name(e->role)));
		json_object_object_add(x, "content",
		                       json_object_new_string(e->content));
		json_object_object_add(x, "event_id",
		                       json_object_new_uint64(e->event_id));
		json_object_object_add(x, "created_at", json_object_new_string(at));
		json_object_array_add(items, x);
	}
	json_object_object_add(o, "items", items);
	json_object_object_add(o, "next_start",
	                       p->has_next ? json_object_new_uint64(p->next_start)
	                                   : NULL);
	json_object_object_add(o, "status", json_object_new_string(
		wr_worker_status_name(p->status)));
	json_object_object_add(o, "run_state", json_object_new_string(
		wr_run_state_name(p->run_state)));
	json_object_object_add(o, "last_event_id",
	                       json_object_new_uint64(p->last_event_id));
	if (envelope != NULL) {
		root = json_object_new_object();
		json_object_object_add(root, envelope, o);
	}
	out = strdup(json_object_to_json_string_ext(
		root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}

Test(codec, transcript_page_text_is_byte_identical_to_json_c)
{
	static char contents[300][8];
	struct wr_transcript_entry e[300];
	struct wr_transcript_page p = {
		.ref = { "rt-\"1/", "w-\\1" }, .start = 7, .limit = 300,
		.total_items = UINT64_MAX, .items = e, .count = 300,
	};
	size_t n = 0;

	/* Every byte value 1..255 between two letters, then a few more. */
	for (int b = 1; b < 256; b++, n++)
		snprintf(contents[n], sizeof(contents[n]), "a%cb", b);
	snprintf(contents[n], sizeof(contents[n]), "%s", "");
	n++;
	snprintf(contents[n], sizeof(contents[n]), "%s", "\xc3\xa9/\x7f");
	n++;
	snprintf(contents[n], sizeof(contents[n]), "%s", "\"\\\"");
	n++;
	for (; n < 300; n++)
		snprintf(contents[n], sizeof(contents[n]), "\x01\x1f%zu", n);
	for (size_t i = 0; i < n; i++)
		e[i] = (struct wr_transcript_entry){
			.sequence = i == 0 ? UINT64_MAX : i,
			.role = (enum wr_role)(i % 4),
			.content = contents[i],
			.event_id = i * 1000003u,
			.created_at_ms = T_CREATED + (int64_t)i * 999,
		};
	for (int k = 0; k < 4; k++) {
		const char *env = k % 2 ? "transcript" : NULL;
		char *want, *got;
		size_t len = 0;

		p.has_next = k >= 2;
		p.next_start = k == 3 ? UINT64_MAX : 0;
		p.status = (enum wr_worker_status)k;
		p.run_state = (enum wr_run_state)(k % 3);
		p.last_event_id = k == 3 ? WR_MAX_EVENT_ID : (uint64_t)k;
		p.count = k == 1 ? 0 : n;
		want = page_by_json_c(&p, env);
		got = wr_json_encode_transcript_page(&p, env, &len);
		cr_assert_not_null(got);
		cr_assert_eq(len, strlen(want), "length %zu, json-c %zu", len,
		             strlen(want));
		cr_assert_str_eq(got, want);
		free(got);
		free(want);
	}
}

Test(codec, runtime_summary_with_display_name_has_exact_members)
{
	struct wr_runtime_summary s = sample_runtime(true);
	size_t len = 0;

	assert_json(wr_json_encode_runtime_summary(&s, NULL, &len), &len,
	            RUNTIME_JSON("\"Main \\\"runtime\\\"\""));
}

Test(codec, runtime_summary_without_display_name_has_null)
{
	struct wr_runtime_summary s = sample_runtime(false);
	size_t len = 0;

	assert_json(wr_json_encode_runtime_summary(&s, "runtime", &len), &len,
	            "{\"runtime\":" RUNTIME_JSON("null") "}");
}

Test(codec, error_omits_empty_reason_field_and_worker_id)
{
	struct wr_error e;
	size_t len = 0;

	wr_error_clear(&e);
	e.code = WR_EUNKNOWN_WORKER;
	strcpy(e.message, "no worker 'w-9'");
	strcpy(e.worker_id, "w-9");
	assert_json(wr_json_encode_error(&e, &len), &len,
	            "{\"error\":{\"code\":\"unknown_worker\",\"message\":"
	            "\"no worker 'w-9'\",\"worker_id\":\"w-9\"}}");

	wr_error_clear(&e);
	e.code = WR_EINVALID_INPUT;
	strcpy(e.message, "unknown member 'intent.x'");
	e.reason = WR_REASON_UNKNOWN_FIELD;
	strcpy(e.field, "intent.x");
	assert_json(wr_json_encode_error(&e, &len), &len,
	            "{\"error\":{\"code\":\"invalid_input\",\"message\":"
	            "\"unknown member 'intent.x'\",\"reason\":"
	            "\"unknown_field\",\"field\":\"intent.x\"}}");
}

Test(codec, error_without_message_uses_the_taxonomy_message)
{
	struct wr_error e;
	char want[512];
	size_t len = 0;

	wr_error_clear(&e);
	e.code = WR_EBUSY;
	snprintf(want, sizeof(want),
	         "{\"error\":{\"code\":\"busy\",\"message\":\"%s\"}}",
	         wr_strerror(WR_EBUSY));
	assert_json(wr_json_encode_error(&e, &len), &len, want);
}

Test(codec, input_and_lifecycle_request_encode_exactly)
{
	struct wr_input in = { WR_INPUT_SYSTEM, "be brief" };
	size_t len = 0;

	assert_json(wr_json_encode_input(&in, NULL, &len), &len,
	            "{\"kind\":\"system\",\"content\":\"be brief\"}");
	assert_json(wr_json_encode_lifecycle_request(NULL, NULL, &len), &len,
	            "{}");
	assert_json(wr_json_encode_lifecycle_request("done", NULL, &len), &len,
	            "{\"reason\":\"done\"}");
}

Test(codec, worker_list_encodes_an_array_of_summaries)
{
	struct wr_worker_info a = sample_worker(), b = sample_worker();
	struct wr_worker_info *items[] = { &a, &b };
	struct wr_worker_list l = { items, 2, false, "" };
	struct wr_worker_list empty = { 0 };
	size_t len = 0;

	assert_json(wr_json_encode_worker_list(&l, "workers", &len), &len,
	            "{\"workers\":[" SAMPLE_SUMMARY_JSON "}," SAMPLE_SUMMARY_JSON
	            "}]}");
	assert_json(wr_json_encode_worker_list(&empty, NULL, &len), &len, "[]");
}

Test(codec, worker_page_has_workers_and_next_after)
{
	struct wr_worker_info a = sample_worker();
	struct wr_worker_info *items[] = { &a };
	struct wr_worker_list l = { items, 1, true, "w-1" };
	struct wr_worker_list last = { 0 };
	size_t len = 0;

	assert_json(wr_json_encode_worker_page(&l, &len), &len,
	            "{\"workers\":[" SAMPLE_SUMMARY_JSON "}],"
	            "\"next_after\":\"w-1\"}");
	assert_json(wr_json_encode_worker_page(&last, &len), &len,
	            "{\"workers\":[],\"next_after\":null}");
}

Test(codec, encoder_fails_on_an_out_of_range_enum)
{
	struct wr_worker_info w = sample_worker();

	w.status = (enum wr_worker_status)17;
	cr_assert_null(wr_json_encode_worker_summary(&w, NULL, NULL));
}

/* ---- round trips ------------------------------------------------------- */

Test(codec, worker_detail_round_trips_through_decode)
{
	struct wr_worker_info w = sample_worker(), *back = NULL;
	struct wr_error e;
	size_t len;

	w.mount_refs = sample_mounts;
	w.n_mount_refs = 2;
	char *text = wr_json_encode_worker_detail(&w, "worker", &len);

	cr_assert_not_null(text);
	cr_assert_eq(wr_json_decode_worker(text, len, "worker", true, &back, &e),
	             WR_OK, "%s: %s", e.field, e.message);
	assert_worker_eq(back, &w, true);
	char *again = wr_json_encode_worker_detail(back, "worker", NULL);
	cr_assert_str_eq(again, text);
	free(again);
	free(text);
	wr_worker_info_free(back);
}

Test(codec, worker_summary_round_trips_counts_and_flags)
{
	struct wr_worker_info *back = NULL;
	struct wr_error e;
	const char *text = SAMPLE_SUMMARY_JSON "}";

	cr_assert_eq(wr_json_decode_worker(S(text), NULL, false, &back, &e),
	             WR_OK, "%s: %s", e.field, e.message);
	struct wr_worker_info w = sample_worker();
	assert_worker_eq(back, &w, false);
	cr_assert_eq(back->n_capabilities, 2);
	cr_assert_str_eq(back->capabilities[0].name, "");
	cr_assert_str_eq(back->config_bundle_id, "");
	char *again = wr_json_encode_worker_summary(back, NULL, NULL);
	cr_assert_str_eq(again, text);
	free(again);
	wr_worker_info_free(back);
}

Test(codec, worker_list_round_trips)
{
	struct wr_worker_info a = sample_worker(), b = sample_worker();
	struct wr_worker_info *items[] = { &a, &b };
	struct wr_worker_list l = { items, 2, false, "" }, back = { 0 };
	struct wr_error e;
	size_t len;

	strcpy(b.ref.worker_id, "w-2");
	b.status = WR_STATUS_FAILED;
	b.run_state = WR_RUN_NONE;
	char *text = wr_json_encode_worker_list(&l, "workers", &len);
	cr_assert_not_null(text);
	cr_assert_eq(wr_json_decode_worker_list(text, len, "workers", &back, &e),
	             WR_OK, "%s: %s", e.field, e.message);
	cr_assert_eq(back.count, 2);
	assert_worker_eq(back.items[0], &a, false);
	assert_worker_eq(back.items[1], &b, false);
	char *again = wr_json_encode_worker_list(&back, "workers", NULL);
	cr_assert_str_eq(again, text);
	free(again);
	free(text);
	wr_worker_list_free(&back);

	cr_assert_eq(wr_json_decode_worker_list(S("[]"), NULL, &back, &e),
	             WR_OK);
	cr_assert_eq(back.count, 0);
	wr_worker_list_free(&back);
}

Test(codec, create_request_text_round_trips_byte_for_byte)
{
	static const char text[] =
		"{\"intent\":{\"kind\":\"role\",\"role\":\"critic\","
		"\"purpose\":\"review \\u00e9\"},\"profile\":{\"kind\":"
		"\"builtin\",\"value\":\"transcript\"},\"config_bundle\":"
		"{\"id\":\"cb-7\"},\"requested_capabilities\":[{\"name\":\"fs\"},"
		"{\"name\":\"net\",\"reason\":\"fetch\"}],\"workspace_refs\":"
		"[{\"name\":\"ws\",\"reference\":\"/w\"}],\"mount_refs\":"
		"[{\"name\":\"m\",\"reference\":\"vol:m\"},{\"name\":\"n\","
		"\"reference\":\"vol:n\"}]}";
	struct wr_create_request *r = NULL;
	struct wr_error e;
	size_t len;

	cr_assert_eq(wr_json_decode_create_request(S(text), NULL, &r, &e), WR_OK,
	             "%s: %s", e.field, e.message);
	cr_assert_eq(r->intent.kind, WR_INTENT_ROLE);
	cr_assert_str_eq(r->intent.role, "critic");
	cr_assert_str_eq(r->intent.purpose, "review \xc3\xa9");
	cr_assert_null(r->intent.objective);
	cr_assert_eq(r->profile.kind, WR_PROFILE_BUILTIN);
	cr_assert_str_eq(r->profile.value, "transcript");
	cr_assert_str_eq(r->config_bundle_id, "cb-7");
	cr_assert_eq(r->n_capabilities, 2);
	cr_assert_str_eq(r->capabilities[0].name, "fs");
	cr_assert_null(r->capabilities[0].reason);
	cr_assert_str_eq(r->capabilities[1].reason, "fetch");
	cr_assert_eq(r->n_workspace_refs, 1);
	cr_assert_str_eq(r->workspace_refs[0].reference, "/w");
	cr_assert_eq(r->n_mount_refs, 2);
	cr_assert_str_eq(r->mount_refs[1].name, "n");

	char *again = wr_json_encode_create_request(r, NULL, &len);
	/* \u00e9 comes back as the raw UTF-8 bytes json-c writes. */
	char *want = replace(text, "\\u00e9", "\xc3\xa9");
	cr_assert_str_eq(again, want);
	cr_assert_eq(len, strlen(want));
	free(want);
	free(again);
	wr_create_request_free(r);
}

Test(codec, empty_create_request_means_assistant_and_runtime_default)
{
	struct wr_create_request *r = NULL;
	struct wr_error e;

	cr_assert_eq(wr_json_decode_create_request(S(" {} \n"), NULL, &r, &e),
	             WR_OK);
	cr_assert_eq(r->intent.kind, WR_INTENT_ASSISTANT);
	cr_assert_null(r->intent.purpose);
	cr_assert_eq(r->profile.kind, WR_PROFILE_RUNTIME_DEFAULT);
	cr_assert_null(r->profile.value);
	cr_assert_null(r->config_bundle_id);
	cr_assert_eq(r->n_capabilities + r->n_workspace_refs + r->n_mount_refs,
	             0);
	char *text = wr_json_encode_create_request(r, NULL, NULL);
	cr_assert_str_eq(text,
	                 "{\"intent\":{\"kind\":\"assistant\"},\"profile\":"
	                 "{\"kind\":\"runtime_default\"},"
	                 "\"requested_capabilities\":[],\"workspace_refs\":[],"
	                 "\"mount_refs\":[]}");
	free(text);
	wr_create_request_free(r);
}

Test(codec, create_request_struct_round_trips)
{
	struct wr_capability caps[] = { { "gpu", NULL } };
	struct wr_create_request in = {
		.intent = { .kind = WR_INTENT_TASK, .objective = "sum it" },
		.profile = { .kind = WR_PROFILE_NAMED, .value = "python" },
		.capabilities = caps,
		.n_capabilities = 1,
	};
	struct wr_create_request *r = NULL;
	struct wr_error e;
	size_t len;
	char *text = wr_json_encode_create_request(&in, "request", &len);

	cr_assert_eq(wr_json_decode_create_request(text, len, "request", &r, &e),
	             WR_OK, "%s: %s", e.field, e.message);
	cr_assert_eq(r->intent.kind, WR_INTENT_TASK);
	cr_assert_str_eq(r->intent.objective, "sum it");
	cr_assert_null(r->intent.purpose);
	cr_assert_eq(r->profile.kind, WR_PROFILE_NAMED);
	cr_assert_str_eq(r->profile.value, "python");
	cr_assert_null(r->config_bundle_id);
	cr_assert_eq(r->n_capabilities, 1);
	cr_assert_str_eq(r->capabilities[0].name, "gpu");
	free(text);
	wr_create_request_free(r);
}

Test(codec, input_round_trips_both_ways)
{
	static const char text[] = "{\"kind\":\"user\",\"content\":\"a\\tb \\\"c\\\"\"}";
	struct wr_input in = { WR_INPUT_SYSTEM, NULL };
	struct wr_error e;

	cr_assert_eq(wr_json_decode_input(S(text), NULL, &in, &e), WR_OK);
	cr_assert_eq(in.kind, WR_INPUT_USER);
	cr_assert_str_eq(in.content, "a\tb \"c\"");
	char *again = wr_json_encode_input(&in, NULL, NULL);
	cr_assert_str_eq(again, text);
	free(again);
	wr_input_clear(&in);

	struct wr_input src = { WR_INPUT_SYSTEM, "\xe2\x82\xac 5" };
	size_t len;
	char *enc = wr_json_encode_input(&src, "input", &len);
	cr_assert_eq(wr_json_decode_input(enc, len, "input", &in, &e), WR_OK);
	cr_assert_eq(in.kind, WR_INPUT_SYSTEM);
	cr_assert_str_eq(in.content, src.content);
	free(enc);
	wr_input_clear(&in);
}

Test(codec, input_content_is_not_limited_to_max_string)
{
	size_t n = WR_JSON_MAX_STRING + 10;
	char *text = malloc(n + 64);
	struct wr_input in = { 0 };
	struct wr_error e;

	int head = sprintf(text, "{\"kind\":\"user\",\"content\":\"");
	memset(text + head, 'x', n);
	strcpy(text + head + n, "\"}");
	cr_assert_eq(wr_json_decode_input(text, strlen(text), NULL, &in, &e),
	             WR_OK);
	cr_assert_eq(strlen(in.content), n);
	wr_input_clear(&in);
	free(text);
}

/* A JSON path longer than an error's field (WR_FIELD_MAX - 1 bytes) is
 * cut, never inside a UTF-8 character, and ends with "...". */
Test(codec, a_path_too_long_for_the_field_is_cut_between_characters_and_marked)
{
	char text[512], want[WR_FIELD_MAX];
	struct wr_input in = { 0 };
	struct wr_error e;
	int n = sprintf(text, "{\"input\":{\"kind\":\"user\","
	                "\"content\":\"x\",\"");
	size_t w = (size_t)sprintf(want, "input.");

	for (int i = 0; i < 100; i++)
		n += sprintf(text + n, "\u00e9"); /* e-acute: 2 bytes */
	strcpy(text + n, "\":1}}");
	while (w + 2 <= WR_FIELD_MAX - 4)
		w += (size_t)sprintf(want + w, "\xc3\xa9");
	strcpy(want + w, "...");
	cr_assert_eq(wr_json_decode_input(text, strlen(text), "input", &in, &e),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(e.reason), "unknown_field");
	cr_assert_str_eq(e.field, want, "field %zu bytes: %s", strlen(e.field),
	                 e.field);
	cr_assert_eq(strlen(e.field), WR_FIELD_MAX - 1);
}

/* The same with an array index in the path: the scanner's path of a
 * duplicate member under a long member name. */
Test(codec, a_path_with_an_index_cut_for_the_field_is_marked)
{
	char text[512], want[WR_FIELD_MAX];
	struct wr_input in = { 0 };
	struct wr_error e;

	/* 125 + "[0]" is one byte too long: cut at the index already */
	memset(want, 'a', 125);
	want[125] = '\0';
	sprintf(text, "{\"%s\":[{\"b\":1,\"b\":2}]}", want);
	strcpy(want + 124, "...");
	cr_assert_eq(wr_json_decode_input(text, strlen(text), "", &in, &e),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(e.reason), "duplicate_member");
	cr_assert_str_eq(e.field, want, "field %zu bytes: %s", strlen(e.field),
	                 e.field);
}

Test(codec, lifecycle_request_empty_or_reason)
{
	char *reason = (char *)"sentinel";
	struct wr_error e;

	cr_assert_eq(wr_json_decode_lifecycle_request(NULL, 0, NULL, &reason, &e),
	             WR_OK);
	cr_assert_null(reason);
	reason = (char *)"sentinel";
	cr_assert_eq(wr_json_decode_lifecycle_request(S(" \r\n\t"), NULL, &reason,
	                                              &e),
	             WR_OK);
	cr_assert_null(reason);
	cr_assert_eq(wr_json_decode_lifecycle_request(S("{}"), NULL, &reason, &e),
	             WR_OK);
	cr_assert_null(reason);
	cr_assert_eq(wr_json_decode_lifecycle_request(S("{\"reason\":\"done\"}"),
	                                              NULL, &reason, &e),
	             WR_OK);
	cr_assert_str_eq(reason, "done");
	char *again = wr_json_encode_lifecycle_request(reason, NULL, NULL);
	cr_assert_str_eq(again, "{\"reason\":\"done\"}");
	free(again);
	free(reason);
	cr_assert_eq(wr_json_decode_lifecycle_request(
		             S("{\"stop\":{\"reason\":\"x\"}}"), "stop", &reason,
		             &e),
	             WR_OK);
	cr_assert_str_eq(reason, "x");
	free(reason);
}

Test(codec, acks_round_trip)
{
	struct wr_input_ack ia = { { "rt-1", "w-1" }, WR_STATUS_RUNNING,
		                   WR_RUN_IDLE, 12, 40 }, ib;
	struct wr_lifecycle_ack la = { { "rt-1", "w-1" }, WR_STATUS_CANCELLED,
		                       41, false }, lb;
	struct wr_error e;
	size_t len;

	char *text = wr_json_encode_input_ack(&ia, "ack", &len);
	cr_assert_eq(wr_json_decode_input_ack(text, len, "ack", &ib, &e), WR_OK);
	cr_assert_str_eq(ib.ref.worker_id, "w-1");
	cr_assert_str_eq(ib.ref.runtime_id, "rt-1");
	cr_assert_eq(ib.status, WR_STATUS_RUNNING);
	cr_assert_eq(ib.run_state, WR_RUN_IDLE);
	cr_assert_eq(ib.transcript_sequence, 12);
	cr_assert_eq(ib.event_id, 40);
	free(text);

	text = wr_json_encode_lifecycle_ack(&la, NULL, &len);
	cr_assert_eq(wr_json_decode_lifecycle_ack(text, len, NULL, &lb, &e),
	             WR_OK);
	cr_assert_str_eq(lb.ref.worker_id, "w-1");
	cr_assert_eq(lb.status, WR_STATUS_CANCELLED);
	cr_assert_eq(lb.event_id, 41);
	char *again = wr_json_encode_lifecycle_ack(&lb, NULL, NULL);
	cr_assert_str_eq(again, text);
	free(again);
	free(text);
}

Test(codec, transcript_page_round_trips_with_and_without_next)
{
	for (int has_next = 0; has_next <= 1; has_next++) {
		struct wr_transcript_page p = sample_page(has_next), back;
		struct wr_error e;
		size_t len;
		char *text = wr_json_encode_transcript_page(&p, "transcript",
		                                            &len);

		cr_assert_eq(wr_json_decode_transcript_page(text, len,
		                                            "transcript", &back,
		                                            &e),
		             WR_OK, "%s: %s", e.field, e.message);
		cr_assert_str_eq(back.ref.worker_id, "w-1");
		cr_assert_eq(back.start, 0);
		cr_assert_eq(back.limit, 2);
		cr_assert_eq(back.total_items, 3);
		cr_assert_eq(back.has_next, has_next);
		cr_assert_eq(back.next_start, has_next ? 2u : 0u);
		cr_assert_eq(back.count, 2);
		for (size_t i = 0; i < 2; i++) {
			cr_assert_eq(back.items[i].sequence, p.items[i].sequence);
			cr_assert_eq(back.items[i].role, p.items[i].role);
			cr_assert_str_eq(back.items[i].content,
			                 p.items[i].content);
			cr_assert_eq(back.items[i].event_id, p.items[i].event_id);
			cr_assert_eq(back.items[i].created_at_ms,
			             p.items[i].created_at_ms);
		}
		char *again = wr_json_encode_transcript_page(&back, "transcript",
		                                             NULL);
		cr_assert_str_eq(again, text);
		free(again);
		free(text);
		wr_transcript_page_clear(&back);
	}
}

Test(codec, runtime_summary_round_trips_with_and_without_name)
{
	for (int named = 0; named <= 1; named++) {
		struct wr_runtime_summary s = sample_runtime(named), back;
		struct wr_error e;
		size_t len;
		char *text = wr_json_encode_runtime_summary(&s, NULL, &len);

		memset(&back, 0x55, sizeof(back));
		cr_assert_eq(wr_json_decode_runtime_summary(text, len, NULL,
		                                            &back, &e),
		             WR_OK, "%s: %s", e.field, e.message);
		cr_assert_str_eq(back.runtime_id, "rt-1");
		cr_assert_eq(back.has_display_name, named);
		cr_assert_str_eq(back.display_name, s.display_name);
		cr_assert_str_eq(back.backend, "memory");
		cr_assert_eq(back.status, WR_RUNTIME_RUNNING);
		cr_assert_eq(back.worker_count, 5);
		cr_assert_eq(back.failed_worker_count, 1);
		cr_assert_eq(back.limits.max_input_bytes, 1048576);
		cr_assert_eq(back.limits.max_workers, 10000);
		cr_assert_str_eq(back.version, "0.1.0");
		cr_assert_eq(back.started_at_ms, T_CREATED);
		char *again = wr_json_encode_runtime_summary(&back, NULL, NULL);
		cr_assert_str_eq(again, text);
		free(again);
		free(text);
	}
}

Test(codec, error_round_trips)
{
	struct wr_error e, back, derr;
	size_t len;

	wr_error_clear(&e);
	e.code = WR_EINVALID_INPUT;
	e.reason = WR_REASON_UNKNOWN_FIELD;
	strcpy(e.field, "intent.x");
	strcpy(e.message, "unknown member 'intent.x'");
	strcpy(e.worker_id, "w-3");
	char *text = wr_json_encode_error(&e, &len);
	memset(&back, 0, sizeof(back));
	cr_assert_eq(wr_json_decode_error(text, len, &back, &derr), WR_OK,
	             "%s: %s", derr.field, derr.message);
	cr_assert_eq(back.code, WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(back.reason), "unknown_field");
	cr_assert_str_eq(back.field, "intent.x");
	cr_assert_str_eq(back.message, "unknown member 'intent.x'");
	cr_assert_str_eq(back.worker_id, "w-3");
	char *again = wr_json_encode_error(&back, NULL);
	cr_assert_str_eq(again, text);
	free(again);
	free(text);

	cr_assert_eq(wr_json_decode_error(
		             S("{\"error\":{\"code\":\"busy\",\"message\":\"m\"}}"),
		             &back, &derr),
	             WR_OK);
	cr_assert_eq(back.code, WR_EBUSY);
	cr_assert_eq(back.reason, WR_REASON_NONE);
	cr_assert_str_empty(back.field);
	cr_assert_str_empty(back.worker_id);
}

Test(codec, a_decoder_error_encodes_and_decodes_as_itself)
{
	struct wr_create_request *r = NULL;
	struct wr_error e, back, derr;

	cr_assert_eq(wr_json_decode_create_request(
		             S("{\"intent\":{\"kind\":\"robot\"}}"), NULL, &r, &e),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(e.message,
	                 "member 'intent.kind' must be one of assistant, task, "
	                 "role");
	char *text = wr_json_encode_error(&e, NULL);
	cr_assert_str_eq(text,
	                 "{\"error\":{\"code\":\"invalid_input\",\"message\":"
	                 "\"member 'intent.kind' must be one of assistant, "
	                 "task, role\",\"reason\":\"invalid_value\",\"field\":"
	                 "\"intent.kind\"}}");
	cr_assert_eq(wr_json_decode_error(text, strlen(text), &back, &derr),
	             WR_OK);
	cr_assert_eq(back.code, e.code);
	cr_assert_str_eq(wr_reason_name(back.reason), wr_reason_name(e.reason));
	cr_assert_str_eq(back.field, e.field);
	cr_assert_str_eq(back.message, e.message);
	free(text);
}

/* ---- rejections: create request ------------------------------------------ */

Test(codec, create_request_rejects_unknown_top_level_member)
{
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"assistant\"},\"x\":1}",
	              "unknown_field", "x");
	expect_reject(CREATE, "{\"Intent\":{}}", "unknown_field", "Intent");
}

Test(codec, create_request_rejects_unknown_intent_member)
{
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"assistant\",\"x\":1}}",
	              "unknown_field", "intent.x");
}

Test(codec, create_request_rejects_members_of_another_intent_kind)
{
	expect_reject(CREATE,
	              "{\"intent\":{\"kind\":\"assistant\",\"objective\":\"o\"}}",
	              "unknown_field", "intent.objective");
	expect_reject(CREATE,
	              "{\"intent\":{\"kind\":\"assistant\",\"role\":\"r\"}}",
	              "unknown_field", "intent.role");
	expect_reject(CREATE,
	              "{\"intent\":{\"kind\":\"task\",\"objective\":\"o\","
	              "\"purpose\":\"p\"}}",
	              "unknown_field", "intent.purpose");
	expect_reject(CREATE,
	              "{\"intent\":{\"kind\":\"role\",\"role\":\"r\","
	              "\"objective\":\"o\"}}",
	              "unknown_field", "intent.objective");
	expect_accept(CREATE, "{\"intent\":{\"kind\":\"role\",\"role\":\"r\","
	                      "\"purpose\":\"p\"}}");
	expect_accept(CREATE,
	              "{\"intent\":{\"kind\":\"assistant\",\"purpose\":\"\"}}");
}

Test(codec, create_request_rejects_profile_value_by_kind)
{
	expect_reject(CREATE,
	              "{\"profile\":{\"kind\":\"runtime_default\",\"value\":\"x\"}}",
	              "unknown_field", "profile.value");
	expect_reject(CREATE, "{\"profile\":{\"kind\":\"builtin\"}}",
	              "missing_field", "profile.value");
	expect_reject(CREATE, "{\"profile\":{\"kind\":\"named\",\"value\":\"\"}}",
	              "invalid_value", "profile.value");
	expect_reject(CREATE, "{\"profile\":{\"kind\":\"named\",\"v\":\"a\"}}",
	              "unknown_field", "profile.v");
}

Test(codec, create_request_rejects_unknown_nested_list_members)
{
	expect_reject(CREATE,
	              "{\"requested_capabilities\":[{\"name\":\"a\"},"
	              "{\"name\":\"b\",\"why\":\"c\"}]}",
	              "unknown_field", "requested_capabilities[1].why");
	expect_reject(CREATE,
	              "{\"mount_refs\":[{\"name\":\"a\",\"reference\":\"b\","
	              "\"mode\":\"ro\"}]}",
	              "unknown_field", "mount_refs[0].mode");
	expect_reject(CREATE, "{\"config_bundle\":{\"id\":\"a\",\"v\":2}}",
	              "unknown_field", "config_bundle.v");
}

Test(codec, create_request_rejects_wrong_type_of_each_member)
{
	static const struct {
		const char *json, *field;
	} cases[] = {
		{ "{\"intent\":\"assistant\"}", "intent" },
		{ "{\"intent\":null}", "intent" },
		{ "{\"intent\":{\"kind\":1}}", "intent.kind" },
		{ "{\"intent\":{\"kind\":\"assistant\",\"purpose\":null}}",
		  "intent.purpose" },
		{ "{\"intent\":{\"kind\":\"task\",\"objective\":[]}}",
		  "intent.objective" },
		{ "{\"intent\":{\"kind\":\"role\",\"role\":{}}}", "intent.role" },
		{ "{\"profile\":[]}", "profile" },
		{ "{\"profile\":{\"kind\":true}}", "profile.kind" },
		{ "{\"profile\":{\"kind\":\"named\",\"value\":3}}",
		  "profile.value" },
		{ "{\"config_bundle\":\"cb\"}", "config_bundle" },
		{ "{\"config_bundle\":{\"id\":1}}", "config_bundle.id" },
		{ "{\"requested_capabilities\":{}}", "requested_capabilities" },
		{ "{\"requested_capabilities\":[\"fs\"]}",
		  "requested_capabilities[0]" },
		{ "{\"requested_capabilities\":[{\"name\":true}]}",
		  "requested_capabilities[0].name" },
		{ "{\"requested_capabilities\":[{\"name\":\"a\",\"reason\":1.5}]}",
		  "requested_capabilities[0].reason" },
		{ "{\"workspace_refs\":\"w\"}", "workspace_refs" },
		{ "{\"workspace_refs\":[{\"name\":\"a\",\"reference\":0}]}",
		  "workspace_refs[0].reference" },
		{ "{\"mount_refs\":null}", "mount_refs" },
		{ "{\"mount_refs\":[{\"name\":\"a\",\"reference\":\"b\"},null]}",
		  "mount_refs[1]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_reject(CREATE, cases[i].json, "wrong_type",
		              cases[i].field);
}

Test(codec, create_request_rejects_missing_required_members)
{
	expect_reject(CREATE, "{\"intent\":{}}", "missing_field",
	              "intent.kind");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"task\"}}",
	              "missing_field", "intent.objective");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"role\",\"purpose\":\"p\"}}",
	              "missing_field", "intent.role");
	expect_reject(CREATE, "{\"profile\":{}}", "missing_field",
	              "profile.kind");
	expect_reject(CREATE, "{\"config_bundle\":{}}", "missing_field",
	              "config_bundle.id");
	expect_reject(CREATE, "{\"requested_capabilities\":[{\"reason\":\"r\"}]}",
	              "missing_field", "requested_capabilities[0].name");
	expect_reject(CREATE, "{\"workspace_refs\":[{\"name\":\"a\"}]}",
	              "missing_field", "workspace_refs[0].reference");
	expect_reject(CREATE, "{\"mount_refs\":[{\"reference\":\"a\"}]}",
	              "missing_field", "mount_refs[0].name");
}

Test(codec, create_request_rejects_bad_enum_values)
{
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"robot\"}}",
	              "invalid_value", "intent.kind");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"Task\"}}",
	              "invalid_value", "intent.kind");
	expect_reject(CREATE, "{\"profile\":{\"kind\":\"default\"}}",
	              "invalid_value", "profile.kind");
}

Test(codec, create_request_rejects_empty_required_strings)
{
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"task\",\"objective\":\"\"}}",
	              "invalid_value", "intent.objective");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"role\",\"role\":\"\"}}",
	              "invalid_value", "intent.role");
	expect_reject(CREATE, "{\"config_bundle\":{\"id\":\"\"}}",
	              "invalid_value", "config_bundle.id");
	expect_reject(CREATE, "{\"requested_capabilities\":[{\"name\":\"\"}]}",
	              "invalid_value", "requested_capabilities[0].name");
	expect_reject(CREATE,
	              "{\"workspace_refs\":[{\"name\":\"\",\"reference\":\"r\"}]}",
	              "invalid_value", "workspace_refs[0].name");
	expect_reject(CREATE,
	              "{\"mount_refs\":[{\"name\":\"n\",\"reference\":\"\"}]}",
	              "invalid_value", "mount_refs[0].reference");
}

/* {"<key>":[ n objects ]} */
static char *list_of(const char *key, const char *item, size_t n)
{
	size_t cap = strlen(key) + 16 + n * (strlen(item) + 1);
	char *s = malloc(cap), *p = s;

	cr_assert_not_null(s);
	p += sprintf(p, "{\"%s\":[", key);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i > 0 ? "," : "", item);
	strcpy(p, "]}");
	return s;
}

Test(codec, lists_accept_max_items_and_reject_one_more)
{
	static const struct {
		const char *key, *item;
	} lists[] = {
		{ "requested_capabilities", "{\"name\":\"c\"}" },
		{ "workspace_refs", "{\"name\":\"w\",\"reference\":\"r\"}" },
		{ "mount_refs", "{\"name\":\"m\",\"reference\":\"r\"}" },
	};

	for (size_t i = 0; i < 3; i++) {
		char *at = list_of(lists[i].key, lists[i].item, WR_JSON_MAX_ITEMS);
		char *past = list_of(lists[i].key, lists[i].item,
		                     WR_JSON_MAX_ITEMS + 1);
		expect_accept(CREATE, at);
		expect_reject(CREATE, past, "too_many_items", lists[i].key);
		free(at);
		free(past);
	}
}

Test(codec, strings_longer_than_max_string_are_too_long)
{
	size_t n = WR_JSON_MAX_STRING;
	char *text = malloc(n + 128);
	int head = sprintf(text, "{\"requested_capabilities\":[{\"name\":\"");

	memset(text + head, 'n', n);
	strcpy(text + head + n, "\"}]}");
	expect_accept(CREATE, text);
	memset(text + head, 'n', n + 1);
	strcpy(text + head + n + 1, "\"}]}");
	expect_reject(CREATE, text, "too_long", "requested_capabilities[0].name");
	free(text);
}

Test(codec, create_request_failure_leaves_out_untouched)
{
	struct wr_create_request sentinel, *r = &sentinel;
	struct wr_error e;

	/* Fails after intent, profile and a capability were allocated. */
	cr_assert_eq(wr_json_decode_create_request(
		             S("{\"intent\":{\"kind\":\"task\",\"objective\":\"o\"},"
		               "\"profile\":{\"kind\":\"named\",\"value\":\"v\"},"
		               "\"requested_capabilities\":[{\"name\":\"a\"}],"
		               "\"mount_refs\":[{\"name\":\"a\",\"reference\":\"b\"},"
		               "{\"name\":\"a\"}]}"),
		             NULL, &r, &e),
	             WR_EINVALID_INPUT);
	cr_assert_eq(r, &sentinel);
	cr_assert_str_eq(e.field, "mount_refs[1].reference");
}

/* ---- rejections: text level ------------------------------------------------ */

Test(codec, trailing_garbage_is_invalid_json)
{
	expect_reject(CREATE, "{} x", "invalid_json", "");
	expect_reject(CREATE, "{}{}", "invalid_json", "");
	expect_reject(CREATE, "{},", "invalid_json", "");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"a\"}]",
	              "invalid_json", "");
	expect_accept(CREATE, "{}\r\n\t ");
}

Test(codec, non_object_top_level_is_invalid_json)
{
	expect_reject(CREATE, "[]", "invalid_json", "");
	expect_reject(CREATE, "\"intent\"", "invalid_json", "");
	expect_reject(CREATE, "123", "invalid_json", "");
	expect_reject(CREATE, "null", "invalid_json", "");
	expect_reject(INPUT, "true", "invalid_json", "");
	expect_reject(LIFECYCLE, "[]", "invalid_json", "");
	expect_reject(LIST, "{}", "invalid_json", "");
}

Test(codec, malformed_json_is_invalid_json)
{
	static const char *bad[] = {
		"", "   ", "{", "{\"intent\":", "{\"a\" 1}", "{'intent':{}}",
		"{\"intent\":{\"kind\":'task'}}", "{\"x\":1,}", "/* c */{}",
		"{\"x\":\"a\tb\"}", "{\"x\":\"a\nb\"}", "{\"x\":tru}",
		"{\"x\":01}", "{\"x\":+1}", "{\"x\":\"\\q\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_reject(CREATE, bad[i], "invalid_json", "");
	expect_accept(CREATE, "{\"intent\":{\"kind\":\"assistant\","
	                      "\"purpose\":\"it's \\\"fine\\\" \\\\\"}}");
}

Test(codec, nul_byte_in_the_text_is_invalid_json)
{
	static const char with_nul[] =
		"{\"kind\":\"user\",\"content\":\"a\0b\"}";
	static const char nul_after[] = "{\"kind\":\"user\",\"content\":\"a\"}\0";

	expect_reject_len(INPUT, with_nul, sizeof(with_nul) - 1, NULL,
	                  "invalid_json", "");
	expect_reject_len(INPUT, nul_after, sizeof(nul_after) - 1, NULL,
	                  "invalid_json", "");
}

Test(codec, invalid_utf8_and_escaped_nul_are_invalid_utf8)
{
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"a\xff\"}",
	              "invalid_utf8", "content");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"\xc0\xaf\"}",
	              "invalid_utf8", "content");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"\xed\xa0\x80\"}",
	              "invalid_utf8", "content");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"a\\u0000b\"}",
	              "invalid_utf8", "content");
	expect_reject(CREATE,
	              "{\"intent\":{\"kind\":\"assistant\",\"purpose\":\"\xe2\x82\"}}",
	              "invalid_utf8", "intent.purpose");
	expect_reject(CREATE, "{\"x\xff\":1}", "invalid_utf8", "");
	/* Every string, before any member is looked at: also one a reader
	 * ignores (an exec worker's line, a profiles file's env value). */
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"x\","
	                     "\"x\":[\"\xff\"]}",
	              "invalid_utf8", "x[0]");
	expect_accept(INPUT,
	              "{\"kind\":\"user\",\"content\":\"\xf0\x9f\x98\x80\"}");
}

/* ---- JSON json-c would silently change is refused (issue 8) ------------ */

Test(codec, a_bad_member_name_of_the_outermost_object_is_at_the_top_level)
{
	static const struct {
		const char *json, *message;
	} cases[] = {
		{ "{\"\\u0000\":1}",
		  "the member name at byte 1 at the top level contains \\u0000" },
		{ "{\"intent\":{\"\\u0000\":1}}",
		  "the member name at byte 11 in 'intent' contains \\u0000" },
		{ "{\"\xff\":1}",
		  "the member name at byte 1 at the top level is not valid "
		  "UTF-8" },
		{ "{\"\\udc00\":1}",
		  "a member name at the top level contains an escaped lone "
		  "surrogate (byte 2); send the character itself or a complete "
		  "\\ud800-\\udbff + \\udc00-\\udfff pair" },
	};
	struct wr_error e;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(decode_any(CREATE, cases[i].json,
		                        strlen(cases[i].json), NULL, &e),
		             WR_EINVALID_INPUT, "%s", cases[i].json);
		cr_expect_str_eq(e.message, cases[i].message);
	}
}

Test(codec, escaped_nul_in_a_member_name_is_nul_in_member_name)
{
	/* json-c cuts a name at \u0000: these read as kind=system, as
	 * content "shadowed" and as a "profile" member. */
	expect_reject(INPUT, "{\"kind\":\"user\",\"kind\\u0000x\":\"system\","
	                     "\"content\":\"x\"}",
	              "nul_in_member_name", "");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"real\","
	                     "\"content\\u0000shadow\":\"shadowed\"}",
	              "nul_in_member_name", "");
	expect_reject(CREATE, "{\"profile\\u0000\":{\"kind\":\"builtin\","
	                      "\"value\":\"transcript\"}}",
	              "nul_in_member_name", "");
	expect_reject(CREATE, "{\"\\u0000\":1}", "nul_in_member_name", "");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"assistant\","
	                      "\"purpose\\u0000x\":\"p\"}}",
	              "nul_in_member_name", "intent");
	expect_reject(CREATE, "{\"requested_capabilities\":[{\"name\":\"a\"},"
	                      "{\"name\":\"b\",\"name\\u0000\":\"c\"}]}",
	              "nul_in_member_name", "requested_capabilities[1]");
	expect_reject_len(INPUT, S("{\"input\":{\"kind\":\"user\",\"con\\u0000"
	                           "tent\":\"x\",\"content\":\"y\"}}"),
	                  "input", "nul_in_member_name", "input");
	/* In a value \u0000 is kept by json-c and refused by the getter. */
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"\\u0000\"}",
	              "invalid_utf8", "content");
}

Test(codec, duplicate_members_are_refused_with_their_path)
{
	expect_reject(INPUT, "{\"kind\":\"user\",\"kind\":\"system\","
	                     "\"content\":\"x\"}",
	              "duplicate_member", "kind");
	/* the same name however it is escaped */
	expect_reject(INPUT, "{\"kind\":\"user\",\"\\u006bind\":\"system\","
	                     "\"content\":\"x\"}",
	              "duplicate_member", "kind");
	expect_reject(INPUT, "{\"content\":\"\\u00e9\",\"kind\":\"user\","
	                     "\"content\":\"x\",\"kind\":\"user\"}",
	              "duplicate_member", "content");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"task\",\"objective\":"
	                      "\"a\",\"objective\":\"b\"}}",
	              "duplicate_member", "intent.objective");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"assistant\"},\"profile\":"
	                      "{\"kind\":\"named\",\"value\":\"x\","
	                      "\"value\":\"y\"}}",
	              "duplicate_member", "profile.value");
	expect_reject(CREATE, "{\"requested_capabilities\":[{\"name\":\"a\"},"
	                      "{\"name\":\"b\",\"reason\":\"r\",\"name\":\"c\"}"
	                      "]}",
	              "duplicate_member", "requested_capabilities[1].name");
	expect_reject(CREATE, "{\"intent\":{\"kind\":\"assistant\"},"
	                      "\"intent\":{\"kind\":\"assistant\"}}",
	              "duplicate_member", "intent");
	/* inside a member the shape does not know, too */
	expect_reject(CREATE, "{\"x\":{\"y\":[{\"z\":1,\"z\":1}]}}",
	              "duplicate_member", "x.y[0].z");
	/* the first repetition in text order is named */
	expect_reject(CREATE, "{\"b\":1,\"a\":1,\"b\":2,\"a\":2}",
	              "duplicate_member", "b");
	expect_reject_len(INPUT, S("{\"input\":{\"kind\":\"user\","
	                           "\"content\":\"a\"},\"input\":{}}"),
	                  "input", "duplicate_member", "input");
	/* one name in different objects is not a duplicate */
	expect_accept(CREATE, "{\"intent\":{\"kind\":\"task\",\"objective\":"
	                      "\"kind\"},\"profile\":{\"kind\":"
	                      "\"runtime_default\"},\"requested_capabilities\":"
	                      "[{\"name\":\"a\"},{\"name\":\"a\"}]}");
}

/* {"m0":0,"m1":0,...} with n members, plus "m<dup>" again at the end when
 * dup < n. */
static char *many_members(size_t n, size_t dup)
{
	char *s = malloc(n * 16 + 32), *p = s;

	cr_assert_not_null(s);
	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"m%zu\":0", i > 0 ? "," : "", i);
	if (dup < n)
		p += sprintf(p, ",\"m%zu\":1", dup);
	strcpy(p, "}");
	return s;
}

Test(codec, duplicate_detection_holds_in_large_objects, .timeout = 10)
{
	char *distinct = many_members(100000, SIZE_MAX);
	char *dup = many_members(100000, 77777);

	expect_reject(CREATE, distinct, "unknown_field", "m0");
	expect_reject(CREATE, dup, "duplicate_member", "m77777");
	free(distinct);
	free(dup);
}

Test(codec, escaped_lone_surrogates_are_invalid_unicode)
{
	static const char *const lone[] = {
		"\\ud800", "\\udc00", "\\udfff", "\\uDBFF", "a\\ud800",
		"\\ud800\\u0041", "\\ud800A", "\\ud800\\ud800",
		"\\udc00\\ud800", "\\ud800\\n",
	};
	char text[128];

	for (size_t i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
		snprintf(text, sizeof(text),
		         "{\"kind\":\"user\",\"content\":\"%s\"}", lone[i]);
		expect_reject(INPUT, text, "invalid_unicode", "content");
	}
	expect_reject(CREATE, "{\"workspace_refs\":[{\"name\":\"a\","
	                      "\"reference\":\"\\udfff\"}]}",
	              "invalid_unicode", "workspace_refs[0].reference");
	expect_reject(CREATE, "{\"intent\":{\"k\\ud800\":1}}",
	              "invalid_unicode", "intent");
	expect_reject(CREATE, "{\"x\":[\"\\ud800\"]}", "invalid_unicode",
	              "x[0]");
	/* a cut or malformed escape is not JSON at all */
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"\\ud800\\u00"
	                     "\"}",
	              "invalid_json", "");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"\\ud8\"}",
	              "invalid_json", "");
}

Test(codec, escaped_pairs_and_bmp_characters_decode_exactly)
{
	static const struct {
		const char *json, *utf8;
	} ok[] = {
		{ "\\ud83d\\ude00", "\xf0\x9f\x98\x80" },
		{ "\\uD83D\\uDE00", "\xf0\x9f\x98\x80" },
		{ "\\udbff\\udfff", "\xf4\x8f\xbf\xbf" },
		{ "\\ud800\\udc00", "\xf0\x90\x80\x80" },
		{ "\\ud7ff\\ue000", "\xed\x9f\xbf\xee\x80\x80" },
		{ "\\u00e9\\u0041\\/", "\xc3\xa9" "A/" },
	};
	char text[128];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct wr_input in = { 0 };
		struct wr_error e;
		int n = snprintf(text, sizeof(text),
		                 "{\"kind\":\"user\",\"content\":\"%s\"}",
		                 ok[i].json);
		cr_assert_eq(wr_json_decode_input(text, (size_t)n, NULL, &in,
		                                  &e),
		             WR_OK, "%s: %s", text, e.message);
		cr_expect_str_eq(in.content, ok[i].utf8, "%s", text);
		wr_input_clear(&in);
	}
}

/* An InputAck text with transcript_sequence written as num. */
static void ack_with_sequence(char *buf, size_t size, const char *num)
{
	snprintf(buf, size,
	         "{\"worker_ref\":" REF_JSON ",\"status\":\"running\","
	         "\"run_state\":\"busy\",\"transcript_sequence\":%s,"
	         "\"event_id\":1}", num);
}

Test(codec, number_forms_json_c_would_change_are_refused)
{
	static const struct {
		const char *num, *reason;
	} cases[] = {
		/* json-c: a double; an integer is expected */
		{ "1.0", "wrong_type" }, { "1e2", "wrong_type" },
		{ "1E+2", "wrong_type" }, { "-0.0", "wrong_type" },
		{ "1e400", "wrong_type" },
		/* json-c: 0, sign dropped */
		{ "-0", "invalid_number" },
		/* json-c: saturated to UINT64_MAX / INT64_MIN */
		{ "18446744073709551616", "invalid_number" },
		{ "99999999999999999999999", "invalid_number" },
		{ "-9223372036854775809", "invalid_number" },
		/* json-c reads these, JSON has none of them */
		{ "NaN", "invalid_json" }, { "Infinity", "invalid_json" },
		{ "-Infinity", "invalid_json" }, { "1.", "invalid_json" },
		{ "-01", "invalid_json" }, { "01", "invalid_json" },
		{ ".5", "invalid_json" }, { "+1", "invalid_json" },
		{ "0x10", "invalid_json" }, { "1e", "invalid_json" },
		{ "-", "invalid_json" },
		/* in range, but negative where a count is expected */
		{ "-1", "invalid_value" },
		{ "-9223372036854775808", "invalid_value" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *r = cases[i].reason;
		ack_with_sequence(text, sizeof(text), cases[i].num);
		expect_reject(INPUT_ACK, text, r,
		              strcmp(r, "invalid_json") == 0
		                      ? "" : "transcript_sequence");
	}
	/* beyond range inside anything, also where nothing reads it */
	expect_reject(CREATE, "{\"x\":[1,-0]}", "invalid_number", "x[1]");
}

Test(codec, integers_up_to_the_64_bit_limits_are_read_exactly)
{
	struct wr_input_ack a;
	struct wr_error e;
	char text[256];

	ack_with_sequence(text, sizeof(text), "18446744073709551615");
	cr_assert_eq(wr_json_decode_input_ack(text, strlen(text), NULL, &a, &e),
	             WR_OK, "%s", e.message);
	cr_expect_eq(a.transcript_sequence, UINT64_MAX);
	ack_with_sequence(text, sizeof(text), "0");
	cr_assert_eq(wr_json_decode_input_ack(text, strlen(text), NULL, &a, &e),
	             WR_OK, "%s", e.message);
	cr_expect_eq(a.transcript_sequence, 0);
}

/* {"x":[[...[1]...]]}: levels containers in all, a scalar in the deepest
 * (json-c counts that scalar as one more level; the limit must not). */
static char *nested(int levels)
{
	char *s = malloc((size_t)levels * 2 + 16), *p = s;

	cr_assert_not_null(s);
	p += sprintf(p, "{\"x\":");
	for (int i = 1; i < levels; i++)
		*p++ = '[';
	*p++ = '1';
	for (int i = 1; i < levels; i++)
		*p++ = ']';
	strcpy(p, "}");
	return s;
}

Test(codec, nesting_at_the_depth_limit_parses_and_one_more_is_too_deep)
{
	char *at = nested(WR_JSON_MAX_DEPTH), *past = nested(WR_JSON_MAX_DEPTH + 1);

	/* At the limit the text parses, so the member check runs. */
	expect_reject(CREATE, at, "unknown_field", "x");
	char where[WR_FIELD_MAX] = "x";
	struct wr_error e;

	/* The field is where the container one level too deep starts: the
	 * object's x, then the index of each array around it. */
	for (int i = 1; i < WR_JSON_MAX_DEPTH; i++)
		strcat(where, "[0]");
	expect_reject(CREATE, past, "too_deep", where);
	expect_reject(INPUT, past, "too_deep", where);
	cr_assert_eq(decode_any(CREATE, past, strlen(past), NULL, &e),
	             WR_EINVALID_INPUT);
	cr_assert(strstr(e.message, where) != NULL, "%s", e.message);
	free(at);
	free(past);
}

Test(codec, text_over_max_bytes_is_payload_too_large)
{
	size_t n = WR_JSON_MAX_BYTES + 1;
	char *text = malloc(n);

	cr_assert_not_null(text);
	memset(text, ' ', n);
	text[0] = '{';
	text[1] = '}';
	expect_reject_len(CREATE, text, n, NULL, "payload_too_large", "");
	/* Exactly the limit is accepted. */
	struct wr_create_request *r = NULL;
	struct wr_error e;
	cr_assert_eq(wr_json_decode_create_request(text, n - 1, NULL, &r, &e),
	             WR_OK, "%s", e.message);
	wr_create_request_free(r);
	free(text);
}

Test(codec, envelope_must_be_the_only_member)
{
	expect_reject_len(CREATE, S("{}"), "request", "missing_field",
	                  "request");
	expect_reject_len(CREATE, S("{\"req\":{}}"), "request", "unknown_field",
	                  "req");
	expect_reject_len(CREATE, S("{\"request\":{},\"x\":1}"), "request",
	                  "unknown_field", "x");
	expect_reject_len(CREATE, S("{\"request\":[]}"), "request", "wrong_type",
	                  "request");
	expect_reject_len(CREATE, S("[{}]"), "request", "invalid_json", "");
	expect_reject_len(LIST, S("{\"workers\":{}}"), "workers", "wrong_type",
	                  "workers");
	expect_reject_len(INPUT, S("{\"kind\":\"user\",\"content\":\"a\"}"),
	                  "input", "unknown_field", "kind");
	/* Paths inside an envelope start with its name. */
	expect_reject_len(CREATE, S("{\"request\":{\"intent\":{\"kind\":1}}}"),
	                  "request", "wrong_type", "request.intent.kind");
	expect_reject_len(LIFECYCLE, S("{\"stop\":{\"why\":1}}"), "stop",
	                  "unknown_field", "stop.why");
}

/* ---- rejections: input and lifecycle request ------------------------------ */

Test(codec, input_rejects_bad_kind_missing_members_and_empty_content)
{
	struct wr_input in = { WR_INPUT_SYSTEM, (char *)"keep" };
	struct wr_error e;

	expect_reject(INPUT, "{\"kind\":\"admin\",\"content\":\"a\"}",
	              "invalid_value", "kind");
	expect_reject(INPUT, "{\"content\":\"a\"}", "missing_field", "kind");
	expect_reject(INPUT, "{\"kind\":\"user\"}", "missing_field", "content");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":5}", "wrong_type",
	              "content");
	expect_reject(INPUT, "{\"kind\":[],\"content\":\"a\"}", "wrong_type",
	              "kind");
	expect_reject(INPUT, "{\"kind\":\"user\",\"content\":\"a\",\"to\":1}",
	              "unknown_field", "to");
	cr_assert_eq(wr_json_decode_input(S("{\"kind\":\"user\",\"content\":\"\"}"),
	                                  NULL, &in, &e),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(e.reason), "empty_content");
	cr_assert_str_eq(e.field, "content");
	cr_assert_eq(in.kind, WR_INPUT_SYSTEM, "out untouched");
	cr_assert_str_eq(in.content, "keep");
}

Test(codec, lifecycle_request_rejects_anything_but_reason)
{
	expect_reject(LIFECYCLE, "{\"reason\":1}", "wrong_type", "reason");
	expect_reject(LIFECYCLE, "{\"reason\":\"a\",\"force\":true}",
	              "unknown_field", "force");
	expect_reject(LIFECYCLE, "x", "invalid_json", "");
	expect_reject(LIFECYCLE, "\"done\"", "invalid_json", "");
}

/* ---- rejections: response shapes ---------------------------------------- */

Test(codec, worker_rejects_bad_values_with_paths)
{
	static const struct {
		const char *from, *to, *reason, *field;
	} cases[] = {
		{ "\"transcript_len\":3", "\"transcript_len\":-1",
		  "invalid_value", "transcript_len" },
		{ "\"transcript_len\":3", "\"transcript_len\":3.0", "wrong_type",
		  "transcript_len" },
		{ "\"transcript_len\":3", "\"transcript_len\":\"3\"",
		  "wrong_type", "transcript_len" },
		{ "\"last_event_id\":7,", "", "missing_field", "last_event_id" },
		{ "\"status\":\"running\"", "\"status\":\"sleeping\"",
		  "invalid_value", "status" },
		{ "\"run_state\":\"idle\"", "\"run_state\":\"Idle\"",
		  "invalid_value", "run_state" },
		{ "\"has_config_bundle\":true", "\"has_config_bundle\":1",
		  "wrong_type", "has_config_bundle" },
		{ "\"created_at\":\"2026-11-24T10:21:56.123Z\"",
		  "\"created_at\":\"2026-11-24T10:21:56Z\"", "invalid_value",
		  "created_at" },
		{ "\"updated_at\":\"2026-11-24T10:22:00.000Z\"",
		  "\"updated_at\":1795515720000", "wrong_type", "updated_at" },
		{ "\"worker_id\":\"w-1\",\"status\"",
		  "\"worker_id\":\"w-2\",\"status\"", "invalid_value",
		  "worker_id" },
		{ "\"intent\":{\"kind\":\"role\"", "\"intent\":{\"kind\":\"rol\"",
		  "invalid_value", "intent.kind" },
		{ "\"profile\":{\"kind\":\"named\",\"value\":\"py\"}",
		  "\"profile\":{\"kind\":\"named\",\"value\":\"py\",\"x\":0}",
		  "unknown_field", "profile.x" },
		{ "\"requested_capability_count\":2",
		  "\"requested_capability_count\":3", "invalid_value",
		  "requested_capability_count" },
		{ "\"has_config_bundle\":true", "\"has_config_bundle\":false",
		  "invalid_value", "has_config_bundle" },
		{ "{\"name\":\"net\"}", "{\"name\":\"net\",\"reason\":null}",
		  "wrong_type", "requested_capabilities[1].reason" },
		{ "\"mount_refs\":[]", "\"mount_refs\":[],\"extra\":[]",
		  "unknown_field", "extra" },
		{ ",\"mount_refs\":[]", "", "missing_field", "mount_refs" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = replace(SAMPLE_DETAIL_JSON, cases[i].from,
		                     cases[i].to);
		expect_reject(DETAIL, text, cases[i].reason, cases[i].field);
		free(text);
	}
	expect_accept(DETAIL, SAMPLE_DETAIL_JSON);
}

Test(codec, worker_ref_ids_must_be_valid)
{
	char *text = replace(SAMPLE_SUMMARY_JSON "}",
	                     "{\"runtime_id\":\"rt-1\",\"worker_id\":\"w-1\"}",
	                     "{\"runtime_id\":\"rt-1\",\"worker_id\":\"w 1\"}");
	expect_reject(SUMMARY, text, "invalid_value", "worker_ref.worker_id");
	free(text);
	text = replace(SAMPLE_SUMMARY_JSON "}",
	               "{\"runtime_id\":\"rt-1\",\"worker_id\":\"w-1\"}",
	               "{\"runtime_id\":\"rt-1\"}");
	expect_reject(SUMMARY, text, "missing_field", "worker_ref.worker_id");
	free(text);
}

Test(codec, summary_rejects_detail_members)
{
	expect_reject(SUMMARY, SAMPLE_DETAIL_JSON, "unknown_field",
	              "config_bundle");
	expect_accept(SUMMARY, SAMPLE_SUMMARY_JSON "}");
}

Test(codec, worker_list_reports_the_item_path)
{
	char *text = replace("[" SAMPLE_SUMMARY_JSON "}," SAMPLE_SUMMARY_JSON
	                     ",\"z\":1}]",
	                     ",\"z\":1", ",\"status\":\"x\"");
	/* A second "status" in item 1: refused at its path (json-c alone
	 * would keep the last value). */
	expect_reject(LIST, text, "duplicate_member", "[1].status");
	free(text);
	expect_reject_len(LIST, S("{\"workers\":[1]}"), "workers", "wrong_type",
	                  "workers[0]");
}

Test(codec, transcript_page_rejects_bad_members)
{
	static const char page[] =
		"{\"worker_ref\":" REF_JSON ",\"start\":0,\"limit\":2,"
		"\"total_items\":3,\"items\":" SAMPLE_PAGE_ITEMS_JSON
		",\"next_start\":2" PAGE_WORKER_JSON "}";
	static const struct {
		const char *from, *to, *reason, *field;
	} cases[] = {
		{ "\"run_state\":\"busy\"", "\"run_state\":\"asleep\"",
		  "invalid_value", "run_state" },
		{ ",\"status\":\"running\"", "", "missing_field", "status" },
		{ "\"last_event_id\":5", "\"last_event_id\":\"5\"",
		  "wrong_type", "last_event_id" },
		{ "\"limit\":2", "\"limit\":4294967296", "invalid_value",
		  "limit" },
		{ "\"next_start\":2", "\"next_start\":\"2\"", "wrong_type",
		  "next_start" },
		{ ",\"next_start\":2", "", "missing_field", "next_start" },
		{ "\"role\":\"worker\"", "\"role\":\"assistant\"",
		  "invalid_value", "items[1].role" },
		{ "\"sequence\":1,\"worker_ref\":{\"runtime_id\":\"rt-1\","
		  "\"worker_id\":\"w-1\"}",
		  "\"sequence\":1,\"worker_ref\":{\"runtime_id\":\"rt-1\","
		  "\"worker_id\":\"w-2\"}",
		  "invalid_value", "items[0].worker_ref" },
		{ "\"content\":\"hi\"", "\"content\":null", "wrong_type",
		  "items[0].content" },
		{ "\"event_id\":3", "\"event_id\":-3", "invalid_value",
		  "items[1].event_id" },
		{ "\"items\":[", "\"items\":[7,", "wrong_type", "items[0]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = replace(page, cases[i].from, cases[i].to);
		expect_reject(PAGE, text, cases[i].reason, cases[i].field);
		free(text);
	}
	char *text = replace(page, "\"limit\":2", "\"limit\":4294967295");
	expect_accept(PAGE, text);
	free(text);
	expect_accept(PAGE, page);
}

Test(codec, runtime_summary_rejects_bad_members)
{
	static const struct {
		const char *from, *to, *reason, *field;
	} cases[] = {
		{ "\"backend\":\"memory\"", "\"backend\":\"disk\"",
		  "invalid_value", "backend" },
		{ "\"status\":\"running\"", "\"status\":\"paused\"",
		  "invalid_value", "status" },
		{ "\"display_name\":null", "\"display_name\":false",
		  "wrong_type", "display_name" },
		{ "\"display_name\":null,", "", "missing_field",
		  "display_name" },
		{ "\"max_workers\":10000", "\"max_workers\":10000,\"x\":1",
		  "unknown_field", "limits.x" },
		{ "\"max_workers\":10000", "\"max_workers\":-1",
		  "invalid_value", "limits.max_workers" },
		{ "\"runtime_id\":\"rt-1\"", "\"runtime_id\":\".rt\"",
		  "invalid_value", "runtime_id" },
		{ "\"version\":\"0.1.0\"",
		  "\"version\":\"0123456789012345678901234567890123\"",
		  "too_long", "version" },
		{ "\"started_at\":\"2026-11-24T10:21:56.123Z\"",
		  "\"started_at\":\"2026-11-24T10:21:56.123+01:00\"",
		  "invalid_value", "started_at" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = replace(RUNTIME_JSON("null"), cases[i].from,
		                     cases[i].to);
		expect_reject(RUNTIME, text, cases[i].reason, cases[i].field);
		free(text);
	}
}

Test(codec, acks_reject_bad_members)
{
	expect_reject(INPUT_ACK,
	              "{\"worker_ref\":" REF_JSON ",\"status\":\"running\","
	              "\"run_state\":\"busy\",\"transcript_sequence\":4}",
	              "missing_field", "event_id");
	expect_reject(LIFECYCLE_ACK,
	              "{\"worker_ref\":" REF_JSON ",\"status\":\"gone\","
	              "\"event_id\":1}",
	              "invalid_value", "status");
	expect_reject(LIFECYCLE_ACK,
	              "{\"worker_ref\":" REF_JSON ",\"status\":\"stopped\","
	              "\"event_id\":1,\"run_state\":\"none\"}",
	              "unknown_field", "run_state");
}

Test(codec, error_decode_rejects_bad_codes_and_members)
{
	struct wr_error out, e;

	expect_reject(ERROR, "{\"error\":{\"code\":\"ok\",\"message\":\"m\"}}",
	              "invalid_value", "error.code");
	expect_reject(ERROR, "{\"error\":{\"code\":\"oops\",\"message\":\"m\"}}",
	              "invalid_value", "error.code");
	expect_reject(ERROR, "{\"error\":{\"code\":\"busy\"}}", "missing_field",
	              "error.message");
	expect_reject(ERROR,
	              "{\"error\":{\"code\":\"busy\",\"message\":\"m\","
	              "\"hint\":\"h\"}}",
	              "unknown_field", "error.hint");
	expect_reject(ERROR, "{\"err\":{}}", "unknown_field", "err");
	expect_reject(ERROR,
	              "{\"error\":{\"code\":\"busy\",\"message\":\"m\","
	              "\"reason\":\"0123456789012345678901234567890123456789"
	              "0123456789\"}}",
	              "too_long", "error.reason");
	memset(&out, 0x41, sizeof(out));
	cr_assert_eq(wr_json_decode_error(S("{\"error\":{\"code\":1}}"), &out, &e),
	             WR_EINVALID_INPUT);
	cr_assert_eq(((unsigned char *)&out)[0], 0x41, "out untouched");
}
