/*
 * test_runtime.c - every library operation and every error path, asserted
 * by exact code and reason; limits at and just past their bounds.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_driver.h"
#include "worker-runtime.h"

static struct wr_runtime *rt;
static struct wr_test_driver_stats stats;
static struct wr_error err;

static void
open_with(const struct wr_config *cfg)
{
	wr_err rc = wr_runtime_open(cfg, &rt, &err);
	cr_assert_eq(rc, WR_OK, "open: %s", err.message);
}

static void
setup(void)
{
	static struct wr_profile profiles[3];

	memset(&stats, 0, sizeof(stats));
	profiles[0] = (struct wr_profile){"slow", &wr_test_busy_driver, &stats};
	profiles[1] = (struct wr_profile){"broken", &wr_test_failstart_driver,
	                                  NULL};
	profiles[2] = (struct wr_profile){"refuser", &wr_test_refuse_driver,
	                                  NULL};
	struct wr_config cfg = {
		.runtime_id = "rt-test",
		.display_name = "Test runtime",
		.limits = {.max_transcript_projection_items = 10,
		           .max_input_bytes = 16,
		           .max_workers = 5},
		.profiles = profiles,
		.n_profiles = 3,
	};
	open_with(&cfg);
}

static void
teardown(void)
{
	wr_runtime_close(rt);
	rt = NULL;
}

TestSuite(runtime, .init = setup, .fini = teardown, .timeout = 10);

/* Creates a worker with the given profile selector; returns its id. */
static void
create(enum wr_profile_kind kind, const char *value, char id[WR_ID_MAX + 1])
{
	struct wr_create_request req = {0};
	struct wr_worker_info *w = NULL;

	req.profile.kind = kind;
	req.profile.value = (char *)value;
	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_OK, "%s",
	             err.message);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);
}

static wr_err
input(const char *id, const char *content, struct wr_input_ack *ack)
{
	struct wr_input in = {WR_INPUT_USER, (char *)content};

	return wr_worker_input(rt, id, &in, ack, &err);
}

static void
summary(struct wr_runtime_summary *s)
{
	cr_assert_eq(wr_runtime_summary(rt, s, &err), WR_OK);
}

/* ---- open / config ---------------------------------------------------- */

Test(runtime, summary_reports_config_and_defaults)
{
	struct wr_runtime_summary s;

	summary(&s);
	cr_assert_str_eq(s.runtime_id, "rt-test");
	cr_assert(s.has_display_name);
	cr_assert_str_eq(s.display_name, "Test runtime");
	cr_assert_str_eq(s.backend, "memory");
	cr_assert_eq(s.status, WR_RUNTIME_RUNNING);
	cr_assert_eq(s.worker_count, 0);
	cr_assert_eq(s.limits.max_transcript_projection_items, 10);
	cr_assert_eq(s.limits.max_input_bytes, 16);
	cr_assert_eq(s.limits.max_workers, 5);
	cr_assert_str_eq(s.version, wr_version());
	cr_assert_gt(s.started_at_ms, 0);
}

Test(runtime_open, zero_config_uses_documented_defaults_and_unique_ids)
{
	struct wr_runtime *a, *b;
	struct wr_runtime_summary sa, sb;

	cr_assert_eq(wr_runtime_open(NULL, &a, NULL), WR_OK);
	cr_assert_eq(wr_runtime_open(NULL, &b, NULL), WR_OK);
	wr_runtime_summary(a, &sa, NULL);
	wr_runtime_summary(b, &sb, NULL);
	cr_assert_eq(sa.limits.max_transcript_projection_items, 256);
	cr_assert_eq(sa.limits.max_input_bytes, 1024 * 1024);
	cr_assert_eq(sa.limits.max_workers, 10000);
	cr_assert_not(sa.has_display_name);
	cr_assert(wr_id_valid(sa.runtime_id));
	cr_assert_str_neq(sa.runtime_id, sb.runtime_id);
	cr_assert_str_eq(wr_runtime_id(a), sa.runtime_id);
	wr_runtime_close(a);
	wr_runtime_close(b);
	wr_runtime_close(NULL);
}

Test(runtime_open, rejects_bad_config_with_field)
{
	struct wr_runtime *r = NULL;
	struct wr_error e;
	struct wr_config bad_id = {.runtime_id = "no spaces"};
	struct wr_config bad_store = {.store = "redis"};
	struct wr_config bad_default = {.default_profile = "nope"};
	struct wr_config bad_limit = {.limits.max_input_bytes = (16u << 20) + 1};
	struct wr_profile dup[2] = {{"a", NULL, NULL}, {"a", NULL, NULL}};
	struct wr_config bad_dup = {.profiles = dup, .n_profiles = 2};

	cr_assert_eq(wr_runtime_open(&bad_id, &r, &e), WR_EINVALID_INPUT);
	cr_assert_str_eq(e.field, "runtime_id");
	cr_assert_eq(wr_runtime_open(&bad_store, &r, &e), WR_EINVALID_INPUT);
	cr_assert_str_eq(e.field, "store");
	cr_assert_eq(wr_runtime_open(&bad_default, &r, &e), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(e.reason), "unknown_profile");
	cr_assert_eq(wr_runtime_open(&bad_limit, &r, &e), WR_EINVALID_INPUT);
	cr_assert_str_eq(e.field, "limits.max_input_bytes");
	cr_assert_eq(wr_runtime_open(&bad_dup, &r, &e), WR_EINVALID_INPUT);
	cr_assert_eq(r, NULL);
}

Test(runtime_open, default_profile_selects_its_driver)
{
	struct wr_test_driver_stats st = {0};
	struct wr_profile p = {"slow", &wr_test_busy_driver, &st};
	struct wr_config cfg = {.profiles = &p, .n_profiles = 1,
	                        .default_profile = "slow"};
	struct wr_worker_info *w;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, NULL), WR_OK);
	cr_assert_eq(wr_worker_create(rt, NULL, &w, NULL), WR_OK);
	cr_assert_eq(atomic_load(&st.started), 1);
	cr_assert_eq(w->profile.kind, WR_PROFILE_RUNTIME_DEFAULT);
	wr_worker_info_free(w);
	wr_runtime_close(rt);
	cr_assert_eq(atomic_load(&st.released), 1);
	rt = NULL;
}

/* ---- create ------------------------------------------------------------- */

Test(runtime, create_with_defaults_is_running_idle_assistant)
{
	struct wr_worker_info *w;
	struct wr_runtime_summary s;

	cr_assert_eq(wr_worker_create(rt, NULL, &w, &err), WR_OK);
	cr_assert(wr_id_valid(w->ref.worker_id));
	cr_assert_str_eq(w->ref.runtime_id, "rt-test");
	cr_assert_eq(w->status, WR_STATUS_RUNNING);
	cr_assert_eq(w->run_state, WR_RUN_IDLE);
	cr_assert_eq(w->intent.kind, WR_INTENT_ASSISTANT);
	cr_assert_eq(w->profile.kind, WR_PROFILE_RUNTIME_DEFAULT);
	cr_assert_eq(w->transcript_len, 0);
	cr_assert_eq(w->last_event_id, 1);
	cr_assert_eq(w->created_at_ms, w->updated_at_ms);
	wr_worker_info_free(w);
	summary(&s);
	cr_assert_eq(s.worker_count, 1);
	cr_assert_eq(s.active_worker_count, 1);
}

Test(runtime, create_copies_every_request_member)
{
	struct wr_capability caps[2] = {{"net", "fetch docs"}, {"fs", NULL}};
	struct wr_mount_ref ws[1] = {{"repo", "git://x"}};
	struct wr_mount_ref mounts[1] = {{"data", "/srv/data"}};
	struct wr_create_request req = {
		.intent = {WR_INTENT_ROLE, "help", NULL, "reviewer"},
		.profile = {WR_PROFILE_BUILTIN, "transcript"},
		.config_bundle_id = "bundle-7",
		.capabilities = caps, .n_capabilities = 2,
		.workspace_refs = ws, .n_workspace_refs = 1,
		.mount_refs = mounts, .n_mount_refs = 1,
	};
	struct wr_worker_info *w, *g;

	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_OK);
	cr_assert_eq(wr_worker_get(rt, w->ref.worker_id, &g, &err), WR_OK);
	cr_assert_eq(g->intent.kind, WR_INTENT_ROLE);
	cr_assert_str_eq(g->intent.role, "reviewer");
	cr_assert_str_eq(g->intent.purpose, "help");
	cr_assert_str_eq(g->profile.value, "transcript");
	cr_assert_str_eq(g->config_bundle_id, "bundle-7");
	cr_assert_eq(g->n_capabilities, 2);
	cr_assert_str_eq(g->capabilities[0].reason, "fetch docs");
	cr_assert_null(g->capabilities[1].reason);
	cr_assert_str_eq(g->workspace_refs[0].reference, "git://x");
	cr_assert_str_eq(g->mount_refs[0].name, "data");
	wr_worker_info_free(w);
	wr_worker_info_free(g);
}

Test(runtime, create_rejects_unknown_profiles)
{
	struct wr_create_request named = {.profile = {WR_PROFILE_NAMED, "nope"}};
	struct wr_create_request builtin = {
		.profile = {WR_PROFILE_BUILTIN, "exec"}};

	cr_assert_eq(wr_worker_create(rt, &named, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "unknown_profile");
	cr_assert_str_eq(err.field, "profile.value");
	cr_assert_eq(wr_worker_create(rt, &builtin, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "unknown_profile");
}

Test(runtime, create_rejects_intent_without_required_member)
{
	struct wr_create_request task = {.intent = {WR_INTENT_TASK}};
	struct wr_create_request role = {.intent = {WR_INTENT_ROLE}};
	struct wr_create_request cap = {
		.capabilities = &(struct wr_capability){"", NULL},
		.n_capabilities = 1};
	struct wr_runtime_summary s;

	cr_assert_eq(wr_worker_create(rt, &task, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "missing_field");
	cr_assert_str_eq(err.field, "intent.objective");
	cr_assert_eq(wr_worker_create(rt, &role, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(err.field, "intent.role");
	cr_assert_eq(wr_worker_create(rt, &cap, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(err.field, "requested_capabilities[0]");
	summary(&s);
	cr_assert_eq(s.worker_count, 0, "rejected creates change nothing");
}

Test(runtime, create_at_max_workers_is_refused)
{
	struct wr_runtime_summary s;

	for (int i = 0; i < 5; i++)
		cr_assert_eq(wr_worker_create(rt, NULL, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_create(rt, NULL, NULL, &err), WR_EUNSUPPORTED);
	cr_assert_str_eq(wr_reason_name(err.reason), "worker_limit_reached");
	summary(&s);
	cr_assert_eq(s.worker_count, 5);
}

Test(runtime, driver_start_failure_creates_nothing)
{
	struct wr_create_request req = {.profile = {WR_PROFILE_NAMED, "broken"}};
	struct wr_worker_list l;

	cr_assert_eq(wr_worker_create(rt, &req, NULL, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "spawn_failed");
	cr_assert_eq(wr_worker_list(rt, NULL, &l, &err), WR_OK);
	cr_assert_eq(l.count, 0);
	wr_worker_list_free(&l);
}

Test(runtime, max_workers_counts_workers_that_exist_not_ever_created)
{
	struct wr_create_request broken = {
		.profile = {WR_PROFILE_NAMED, "broken"}};
	char ids[5][WR_ID_MAX + 1];
	struct wr_runtime_summary s;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5; i++)
			create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ids[i]);
		cr_assert_eq(wr_worker_create(rt, NULL, NULL, &err),
		             WR_EUNSUPPORTED, "round %d", round);
		cr_assert_eq(err.reason, WR_REASON_WORKER_LIMIT_REACHED);
		for (int i = 0; i < 5; i++) {
			cr_assert_eq(wr_worker_stop(rt, ids[i], NULL, NULL, &err),
			             WR_OK);
			cr_assert_eq(wr_worker_delete(rt, ids[i], NULL, &err),
			             WR_OK, "%s", err.message);
		}
	}
	/* A spawn failure never takes a place: 4 + failures + 1 fit. */
	for (int i = 0; i < 4; i++)
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ids[i]);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(wr_worker_create(rt, &broken, NULL, &err),
		             WR_EUNAVAILABLE);
	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ids[4]);
	summary(&s);
	cr_assert_eq(s.worker_count, 5);
	cr_assert_eq(s.deleted_worker_count, 15);
}

/* ---- delete ------------------------------------------------------------- */

Test(runtime, delete_needs_an_ended_worker_and_a_repeat_is_unknown)
{
	struct wr_lifecycle_ack stop, del;
	struct wr_worker_info *w = NULL;
	struct wr_runtime_summary s;
	char id[WR_ID_MAX + 1], busy[WR_ID_MAX + 1];

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(input(id, "hello", NULL), WR_OK);
	cr_assert_eq(wr_worker_delete(rt, id, &del, &err), WR_EUNSUPPORTED);
	cr_assert_eq(err.reason, WR_REASON_WORKER_RUNNING);
	cr_assert_str_eq(err.worker_id, id);
	summary(&s);
	cr_assert_eq(s.worker_count, 1, "a refused delete changes nothing");

	cr_assert_eq(wr_worker_stop(rt, id, "done", &stop, &err), WR_OK);
	cr_assert_eq(wr_worker_delete(rt, id, &del, &err), WR_OK, "%s",
	             err.message);
	cr_assert_str_eq(del.ref.worker_id, id);
	cr_assert_str_eq(del.ref.runtime_id, "rt-test");
	cr_assert_eq(del.status, WR_STATUS_STOPPED);
	cr_assert(del.deleted);
	cr_assert_eq(del.event_id, stop.event_id + 1, "a new event id");

	cr_assert_eq(wr_worker_delete(rt, id, &del, &err), WR_EUNKNOWN_WORKER);
	cr_assert_str_eq(err.worker_id, id);
	cr_assert_eq(wr_worker_get(rt, id, &w, &err), WR_EUNKNOWN_WORKER);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err),
	             WR_EUNKNOWN_WORKER);
	cr_assert_eq(wr_worker_delete(rt, "w-nope", NULL, &err),
	             WR_EUNKNOWN_WORKER);
	summary(&s);
	cr_assert_eq(s.worker_count, 0);
	cr_assert_eq(s.stopped_worker_count, 0);
	cr_assert_eq(s.deleted_worker_count, 1);

	/* A driver's state is released when its worker is deleted. */
	create(WR_PROFILE_NAMED, "slow", busy);
	cr_assert_eq(wr_worker_cancel(rt, busy, NULL, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_delete(rt, busy, NULL, &err), WR_OK);
	/* off the request path (the reaper): wait for the state, bounded */
	for (int i = 0; i < 1000 && atomic_load(&stats.released) == 0; i++)
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	cr_assert_eq(atomic_load(&stats.released), 1);
}

/* A driver whose release() waits until the test opens the gate (at most
 * 5 s), as an exec worker's does while its process is in its stop grace. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open, gate_released;

static wr_err
gate_start(void *arg, struct wr_runtime *r, const char *worker_id,
           void **state, struct wr_error *e)
{
	(void)arg, (void)r, (void)worker_id, (void)e;
	*state = NULL;
	return WR_OK;
}

static wr_err
gate_input(void *state, enum wr_input_kind kind, const char *content,
           uint64_t sequence, bool *turn_started, struct wr_error *e)
{
	(void)state, (void)kind, (void)content, (void)sequence, (void)e;
	*turn_started = false;
	return WR_OK;
}

static void
gate_stop(void *state, bool cancel)
{
	(void)state, (void)cancel;
}

static void
gate_release(void *state)
{
	struct timespec until;

	(void)state;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&gate_mu);
	while (!gate_open &&
	       pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
		;
	gate_released = true;
	pthread_mutex_unlock(&gate_mu);
}

static const struct wr_driver gate_driver = {"test-gate", gate_start,
                                             gate_input, gate_stop,
                                             gate_release, true};

/* A delete returns without waiting for the driver's release (an exec
 * worker in its stop grace: up to stop_grace_ms), which runs off the
 * request path and is awaited by close. */
Test(runtime, delete_does_not_wait_for_the_drivers_release)
{
	struct wr_profile prof = {"gate", &gate_driver, NULL};
	struct wr_config cfg = {.runtime_id = "rt-gate", .profiles = &prof,
	                        .n_profiles = 1};
	struct wr_create_request req = {
		.profile = {.kind = WR_PROFILE_NAMED, .value = "gate"}};
	struct wr_runtime *g = NULL;
	struct wr_worker_info *w = NULL;
	bool released;

	cr_assert_eq(wr_runtime_open(&cfg, &g, &err), WR_OK, "%s",
	             err.message);
	cr_assert_eq(wr_worker_create(g, &req, &w, &err), WR_OK, "%s",
	             err.message);
	cr_assert_eq(wr_worker_stop(g, w->ref.worker_id, NULL, NULL, &err),
	             WR_OK);
	cr_assert_eq(wr_worker_delete(g, w->ref.worker_id, NULL, &err), WR_OK,
	             "%s", err.message);
	pthread_mutex_lock(&gate_mu);
	released = gate_released;
	gate_open = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
	cr_assert(!released, "the delete waited for release()");
	wr_worker_info_free(w);
	wr_runtime_close(g); /* awaits the reaper */
	cr_assert(gate_released);
}

/* A deleted worker whose release() still waits (a process in its stop
 * grace) keeps its max_workers slot until it is released, so max_workers
 * also bounds the processes still ending. */
Test(runtime, a_deleted_worker_keeps_its_slot_until_released)
{
	struct wr_profile prof = {"gate", &gate_driver, NULL};
	struct wr_config cfg = {.runtime_id = "rt-gate", .profiles = &prof,
	                        .n_profiles = 1, .limits = {.max_workers = 1}};
	struct wr_create_request req = {
		.profile = {.kind = WR_PROFILE_NAMED, .value = "gate"}};
	struct wr_runtime *g = NULL;
	struct wr_worker_info *w = NULL, *w2 = NULL;
	wr_err rc = WR_EUNSUPPORTED;

	pthread_mutex_lock(&gate_mu);
	gate_open = false;
	gate_released = false;
	pthread_mutex_unlock(&gate_mu);
	cr_assert_eq(wr_runtime_open(&cfg, &g, &err), WR_OK, "%s",
	             err.message);
	cr_assert_eq(wr_worker_create(g, &req, &w, &err), WR_OK);
	cr_assert_eq(wr_worker_stop(g, w->ref.worker_id, NULL, NULL, &err),
	             WR_OK);
	cr_assert_eq(wr_worker_delete(g, w->ref.worker_id, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_create(g, &req, &w2, &err), WR_EUNSUPPORTED,
	             "a slot was free while the deleted one was ending");
	cr_assert_eq(err.reason, WR_REASON_WORKER_LIMIT_REACHED);
	pthread_mutex_lock(&gate_mu);
	gate_open = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
	/* wait for the state (released, slot back), bounded */
	for (int i = 0; i < 1000 && rc != WR_OK; i++) {
		rc = wr_worker_create(g, &req, &w2, &err);
		if (rc != WR_OK)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	cr_assert_eq(rc, WR_OK, "the slot came back once released: %s",
	             err.message);
	wr_worker_info_free(w);
	wr_worker_info_free(w2);
	wr_runtime_close(g);
}

Test(runtime, delete_is_refused_once_the_runtime_stopped)
{
	char id[WR_ID_MAX + 1];

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(wr_runtime_stop(rt, &err), WR_OK);
	cr_assert_eq(wr_worker_delete(rt, id, NULL, &err), WR_EUNAVAILABLE);
	cr_assert_eq(err.reason, WR_REASON_RUNTIME_STOPPED);
}

/* ---- list / get --------------------------------------------------------- */

/* The ids of a page, in order, joined by spaces. */
static void
page(const struct wr_list_query *q, char *out, size_t size, char *next)
{
	struct wr_worker_list l;
	size_t n = 0;

	cr_assert_eq(wr_worker_list(rt, q, &l, &err), WR_OK, "%s",
	             err.message);
	out[0] = '\0';
	for (size_t i = 0; i < l.count; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? " " : "",
		                      l.items[i]->ref.worker_id);
	strcpy(next, l.has_next ? l.next_after : "-");
	wr_worker_list_free(&l);
}

Test(runtime, list_pages_by_limit_after_and_status)
{
	char ids[5][WR_ID_MAX + 1], got[512], want[512], next[WR_ID_MAX + 1];
	struct wr_list_query q = {.limit = 2};

	for (int i = 0; i < 5; i++)
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ids[i]);
	cr_assert_eq(wr_worker_cancel(rt, ids[1], NULL, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_cancel(rt, ids[4], NULL, NULL, &err), WR_OK);

	page(&q, got, sizeof(got), next);
	snprintf(want, sizeof(want), "%s %s", ids[0], ids[1]);
	cr_assert_str_eq(got, want);
	cr_assert_str_eq(next, ids[1]);
	q.after = next;
	page(&q, got, sizeof(got), next);
	snprintf(want, sizeof(want), "%s %s", ids[2], ids[3]);
	cr_assert_str_eq(got, want);
	page(&q, got, sizeof(got), next);
	cr_assert_str_eq(got, ids[4]);
	cr_assert_str_eq(next, "-", "the last page has no next_after");

	/* status: the last match ends the walk, whatever follows */
	q = (struct wr_list_query){.has_status = true,
	                           .status = WR_STATUS_RUNNING};
	page(&q, got, sizeof(got), next);
	snprintf(want, sizeof(want), "%s %s %s", ids[0], ids[2], ids[3]);
	cr_assert_str_eq(got, want);
	cr_assert_str_eq(next, "-");

	/* a deleted after continues from its place */
	cr_assert_eq(wr_worker_delete(rt, ids[1], NULL, &err), WR_OK);
	q = (struct wr_list_query){.limit = 1, .after = ids[1]};
	page(&q, got, sizeof(got), next);
	cr_assert_str_eq(got, ids[2]);
	cr_assert_eq(wr_worker_delete(rt, ids[4], NULL, &err), WR_OK);
	q.after = ids[4];
	page(&q, got, sizeof(got), next);
	cr_assert_str_eq(got, "", "nothing after the newest");
}

Test(runtime, list_refuses_a_large_limit_a_bad_status_and_an_unplaceable_after)
{
	struct wr_worker_list l = {0};
	struct wr_list_query q = {.limit = WR_LIST_LIMIT_MAX + 1};

	cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_EINVALID_INPUT);
	cr_assert_eq(err.reason, WR_REASON_LIMIT_TOO_LARGE);
	cr_assert_str_eq(err.field, "limit");
	q = (struct wr_list_query){.limit = WR_LIST_LIMIT_MAX};
	cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK);
	wr_worker_list_free(&l);
	q = (struct wr_list_query){.has_status = true,
	                           .status = (enum wr_worker_status)9};
	cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_EINVALID_INPUT);
	cr_assert_str_eq(err.field, "status");
	/* an id of the older form that does not exist: no place to resume */
	q = (struct wr_list_query){.after = "w-0123456789abcdef"};
	cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_EINVALID_INPUT);
	cr_assert_eq(err.reason, WR_REASON_INVALID_VALUE);
	cr_assert_str_eq(err.field, "after");
	/* nor one of the current form with creation order 0 (docs/api.md) */
	q = (struct wr_list_query){.after = "w-00000000000000-00000000"};
	cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_EINVALID_INPUT);
	cr_assert_eq(err.reason, WR_REASON_INVALID_VALUE);
	cr_assert_str_eq(err.field, "after");
}

Test(runtime, list_is_in_creation_order)
{
	char ids[3][WR_ID_MAX + 1];
	struct wr_worker_list l;

	for (int i = 0; i < 3; i++)
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ids[i]);
	cr_assert_eq(wr_worker_list(rt, NULL, &l, &err), WR_OK);
	cr_assert_eq(l.count, 3);
	for (int i = 0; i < 3; i++)
		cr_assert_str_eq(l.items[i]->ref.worker_id, ids[i]);
	wr_worker_list_free(&l);
}

/* ---- many workers, many deletes: the creation-order array's holes ------ */

#define TABLE_N 300

static char table_ids[TABLE_N][WR_ID_MAX + 1];

static void
table_setup(void)
{
	struct wr_config cfg = {.runtime_id = "rt-table",
	                        .limits = {.max_workers = TABLE_N}};

	open_with(&cfg);
	for (int i = 0; i < TABLE_N; i++) {
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, table_ids[i]);
		cr_assert_eq(wr_worker_cancel(rt, table_ids[i], NULL, NULL, &err),
		             WR_OK);
	}
}

TestSuite(table, .init = table_setup, .fini = teardown, .timeout = 30);

static void
table_delete(int i)
{
	cr_assert_eq(wr_worker_delete(rt, table_ids[i], NULL, &err), WR_OK,
	             "delete %d: %s", i, err.message);
	table_ids[i][0] = '\0';
}

/* Every page of limit, joined; also checks each page's next_after. */
static void
table_walk(uint32_t limit, char *out, size_t size)
{
	char after[WR_ID_MAX + 1] = "";
	struct wr_list_query q = {.limit = limit};
	size_t n = 0;

	out[0] = '\0';
	for (int pages = 0; pages <= TABLE_N; pages++) {
		struct wr_worker_list l;
		q.after = after[0] ? after : NULL;
		cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK);
		for (size_t i = 0; i < l.count; i++)
			n += (size_t)snprintf(out + n, size - n, "%s ",
			                      l.items[i]->ref.worker_id);
		if (l.has_next)
			cr_assert_str_eq(l.next_after,
			                 l.items[l.count - 1]->ref.worker_id);
		strcpy(after, l.has_next ? l.next_after : "");
		wr_worker_list_free(&l);
		if (after[0] == '\0')
			return;
	}
	cr_assert_fail("the walk did not end");
}

/* The ids not deleted, in creation order, joined as table_walk does. */
static void
table_survivors(char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < TABLE_N; i++)
		if (table_ids[i][0] != '\0')
			n += (size_t)snprintf(out + n, size - n, "%s ",
			                      table_ids[i]);
}

Test(table, pages_skip_deleted_workers_and_resume_after_one,
     .description = "deletes leave holes in the creation-order array "
                    "(fewer than close it up): pages of every size still "
                    "list exactly the survivors in order")
{
	static char got[TABLE_N * (WR_ID_MAX + 2)], want[sizeof(got)];
	struct wr_list_query q = {.limit = 1};
	char gone[WR_ID_MAX + 1];
	struct wr_worker_list l;

	strcpy(gone, table_ids[110]);
	for (int i = 10; i < 60; i += 2) /* 25 holes, apart */
		table_delete(i);
	for (int i = 100; i < 130; i++) /* 30 holes, one run */
		table_delete(i);
	table_survivors(want, sizeof(want));
	for (uint32_t limit = 1; limit <= 8; limit++) {
		table_walk(limit, got, sizeof(got));
		cr_assert_str_eq(got, want, "limit %u", limit);
	}
	table_walk(TABLE_N, got, sizeof(got));
	cr_assert_str_eq(got, want);
	/* a deleted id as after: the next survivor, past the run of holes */
	q.after = gone;
	cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK);
	cr_assert_eq(l.count, 1);
	cr_assert_str_eq(l.items[0]->ref.worker_id, table_ids[130]);
	wr_worker_list_free(&l);
	/* max_workers counts the workers, not the array's slots */
	for (int i = 0; i < 55; i++)
		cr_assert_eq(wr_worker_create(rt, NULL, NULL, &err), WR_OK,
		             "create %d: %s", i, err.message);
	cr_assert_eq(wr_worker_create(rt, NULL, NULL, &err), WR_EUNSUPPORTED);
	cr_assert_eq(err.reason, WR_REASON_WORKER_LIMIT_REACHED);
}

Test(table, deleting_most_workers_closes_up_and_keeps_order_and_room,
     .description = "enough deletes close the array up; order, pages, "
                    "max_workers and the next creation are unchanged by it")
{
	static char got[TABLE_N * (WR_ID_MAX + 2)], want[sizeof(got)];
	struct wr_runtime_summary s;
	char id[WR_ID_MAX + 1];

	for (int i = 0; i < 250; i++) /* the oldest first, as retention */
		if (i % 5 != 0)
			table_delete(i);
	for (int i = TABLE_N - 1; i >= TABLE_N - 10; i--) /* the newest */
		table_delete(i);
	table_survivors(want, sizeof(want));
	table_walk(3, got, sizeof(got));
	cr_assert_str_eq(got, want);
	summary(&s);
	cr_assert_eq(s.worker_count, 50 + 40);
	/* room for exactly the 210 deleted, and each new one comes last */
	for (int i = 0; i < 210; i++) {
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
		struct wr_list_query q = {.limit = 1, .after = table_ids[289]};
		if (i == 0) {
			struct wr_worker_list l;
			cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK);
			cr_assert_eq(l.count, 1);
			cr_assert_str_eq(l.items[0]->ref.worker_id, id);
			wr_worker_list_free(&l);
		}
	}
	cr_assert_eq(wr_worker_create(rt, NULL, NULL, &err), WR_EUNSUPPORTED);
	cr_assert_eq(err.reason, WR_REASON_WORKER_LIMIT_REACHED);
}

Test(runtime, get_unknown_worker_names_the_id)
{
	struct wr_worker_info *w = NULL;

	cr_assert_eq(wr_worker_get(rt, "w-nope", &w, &err), WR_EUNKNOWN_WORKER);
	cr_assert_str_eq(err.worker_id, "w-nope");
	cr_assert_null(w);
}

/* ---- input -------------------------------------------------------------- */

Test(runtime, input_appends_dense_sequences_and_event_ids)
{
	char id[WR_ID_MAX + 1];
	struct wr_input_ack a1, a2;
	struct wr_worker_info *w;

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(input(id, "hello", &a1), WR_OK);
	cr_assert_eq(input(id, "again", &a2), WR_OK);
	cr_assert_eq(a1.transcript_sequence, 1);
	cr_assert_eq(a2.transcript_sequence, 2);
	cr_assert_eq(a1.event_id, 2);
	cr_assert_eq(a2.event_id, 3);
	cr_assert_eq(a2.status, WR_STATUS_RUNNING);
	cr_assert_eq(a2.run_state, WR_RUN_IDLE);
	cr_assert_str_eq(a2.ref.worker_id, id);
	wr_worker_get(rt, id, &w, &err);
	cr_assert_eq(w->transcript_len, 2);
	cr_assert_eq(w->last_event_id, 3);
	wr_worker_info_free(w);
}

Test(runtime, system_input_is_recorded_with_system_role)
{
	char id[WR_ID_MAX + 1];
	struct wr_input in = {WR_INPUT_SYSTEM, "be brief"};
	struct wr_transcript_page p;

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(wr_worker_input(rt, id, &in, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 10, &p, &err), WR_OK);
	cr_assert_eq(p.items[0].role, WR_ROLE_SYSTEM);
	cr_assert_str_eq(p.items[0].content, "be brief");
	wr_transcript_page_clear(&p);
}

Test(runtime, input_content_rules_and_bounds)
{
	char id[WR_ID_MAX + 1];
	struct wr_input bad_kind = {(enum wr_input_kind)7, "x"};

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(input(id, "", NULL), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "empty_content");
	cr_assert_str_eq(err.field, "content");
	cr_assert_eq(input(id, NULL, NULL), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "empty_content");
	cr_assert_eq(input(id, "0123456789abcdef", NULL), WR_OK,
	             "exactly max_input_bytes is accepted");
	cr_assert_eq(input(id, "0123456789abcdefg", NULL), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "content_too_large");
	cr_assert_eq(input(id, "bad \xc3\x28", NULL), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "invalid_utf8");
	cr_assert_eq(input(id, "\xed\xa0\x80", NULL), WR_EINVALID_INPUT,
	             "surrogates are not UTF-8");
	cr_assert_eq(input(id, "\xc0\xaf", NULL), WR_EINVALID_INPUT,
	             "overlong forms are not UTF-8");
	cr_assert_eq(input(id, "caf\xc3\xa9 \xf0\x9f\x99\x82", NULL), WR_OK);
	cr_assert_eq(wr_worker_input(rt, id, &bad_kind, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(err.field, "kind");
	cr_assert_eq(wr_worker_input(rt, id, NULL, NULL, &err),
	             WR_EINVALID_INPUT);
}

Test(runtime, rejected_input_changes_nothing)
{
	char id[WR_ID_MAX + 1];
	struct wr_worker_info *before, *after;

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(input(id, "ok", NULL), WR_OK);
	wr_worker_get(rt, id, &before, &err);
	cr_assert_eq(input(id, "", NULL), WR_EINVALID_INPUT);
	cr_assert_eq(input(id, "way too long for the limit", NULL),
	             WR_EINVALID_INPUT);
	wr_worker_get(rt, id, &after, &err);
	cr_assert_eq(after->transcript_len, before->transcript_len);
	cr_assert_eq(after->last_event_id, before->last_event_id);
	cr_assert_eq(after->updated_at_ms, before->updated_at_ms);
	wr_worker_info_free(before);
	wr_worker_info_free(after);
}

Test(runtime, input_to_unknown_worker)
{
	cr_assert_eq(input("w-missing", "hi", NULL), WR_EUNKNOWN_WORKER);
	cr_assert_str_eq(err.worker_id, "w-missing");
}

Test(runtime, input_to_terminal_worker_is_unsupported)
{
	char id[WR_ID_MAX + 1];

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err), WR_OK);
	cr_assert_eq(input(id, "hi", NULL), WR_EUNSUPPORTED);
	cr_assert_str_eq(wr_reason_name(err.reason), "worker_not_running");
	cr_assert_str_eq(err.worker_id, id);
}

Test(runtime, input_while_turn_in_progress_is_busy)
{
	char id[WR_ID_MAX + 1];
	struct wr_input_ack ack;
	struct wr_worker_info *w;

	create(WR_PROFILE_NAMED, "slow", id);
	cr_assert_eq(input(id, "first", &ack), WR_OK);
	cr_assert_eq(ack.run_state, WR_RUN_BUSY);
	cr_assert_eq(input(id, "second", NULL), WR_EBUSY);
	cr_assert_str_eq(wr_reason_name(err.reason), "turn_in_progress");
	cr_assert_str_eq(err.worker_id, id);
	wr_worker_get(rt, id, &w, &err);
	cr_assert_eq(w->run_state, WR_RUN_BUSY);
	cr_assert_eq(w->transcript_len, 1, "busy input is not recorded");
	wr_worker_info_free(w);
	cr_assert_eq(atomic_load(&stats.inputs), 1);

	cr_assert_eq(wr_worker_turn_end(rt, id, &err), WR_OK);
	cr_assert_eq(input(id, "second", &ack), WR_OK);
	cr_assert_eq(ack.transcript_sequence, 2);
}

Test(runtime, driver_reported_busy_is_busy_and_records_nothing)
{
	char id[WR_ID_MAX + 1];
	struct wr_worker_info *w;

	create(WR_PROFILE_NAMED, "refuser", id);
	cr_assert_eq(input(id, "hi", NULL), WR_EBUSY);
	cr_assert_str_eq(wr_reason_name(err.reason), "turn_in_progress");
	cr_assert_str_eq(err.worker_id, id);
	wr_worker_get(rt, id, &w, &err);
	cr_assert_eq(w->transcript_len, 0);
	cr_assert_eq(w->last_event_id, 1);
	wr_worker_info_free(w);
}

/* ---- stop / cancel ------------------------------------------------------ */

Test(runtime, stop_is_idempotent_and_first_terminal_state_wins)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack a1, a2, a3;
	struct wr_runtime_summary s;

	create(WR_PROFILE_NAMED, "slow", id);
	cr_assert_eq(wr_worker_stop(rt, id, "done", &a1, &err), WR_OK);
	cr_assert_eq(a1.status, WR_STATUS_STOPPED);
	cr_assert_eq(a1.event_id, 2);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, &a2, &err), WR_OK);
	cr_assert_eq(a2.status, WR_STATUS_STOPPED);
	cr_assert_eq(a2.event_id, 2);
	cr_assert_eq(wr_worker_cancel(rt, id, "late", &a3, &err), WR_OK);
	cr_assert_eq(a3.status, WR_STATUS_STOPPED, "stop won");
	cr_assert_eq(a3.event_id, 2);
	cr_assert_eq(atomic_load(&stats.stops), 1, "driver stopped once");
	cr_assert_eq(atomic_load(&stats.cancels), 0);
	summary(&s);
	cr_assert_eq(s.stopped_worker_count, 1);
	cr_assert_eq(s.active_worker_count, 0);
	cr_assert_eq(s.cancelled_worker_count, 0);
}

Test(runtime, cancel_mid_turn_ends_cancelled_with_run_state_none)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack a;
	struct wr_worker_info *w;
	struct wr_runtime_summary s;

	create(WR_PROFILE_NAMED, "slow", id);
	cr_assert_eq(input(id, "work", NULL), WR_OK);
	cr_assert_eq(wr_worker_cancel(rt, id, NULL, &a, &err), WR_OK);
	cr_assert_eq(a.status, WR_STATUS_CANCELLED);
	cr_assert_eq(atomic_load(&stats.cancels), 1);
	wr_worker_get(rt, id, &w, &err);
	cr_assert_eq(w->status, WR_STATUS_CANCELLED);
	cr_assert_eq(w->run_state, WR_RUN_NONE);
	cr_assert_eq(w->last_event_id, a.event_id);
	wr_worker_info_free(w);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, &a, &err), WR_OK);
	cr_assert_eq(a.status, WR_STATUS_CANCELLED);
	cr_assert_eq(wr_worker_turn_end(rt, id, &err), WR_EUNSUPPORTED,
	             "late turn_end from a driver is refused");
	summary(&s);
	cr_assert_eq(s.cancelled_worker_count, 1);
}

Test(runtime, stop_rejects_unknown_worker_and_bad_reason)
{
	char id[WR_ID_MAX + 1];
	char big[1100];

	cr_assert_eq(wr_worker_stop(rt, "w-x", NULL, NULL, &err),
	             WR_EUNKNOWN_WORKER);
	cr_assert_eq(wr_worker_cancel(rt, "w-x", NULL, NULL, &err),
	             WR_EUNKNOWN_WORKER);
	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(wr_worker_stop(rt, id, big, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(err.field, "reason");
}

/* ---- driver callbacks ------------------------------------------------- */

Test(runtime, emitted_output_and_failure_land_in_transcript)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p;
	struct wr_runtime_summary s;
	struct wr_worker_info *w;

	create(WR_PROFILE_NAMED, "slow", id);
	cr_assert_eq(input(id, "go", NULL), WR_OK);
	cr_assert_eq(wr_worker_emit(rt, id, WR_ROLE_WORKER, "answer", &err),
	             WR_OK);
	cr_assert_eq(wr_worker_emit(rt, id, WR_ROLE_USER, "no", &err),
	             WR_EINVALID_INPUT);
	cr_assert_eq(wr_worker_fail(rt, id, "exited with status 3", &err),
	             WR_OK);
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 10, &p, &err), WR_OK);
	cr_assert_eq(p.total_items, 3);
	cr_assert_eq(p.items[1].role, WR_ROLE_WORKER);
	cr_assert_str_eq(p.items[1].content, "answer");
	cr_assert_eq(p.items[2].role, WR_ROLE_RUNTIME);
	cr_assert_str_eq(p.items[2].content, "exited with status 3");
	wr_transcript_page_clear(&p);
	wr_worker_get(rt, id, &w, &err);
	cr_assert_eq(w->status, WR_STATUS_FAILED);
	cr_assert_eq(w->run_state, WR_RUN_NONE);
	wr_worker_info_free(w);
	summary(&s);
	cr_assert_eq(s.failed_worker_count, 1);
	cr_assert_eq(s.active_worker_count, 0);
	cr_assert_eq(wr_worker_emit(rt, id, WR_ROLE_WORKER, "late", &err),
	             WR_EUNSUPPORTED, "output after the end is dropped");
	cr_assert_eq(wr_worker_fail(rt, "w-none", "x", &err),
	             WR_EUNKNOWN_WORKER);
}

Test(runtime, diagnostics_are_bounded_and_counted)
{
	struct wr_diagnostic *d;
	size_t n;
	struct wr_runtime_summary s;

	for (int i = 0; i < WR_DIAGNOSTICS_KEPT + 5; i++)
		wr_runtime_diagnose(rt, i % 2 ? "w-1" : NULL, "event %d", i);
	cr_assert_eq(wr_runtime_diagnostics(rt, &d, &n, &err), WR_OK);
	cr_assert_eq(n, WR_DIAGNOSTICS_KEPT);
	cr_assert_str_eq(d[0].message, "event 5", "oldest kept first");
	cr_assert_eq(d[0].id, 6);
	cr_assert_str_eq(d[n - 1].message, "event 132");
	free(d);
	summary(&s);
	cr_assert_eq(s.diagnostic_count, WR_DIAGNOSTICS_KEPT + 5);
}

/* ---- transcript pages ----------------------------------------------- */

Test(runtime, transcript_pages_walk_with_next_start)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p;
	char text[8];

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	for (int i = 1; i <= 7; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		cr_assert_eq(input(id, text, NULL), WR_OK);
	}
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 3, &p, &err), WR_OK);
	cr_assert_eq(p.count, 3);
	cr_assert_eq(p.total_items, 7);
	cr_assert(p.has_next);
	cr_assert_eq(p.next_start, 3);
	cr_assert_eq(p.items[0].sequence, 1);
	cr_assert_str_eq(p.items[2].content, "m3");
	wr_transcript_page_clear(&p);

	cr_assert_eq(wr_worker_transcript(rt, id, 6, 3, &p, &err), WR_OK);
	cr_assert_eq(p.count, 1);
	cr_assert_eq(p.items[0].sequence, 7);
	cr_assert_not(p.has_next, "last page: next_start is null");
	wr_transcript_page_clear(&p);

	cr_assert_eq(wr_worker_transcript(rt, id, 4, 3, &p, &err), WR_OK);
	cr_assert_eq(p.count, 3);
	cr_assert_not(p.has_next, "a page ending exactly at the end is last");
	wr_transcript_page_clear(&p);

	cr_assert_eq(wr_worker_transcript(rt, id, 100, 3, &p, &err), WR_OK);
	cr_assert_eq(p.count, 0);
	cr_assert_eq(p.total_items, 7);
	cr_assert_not(p.has_next);
	wr_transcript_page_clear(&p);
}

Test(runtime, transcript_limit_bounds_and_default)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p;

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 10, &p, &err), WR_OK,
	             "limit equal to the maximum is accepted");
	wr_transcript_page_clear(&p);
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 11, &p, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "limit_too_large");
	cr_assert_str_eq(err.field, "limit");
	cr_assert_eq(wr_worker_transcript(rt, id, 0,
	                                  WR_TRANSCRIPT_LIMIT_DEFAULT, &p,
	                                  &err),
	             WR_OK);
	cr_assert_eq(p.limit, 10, "default is min(256, maximum)");
	wr_transcript_page_clear(&p);
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 0, &p, &err), WR_OK);
	cr_assert_eq(p.limit, 10, "limit 0 is the default, never an empty page");
	wr_transcript_page_clear(&p);
	cr_assert_eq(wr_worker_transcript(rt, "w-zz", 0, 1, &p, &err),
	             WR_EUNKNOWN_WORKER);
}

/* ---- runtime stop ------------------------------------------------------- */

Test(runtime, runtime_stop_stops_workers_refuses_mutations_keeps_reads)
{
	char id[WR_ID_MAX + 1], id2[WR_ID_MAX + 1];
	struct wr_runtime_summary s;
	struct wr_worker_info *w;
	struct wr_transcript_page p;
	struct wr_worker_list l;

	create(WR_PROFILE_NAMED, "slow", id);
	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id2);
	cr_assert_eq(wr_worker_cancel(rt, id2, NULL, NULL, &err), WR_OK);
	cr_assert_eq(input(id, "x", NULL), WR_OK);
	cr_assert_eq(wr_runtime_stop(rt, &err), WR_OK);
	cr_assert_eq(wr_runtime_stop(rt, &err), WR_OK, "idempotent");
	summary(&s);
	cr_assert_eq(s.status, WR_RUNTIME_STOPPED);
	cr_assert_eq(s.active_worker_count, 0);
	cr_assert_eq(s.stopped_worker_count, 1);
	cr_assert_eq(s.cancelled_worker_count, 1, "terminal states are kept");
	cr_assert_eq(atomic_load(&stats.stops), 1);

	cr_assert_eq(wr_worker_create(rt, NULL, NULL, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "runtime_stopped");
	cr_assert_eq(input(id, "y", NULL), WR_EUNAVAILABLE);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err),
	             WR_EUNAVAILABLE);
	cr_assert_eq(wr_worker_cancel(rt, id, NULL, NULL, &err),
	             WR_EUNAVAILABLE);

	cr_assert_eq(wr_worker_get(rt, id, &w, &err), WR_OK);
	cr_assert_eq(w->status, WR_STATUS_STOPPED);
	wr_worker_info_free(w);
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 5, &p, &err), WR_OK);
	cr_assert_eq(p.count, 1);
	wr_transcript_page_clear(&p);
	cr_assert_eq(wr_worker_list(rt, NULL, &l, &err), WR_OK);
	cr_assert_eq(l.count, 2);
	wr_worker_list_free(&l);
}

Test(runtime, event_ids_are_monotonic_across_workers)
{
	char a[WR_ID_MAX + 1], b[WR_ID_MAX + 1];
	struct wr_input_ack x, y;
	struct wr_lifecycle_ack z;

	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, a);
	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, b);
	cr_assert_eq(input(a, "1", &x), WR_OK);
	cr_assert_eq(input(b, "2", &y), WR_OK);
	cr_assert_eq(wr_worker_stop(rt, a, NULL, &z, &err), WR_OK);
	cr_assert_eq(x.event_id, 3);
	cr_assert_eq(y.event_id, 4);
	cr_assert_eq(z.event_id, 5);
}

Test(runtime, close_releases_every_driver_state)
{
	char id[WR_ID_MAX + 1];

	create(WR_PROFILE_NAMED, "slow", id);
	create(WR_PROFILE_NAMED, "slow", id);
	wr_runtime_close(rt);
	rt = NULL;
	cr_assert_eq(atomic_load(&stats.started), 2);
	cr_assert_eq(atomic_load(&stats.stops), 2, "running workers stopped");
	cr_assert_eq(atomic_load(&stats.released), 2);
}

/* A page stops before its JSON text passes WR_TRANSCRIPT_PAGE_MAX_BYTES,
 * whatever limit asked for, and always holds at least one entry. */
Test(runtime_open, transcript_pages_are_bounded_in_bytes, .timeout = 30)
{
	struct wr_config cfg = {.limits.max_input_bytes = 1u << 20};
	struct wr_worker_info *w;
	struct wr_transcript_page p;
	char *big = malloc((1u << 20) + 1);
	char *ctl = malloc((1u << 20) + 1);

	memset(big, 'a', 1u << 20);
	big[1u << 20] = '\0';
	memset(ctl, '\x01', 1u << 20); /* 6 bytes each once escaped */
	ctl[1u << 20] = '\0';
	cr_assert_eq(wr_runtime_open(&cfg, &rt, NULL), WR_OK);
	cr_assert_eq(wr_worker_create(rt, NULL, &w, NULL), WR_OK);
	for (int i = 0; i < 10; i++) {
		struct wr_input in = {WR_INPUT_USER, big};
		cr_assert_eq(wr_worker_input(rt, w->ref.worker_id, &in, NULL,
		                             NULL), WR_OK);
	}
	for (int i = 0; i < 2; i++) {
		struct wr_input in = {WR_INPUT_USER, ctl};
		cr_assert_eq(wr_worker_input(rt, w->ref.worker_id, &in, NULL,
		                             NULL), WR_OK);
	}
	cr_assert_eq(wr_worker_transcript(rt, w->ref.worker_id, 0, 12, &p,
	                                  NULL), WR_OK);
	cr_assert_eq(p.count, 7, "7 MiB fit under 8 MiB, 8 do not");
	cr_assert(p.has_next);
	cr_assert_eq(p.next_start, 7);
	cr_assert_eq(p.limit, 12, "the page still reports the limit asked");
	wr_transcript_page_clear(&p);
	cr_assert_eq(wr_worker_transcript(rt, w->ref.worker_id, 10, 2, &p,
	                                  NULL), WR_OK);
	cr_assert_eq(p.count, 1, "one 6 MiB entry, never an empty page");
	cr_assert_eq(p.next_start, 11);
	wr_transcript_page_clear(&p);
	wr_worker_info_free(w);
	wr_runtime_close(rt);
	rt = NULL;
	free(big);
	free(ctl);
}

static atomic_int diag_seen;
static char diag_last[WR_DIAGNOSTIC_MAX];

static void
on_diag(void *arg, const struct wr_diagnostic *d)
{
	cr_assert_eq(arg, &diag_seen);
	strcpy(diag_last, d->message);
	atomic_fetch_add(&diag_seen, 1);
}

Test(runtime_open, retention_deletes_ended_workers_only)
{
	struct wr_config cfg = {.retain_ended_ms = 300};
	struct wr_runtime_summary s;
	struct wr_worker_info *w = NULL;
	char ended[WR_ID_MAX + 1], running[WR_ID_MAX + 1];
	wr_err rc = WR_OK;

	open_with(&cfg);
	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ended);
	create(WR_PROFILE_RUNTIME_DEFAULT, NULL, running);
	cr_assert_eq(wr_worker_stop(rt, ended, NULL, NULL, &err), WR_OK);
	/* Waits for the state (bounded), never for a guessed duration. */
	for (int i = 0; i < 500; i++) {
		rc = wr_worker_get(rt, ended, &w, &err);
		wr_worker_info_free(w);
		w = NULL;
		if (rc == WR_EUNKNOWN_WORKER)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	cr_assert_eq(rc, WR_EUNKNOWN_WORKER, "retention deleted nothing");
	cr_assert_eq(wr_worker_get(rt, running, &w, &err), WR_OK,
	             "a running worker is kept");
	wr_worker_info_free(w);
	summary(&s);
	cr_assert_eq(s.deleted_worker_count, 1);
	cr_assert_eq(s.worker_count, 1);
	cr_assert_eq(wr_runtime_stop(rt, &err), WR_OK, "stop halts it");
	wr_runtime_close(rt);
	rt = NULL;
}

Test(runtime_open, retention_deletes_every_expired_worker_across_close_ups,
     .description = "retention's cursor keeps its place while its deletes "
                    "close the creation-order array up: every ended worker "
                    "goes, every running one stays, in order")
{
	struct wr_config cfg = {.retain_ended_ms = 200,
	                        .limits = {.max_workers = 300}};
	static char ids[300][WR_ID_MAX + 1];
	struct wr_runtime_summary s = {0};
	struct wr_list_query q = {.limit = 300};
	struct wr_worker_list l;

	open_with(&cfg);
	for (int i = 0; i < 300; i++) {
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ids[i]);
		if (i % 10 != 0)
			cr_assert_eq(wr_worker_stop(rt, ids[i], NULL, NULL, &err),
			             WR_OK);
	}
	/* Waits for the state (bounded), never for a guessed duration. */
	for (int i = 0; i < 1000; i++) {
		summary(&s);
		if (s.worker_count == 30)
			break;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	cr_assert_eq(s.worker_count, 30, "%llu workers left",
	             (unsigned long long)s.worker_count);
	cr_assert_eq(s.deleted_worker_count, 270);
	cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK);
	cr_assert_eq(l.count, 30);
	for (size_t i = 0; i < l.count; i++)
		cr_assert_str_eq(l.items[i]->ref.worker_id, ids[i * 10]);
	wr_worker_list_free(&l);
	cr_assert_eq(wr_runtime_stop(rt, &err), WR_OK);
	wr_runtime_close(rt);
	rt = NULL;
}

/* The JSON page of q (wr_worker_list_json, the HTTP server's path) is l,
 * the copied page of q, as wr_json_encode_worker_page writes it: the same
 * items, has_next and next_after at the scan budget's cut and after a
 * deleted mark too.  Nothing may change between the two calls. */
static void
assert_json_page(const struct wr_list_query *q, const struct wr_worker_list *l)
{
	char *want = wr_json_encode_worker_page(l, NULL), *got = NULL;

	cr_assert_not_null(want);
	cr_assert_eq(wr_worker_list_json(rt, q, &got, NULL, &err), WR_OK, "%s",
	             err.message);
	cr_assert_str_eq(got, want);
	free(want);
	free(got);
}

/* A query for pages of cancelled workers, limit at a time. */
static struct wr_list_query
cancelled_pages(uint32_t limit)
{
	return (struct wr_list_query){.limit = limit, .has_status = true,
	                              .status = WR_STATUS_CANCELLED};
}

/* The first page of up to 1,000 cancelled workers into *l (the caller
 * frees it), checked against its JSON page. */
static void
first_cancelled_page(struct wr_worker_list *l)
{
	struct wr_list_query q = cancelled_pages(1000);

	cr_assert_eq(wr_worker_list(rt, &q, l, &err), WR_OK);
	assert_json_page(&q, l);
}

Test(runtime_open, a_filtered_page_looks_at_a_bounded_number_of_workers,
     .description = "a status page stops after WR_LIST_SCAN_MAX workers, "
                    "short or empty but with next_after, and the walk "
                    "still finds every match exactly once")
{
	enum { N = WR_LIST_SCAN_MAX + 4000 };
	struct wr_config cfg = {.limits = {.max_workers = N}};
	char first[WR_ID_MAX + 1], last[WR_ID_MAX + 1], after[WR_ID_MAX + 1];

	open_with(&cfg);
	for (int i = 0; i < N; i++) {
		char id[WR_ID_MAX + 1];
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, id);
		if (i == 0 || i == N - 1) {
			strcpy(i == 0 ? first : last, id);
			cr_assert_eq(wr_worker_cancel(rt, id, NULL, NULL, &err),
			             WR_OK);
		}
	}
	for (uint32_t limit = 1; limit <= 10; limit += 9) {
		struct wr_list_query q = cancelled_pages(limit);
		char seen[2 * (WR_ID_MAX + 2)] = "", want[sizeof(seen)];
		int pages = 0;
		after[0] = '\0';
		do {
			struct wr_worker_list l;
			q.after = after[0] ? after : NULL;
			cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK);
			assert_json_page(&q, &l);
			cr_assert_leq(l.count, 1);
			for (size_t i = 0; i < l.count; i++)
				strcat(strcat(seen, l.items[i]->ref.worker_id), " ");
			if (pages == 0)
				cr_assert(l.has_next && l.count == 1,
				          "the first page ends at the budget");
			strcpy(after, l.has_next ? l.next_after : "");
			wr_worker_list_free(&l);
		} while (after[0] != '\0' && ++pages < 4);
		cr_assert_eq(pages, 1, "limit %u: two pages", limit);
		snprintf(want, sizeof(want), "%s %s ", first, last);
		cr_assert_str_eq(seen, want, "limit %u", limit);
	}
	wr_runtime_close(rt);
	rt = NULL;
}

Test(runtime_open, retention_above_its_maximum_is_refused)
{
	struct wr_config cfg = {.retain_ended_ms = WR_MAX_RETAIN_ENDED_MS + 1};
	struct wr_runtime *r = NULL;

	cr_assert_eq(wr_runtime_open(&cfg, &r, &err), WR_EINVALID_INPUT);
	cr_assert_str_eq(err.field, "retain_ended_ms");
	cr_assert_null(r);
}

Test(runtime_open, every_diagnostic_reaches_the_callback)
{
	struct wr_config cfg = {.on_diagnostic = on_diag,
	                        .on_diagnostic_arg = &diag_seen};

	cr_assert_eq(wr_runtime_open(&cfg, &rt, NULL), WR_OK);
	wr_runtime_diagnose(rt, NULL, "first %d", 1);
	wr_runtime_diagnose(rt, "w-1", "second");
	cr_assert_eq(atomic_load(&diag_seen), 2);
	cr_assert_str_eq(diag_last, "second");
	wr_runtime_close(rt);
	rt = NULL;
}

/* ---- wr_runtime_set_profiles (SIGHUP reload) ------------------------- */

static wr_err
create_named(const char *name, struct wr_worker_info **out)
{
	struct wr_create_request req;

	memset(&req, 0, sizeof(req));
	req.profile.kind = WR_PROFILE_NAMED;
	req.profile.value = (char *)name;
	return wr_worker_create(rt, &req, out, &err);
}

Test(runtime, set_profiles_serves_new_workers_and_keeps_running_ones)
{
	static struct wr_worker_info *w, *x;
	const struct wr_profile next[] = {
		{"fresh", &wr_test_busy_driver, &stats},
	};
	const struct wr_profile dup[] = {
		{"a", NULL, NULL}, {"a", NULL, NULL},
	};
	struct wr_input in = {WR_INPUT_USER, (char *)"hi"};
	int before = atomic_load(&stats.inputs);

	cr_assert_eq(create_named("slow", &w), WR_OK, "%s", err.message);
	cr_assert_eq(wr_runtime_set_profiles(rt, next, 1, "fresh", &err), WR_OK,
	             "%s", err.message);
	cr_assert_eq(create_named("slow", NULL), WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "unknown_profile");
	cr_assert_eq(create_named("fresh", &x), WR_OK, "%s", err.message);
	/* The running worker still uses its driver. */
	cr_assert_eq(wr_worker_input(rt, w->ref.worker_id, &in, NULL, &err),
	             WR_OK, "%s", err.message);
	cr_assert_gt(atomic_load(&stats.inputs), before);

	/* An invalid set is refused and the last good one stays. */
	cr_assert_eq(wr_runtime_set_profiles(rt, dup, 2, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_eq(wr_runtime_set_profiles(rt, next, 1, "nope", &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "unknown_profile");
	cr_assert_eq(create_named("fresh", NULL), WR_OK, "%s", err.message);
	wr_worker_info_free(w);
	wr_worker_info_free(x);
}

/* Follows next_after from after0 (NULL: the first page) with q; the ids
 * seen in want order, space-separated, into seen (at most cap bytes).
 * Returns the pages walked (at most 100). */
static int
budget_walk(struct wr_list_query q, const char *after0, char *seen,
            size_t cap)
{
	char after[WR_ID_MAX + 1] = "";
	int pages = 0;

	seen[0] = '\0';
	if (after0 != NULL)
		strcpy(after, after0);
	do {
		struct wr_worker_list l;
		q.after = after[0] ? after : NULL;
		cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK, "%s",
		             err.message);
		assert_json_page(&q, &l);
		cr_assert_leq(l.count, q.limit);
		for (size_t i = 0; i < l.count; i++) {
			cr_assert_lt(strlen(seen) + WR_ID_MAX + 2, cap);
			strcat(strcat(seen, l.items[i]->ref.worker_id), " ");
		}
		strcpy(after, l.has_next ? l.next_after : "");
		wr_worker_list_free(&l);
	} while (after[0] != '\0' && ++pages < 100);
	return pages;
}

Test(runtime_open, filtered_pages_at_the_scan_budget_boundary,
     .description = "matches just before, at and after the WR_LIST_SCAN_MAX "
                    "boundary, with holes in the window, are each seen once "
                    "by every page size; a walk resumed from a budget-cut "
                    "next_after whose worker was deleted meanwhile too")
{
	enum { N = WR_LIST_SCAN_MAX + 300 };
	/* Live positions (after the deletes below) that are cancelled. */
	static const size_t hits[] = {0, 1, WR_LIST_SCAN_MAX - 2,
	                              WR_LIST_SCAN_MAX - 1, WR_LIST_SCAN_MAX,
	                              WR_LIST_SCAN_MAX + 1, N - 101};
	struct wr_config cfg = {.limits = {.max_workers = N}};
	static char ids[N][WR_ID_MAX + 1];
	char want[1024] = "", seen[1024], cut[WR_ID_MAX + 1];
	size_t live = 0;

	open_with(&cfg);
	for (int i = 0; i < N; i++)
		create(WR_PROFILE_RUNTIME_DEFAULT, NULL, ids[i]);
	/* 100 holes inside the first window (over HOLES_MIN, under a
	 * quarter: they stay holes), so the budget counts workers, not
	 * slots. */
	for (int i = 10; i < 110; i++) {
		cr_assert_eq(wr_worker_stop(rt, ids[i], NULL, NULL, &err), WR_OK);
		cr_assert_eq(wr_worker_delete(rt, ids[i], NULL, &err), WR_OK);
		ids[i][0] = '\0';
	}
	for (int i = 0, k = 0; i < N && k < (int)(sizeof(hits) / sizeof(*hits));
	     i++) {
		if (ids[i][0] == '\0')
			continue;
		if (live++ != hits[k])
			continue;
		k++;
		cr_assert_eq(wr_worker_cancel(rt, ids[i], NULL, NULL, &err), WR_OK);
		strcat(strcat(want, ids[i]), " ");
	}
	for (uint32_t limit = 1; limit <= 1000; limit = limit < 3 ? limit + 1
	                                                         : limit * 10) {
		int pages = budget_walk(cancelled_pages(limit), NULL, seen,
		                        sizeof(seen));
		cr_assert_lt(pages, 100);
		cr_assert_str_eq(seen, want, "limit %u", limit);
	}
	/* The first page with limit 1000 is cut by the budget: its
	 * next_after is a running worker the page did not hold. */
	{
		struct wr_worker_list l;
		first_cancelled_page(&l);
		cr_assert_eq(l.count, 4);
		cr_assert(l.has_next);
		strcpy(cut, l.next_after);
		wr_worker_list_free(&l);
		cr_assert_eq(wr_worker_stop(rt, cut, NULL, NULL, &err), WR_OK);
		cr_assert_eq(wr_worker_delete(rt, cut, NULL, &err), WR_OK);
		/* From the deleted mark on: the three matches after it. */
		const char *rest = want;
		for (int k = 0; k < 4; k++)
			rest = strchr(rest, ' ') + 1;
		budget_walk(cancelled_pages(1000), cut, seen, sizeof(seen));
		cr_assert_str_eq(seen, rest, "after the deleted mark");
	}
	wr_runtime_close(rt);
	rt = NULL;
}

Test(runtime_open, a_byte_cut_at_the_scan_budget_boundary,
     .description = "a status page whose byte cut falls on the last worker "
                    "its scan budget reaches names its last worker, and "
                    "the next page, scanning the same run again, takes the "
                    "cut worker: every page size sees each match once")
{
	enum { N = WR_LIST_SCAN_MAX + 20, BIG = 12 };
	/* Cancelled workers whose summary is about 787 KB: ten first (the
	 * first page's bytes), then the one the budget's last look reaches
	 * and the one after it. */
	static const size_t big_at[BIG] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
	                                   WR_LIST_SCAN_MAX - 1,
	                                   WR_LIST_SCAN_MAX};
	static const uint32_t limits[] = {1, 2, 10, 11, 12, 1000};
	static char s[65537], ids[N][WR_ID_MAX + 1];
	struct wr_config cfg = {.limits = {.max_workers = N}};
	struct wr_create_request big = {.intent = {WR_INTENT_ROLE, s, NULL, s}};
	char want[1024] = "", seen[1024];
	size_t k = 0;

	memset(s, '\x01', sizeof(s) - 1);
	open_with(&cfg);
	for (size_t i = 0; i < N; i++) {
		struct wr_worker_info *w = NULL;
		bool is_big = k < BIG && big_at[k] == i;
		cr_assert_eq(wr_worker_create(rt, is_big ? &big : NULL, &w,
		                              &err), WR_OK, "%s", err.message);
		strcpy(ids[i], w->ref.worker_id);
		wr_worker_info_free(w);
		if (!is_big)
			continue;
		k++;
		cr_assert_eq(wr_worker_cancel(rt, ids[i], NULL, NULL, &err),
		             WR_OK);
		strcat(strcat(want, ids[i]), " ");
	}
	/* The first page: ten, cut by bytes at the budget's last look. */
	{
		struct wr_worker_list l;
		first_cancelled_page(&l);
		cr_assert_eq(l.count, 10);
		cr_assert(l.has_next);
		cr_assert_str_eq(l.next_after, ids[9]);
		wr_worker_list_free(&l);
	}
	for (size_t j = 0; j < sizeof(limits) / sizeof(*limits); j++) {
		int pages = budget_walk(cancelled_pages(limits[j]), NULL, seen,
		                        sizeof(seen));
		cr_assert_lt(pages, 100);
		cr_assert_str_eq(seen, want, "limit %u", limits[j]);
	}
	wr_runtime_close(rt);
	rt = NULL;
}
