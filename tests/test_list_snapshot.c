/*
 * test_list_snapshot.c - wr_worker_list copies a page out after letting go
 * of the Runtime's lock: while a page of workers is being copied, other
 * threads write, read, stop and delete (the writer-preferring lock is
 * free), and the page is still the state at one instant: ordered, every
 * item as it was when the page was taken, a worker deleted meanwhile still
 * copied whole.  State-based: the copy waits in wr__list_copy_hook until
 * the other thread reports it is done (the bound below only turns a hang
 * into a failure).  wr_worker_list_json writes the same page as JSON from
 * the summaries workers keep.  Links src/libwr-core.la for the hook.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/rt.h"

#define N 40
#define BOUND_S 10 /* a blocked writer shows as a failure after this */

static struct wr_runtime *rt;
static char ids[N][WR_ID_MAX + 1];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool in_copy, other_done, other_timed_out;
static wr_err other_rc[4];
static uint64_t other_len;

/* Waits for *flag under mu, at most BOUND_S; false on the bound. */
static bool
wait_for(bool *flag)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += BOUND_S;
	while (!*flag && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&cv, &mu, &until);
	return *flag;
}

static void
copy_hook(void)
{
	pthread_mutex_lock(&mu);
	in_copy = true;
	pthread_cond_broadcast(&cv);
	other_timed_out = !wait_for(&other_done);
	pthread_mutex_unlock(&mu);
}

/* While the page is copied: an input (write lock), a read of it, a stop
 * and a delete of another worker on the page. */
static void *
other(void *arg)
{
	struct wr_input in = {WR_INPUT_USER, "written during the copy"};
	struct wr_input_ack ack;
	struct wr_lifecycle_ack la;
	struct wr_worker_info *w = NULL;

	(void)arg;
	pthread_mutex_lock(&mu);
	bool go = wait_for(&in_copy);
	pthread_mutex_unlock(&mu);
	if (go) {
		other_rc[0] = wr_worker_input(rt, ids[0], &in, &ack, NULL);
		other_rc[1] = wr_worker_get(rt, ids[0], &w, NULL);
		other_len = w != NULL ? w->transcript_len : 0;
		wr_worker_info_free(w);
		other_rc[2] = wr_worker_stop(rt, ids[1], "gone", &la, NULL);
		other_rc[3] = wr_worker_delete(rt, ids[1], &la, NULL);
	}
	pthread_mutex_lock(&mu);
	other_done = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void
setup(void)
{
	cr_assert_eq(wr_runtime_open(NULL, &rt, NULL), WR_OK);
	for (int i = 0; i < N; i++) {
		struct wr_worker_info *w;
		cr_assert_eq(wr_worker_create(rt, NULL, &w, NULL), WR_OK);
		strcpy(ids[i], w->ref.worker_id);
		wr_worker_info_free(w);
	}
}

static void
teardown(void)
{
	wr__list_copy_hook = NULL;
	wr_runtime_close(rt);
}

TestSuite(list_snapshot, .init = setup, .fini = teardown, .timeout = 60);

Test(list_snapshot, writers_and_readers_proceed_while_a_page_is_copied)
{
	struct wr_worker_list l = {0};
	struct wr_worker_info *now = NULL;
	pthread_t th;

	wr__list_copy_hook = copy_hook;
	cr_assert_eq(pthread_create(&th, NULL, other, NULL), 0);
	cr_assert_eq(wr_worker_list(rt, &(struct wr_list_query){.limit = N},
	                            &l, NULL), WR_OK);
	pthread_join(th, NULL);
	cr_assert(!other_timed_out, "the other thread was blocked while the "
	          "page was being copied");
	for (int k = 0; k < 4; k++)
		cr_assert_eq(other_rc[k], WR_OK, "call %d failed", k);
	cr_assert_eq(other_len, 1);

	/* The page is the state when it was taken: in creation order, the
	 * input not on it, the deleted worker copied whole and running. */
	cr_assert_eq(l.count, N);
	cr_assert(!l.has_next);
	for (int i = 0; i < N; i++) {
		cr_assert_str_eq(l.items[i]->ref.worker_id, ids[i]);
		cr_assert_eq(l.items[i]->transcript_len, 0);
		cr_assert_eq(l.items[i]->status, WR_STATUS_RUNNING);
		cr_assert_not_null(l.items[i]->ref.runtime_id);
	}
	cr_assert_eq(wr_worker_get(rt, ids[1], &now, NULL), WR_EUNKNOWN_WORKER);
	wr_worker_list_free(&l);
}

Test(list_snapshot, a_page_after_the_changes_shows_them)
{
	struct wr_worker_list l = {0};
	struct wr_input in = {WR_INPUT_USER, "x"};
	struct wr_input_ack ack;
	struct wr_lifecycle_ack la;

	cr_assert_eq(wr_worker_input(rt, ids[2], &in, &ack, NULL), WR_OK);
	cr_assert_eq(wr_worker_stop(rt, ids[3], "why", &la, NULL), WR_OK);
	cr_assert_eq(wr_worker_list(rt, &(struct wr_list_query){.limit = 5},
	                            &l, NULL), WR_OK);
	cr_assert_eq(l.count, 5);
	cr_assert(l.has_next);
	cr_assert_str_eq(l.next_after, ids[4]);
	cr_assert_eq(l.items[2]->transcript_len, 1);
	cr_assert_eq(l.items[3]->status, WR_STATUS_STOPPED);
	cr_assert_str_eq(l.items[3]->status_reason, "why");
	cr_assert_null(l.items[2]->status_reason);
	wr_worker_list_free(&l);
}

/* ---- wr_worker_list_json: the same page, from kept summaries ---------- */

/* wr_worker_list_json for q; fails the test unless WR_OK. */
static char *
page_json(const struct wr_list_query *q)
{
	char *json = NULL;
	size_t len = 0;

	cr_assert_eq(wr_worker_list_json(rt, q, &json, &len, NULL), WR_OK);
	cr_assert_not_null(json);
	cr_assert_eq(len, strlen(json));
	return json;
}

/* The reference: wr_worker_list, then wr_json_encode_worker_page. */
static char *
page_copied(const struct wr_list_query *q)
{
	struct wr_worker_list l = {0};
	char *json;

	cr_assert_eq(wr_worker_list(rt, q, &l, NULL), WR_OK);
	json = wr_json_encode_worker_page(&l, NULL);
	cr_assert_not_null(json);
	wr_worker_list_free(&l);
	return json;
}

static void
assert_same_page(const struct wr_list_query *q)
{
	char *want = page_copied(q), *got = page_json(q);

	cr_assert_str_eq(got, want);
	free(want);
	free(got);
}

static size_t
encoded_now(void)
{
	return __atomic_load_n(&wr__list_summaries_encoded, __ATOMIC_RELAXED);
}

Test(list_snapshot, a_json_page_is_the_copied_page_encoded_for_every_query)
{
	struct wr_input in = {WR_INPUT_USER, "a \"quoted\"\n line"};
	struct wr_input_ack ack;
	struct wr_lifecycle_ack la;
	const struct wr_list_query qs[] = {
		{0},
		{.limit = 5},
		{.limit = 5, .after = ids[4]},
		{.limit = 1000, .after = ids[N - 1]},
		{.has_status = true, .status = WR_STATUS_STOPPED},
		{.has_status = true, .status = WR_STATUS_RUNNING, .limit = 3,
		 .after = ids[1]},
	};

	cr_assert_eq(wr_worker_input(rt, ids[2], &in, &ack, NULL), WR_OK);
	cr_assert_eq(wr_worker_stop(rt, ids[3], "why", &la, NULL), WR_OK);
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		assert_same_page(&qs[k]);
		assert_same_page(&qs[k]); /* again, from the kept summaries */
	}
	assert_same_page(NULL);
}

Test(list_snapshot, a_json_page_writes_afresh_only_the_workers_that_changed)
{
	const struct wr_list_query all = {.limit = N};
	struct wr_input in = {WR_INPUT_USER, "x"};
	struct wr_input_ack ack;
	struct wr_lifecycle_ack la;
	size_t before = encoded_now();

	free(page_json(&all));
	cr_assert_eq(encoded_now() - before, N, "the first page writes all");
	before = encoded_now();
	free(page_json(&all));
	cr_assert_eq(encoded_now() - before, 0, "nothing changed");

	/* An input (transcript length, last event, update time) and a stop
	 * (status, run state): exactly those two are written again, and
	 * the page shows the change. */
	cr_assert_eq(wr_worker_input(rt, ids[7], &in, &ack, NULL), WR_OK);
	cr_assert_eq(wr_worker_stop(rt, ids[8], NULL, &la, NULL), WR_OK);
	before = encoded_now();
	assert_same_page(&all);
	cr_assert_eq(encoded_now() - before, 2);
}

Test(list_snapshot, a_json_page_is_the_state_when_it_was_taken)
{
	const struct wr_list_query all = {.limit = N};
	char *want = page_copied(&all), *got;
	pthread_t th;

	wr__list_copy_hook = copy_hook;
	cr_assert_eq(pthread_create(&th, NULL, other, NULL), 0);
	got = page_json(&all);
	pthread_join(th, NULL);
	cr_assert(!other_timed_out, "the other thread was blocked while the "
	          "page was being encoded");
	for (int k = 0; k < 4; k++)
		cr_assert_eq(other_rc[k], WR_OK, "call %d failed", k);
	/* Without the input, the stop and the deleted worker gone. */
	cr_assert_str_eq(got, want);
	free(want);
	free(got);
	wr__list_copy_hook = NULL;
	assert_same_page(&all);
}

/* Lists the whole page 200 times; each must hold every worker. */
static void *
lister(void *arg)
{
	const struct wr_list_query all = {.limit = N};
	bool *ok = arg;

	*ok = true;
	for (int k = 0; k < 200 && *ok; k++) {
		char *json = NULL;

		if (wr_worker_list_json(rt, &all, &json, NULL, NULL) != WR_OK)
			*ok = false;
		else if (strstr(json, ids[N - 1]) == NULL)
			*ok = false;
		free(json);
	}
	return NULL;
}

Test(list_snapshot, json_pages_taken_while_workers_change_end_as_the_state)
{
	const struct wr_list_query all = {.limit = N};
	struct wr_input in = {WR_INPUT_USER, "y"};
	struct wr_input_ack ack;
	pthread_t th[2];
	bool ok[2];

	for (int t = 0; t < 2; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, lister, &ok[t]), 0);
	for (int k = 0; k < 400; k++)
		cr_assert_eq(wr_worker_input(rt, ids[k % N], &in, &ack, NULL),
		             WR_OK);
	for (int t = 0; t < 2; t++) {
		pthread_join(th[t], NULL);
		cr_assert(ok[t], "lister %d saw a failed or short page", t);
	}
	assert_same_page(&all);
}

Test(list_snapshot, a_json_page_refuses_what_the_copied_page_refuses)
{
	char *json = NULL;
	struct wr_error e;

	cr_assert_eq(wr_worker_list_json(rt, &(struct wr_list_query){
	                     .limit = WR_LIST_LIMIT_MAX + 1}, &json, NULL, &e),
	             WR_EINVALID_INPUT);
	cr_assert_eq(e.reason, WR_REASON_LIMIT_TOO_LARGE);
	cr_assert_eq(wr_worker_list_json(rt, &(struct wr_list_query){
	                     .after = "w-nope"}, &json, NULL, &e),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(e.field, "after");
	cr_assert_null(json);
}

Test(list_snapshot, a_summary_longer_than_the_bound_is_written_afresh_every_time)
{
	const struct wr_list_query all = {.limit = N + 1};
	static char role[WR__SUMMARY_KEEP_MAX];
	struct wr_create_request req = {0};
	struct wr_worker_info *w;
	size_t before;

	/* Control bytes are 6-byte escapes: far over the bound as text. */
	memset(role, '\x01', sizeof(role) - 1);
	req.intent.kind = WR_INTENT_ROLE;
	req.intent.role = role;
	cr_assert_eq(wr_worker_create(rt, &req, &w, NULL), WR_OK);
	wr_worker_info_free(w);
	free(page_json(&all));
	before = encoded_now();
	assert_same_page(&all);
	cr_assert_eq(encoded_now() - before, 1, "only the long one is written "
	             "again (the others are kept)");
	before = encoded_now();
	free(page_json(&all));
	cr_assert_eq(encoded_now() - before, 1);
}

/* A page written afresh from what list takes under the lock (the worker's
 * unchanging members, the rest as taken) has every WorkerSummary member:
 * intent with every string, a builtin profile, a config bundle and
 * capabilities, next to a default worker. */
Test(list_snapshot, a_json_page_written_afresh_has_every_summary_member)
{
	struct wr_capability caps[2] = {{"net", "fetch docs"}, {"fs", NULL}};
	struct wr_create_request reqs[] = {
		{.intent = {WR_INTENT_ROLE, "help", NULL, "reviewer"},
		 .profile = {WR_PROFILE_BUILTIN, "transcript"},
		 .config_bundle_id = "bundle-7",
		 .capabilities = caps, .n_capabilities = 2},
		{.intent = {WR_INTENT_TASK, NULL, "ship it", NULL}},
	};
	const struct wr_list_query q = {.after = ids[N - 1]};
	struct wr_input in = {WR_INPUT_USER, "x"};
	struct wr_input_ack ack;
	struct wr_worker_info *w;
	char *want, *got;

	for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
		cr_assert_eq(wr_worker_create(rt, &reqs[k], &w, NULL), WR_OK);
		if (k == 0)
			cr_assert_eq(wr_worker_input(rt, w->ref.worker_id, &in,
			                             &ack, NULL), WR_OK);
		wr_worker_info_free(w);
	}
	want = page_copied(&q);
	got = page_json(&q);
	cr_assert_str_eq(got, want);
	free(want);
	cr_assert_not_null(strstr(got, "\"intent\":{\"kind\":\"role\","
	                               "\"role\":\"reviewer\",\"purpose\":"
	                               "\"help\"}"), "%s", got);
	cr_assert_not_null(strstr(got, "\"profile\":{\"kind\":\"builtin\","
	                               "\"value\":\"transcript\"},"
	                               "\"requested_capability_count\":2,"
	                               "\"has_config_bundle\":true,"
	                               "\"transcript_len\":1"), "%s", got);
	cr_assert_not_null(strstr(got, "\"objective\":\"ship it\""), "%s", got);
	free(got);
	assert_same_page(&q); /* and the same again, from the kept ones */
}

/* Workers whose role and purpose are 64 KiB of control bytes (6-byte
 * escapes: a summary of about 787 KB): a page of limit 1,000 stops before
 * WR_LIST_PAGE_MAX_BYTES with next_after naming its last worker, the next
 * page goes on from there, and the JSON page is cut at the same worker. */
Test(list_snapshot, a_page_stops_before_its_summaries_pass_the_byte_bound)
{
	enum { BIG = 12 };
	static char s[65537];
	struct wr_create_request req = {
		.intent = {WR_INTENT_ROLE, s, NULL, s}};
	char big[BIG][WR_ID_MAX + 1];
	struct wr_list_query q = {.limit = 1000, .after = ids[N - 1]};
	struct wr_worker_list l = {0};
	size_t seen = 0, len;
	char *json;

	memset(s, '\x01', sizeof(s) - 1);
	for (int k = 0; k < BIG; k++) {
		struct wr_worker_info *w;
		cr_assert_eq(wr_worker_create(rt, &req, &w, NULL), WR_OK);
		strcpy(big[k], w->ref.worker_id);
		wr_worker_info_free(w);
	}
	for (int page = 0; page < 2; page++) {
		cr_assert_eq(wr_worker_list(rt, &q, &l, NULL), WR_OK);
		cr_assert_gt(l.count, 0);
		for (size_t i = 0; i < l.count; i++)
			cr_assert_str_eq(l.items[i]->ref.worker_id,
			                 big[seen + i]);
		seen += l.count;
		cr_assert_eq(l.has_next, seen < BIG);
		if (l.has_next)
			cr_assert_str_eq(l.next_after, big[seen - 1]);
		assert_same_page(&q);
		cr_assert_eq(wr_worker_list_json(rt, &q, &json, &len, NULL),
		             WR_OK);
		cr_assert_leq(len, WR_LIST_PAGE_MAX_BYTES, "%zu bytes", len);
		free(json);
		q.after = l.has_next ? big[seen - 1] : NULL;
		wr_worker_list_free(&l);
		if (q.after == NULL)
			break;
	}
	cr_assert_eq(seen, BIG, "two pages hold all %d (8 MiB / 787 KB)",
	             BIG);
	/* A page of a status also stops there. */
	q = (struct wr_list_query){.limit = 1000, .has_status = true,
	                           .status = WR_STATUS_RUNNING,
	                           .after = ids[N - 1]};
	cr_assert_eq(wr_worker_list(rt, &q, &l, NULL), WR_OK);
	cr_assert(l.count > 0 && l.count < BIG && l.has_next);
	wr_worker_list_free(&l);
}

/* Walks q's pages from q->after by next_after; every page is the same as
 * JSON and at most WR_LIST_PAGE_MAX_BYTES; the ids seen in got (at most
 * max), their number returned. */
static size_t
walk_ids(struct wr_list_query q, char (*got)[WR_ID_MAX + 1], size_t max)
{
	char after[WR_ID_MAX + 1];
	size_t seen = 0, len;
	char *json;

	for (int page = 0; page < 2000; page++) {
		struct wr_worker_list l = {0};

		cr_assert_eq(wr_worker_list(rt, &q, &l, NULL), WR_OK);
		assert_same_page(&q);
		cr_assert_eq(wr_worker_list_json(rt, &q, &json, &len, NULL),
		             WR_OK);
		cr_assert_leq(len, WR_LIST_PAGE_MAX_BYTES, "%zu bytes", len);
		free(json);
		for (size_t i = 0; i < l.count; i++) {
			cr_assert_lt(seen, max, "more workers than exist");
			strcpy(got[seen++], l.items[i]->ref.worker_id);
		}
		if (!l.has_next) {
			wr_worker_list_free(&l);
			return seen;
		}
		if (l.count > 0)
			cr_assert_str_eq(l.next_after,
			                 l.items[l.count - 1]->ref.worker_id);
		strcpy(after, l.next_after);
		q.after = after;
		wr_worker_list_free(&l);
	}
	cr_assert_fail("the walk did not end");
	return seen;
}

/* The byte cut meeting a status filter, the limit and a deleted after:
 * big (787 KB bound) running workers around a run of small stopped ones.
 * Every walk, whatever its limit, sees each matching worker once, in
 * order. */
Test(list_snapshot, a_byte_cut_meets_a_status_filter_the_limit_and_a_gone_after,
     .timeout = 120)
{
	enum { BIG = 12, RUN = 300, ALL = BIG + RUN };
	static char s[65537];
	static char made[ALL][WR_ID_MAX + 1], want[ALL][WR_ID_MAX + 1],
		got[ALL][WR_ID_MAX + 1];
	static const uint32_t limits[] = {1, 2, 9, 10, 11, 12, 13, 1000};
	struct wr_create_request big = {.intent = {WR_INTENT_ROLE, s, NULL, s}};
	struct wr_lifecycle_ack la;
	struct wr_worker_list l = {0};
	size_t k = 0, nwant = 0, n;

	memset(s, '\x01', sizeof(s) - 1);
	/* 10 big, RUN small stopped, 2 big: the first page of running ones
	 * is cut by bytes on the 11th big, past the run. */
	for (int i = 0; i < ALL; i++) {
		struct wr_worker_info *w;
		bool is_big = i < 10 || i >= 10 + RUN;
		cr_assert_eq(wr_worker_create(rt, is_big ? &big : NULL, &w,
		                              NULL), WR_OK);
		strcpy(made[k++], w->ref.worker_id);
		wr_worker_info_free(w);
		if (!is_big)
			cr_assert_eq(wr_worker_stop(rt, made[k - 1], NULL, &la,
			                            NULL), WR_OK);
		else
			strcpy(want[nwant++], made[k - 1]);
	}

	/* The first running page: 10 big ones, cut before the 11th. */
	struct wr_list_query q = {.limit = 1000, .has_status = true,
	                          .status = WR_STATUS_RUNNING,
	                          .after = ids[N - 1]};
	cr_assert_eq(wr_worker_list(rt, &q, &l, NULL), WR_OK);
	cr_assert_eq(l.count, 10);
	cr_assert(l.has_next);
	cr_assert_str_eq(l.next_after, want[9]);
	wr_worker_list_free(&l);

	for (size_t j = 0; j < sizeof(limits) / sizeof(limits[0]); j++) {
		q.limit = limits[j];
		n = walk_ids(q, got, ALL);
		cr_assert_eq(n, nwant, "limit %u: %zu of %zu", limits[j], n,
		             nwant);
		for (size_t i = 0; i < n; i++)
			cr_assert_str_eq(got[i], want[i], "limit %u, item %zu",
			                 limits[j], i);
		/* Without a filter: every worker, in creation order. */
		struct wr_list_query all = {.limit = limits[j],
		                            .after = ids[N - 1]};
		n = walk_ids(all, got, ALL);
		cr_assert_eq(n, (size_t)ALL, "limit %u: %zu", limits[j], n);
		for (size_t i = 0; i < n; i++)
			cr_assert_str_eq(got[i], made[i]);
	}

	/* The page's last worker is deleted before the next page: the walk
	 * goes on from where it was. */
	q = (struct wr_list_query){.limit = 1000, .after = ids[N - 1]};
	cr_assert_eq(wr_worker_list(rt, &q, &l, NULL), WR_OK);
	cr_assert_eq(l.count, 10 + RUN, "10 big and the small ones");
	cr_assert(l.has_next);
	char gone[WR_ID_MAX + 1];
	strcpy(gone, l.next_after);
	cr_assert_str_eq(gone, made[10 + RUN - 1]);
	wr_worker_list_free(&l);
	cr_assert_eq(wr_worker_delete(rt, gone, &la, NULL), WR_OK);
	q.after = gone;
	n = walk_ids(q, got, ALL);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(got[0], made[10 + RUN]);
	cr_assert_str_eq(got[1], made[10 + RUN + 1]);
}
