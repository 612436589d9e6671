/*
 * test_encode_text.c - the fixed-shape encoders that write text directly
 * (worker summary and detail, pages of workers, runtime summary, input and
 * lifecycle acks) against their json-c reference (wr__json_tree_encode_*),
 * byte for byte, on many generated inputs: strings with every escape
 * json-c makes (control bytes, quote, backslash) and every byte it leaves
 * alone ('/', DEL, UTF-8), optional members present and absent, enums in
 * and out of range (both must fail then); and the bound on a summary's
 * length that list pages count (wr__worker_summary_size_max).  Links
 * src/libwr-core.la.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/text.h"

#define ROUNDS 3000

static unsigned seed = 12345;

static unsigned
rnd(unsigned n)
{
	return (unsigned)rand_r(&seed) % n;
}

/* A malloc'd string of up to 24 bytes drawn from the interesting ones. */
static char *
rnd_str(void)
{
	static const char *const pieces[] = {
		"a", "Z", "0", " ", "\"", "\\", "/", "\x7f", "\x01", "\x1f",
		"\b", "\f", "\n", "\r", "\t", "\xc3\xa9", "\xe2\x82\xac",
		"\xf0\x9f\x98\x80", "u", "{", "}", ":", ",", "null"};
	size_t n = rnd(8), len = 0;
	char *s = calloc(1, 64);

	cr_assert_not_null(s);
	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
		if (len + strlen(p) >= 60)
			break;
		memcpy(s + len, p, strlen(p));
		len += strlen(p);
	}
	return s;
}

static char *
maybe_str(void)
{
	return rnd(3) == 0 ? NULL : rnd_str();
}

static void
rnd_id(char *dst, size_t cap)
{
	char *s = rnd_str();
	snprintf(dst, cap, "%s", s);
	free(s);
}

/* Mostly in range; 1 in 40 one past the last enumerator. */
static int
rnd_enum(int count)
{
	return rnd(40) == 0 ? count : (int)rnd((unsigned)count);
}

static int64_t
rnd_ms(void)
{
	static const int64_t edge[] = {0, -1, 1764460800123, 253402300799999,
	                               INT64_MIN, INT64_MAX, -62167219200000};
	return rnd(4) == 0 ? edge[rnd(7)] : (int64_t)rnd(2000000000) * 1000 + rnd(1000);
}

static uint64_t
rnd_u64(void)
{
	return rnd(5) == 0 ? UINT64_MAX - rnd(3) : rnd(1000000);
}

static void
rnd_worker(struct wr_worker_info *w)
{
	memset(w, 0, sizeof(*w));
	rnd_id(w->ref.runtime_id, sizeof(w->ref.runtime_id));
	rnd_id(w->ref.worker_id, sizeof(w->ref.worker_id));
	w->status = (enum wr_worker_status)rnd_enum(WR__STATUS_COUNT);
	w->run_state = (enum wr_run_state)rnd_enum(3);
	w->intent.kind = (enum wr_intent_kind)rnd_enum(3);
	w->intent.purpose = maybe_str();
	w->intent.objective = maybe_str();
	w->intent.role = maybe_str();
	w->profile.kind = (enum wr_profile_kind)rnd_enum(3);
	w->profile.value = maybe_str();
	w->config_bundle_id = maybe_str();
	w->n_capabilities = rnd(3);
	w->capabilities = calloc(w->n_capabilities + 1, sizeof(*w->capabilities));
	for (size_t i = 0; i < w->n_capabilities; i++) {
		w->capabilities[i].name = rnd_str();
		w->capabilities[i].reason = maybe_str();
	}
	w->n_workspace_refs = rnd(3);
	w->workspace_refs = calloc(w->n_workspace_refs + 1,
	                           sizeof(*w->workspace_refs));
	for (size_t i = 0; i < w->n_workspace_refs; i++) {
		w->workspace_refs[i].name = rnd_str();
		w->workspace_refs[i].reference = rnd_str();
	}
	w->n_mount_refs = rnd(3);
	w->mount_refs = calloc(w->n_mount_refs + 1, sizeof(*w->mount_refs));
	for (size_t i = 0; i < w->n_mount_refs; i++) {
		w->mount_refs[i].name = rnd_str();
		w->mount_refs[i].reference = rnd_str();
	}
	w->transcript_len = rnd_u64();
	w->last_event_id = rnd_u64();
	w->created_at_ms = rnd_ms();
	w->updated_at_ms = rnd_ms();
	w->status_reason = maybe_str();
}

/* Both NULL, or the same bytes and lengths. */
static void
same(char *text, size_t tlen, char *tree, size_t rlen, const char *what,
     int round)
{
	if (tree == NULL) {
		cr_assert_null(text, "%s, round %d: text encoded what the tree "
		               "refused: %s", what, round, text);
		return;
	}
	cr_assert_not_null(text, "%s, round %d: text refused %s", what, round,
	                   tree);
	cr_assert_eq(tlen, rlen, "%s, round %d: length %zu vs %zu:\n%s\n%s", what, round, tlen, rlen, text, tree);
	cr_assert_str_eq(text, tree, "%s, round %d", what, round);
	free(text);
	free(tree);
}

#define SAME(what, call_text, call_tree)                                   \
	do {                                                               \
		size_t tl_ = 0, rl_ = 0;                                   \
		char *a_ = call_text, *b_ = call_tree;                     \
		same(a_, tl_, b_, rl_, what, r);                           \
	} while (0)

static const char *
rnd_envelope(void)
{
	return rnd(3) == 0 ? NULL : rnd(2) ? "worker" : "a\"b\\c\n";
}

Test(encode_text, worker_summary_and_detail_match_json_c)
{
	for (int r = 0; r < ROUNDS; r++) {
		struct wr_worker_info w;
		const char *env = rnd_envelope();

		rnd_worker(&w);
		SAME("summary", wr_json_encode_worker_summary(&w, env, &tl_),
		     wr__json_tree_encode_worker_summary(&w, env, &rl_));
		SAME("detail", wr_json_encode_worker_detail(&w, env, &tl_),
		     wr__json_tree_encode_worker_detail(&w, env, &rl_));
		wr__worker_info_clear(&w);
	}
}

/* Fails unless w's summary, when it has one, fits its bound. */
static void
assert_summary_within_bound(const struct wr_worker_info *w, int round)
{
	size_t len = 0, max = wr__worker_summary_size_max(w);
	char *text = wr_json_encode_worker_summary(w, NULL, &len);

	if (text != NULL)
		cr_assert_leq(len, max, "round %d: %zu bytes, bound %zu:\n%s",
		              round, len, max, text);
	free(text);
}

Test(encode_text, a_summary_is_never_longer_than_its_size_bound)
{
	static char ctl[65537], quotes[65537];
	struct wr_worker_info w;

	for (int r = 0; r < ROUNDS; r++) {
		rnd_worker(&w);
		assert_summary_within_bound(&w, r);
		wr__worker_info_clear(&w);
	}
	/* The widest: longest ids and status names, 20-digit counts, the
	 * widest times, 64 KiB of 6-byte and of 2-byte escapes. */
	memset(ctl, '\x01', sizeof(ctl) - 1);
	memset(quotes, '"', sizeof(quotes) - 1);
	memset(&w, 0, sizeof(w));
	memset(w.ref.runtime_id, 'r', WR_ID_MAX);
	memset(w.ref.worker_id, 'w', WR_ID_MAX);
	w.status = WR_STATUS_CANCELLED;
	w.run_state = WR_RUN_NONE;
	w.intent = (struct wr_intent){WR_INTENT_ROLE, ctl, NULL, quotes};
	w.profile = (struct wr_profile_ref){WR_PROFILE_BUILTIN, ctl};
	w.config_bundle_id = "b";
	w.n_capabilities = SIZE_MAX;
	w.transcript_len = w.last_event_id = UINT64_MAX;
	for (int k = 0; k < 7; k++) {
		static const int64_t ms[] = {0, -1, 253402300799999, INT64_MIN,
		                             INT64_MAX, -62167219200000,
		                             1764460800123};
		w.created_at_ms = w.updated_at_ms = ms[k];
		assert_summary_within_bound(&w, ROUNDS + k);
	}
}

Test(encode_text, pages_of_workers_match_json_c)
{
	for (int r = 0; r < ROUNDS / 10; r++) {
		struct wr_worker_list l = {0};
		const char *env = rnd_envelope();

		l.count = rnd(6);
		l.items = calloc(l.count + 1, sizeof(*l.items));
		for (size_t i = 0; i < l.count; i++) {
			l.items[i] = calloc(1, sizeof(**l.items));
			rnd_worker(l.items[i]);
		}
		l.has_next = rnd(2);
		rnd_id(l.next_after, sizeof(l.next_after));
		SAME("page", wr_json_encode_worker_page(&l, &tl_),
		     wr__json_tree_encode_worker_page(&l, &rl_));
		SAME("list", wr_json_encode_worker_list(&l, env, &tl_),
		     wr__json_tree_encode_worker_list(&l, env, &rl_));
		wr_worker_list_free(&l);
	}
}

Test(encode_text, runtime_summary_and_acks_match_json_c)
{
	for (int r = 0; r < ROUNDS; r++) {
		struct wr_runtime_summary s;
		struct wr_input_ack ia;
		struct wr_lifecycle_ack la;
		const char *env = rnd_envelope();

		memset(&s, 0, sizeof(s));
		rnd_id(s.runtime_id, sizeof(s.runtime_id));
		s.has_display_name = rnd(2);
		rnd_id(s.display_name, sizeof(s.display_name));
		rnd_id(s.backend, sizeof(s.backend));
		s.status = (enum wr_runtime_status)rnd_enum(4);
		s.worker_count = rnd_u64();
		s.active_worker_count = rnd_u64();
		s.stopped_worker_count = rnd_u64();
		s.cancelled_worker_count = rnd_u64();
		s.failed_worker_count = rnd_u64();
		s.deleted_worker_count = rnd_u64();
		s.diagnostic_count = rnd_u64();
		s.limits.max_transcript_projection_items = (uint32_t)rnd_u64();
		s.limits.max_input_bytes = (uint32_t)rnd_u64();
		s.limits.max_workers = (uint32_t)rnd_u64();
		rnd_id(s.version, sizeof(s.version));
		s.started_at_ms = rnd_ms();
		SAME("runtime", wr_json_encode_runtime_summary(&s, env, &tl_),
		     wr__json_tree_encode_runtime_summary(&s, env, &rl_));

		memset(&ia, 0, sizeof(ia));
		rnd_id(ia.ref.runtime_id, sizeof(ia.ref.runtime_id));
		rnd_id(ia.ref.worker_id, sizeof(ia.ref.worker_id));
		ia.status = (enum wr_worker_status)rnd_enum(WR__STATUS_COUNT);
		ia.run_state = (enum wr_run_state)rnd_enum(3);
		ia.transcript_sequence = rnd_u64();
		ia.event_id = rnd_u64();
		SAME("input ack", wr_json_encode_input_ack(&ia, env, &tl_),
		     wr__json_tree_encode_input_ack(&ia, env, &rl_));

		memset(&la, 0, sizeof(la));
		la.ref = ia.ref;
		la.status = (enum wr_worker_status)rnd_enum(WR__STATUS_COUNT);
		la.event_id = rnd_u64();
		la.deleted = rnd(2);
		SAME("lifecycle ack", wr_json_encode_lifecycle_ack(&la, env, &tl_),
		     wr__json_tree_encode_lifecycle_ack(&la, env, &rl_));
	}
}
