/*
 * core/snapshot.c - snapshots without a pause (docs/store.md, "Snapshots").
 *
 * Under the write lock (wr__snapshot_maybe, after a commit, when nothing is
 * in flight) the store switches appends to a new journal and the applied
 * view is frozen: per worker a pin and a plain copy of its detail (its
 * strings and arrays are the worker's, which never change them after the
 * creation: rt.h, pins), a copy of its terminal reason, and the
 * locations of the entries it has now.  A thread then writes the
 * snapshot from that copy without any Runtime lock, reading each entry's
 * content back from the files the store keeps open until the switch.  Once
 * the snapshot is durable the thread takes the write lock briefly: the
 * frozen entries of the workers that still exist are pointed at the new
 * file (plain stores, no I/O) and the store closes the replaced files.
 * A worker that goes away meanwhile is still in the snapshot (the journal
 * after it says what happened to it), its memory held by the pin until
 * the job ends, and is simply skipped at the switch.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/rt.h"

/* A worker as the snapshot sees it. */
struct frozen {
	struct worker *w;           /* pinned until the job ends */
	struct wr_worker_info info; /* plain copy (the strings are w's),
	                             * transcript_len 0, no status_reason */
	char *reason;               /* its status_reason, copied */
	uint64_t n;                 /* entries that belong to the snapshot */
	struct wr__loc *locs;       /* where they are; each is overwritten by
	                             * where the snapshot put it */
};

/* The snapshot thread's nice value (Linux): it yields the CPUs to the
 * threads serving requests and still progresses.  19, not 10: on 2 CPUs
 * saturated by requests, p99.9 of POST input during a snapshot was
 * 2.0-3.0x the run without one at nice 10, 1.93-1.96x at 19
 * (tests/bench/snapshot-pause.sh). */
#define SNAPSHOT_NICE 19

enum phase { PH_META, PH_CREATED, PH_ENTRIES, PH_DONE };

struct snap_job {
	struct wr_runtime *rt;
	uint64_t gen;
	uint64_t last_event_id; /* of the Runtime when frozen */
	uint64_t deleted_count; /* workers deleted before the freeze */
	struct frozen *fw;
	size_t n;
	/* The unexpired idempotency keys, pinned (wr__idem_freeze) until
	 * the job ends under the write lock (wr__idem_unpin); the array is
	 * owned, the entries are not. */
	const struct idem_entry **keys;
	size_t n_keys;
	size_t ki;               /* the next key handed out */
	/* where snap_next() is */
	enum phase phase;
	size_t wi;              /* worker */
	uint64_t ei;            /* its next entry */
	struct wr__loc *placed; /* gets the location of the record handed
	                         * out last */
	struct wr__record cur;  /* handed out; content owned */
	char *raw;              /* cur.raw, owned */
};

static void
job_free(struct snap_job *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n; i++) {
		if (j->fw[i].w != NULL)
			wr__unpin_worker(j->fw[i].w);
		free(j->fw[i].reason);
		free(j->fw[i].locs);
	}
	free(j->fw);
	free(j->keys);
	free(j->cur.content);
	free(j->raw);
	free(j);
}

/* Pins w and copies what the snapshot needs of it: no allocation but its
 * reason and entry locations (a deep copy of the detail, 5 or more
 * allocations per worker, made the freeze 64-81 ms at 100,000 workers,
 * 35-49 ms without: docs/store.md, Snapshots).  -1 on OOM (f then holds
 * what was taken, for job_free). */
static int
freeze_worker(struct frozen *f, struct worker *w)
{
	wr__pin_worker(w);
	f->w = w;
	f->info = w->info;
	f->info.status_reason = NULL;
	f->info.transcript_len = 0;
	if (w->status_reason != NULL &&
	    (f->reason = strdup(w->status_reason)) == NULL)
		return -1;
	if (w->info.transcript_len == 0)
		return 0;
	f->locs = malloc((size_t)w->info.transcript_len * sizeof(*f->locs));
	if (f->locs == NULL)
		return -1;
	memcpy(f->locs, w->locs,
	       (size_t)w->info.transcript_len * sizeof(*f->locs));
	f->n = w->info.transcript_len;
	return 0;
}

/* The applied view as a snapshot job; NULL on OOM.  Write lock held. */
static struct snap_job *
freeze(struct wr_runtime *rt)
{
	struct snap_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->rt = rt;
	j->last_event_id = rt->last_event_id;
	j->deleted_count = rt->deleted_count;
	j->fw = calloc(rt->n_workers ? rt->n_workers : 1, sizeof(*j->fw));
	if (j->fw == NULL) {
		free(j);
		return NULL;
	}
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w == NULL || !w->applied)
			continue;
		if (freeze_worker(&j->fw[j->n++], w) < 0) {
			job_free(j);
			return NULL;
		}
	}
	/* Expired keys are left out: a snapshot forgets them. */
	if (wr__idem_freeze(rt, &j->keys, &j->n_keys) < 0) {
		job_free(j);
		return NULL;
	}
	return j;
}

/* The next entry of worker f as a transcript record: its stored payload
 * copied as it is after its checksum is checked (read_raw), or, when the
 * store has no raw reads or the payload is not in the writer's form, read
 * back, decoded and checked as at restore. */
static wr_err
next_entry(struct snap_job *j, struct frozen *f, struct wr_error *err)
{
	const struct wr__store_ops *ops = j->rt->store->ops;
	struct wr__record *r = &j->cur;
	size_t n = 0;
	wr_err rc = WR_OK;

	if (ops->read_raw != NULL)
		rc = ops->read_raw(j->rt->store, &f->locs[j->ei],
		                   f->info.ref.worker_id, j->ei + 1, &j->raw, &n,
		                   err);
	if (rc != WR_OK)
		return rc;
	if (j->raw != NULL) {
		r->raw = j->raw;
		r->raw_len = n;
	} else if ((rc = wr__entry_read(j->rt, NULL, f->info.ref.worker_id,
	                                &f->locs[j->ei], j->ei + 1, &r->role,
	                                &r->content, &r->event_id, &r->at_ms,
	                                err)) != WR_OK) {
		return rc;
	}
	r->kind = WR__REC_TRANSCRIPT;
	r->sequence = j->ei + 1;
	j->placed = &f->locs[j->ei];
	j->ei++;
	return WR_OK;
}

/*
 * The records of the snapshot, one per call (wr__snap_next_fn): the
 * runtime record, then per worker its creation, its entries and its final
 * state, then the unexpired idempotency keys.  Runs on the snapshot thread without the Runtime lock: it reads
 * only the job.
 */
static wr_err
snap_next(void *arg, const struct wr__loc *prev, const struct wr__record **out,
          struct wr_error *err)
{
	struct snap_job *j = arg;
	struct wr__record *r = &j->cur;
	struct frozen *f;

	if (j->placed != NULL && prev != NULL)
		*j->placed = *prev;
	j->placed = NULL;
	free(r->content);
	free(j->raw);
	j->raw = NULL;
	memset(r, 0, sizeof(*r));
	*out = NULL;
	if (__atomic_load_n(&j->rt->snap_stop, __ATOMIC_ACQUIRE))
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_RUNTIME_CLOSING,
		                NULL, "the runtime is closing");
	if (j->phase == PH_META) {
		r->kind = WR__REC_META;
		r->event_id = j->last_event_id;
		r->deleted_count = j->deleted_count;
		r->at_ms = wr__now_ms();
		wr__strlcpy(r->runtime_id, j->rt->id, sizeof(r->runtime_id));
		j->phase = PH_CREATED;
		*out = r;
		return WR_OK;
	}
	if (j->wi >= j->n) {
		/* After the workers, the idempotency keys (borrowed). */
		if (j->ki < j->n_keys) {
			wr__idem_record(j->keys[j->ki++], r);
			*out = r;
		}
		return WR_OK; /* NULL: the end */
	}
	f = &j->fw[j->wi];
	wr__strlcpy(r->worker_id, f->info.ref.worker_id, sizeof(r->worker_id));
	*out = r;
	if (j->phase == PH_CREATED) {
		r->kind = WR__REC_WORKER_CREATED;
		r->at_ms = f->info.created_at_ms;
		r->worker = &f->info; /* borrowed: cleared by hand below */
		j->phase = PH_ENTRIES;
		j->ei = 0;
		return WR_OK;
	}
	if (j->ei < f->n)
		return next_entry(j, f, err);
	r->kind = WR__REC_WORKER_STATE;
	r->status = f->info.status;
	r->run_state = f->info.run_state;
	r->event_id = f->info.last_event_id;
	r->at_ms = f->info.updated_at_ms;
	r->reason = f->reason; /* borrowed */
	j->phase = PH_CREATED;
	j->wi++;
	return WR_OK;
}

/* Points the frozen entries of the workers that still exist at the new
 * snapshot.  Write lock held; no I/O, no allocation. */
static void
switch_over(struct wr_runtime *rt, const struct snap_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		const struct frozen *f = &j->fw[i];
		struct worker *w = wr__find_worker(rt, f->info.ref.worker_id);

		if (w == NULL || !w->applied || f->n == 0 ||
		    w->info.created_at_ms != f->info.created_at_ms ||
		    w->info.transcript_len < f->n)
			continue;
		memcpy(w->locs, f->locs, (size_t)f->n * sizeof(*f->locs));
	}
}

static void *
snap_main(void *arg)
{
	struct snap_job *j = arg;
	struct wr_runtime *rt = j->rt;
	const struct wr__store_ops *ops = rt->store->ops;
	struct wr_error e;
	uint64_t t0;
	wr_err rc;

#ifdef __linux__
	/* Requests come first: on Linux a nice value is per thread.  Best
	 * effort (the snapshot only takes longer if it fails). */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	                  SNAPSHOT_NICE);
#endif
	wr_error_clear(&e);
	t0 = wr__mono_us();
	rc = ops->snapshot_write(rt->store, j->gen, snap_next, j, &e);
	__atomic_add_fetch(rc == WR_OK ? &rt->m_snapshots
	                               : &rt->m_snapshot_failures, 1,
	                   __ATOMIC_RELAXED);
	if (rc == WR_OK)
		__atomic_add_fetch(&rt->m_snapshot_us, wr__mono_us() - t0,
		                   __ATOMIC_RELAXED);
	/* Whatever the last record borrowed is no longer needed. */
	j->cur.worker = NULL;
	j->cur.reason = NULL;
	j->cur.idem_key = j->cur.idem_body = NULL;
	pthread_rwlock_wrlock(&rt->lock);
	if (rc == WR_OK) {
		switch_over(rt, j);
		ops->snapshot_switch(rt->store, j->gen);
	}
	wr__idem_unpin(rt);
	rt->snap_running = false;
	pthread_rwlock_unlock(&rt->lock);
	if (rc != WR_OK && !__atomic_load_n(&rt->snap_stop, __ATOMIC_ACQUIRE))
		wr_runtime_diagnose(rt, NULL, "snapshot failed (the journal "
		                    "keeps growing): %s", e.message);
	job_free(j);
	return NULL;
}

void
wr__snapshot_maybe(struct wr_runtime *rt)
{
	const struct wr__store_ops *ops = rt->store->ops;
	struct snap_job *j;
	struct wr_error e;

	if (rt->queue != NULL || ops->snapshot_begin == NULL ||
	    rt->snap_running || rt->closing ||
	    wr__reset_due(rt) ||
	    !ops->snapshot_due(rt->store))
		return;
	if (rt->snap_joinable) {
		/* It cleared snap_running as its last step: this is short. */
		pthread_join(rt->snap_thread, NULL);
		rt->snap_joinable = false;
	}
	if ((j = freeze(rt)) == NULL)
		return; /* try again after the next commit */
	if (ops->snapshot_begin(rt->store, &j->gen, &e) != WR_OK) {
		__atomic_add_fetch(&rt->m_snapshot_failures, 1,
		                   __ATOMIC_RELAXED);
		wr_runtime_diagnose(rt, NULL, "snapshot failed (the journal "
		                    "keeps growing): %s", e.message);
		wr__idem_unpin(rt);
		job_free(j);
		return;
	}
	rt->snap_running = true;
	if (pthread_create(&rt->snap_thread, NULL, snap_main, j) != 0) {
		/* The store carries on in the new journal with what it had;
		 * the next attempt comes after another threshold. */
		rt->snap_running = false;
		wr_runtime_diagnose(rt, NULL, "snapshot failed: cannot start "
		                    "its thread (the journal keeps growing)");
		wr__idem_unpin(rt);
		job_free(j);
		return;
	}
	rt->snap_joinable = true;
}

void
wr__snapshot_stop(struct wr_runtime *rt)
{
	if (!rt->snap_joinable)
		return;
	__atomic_store_n(&rt->snap_stop, 1, __ATOMIC_RELEASE);
	pthread_join(rt->snap_thread, NULL);
	rt->snap_joinable = false;
}

void
wr__snapshot_wait(struct wr_runtime *rt)
{
	pthread_t t;
	bool joinable;

	pthread_rwlock_wrlock(&rt->lock);
	joinable = rt->snap_joinable;
	t = rt->snap_thread;
	rt->snap_joinable = false;
	pthread_rwlock_unlock(&rt->lock);
	if (joinable)
		pthread_join(t, NULL);
}
