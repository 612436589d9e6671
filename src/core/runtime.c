/*
 * core/runtime.c - the Runtime itself: configuration, open (with restore
 * from a durable store), close, stop and summary.  The lookup tables are
 * table.c's, the diagnostics diag.c's.
 *
 * Locking: rt->lock (a writer-preferring rwlock) guards all state except
 * the diagnostics, which have their own mutex so drivers may record them
 * from anywhere.  See rt.h for the applied and projected views.  Reads
 * of workers take what they need under the read lock (a pin and a
 * shallow copy, worker.c's struct snap) and allocate their copies after
 * letting it go.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt.h"

/* ---- configuration ---------------------------------------------- */

static wr_err
check_limit(uint32_t v, uint32_t max, const char *field, struct wr_error *err)
{
	if (v > max)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, field,
		                "%s must be at most %u", field, max);
	return WR_OK;
}

/* ---- open / close ------------------------------------------------- */

static wr_err
open_store(const char *spec, struct wr__store **out, struct wr_error *err)
{
	if (spec == NULL || strcmp(spec, "memory") == 0)
		return wr__store_memory_open(out, err);
	if (strncmp(spec, "fs:", 3) == 0 && spec[3] != '\0')
		return wr__store_fs_open(spec + 3, out, err);
	return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, "store",
	                "store must be \"memory\" or \"fs:DIR\"");
}

/* The fs store's diagnostics after its load (wr__store_fs_set_diag). */
static void
store_diag(void *arg, const char *message)
{
	wr_runtime_diagnose(arg, NULL, "%s", message);
}

static void
free_runtime(struct wr_runtime *rt)
{
	wr__snapshot_stop(rt); /* it uses the workers and the store */
	wr__waiters_close(rt); /* open failed: none was registered */
	for (size_t i = 0; i < rt->n_workers; i++)
		wr__free_worker(rt->workers[i]);
	free(rt->workers);
	free(rt->buckets);
	wr__idem_free_all(rt);
	for (size_t i = 0; i < rt->n_profiles; i++)
		free(rt->profiles[i].name);
	free(rt->profiles);
	free(rt->display_name);
	if (rt->store != NULL)
		rt->store->ops->close(rt->store);
	pthread_mutex_destroy(&rt->diag_lock);
	pthread_cond_destroy(&rt->retain_cv);
	pthread_mutex_destroy(&rt->retain_mu);
	pthread_cond_destroy(&rt->reap_cv);
	pthread_mutex_destroy(&rt->reap_mu);
	pthread_cond_destroy(&rt->cmt_cv);
	pthread_mutex_destroy(&rt->cmt_mu);
	pthread_mutex_destroy(&rt->cmt_round_mu);
	pthread_mutex_destroy(&rt->reset_mu);
	for (size_t i = 0; i < WR__SUMMARY_LOCKS; i++)
		pthread_mutex_destroy(&rt->summary_mu[i]);
	pthread_rwlock_destroy(&rt->lock);
	free(rt);
}

static wr_err
check_config(const struct wr_config *cfg, struct wr_error *err)
{
	wr_err rc;

	if (cfg->runtime_id != NULL && !wr_id_valid(cfg->runtime_id))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "runtime_id",
		                "runtime id must be 1-%d characters of "
		                "[A-Za-z0-9_.-]", WR_ID_MAX);
	if (cfg->display_name != NULL &&
	    (strlen(cfg->display_name) > WR_DISPLAY_NAME_MAX ||
	     !wr__utf8_valid(cfg->display_name, strlen(cfg->display_name))))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "display_name",
		                "display name must be UTF-8 of at most %d bytes",
		                WR_DISPLAY_NAME_MAX);
	if ((rc = check_limit(cfg->limits.max_transcript_projection_items,
	                      WR_MAX_TRANSCRIPT_ITEMS,
	                      "limits.max_transcript_projection_items",
	                      err)) != WR_OK ||
	    (rc = check_limit(cfg->limits.max_input_bytes, WR_MAX_INPUT_BYTES,
	                      "limits.max_input_bytes", err)) != WR_OK ||
	    (rc = check_limit(cfg->limits.max_workers, WR_MAX_WORKERS,
	                      "limits.max_workers", err)) != WR_OK)
		return rc;
	if (cfg->max_waiters > WR_MAX_WAITERS)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "max_waiters", "max_waiters must be at most %u",
		                WR_MAX_WAITERS);
	if (cfg->retain_ended_ms > WR_MAX_RETAIN_ENDED_MS)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "retain_ended_ms",
		                "retain_ended_ms must be at most %llu",
		                (unsigned long long)WR_MAX_RETAIN_ENDED_MS);
	if (cfg->idempotency_ttl_ms > WR_MAX_IDEMPOTENCY_TTL_MS)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "idempotency_ttl_ms",
		                "idempotency_ttl_ms must be at most %llu",
		                (unsigned long long)WR_MAX_IDEMPOTENCY_TTL_MS);
	return check_limit(cfg->max_idempotency_keys, WR_MAX_IDEMPOTENCY_KEYS,
	                   "max_idempotency_keys", err);
}

/* A store that names a runtime id refuses a different cfg->runtime_id
 * (wr_runtime_open and wr_runtime_check give the same error). */
static wr_err
identity_check(const struct wr_config *cfg, const char *stored_id,
               struct wr_error *err)
{
	if (cfg->runtime_id != NULL && stored_id[0] != '\0' &&
	    strcmp(cfg->runtime_id, stored_id) != 0)
		return wr__fail(err, WR_EINVALID_INPUT,
		                WR_REASON_RUNTIME_ID_MISMATCH, "runtime_id",
		                "the store belongs to runtime \"%s\", not "
		                "\"%s\"", stored_id, cfg->runtime_id);
	return WR_OK;
}

/*
 * Settles the identity against the store: a store that names a runtime id
 * keeps it (and refuses a different --runtime-id); a new store records the
 * configured or generated one.
 */
static wr_err
settle_identity(struct wr_runtime *rt, const struct wr_config *cfg,
                bool had_meta, const char *stored_id, struct wr_error *err)
{
	struct pending *p;
	wr_err rc;

	if (had_meta) {
		if ((rc = identity_check(cfg, stored_id, err)) != WR_OK)
			return rc;
		wr__strlcpy(rt->id, stored_id, sizeof(rt->id));
		return WR_OK;
	}
	if (cfg->runtime_id != NULL) {
		wr__strlcpy(rt->id, cfg->runtime_id, sizeof(rt->id));
	} else {
		memcpy(rt->id, "rt-", 3);
		if (wr__random_hex(rt->id + 3, 8) < 0)
			return wr__fail(err, WR_EINTERNAL, WR_REASON_NO_RANDOMNESS, NULL,
			                "getrandom: %s", strerror(errno));
	}
	if ((p = wr__pending_new(WR__REC_META)) == NULL)
		return wr__oom(err);
	p->rec.at_ms = wr__now_ms();
	wr__strlcpy(p->rec.runtime_id, rt->id, sizeof(p->rec.runtime_id));
	pthread_rwlock_wrlock(&rt->lock);
	rc = wr__submit(rt, p, err);
	pthread_rwlock_unlock(&rt->lock);
	if (rc == WR_OK)
		rc = wr__await(rt, &p, 1, err);
	wr__pending_free(p);
	return rc;
}

/*
 * After a restore: workers on the builtin transcript driver carry on;
 * every other running worker lost its execution with the old process, so
 * it becomes failed, with a runtime entry saying so (docs/store.md).
 */
static wr_err
restart_workers(struct wr_runtime *rt, struct wr_error *err)
{
	wr_err rc = WR_OK;

	for (size_t i = 0; i < rt->n_workers && rc == WR_OK; i++) {
		struct worker *w = rt->workers[i];
		const struct wr_driver *driver = NULL;
		void *arg = NULL;
		struct pending *p = NULL;

		if (w == NULL || w->info.status != WR_STATUS_RUNNING)
			continue;
		pthread_rwlock_wrlock(&rt->lock);
		if (wr__resolve_profile(rt, &w->info.profile, &driver, &arg,
		                        NULL) == WR_OK &&
		    driver == wr_driver_transcript() &&
		    driver->start(arg, rt, w->info.ref.worker_id, &w->dstate,
		                  NULL) == WR_OK) {
			w->driver = driver;
		} else {
			rc = wr__end_worker(rt, w, WR_STATUS_FAILED,
			        w->info.run_state == WR_RUN_BUSY
			                ? "runtime_restarted: the runtime "
			                  "restarted during a turn; the turn was "
			                  "interrupted and the worker's process "
			                  "is gone"
			                : "runtime_restarted: the runtime "
			                  "restarted and the worker's process is "
			                  "gone",
			        NULL, &p, err);
		}
		pthread_rwlock_unlock(&rt->lock);
		if (p != NULL) {
			if (rc == WR_OK)
				rc = wr__await(rt, &p, 1, err);
			wr__pending_free(p);
		}
	}
	return rc;
}

/* ---- retention ------------------------------------------------------ */

/* Bounds of one retention pass: deletes per write-lock hold, workers
 * looked at per hold, holds per pass. */
#define RETAIN_DELETES_PER_HOLD 64
#define RETAIN_SCAN_PER_HOLD 1024
#define RETAIN_HOLDS_PER_PASS 1024

/* One write-lock hold: submits the deletes of up to
 * RETAIN_DELETES_PER_HOLD expired workers, looking at up to
 * RETAIN_SCAN_PER_HOLD from the cursor on.  *scanned grows by what it
 * looked at; returns how many records ps[] got (the caller awaits them). */
static size_t
retain_hold(struct wr_runtime *rt, struct pending **ps, size_t *scanned)
{
	size_t n = 0, looked = 0;
	int64_t now = wr__now_ms();
	struct wr_error e;

	pthread_rwlock_wrlock(&rt->lock);
	if (rt->p_status != WR_RUNTIME_RUNNING) {
		*scanned = SIZE_MAX;
		pthread_rwlock_unlock(&rt->lock);
		return 0;
	}
	while (looked < RETAIN_SCAN_PER_HOLD && looked < rt->n_workers &&
	       n < RETAIN_DELETES_PER_HOLD) {
		struct worker *w;

		if (rt->retain_cursor >= rt->n_workers)
			rt->retain_cursor = 0;
		w = rt->workers[rt->retain_cursor++];
		looked++;
		if (w == NULL || !w->applied || w->p_deleted ||
		    w->p_status == WR_STATUS_RUNNING ||
		    w->info.updated_at_ms > now ||
		    (uint64_t)(now - w->info.updated_at_ms) < rt->retain_ms)
			continue;
		if (wr__delete_worker(rt, w, NULL, &ps[n], &e) != WR_OK) {
			wr_runtime_diagnose(rt, NULL, "retention could not "
			                    "delete a worker: %s", e.message);
			break;
		}
		n++;
	}
	*scanned = looked > 0 ? *scanned + looked : SIZE_MAX;
	pthread_rwlock_unlock(&rt->lock);
	return n;
}

/* Deletes every ended worker whose last event is retain_ms old, in
 * bounded holds of the write lock, each awaited with the lock released. */
static void
retain_pass(struct wr_runtime *rt)
{
	struct pending *ps[RETAIN_DELETES_PER_HOLD];
	size_t total, scanned = 0;
	struct wr_error e;

	pthread_rwlock_rdlock(&rt->lock);
	total = rt->n_workers; /* slots: holes are looked at too */
	pthread_rwlock_unlock(&rt->lock);
	for (int hold = 0; hold < RETAIN_HOLDS_PER_PASS && scanned < total;
	     hold++) {
		size_t n = retain_hold(rt, ps, &scanned);

		if (n > 0 && wr__await(rt, ps, n, &e) != WR_OK)
			wr_runtime_diagnose(rt, NULL, "retention deletes were "
			                    "not persisted: %s", e.message);
		for (size_t i = 0; i < n; i++)
			wr__pending_free(ps[i]);
	}
}

static void *
retain_main(void *arg)
{
	struct wr_runtime *rt = arg;
	/* Looks often enough that a worker outlives retain_ms by at most
	 * about half of it (between 50 ms and a minute). */
	uint64_t period = rt->retain_ms / 2;

	if (period < 50)
		period = 50;
	if (period > 60000)
		period = 60000;
	pthread_mutex_lock(&rt->retain_mu);
	while (!rt->retain_halt) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts); /* retain_cv's clock */
		ts.tv_sec += (time_t)(period / 1000);
		ts.tv_nsec += (long)(period % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&rt->retain_cv, &rt->retain_mu, &ts);
		if (rt->retain_halt)
			break;
		pthread_mutex_unlock(&rt->retain_mu);
		retain_pass(rt);
		pthread_mutex_lock(&rt->retain_mu);
	}
	pthread_mutex_unlock(&rt->retain_mu);
	return NULL;
}

static wr_err
retain_start(struct wr_runtime *rt, struct wr_error *err)
{
	int e;

	if (rt->retain_ms == 0)
		return WR_OK;
	if ((e = pthread_create(&rt->retain_thread, NULL, retain_main, rt)) !=
	    0)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY, NULL,
		                "cannot start the retention thread: %s",
		                strerror(e));
	rt->retain_started = true;
	return WR_OK;
}

/* Stops the retention thread and waits for it (it finishes the hold it
 * is in).  Idempotent.  Lock NOT held. */
static void
retain_halt(struct wr_runtime *rt)
{
	bool join;

	pthread_mutex_lock(&rt->retain_mu);
	join = rt->retain_started; /* only one caller joins */
	rt->retain_started = false;
	rt->retain_halt = true;
	pthread_cond_signal(&rt->retain_cv);
	pthread_mutex_unlock(&rt->retain_mu);
	if (join)
		pthread_join(rt->retain_thread, NULL);
}

/* The Runtime's locks and condition variables (rt fresh from calloc). */
static void
init_sync(struct wr_runtime *rt)
{
	pthread_rwlockattr_t attr;
	pthread_condattr_t cattr;

	pthread_rwlockattr_init(&attr);
	/* Writers must not starve behind a steady stream of readers. */
	pthread_rwlockattr_setkind_np(&attr,
	        PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&rt->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	for (size_t i = 0; i < WR__SUMMARY_LOCKS; i++)
		pthread_mutex_init(&rt->summary_mu[i], NULL);
	pthread_mutex_init(&rt->diag_lock, NULL);
	/* The timed waits (retention's period, the store's reset retry)
	 * count on CLOCK_MONOTONIC: a step of the wall clock (NTP, an
	 * operator) must neither stretch nor cut them. */
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_mutex_init(&rt->retain_mu, NULL);
	pthread_cond_init(&rt->retain_cv, &cattr);
	pthread_mutex_init(&rt->reap_mu, NULL);
	pthread_cond_init(&rt->reap_cv, NULL);
	pthread_mutex_init(&rt->cmt_mu, NULL);
	pthread_cond_init(&rt->cmt_cv, &cattr);
	pthread_condattr_destroy(&cattr);
	pthread_mutex_init(&rt->cmt_round_mu, NULL);
	pthread_mutex_init(&rt->reset_mu, NULL);
}

wr_err
wr_runtime_open(const struct wr_config *cfg, struct wr_runtime **out,
                struct wr_error *err)
{
	static const struct wr_config zero;
	struct wr_runtime *rt;
	char stored_id[WR_ID_MAX + 1];
	bool had_meta = false;
	wr_err rc;

	if (cfg == NULL)
		cfg = &zero;
	if ((rc = check_config(cfg, err)) != WR_OK)
		return rc;
	rt = calloc(1, sizeof(*rt));
	if (rt == NULL)
		return wr__oom(err);
	init_sync(rt);
	rt->retain_ms = cfg->retain_ended_ms;
	rt->ik_ttl_ms = cfg->idempotency_ttl_ms ? cfg->idempotency_ttl_ms
	                                        : WR_DEFAULT_IDEMPOTENCY_TTL_MS;
	rt->ik_max = cfg->max_idempotency_keys ? cfg->max_idempotency_keys
	                                       : WR_DEFAULT_MAX_IDEMPOTENCY_KEYS;

	rt->limits = cfg->limits;
	if (rt->limits.max_transcript_projection_items == 0)
		rt->limits.max_transcript_projection_items =
			WR_DEFAULT_MAX_TRANSCRIPT_ITEMS;
	if (rt->limits.max_input_bytes == 0)
		rt->limits.max_input_bytes = WR_DEFAULT_MAX_INPUT_BYTES;
	if (rt->limits.max_workers == 0)
		rt->limits.max_workers = WR_DEFAULT_MAX_WORKERS;
	rt->started_at_ms = wr__now_ms();
	rt->on_diagnostic = cfg->on_diagnostic;
	rt->on_diagnostic_arg = cfg->on_diagnostic_arg;
	rt->on_worker_event = cfg->on_worker_event;
	rt->on_worker_event_arg = cfg->on_worker_event_arg;

	if (cfg->display_name != NULL &&
	    (rt->display_name = strdup(cfg->display_name)) == NULL) {
		rc = wr__oom(err);
		goto fail;
	}
	if (wr__waiters_open(rt, cfg->max_waiters) < 0) {
		rc = wr__oom(err);
		goto fail;
	}
	if ((rc = wr__copy_profiles(rt, cfg, err)) != WR_OK ||
	    (rc = open_store(cfg->store, &rt->store, err)) != WR_OK)
		goto fail;
	/* Only the fs store takes snapshots and reports after its load; for
	 * others these do nothing. */
	wr__store_fs_set_diag(rt->store, store_diag, rt);
	wr__store_fs_set_snapshot_bytes(rt->store, cfg->snapshot_bytes);
	wr__store_fs_set_snapshot_percent(rt->store, cfg->snapshot_percent);
	if ((rc = wr__replay(rt, &had_meta, stored_id, err)) != WR_OK)
		goto fail;
	/* A new process runs, whatever the previous one ended in. */
	rt->status = rt->p_status = WR_RUNTIME_RUNNING;
	if ((rc = settle_identity(rt, cfg, had_meta, stored_id, err)) !=
	            WR_OK ||
	    (rc = restart_workers(rt, err)) != WR_OK ||
	    (rc = wr__commit_start(rt, err)) != WR_OK)
		goto fail;
	if ((rc = retain_start(rt, err)) != WR_OK) {
		wr__commit_stop(rt);
		goto fail;
	}
	*out = rt;
	return WR_OK;
fail:
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w != NULL && w->driver != NULL) {
			w->driver->stop(w->dstate, true);
			w->driver->release(w->dstate);
		}
	}
	free_runtime(rt);
	return rc;
}

const char *
wr_runtime_id(const struct wr_runtime *rt)
{
	return rt->id;
}

struct wr__store *
wr__runtime_store(struct wr_runtime *rt)
{
	return rt->store;
}

const struct wr_limits *
wr__runtime_limits(const struct wr_runtime *rt)
{
	return &rt->limits;
}

void
wr_runtime_drain(struct wr_runtime *rt)
{
	if (rt == NULL)
		return;
	__atomic_store_n(&rt->draining, true, __ATOMIC_RELEASE);
	if (rt->store->ops->drain != NULL)
		rt->store->ops->drain(rt->store);
}

void
wr_runtime_close(struct wr_runtime *rt)
{
	if (rt == NULL)
		return;
	retain_halt(rt);
	/* Every commit still waiting completes (durable or failed). */
	wr__commit_stop(rt);
	/* Workers keep their recorded status (a durable store restores
	 * them); only their executions end.  Callbacks that race with this
	 * are refused, then each execution is awaited outside the lock. */
	pthread_rwlock_wrlock(&rt->lock);
	rt->closing = true;
	wr__waiters_close(rt); /* every watch wakes */
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w != NULL && w->info.status == WR_STATUS_RUNNING &&
		    w->driver != NULL)
			w->driver->stop(w->dstate, false);
	}
	pthread_rwlock_unlock(&rt->lock);
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w != NULL && w->driver != NULL)
			w->driver->release(w->dstate);
	}
	wr__reaper_stop(rt); /* the deleted workers it still releases */
	while (rt->graves != NULL) {
		struct worker *g = rt->graves;
		rt->graves = g->gnext;
		g->driver->release(g->dstate);
		wr__free_worker(g);
	}
	free_runtime(rt);
}

/* ---- runtime-level operations ------------------------------------------ */

/* Submits a runtime status record; *out is the caller's to await and
 * free.  Write lock held. */
static wr_err
submit_runtime_status(struct wr_runtime *rt, enum wr_runtime_status s,
                      struct pending **out, struct wr_error *err)
{
	struct pending *p = wr__pending_new(WR__REC_RUNTIME_STATUS);
	wr_err rc;

	if (p == NULL)
		return wr__oom(err);
	p->rec.at_ms = wr__now_ms();
	p->rec.runtime_status = s;
	if ((rc = wr__submit(rt, p, err)) != WR_OK) {
		wr__pending_free(p);
		return rc;
	}
	*out = p;
	return WR_OK;
}

wr_err
wr_runtime_stop(struct wr_runtime *rt, struct wr_error *err)
{
	struct pending **ps = NULL;
	size_t n = 0;
	wr_err rc = WR_OK, wait;

	retain_halt(rt); /* a stopped Runtime deletes nothing */
	pthread_rwlock_wrlock(&rt->lock);
	if (rt->p_status == WR_RUNTIME_STOPPED)
		goto out;
	/* stopping, one end per running worker, stopped */
	ps = calloc(rt->n_workers + 2, sizeof(*ps));
	if (ps == NULL) {
		rc = wr__oom(err);
		goto out;
	}
	if (rt->p_status == WR_RUNTIME_RUNNING) {
		if ((rc = submit_runtime_status(rt, WR_RUNTIME_STOPPING, &ps[n],
		                                err)) != WR_OK)
			goto out;
		n++;
	}
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w == NULL || w->p_status != WR_STATUS_RUNNING)
			continue;
		if ((rc = wr__end_worker(rt, w, WR_STATUS_STOPPED,
		                         "runtime_stopped", NULL, &ps[n], err)) != WR_OK)
			goto out; /* stays stopping; a retry goes on from here */
		n++;
	}
	if ((rc = submit_runtime_status(rt, WR_RUNTIME_STOPPED, &ps[n],
	                                err)) != WR_OK)
		goto out;
	n++;
out:
	pthread_rwlock_unlock(&rt->lock);
	wait = wr__await(rt, ps, n, rc == WR_OK ? err : NULL);
	if (rc == WR_OK)
		rc = wait;
	for (size_t i = 0; i < n; i++)
		wr__pending_free(ps[i]);
	free(ps);
	return rc;
}

wr_err
wr_runtime_summary(struct wr_runtime *rt, struct wr_runtime_summary *out,
                   struct wr_error *err WR__UNUSED)
{
	struct wr_runtime_summary s;

	memset(&s, 0, sizeof(s));
	pthread_rwlock_rdlock(&rt->lock);
	wr__strlcpy(s.runtime_id, rt->id, sizeof(s.runtime_id));
	if (rt->display_name != NULL) {
		s.has_display_name = true;
		wr__strlcpy(s.display_name, rt->display_name,
		            sizeof(s.display_name));
	}
	wr__strlcpy(s.backend, rt->store->ops->backend, sizeof(s.backend));
	s.status = rt->status;
	for (int st = 0; st < WR__STATUS_COUNT; st++)
		s.worker_count += rt->count[st];
	s.active_worker_count = rt->count[WR_STATUS_RUNNING];
	s.stopped_worker_count = rt->count[WR_STATUS_STOPPED];
	s.cancelled_worker_count = rt->count[WR_STATUS_CANCELLED];
	s.failed_worker_count = rt->count[WR_STATUS_FAILED];
	s.deleted_worker_count = rt->deleted_count;
	s.limits = rt->limits;
	s.started_at_ms = rt->started_at_ms;
	pthread_rwlock_unlock(&rt->lock);

	pthread_mutex_lock(&rt->diag_lock);
	s.diagnostic_count = rt->diag_count;
	pthread_mutex_unlock(&rt->diag_lock);
	wr__strlcpy(s.version, wr_version(), sizeof(s.version));
	*out = s;
	return WR_OK;
}

/* ---- metrics ---------------------------------------------------------- */

static uint64_t
load_relaxed(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

wr_err
wr_runtime_metrics(struct wr_runtime *rt, struct wr_metrics *out,
                   struct wr_error *err WR__UNUSED)
{
	struct wr__store_stats ss;
	struct wr_metrics m;

	memset(&m, 0, sizeof(m));
	memset(&ss, 0, sizeof(ss));
	if (rt->store->ops->stats != NULL)
		rt->store->ops->stats(rt->store, &ss);
	pthread_rwlock_rdlock(&rt->lock);
	m.status = rt->status;
	wr__strlcpy(m.backend, rt->store->ops->backend, sizeof(m.backend));
	m.started_at_ms = rt->started_at_ms;
	for (int st = 0; st < WR__STATUS_COUNT; st++)
		m.workers[st] = rt->count[st];
	m.idempotency_keys = rt->ik_count;
	m.idempotency_keys_max = rt->ik_max;
	for (size_t i = 0; i < rt->n_workers; i++) {
		const struct worker *w = rt->workers[i];

		if (w == NULL || !w->applied ||
		    w->info.status != WR_STATUS_RUNNING)
			continue;
		if (w->info.run_state == WR_RUN_BUSY)
			m.running_busy++;
		else
			m.running_idle++;
	}
	pthread_rwlock_unlock(&rt->lock);
	pthread_mutex_lock(&rt->diag_lock);
	m.diagnostics = rt->diag_count;
	pthread_mutex_unlock(&rt->diag_lock);

	m.inputs = load_relaxed(&rt->m_inputs);
	m.transcript_entries = load_relaxed(&rt->m_entries);
	m.store_failed = ss.failed;
	m.store_syncs = ss.syncs;
	memcpy(m.sync_batch, ss.batch, sizeof(m.sync_batch));
	m.sync_batch_count = ss.batch_count;
	m.sync_batch_sum = ss.batch_sum;
	m.journal_bytes = ss.journal_bytes;
	m.snapshot_bytes = ss.snapshot_bytes;
	m.store_synced_failures = ss.synced_failures;
	m.snapshots = load_relaxed(&rt->m_snapshots);
	m.snapshot_failures = load_relaxed(&rt->m_snapshot_failures);
	m.snapshot_us = load_relaxed(&rt->m_snapshot_us);
	/* Exits first: a child is counted spawned before it can be counted
	 * exited, so a spawned read after exited is never below it (read
	 * the other way round, a spawn and exit between the two loads made
	 * exited > spawned). */
	m.children_exited = __atomic_load_n(&rt->m_exited, __ATOMIC_ACQUIRE);
	m.children_spawned = __atomic_load_n(&rt->m_spawned, __ATOMIC_ACQUIRE);
	m.spawn_failures = load_relaxed(&rt->m_spawn_failures);
	m.kills_after_grace = load_relaxed(&rt->m_kills);
	m.worker_stderr_lines = load_relaxed(&rt->m_stderr_lines);
	*out = m;
	return WR_OK;
}

wr_err
wr_runtime_set_profiles(struct wr_runtime *rt, const struct wr_profile *profiles,
                        size_t n_profiles, const char *default_profile,
                        struct wr_error *err)
{
	struct wr_config cfg;
	struct wr_runtime *tmp;
	struct profile *old;
	size_t n_old;
	wr_err rc;

	if (rt == NULL || (profiles == NULL && n_profiles > 0))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "profiles", "no runtime or no profiles");
	memset(&cfg, 0, sizeof(cfg));
	cfg.profiles = profiles;
	cfg.n_profiles = n_profiles;
	cfg.default_profile = default_profile;
	/* Built aside with the checks of wr_runtime_open, then swapped in. */
	tmp = calloc(1, sizeof(*tmp));
	if (tmp == NULL)
		return wr__oom(err);
	rc = wr__copy_profiles(tmp, &cfg, err);
	if (rc == WR_OK) {
		pthread_rwlock_wrlock(&rt->lock);
		old = rt->profiles;
		n_old = rt->n_profiles;
		rt->profiles = tmp->profiles;
		rt->n_profiles = tmp->n_profiles;
		rt->default_profile = tmp->default_profile;
		pthread_rwlock_unlock(&rt->lock);
		tmp->profiles = old;
		tmp->n_profiles = n_old;
	}
	for (size_t i = 0; i < tmp->n_profiles; i++)
		free(tmp->profiles[i].name);
	free(tmp->profiles);
	free(tmp);
	return rc;
}

wr_err
wr_runtime_check(const struct wr_config *cfg, struct wr_store_check *out,
                 struct wr_error *err)
{
	static const struct wr_config zero;
	struct wr_runtime *tmp;
	wr_err rc;

	memset(out, 0, sizeof(*out));
	if (cfg == NULL)
		cfg = &zero;
	if ((rc = check_config(cfg, err)) != WR_OK)
		return rc;
	/* The profiles, with the checks of wr_runtime_open, built aside. */
	if ((tmp = calloc(1, sizeof(*tmp))) == NULL)
		return wr__oom(err);
	rc = wr__copy_profiles(tmp, cfg, err);
	for (size_t i = 0; i < tmp->n_profiles; i++)
		free(tmp->profiles[i].name);
	free(tmp->profiles);
	free(tmp);
	if (rc != WR_OK ||
	    (rc = wr__store_check(cfg->store, out, err)) != WR_OK)
		return rc;
	return identity_check(cfg, out->store_runtime_id, err);
}
