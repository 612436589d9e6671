/*
 * core/commit.c - records: projection, group commit, application and
 * replay (snapshots: snapshot.c).
 *
 * A mutation appends its record to the store under the write lock,
 * updates the projected view and fixes its answer; it then waits for the
 * store's sync() (one fdatasync for every record written so far) in one
 * of two ways:
 *   - blocking (wr__await, the public blocking calls): the caller drops
 *     the lock and waits in sync() itself; concurrent callers share one
 *     fdatasync;
 *   - without a thread (wr_mutation_start: a struct wr_commit on
 *     rt->cw): the commit thread of the Runtime - the classic log writer
 *     - syncs up to the newest record awaited while records are waiting,
 *     then applies every durable record in order and completes each
 *     commit its sync covered (done() is called, under the write lock).
 *     Records appended while one fdatasync runs share the next one, so a
 *     batch is bounded by the requests in flight, not by the threads.
 *     A caller that can spare its thread may run that round itself
 *     (wr_commit_lead) when none is running, the leader of a group
 *     commit: at one request in flight that saves the two hand-offs to
 *     the commit thread and back.
 * Whoever is back first applies every durable record in order.  If a
 * sync fails, every record not yet durable is discarded, every commit
 * waiting for one fails with that sync's error, and the projected view is
 * put back to the applied one, so a refused mutation changes nothing.  An
 * answer is never given before the fdatasync covering its record
 * returned.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rt.h"

struct pending *
wr__pending_new(enum wr__record_kind kind)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->rec.kind = kind;
	return p;
}

void
wr__pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	wr__record_clear(&p->rec);
	free(p);
}

uint64_t
wr__next_event(struct wr_runtime *rt)
{
	return rt->p_event + 1;
}

/* ---- applying ----------------------------------------------------------- */

/* Ensures room for n entries (their locations with a store that keeps
 * the contents); -1 on OOM with nothing changed. */
static int
reserve_entries(const struct wr_runtime *rt, struct worker *w, uint64_t n)
{
	size_t cap;

	if (n <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 8;
	while (cap < n)
		cap *= 2;
	if (rt->store->ops->read != NULL) {
		struct wr__loc *l = realloc(w->locs, cap * sizeof(*l));
		if (l == NULL)
			return -1;
		w->locs = l;
	} else {
		struct entry *e = realloc(w->entries, cap * sizeof(*e));
		if (e == NULL)
			return -1;
		w->entries = e;
	}
	w->cap = cap;
	return 0;
}

static void
touch(struct wr_runtime *rt, struct worker *w, const struct wr__record *rec)
{
	if (rec->event_id != 0) {
		w->info.last_event_id = rec->event_id;
		if (rec->event_id > rt->last_event_id)
			rt->last_event_id = rec->event_id;
	}
	w->info.updated_at_ms = rec->at_ms;
}

static wr_err
corrupt(struct wr_error *err, const struct wr__record *rec, const char *what)
{
	return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
	                "store record for worker \"%s\" is inconsistent: %s",
	                rec->worker_id, what);
}

/* Appends one entry (room is reserved on the live path; replay grows):
 * with a store that keeps the contents only loc, else the entry itself,
 * taking rec's content. */
static wr_err
add_entry(const struct wr_runtime *rt, struct worker *w, enum wr_role role,
          struct wr__record *rec, const struct wr__loc *loc,
          struct wr_error *err)
{
	uint64_t n = w->info.transcript_len;

	if (reserve_entries(rt, w, n + 1) < 0)
		return wr__oom(err);
	if (rt->store->ops->read != NULL) {
		w->locs[n] = *loc;
	} else {
		w->entries[n] = (struct entry){role, rec->event_id, rec->at_ms,
		                               rec->content};
		rec->content = NULL;
	}
	w->info.transcript_len = n + 1;
	return WR_OK;
}

/* Applies a creation: on the live path the worker was inserted before
 * submitting; replaying a store it is built here. */
static wr_err
apply_created(struct wr_runtime *rt, struct wr__record *rec,
              struct wr_error *err)
{
	struct worker *w = wr__find_worker(rt, rec->worker_id);

	if (w == NULL) { /* replay: nothing was inserted beforehand */
		if (rec->worker == NULL)
			return corrupt(err, rec, "creation without detail");
		if (wr__reserve_worker_slot(rt) < 0 ||
		    (w = calloc(1, sizeof(*w))) == NULL)
			return wr__oom(err);
		w->info = *rec->worker;
		free(rec->worker);
		rec->worker = NULL;
		w->info.transcript_len = 0;
		wr__insert_worker(rt, w);
	} else if (w->applied) {
		return corrupt(err, rec, "created twice");
	}
	w->applied = true;
	rt->count[w->info.status]++;
	if (rec->event_id > rt->last_event_id)
		rt->last_event_id = rec->event_id;
	return WR_OK;
}

/* Applies a delete: the worker leaves both tables and its memory is freed
 * (a worker with a driver state goes to the graves: release() is called
 * without the lock).  Replaying, deleting an unknown or running worker is
 * damage. */
static wr_err
apply_deleted(struct wr_runtime *rt, struct wr__record *rec,
              struct wr_error *err)
{
	struct worker *w = wr__find_worker(rt, rec->worker_id);

	if (w == NULL || !w->applied)
		return corrupt(err, rec, "delete of an unknown worker");
	if (w->info.status == WR_STATUS_RUNNING)
		return corrupt(err, rec, "delete of a running worker");
	rt->count[w->info.status]--;
	rt->deleted_count++;
	if (rec->event_id > rt->last_event_id)
		rt->last_event_id = rec->event_id;
	wr__remove_worker(rt, w);
	if (w->driver != NULL)
		wr__bury_worker(rt, w);
	else
		wr__free_worker(w);
	return WR_OK;
}

/* Counts a transcript entry made durable while serving (not replayed);
 * user and system entries are the inputs. */
static void
count_entry(struct wr_runtime *rt, enum wr_role role)
{
	__atomic_add_fetch(&rt->m_entries, 1, __ATOMIC_RELAXED);
	if (role == WR_ROLE_USER || role == WR_ROLE_SYSTEM)
		__atomic_add_fetch(&rt->m_inputs, 1, __ATOMIC_RELAXED);
}

/* Applies a record about an existing worker (the kinds after
 * WR__REC_WORKER_CREATED). */
static wr_err
apply_to_worker(struct wr_runtime *rt, struct wr__record *rec,
                const struct wr__loc *loc, bool live, struct wr_error *err)
{
	struct worker *w = wr__find_worker(rt, rec->worker_id);
	wr_err rc;

	if (w == NULL || !w->applied)
		return corrupt(err, rec, "unknown worker");
	switch (rec->kind) {
	case WR__REC_TRANSCRIPT:
		if (rec->sequence != w->info.transcript_len + 1)
			return corrupt(err, rec, "sequence out of order");
		if ((rc = add_entry(rt, w, rec->role, rec, loc, err)) != WR_OK)
			return rc;
		if (live)
			count_entry(rt, rec->role);
		if (rec->turn_started)
			w->info.run_state = WR_RUN_BUSY;
		touch(rt, w, rec);
		return WR_OK;
	case WR__REC_TURN_END:
		if (w->info.status == WR_STATUS_RUNNING)
			w->info.run_state = WR_RUN_IDLE;
		touch(rt, w, rec);
		return WR_OK;
	case WR__REC_WORKER_STATUS:
		if (rec->content != NULL) { /* failed: why, as an entry */
			if ((rc = add_entry(rt, w, WR_ROLE_RUNTIME, rec, loc,
			                    err)) != WR_OK)
				return rc;
			if (live)
				count_entry(rt, WR_ROLE_RUNTIME);
		}
		rt->count[w->info.status]--;
		rt->count[rec->status]++;
		w->info.status = rec->status;
		w->info.run_state = WR_RUN_NONE;
		free(w->status_reason);
		w->status_reason = rec->reason;
		rec->reason = NULL;
		touch(rt, w, rec);
		/* The execution ends once the end is durable. */
		if (live && w->driver != NULL && rec->status != WR_STATUS_FAILED)
			w->driver->stop(w->dstate,
			                rec->status == WR_STATUS_CANCELLED);
		return WR_OK;
	case WR__REC_WORKER_STATE:
		rt->count[w->info.status]--;
		rt->count[rec->status]++;
		w->info.status = rec->status;
		w->info.run_state = rec->run_state;
		w->info.last_event_id = rec->event_id;
		w->info.updated_at_ms = rec->at_ms;
		free(w->status_reason);
		w->status_reason = rec->reason;
		rec->reason = NULL;
		return WR_OK;
	case WR__REC_META:
	case WR__REC_RUNTIME_STATUS:
	case WR__REC_WORKER_CREATED:
	case WR__REC_WORKER_DELETED:
	case WR__REC_IDEMPOTENCY:
		break; /* not about an existing worker: apply_record */
	}
	return corrupt(err, rec, "not a worker record");
}

/*
 * Applies a durable record to the applied view; takes what the record
 * owns.  On the live path validation and reservation make it infallible;
 * replaying a store it also checks consistency.  Every kind is listed
 * (no default:) so that the compiler names a switch a new kind misses.
 */
static wr_err
apply_kind(struct wr_runtime *rt, struct wr__record *rec,
           const struct wr__loc *loc, bool live, struct wr_error *err)
{
	switch (rec->kind) {
	case WR__REC_META:
		if (rec->event_id > rt->last_event_id)
			rt->last_event_id = rec->event_id;
		if (rec->deleted_count > rt->deleted_count)
			rt->deleted_count = rec->deleted_count;
		return WR_OK;
	case WR__REC_RUNTIME_STATUS:
		rt->status = rec->runtime_status;
		if (live && rec->runtime_status != WR_RUNTIME_RUNNING)
			wr__waiters_wake_all(rt);
		return WR_OK;
	case WR__REC_WORKER_CREATED:
		return apply_created(rt, rec, err);
	case WR__REC_TRANSCRIPT:
	case WR__REC_TURN_END:
	case WR__REC_WORKER_STATUS:
	case WR__REC_WORKER_STATE: {
		wr_err rc = apply_to_worker(rt, rec, loc, live, err);
		/* The one place applied changes reach the waiters. */
		if (live && rc == WR_OK)
			wr__waiters_notify(rt, wr__find_worker(rt,
			                   rec->worker_id), false);
		return rc;
	}
	case WR__REC_WORKER_DELETED:
		if (live)
			wr__waiters_notify(rt, wr__find_worker(rt,
			                   rec->worker_id), true);
		return apply_deleted(rt, rec, err);
	case WR__REC_IDEMPOTENCY:
		return WR_OK; /* only its key: apply_record */
	}
	/* A value outside the enum (a decoder bug): refuse it. */
	return corrupt(err, rec, "unknown record kind");
}

/* The record, then the idempotency key it stores (if any): the key is
 * stored exactly when the mutation is. */
static wr_err
apply_record(struct wr_runtime *rt, struct wr__record *rec,
             const struct wr__loc *loc, bool live, struct wr_error *err)
{
	wr_err rc = apply_kind(rt, rec, loc, live, err);

	if (rc == WR_OK && rec->idem_key != NULL)
		rc = wr__idem_apply(rt, rec, err);
	return rc;
}

/* ---- projecting ----------------------------------------------------- */

/* Reserves what applying rec will need; -1 on OOM (or a record naming
 * no worker) with nothing changed. */
static int
reserve_for(struct wr_runtime *rt, const struct wr__record *rec)
{
	struct worker *w = NULL;

	switch (rec->kind) {
	case WR__REC_META:
	case WR__REC_RUNTIME_STATUS:
	case WR__REC_IDEMPOTENCY: /* its key is in flight already */
		return 0;
	case WR__REC_WORKER_CREATED: /* inserted before submitting */
	case WR__REC_TURN_END:
	case WR__REC_WORKER_STATE:
	case WR__REC_WORKER_DELETED:
		return wr__find_worker(rt, rec->worker_id) != NULL ? 0 : -1;
	case WR__REC_TRANSCRIPT:
	case WR__REC_WORKER_STATUS:
		if ((w = wr__find_worker(rt, rec->worker_id)) == NULL)
			return -1;
		if (rec->kind == WR__REC_WORKER_STATUS && rec->content == NULL)
			return 0;
		return reserve_entries(rt, w, w->p_len + 1);
	}
	return -1; /* a value outside the enum */
}

wr_err
wr__reserve(struct wr_runtime *rt, const struct wr__record *rec,
            struct wr_error *err)
{
	return reserve_for(rt, rec) < 0 ? wr__oom(err) : WR_OK;
}

/* Adds a record the store took to the projected view; cannot fail after
 * reserve_for(). */
static void
project(struct wr_runtime *rt, const struct wr__record *rec, uint64_t lsn)
{
	struct worker *w;

	if (rec->event_id > rt->p_event)
		rt->p_event = rec->event_id;
	switch (rec->kind) {
	case WR__REC_META:
	case WR__REC_IDEMPOTENCY:
		return;
	case WR__REC_RUNTIME_STATUS:
		rt->p_status = rec->runtime_status;
		return;
	case WR__REC_WORKER_CREATED: /* projected when inserted */
	case WR__REC_WORKER_STATE:   /* snapshots only: never submitted */
	case WR__REC_TRANSCRIPT:
	case WR__REC_TURN_END:
	case WR__REC_WORKER_STATUS:
	case WR__REC_WORKER_DELETED:
		break;
	}
	w = wr__find_worker(rt, rec->worker_id);
	switch (rec->kind) {
	case WR__REC_TRANSCRIPT:
		w->p_len++;
		if (rec->turn_started)
			w->p_run_state = WR_RUN_BUSY;
		break;
	case WR__REC_TURN_END:
		w->p_run_state = WR_RUN_IDLE;
		break;
	case WR__REC_WORKER_STATUS:
		if (rec->content != NULL)
			w->p_len++;
		w->p_status = rec->status;
		w->p_run_state = WR_RUN_NONE;
		break;
	case WR__REC_WORKER_DELETED:
		w->p_deleted = true;
		break;
	case WR__REC_WORKER_CREATED:
	case WR__REC_WORKER_STATE:
	case WR__REC_META:
	case WR__REC_RUNTIME_STATUS:
	case WR__REC_IDEMPOTENCY:
		break;
	}
	if (rec->event_id != 0)
		w->p_last_event = rec->event_id;
	w->p_last_lsn = lsn;
}

/* Puts the projected view back to the applied one and drops the workers
 * whose creation never became durable (those with a driver go to the
 * graves: release() may block, so it is never called here, under the
 * lock).  Allocates nothing; cannot fail. */
static void
unproject(struct wr_runtime *rt)
{
	size_t keep = 0;

	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w == NULL)
			continue;
		if (w->applied) {
			w->p_status = w->info.status;
			w->p_run_state = w->info.run_state;
			w->p_len = w->info.transcript_len;
			w->p_last_event = w->info.last_event_id;
			w->p_deleted = false;
			/* Every record of it left is durable: nothing for a
			 * refusal to wait for (the newest one was dropped, and
			 * a sync for it fails for good). */
			w->p_last_lsn = 0;
			w->idx = keep;
			rt->workers[keep++] = w;
			continue;
		}
		wr__unlink_worker(rt, w);
		if (w->driver != NULL) {
			w->driver->stop(w->dstate, true);
			wr__bury_worker(rt, w);
		} else {
			wr__free_worker(w);
		}
	}
	rt->n_workers = keep;
	rt->n_holes = 0;
	rt->first_live = 0;
	if (rt->retain_cursor > keep)
		rt->retain_cursor = 0;
	rt->p_status = rt->status;
	rt->p_event = rt->last_event_id;
}

/* ---- submit / await ------------------------------------------------- */

/* After a reset failed, the store stays failed: marks a retry due
 * (counted as a failure: reset_if_due runs it), unless a reset is due
 * already, records are in flight (their owners discard them, then
 * reset: a reset before that could let a record be appended and then
 * discarded while it is in the journal) or the Runtime is draining
 * (wr_runtime_drain: its close must not wait for a retry's fdatasync).
 * Returns whether it marked one.  Write lock held. */
static bool
retry_reset_due(struct wr_runtime *rt)
{
	if (rt->store->ops->reset == NULL || rt->queue != NULL ||
	    wr__reset_due(rt) || !rt->cmt_started ||
	    __atomic_load_n(&rt->draining, __ATOMIC_ACQUIRE))
		return false;
	__atomic_store_n(&rt->fail_seq, rt->fail_seq + 1, __ATOMIC_RELEASE);
	return true;
}

wr_err
wr__submit(struct wr_runtime *rt, struct pending *p, struct wr_error *err)
{
	const struct wr__store_ops *ops = rt->store->ops;
	struct wr_error e;
	wr_err rc;

	if (reserve_for(rt, &p->rec) < 0)
		return wr__oom(err);
	wr_error_clear(&e);
	rc = ops->append(rt->store, &p->rec, &p->lsn, &p->loc, &e);
	if (rc != WR_OK && e.reason == WR_REASON_STORE_FAILED &&
	    retry_reset_due(rt))
		/* An earlier reset failed; the disk may have come back: the
		 * commit thread tries again now (reset_if_due), without the
		 * lock, so reads do not wait for its fdatasync.  This
		 * mutation is refused store_failed meanwhile (safe to
		 * retry); one attempt runs at a time, and the mutations
		 * that come during one share the next. */
		wr__commit_ring(rt);
	if (rc != WR_OK) {
		if (err != NULL)
			*err = e;
		return rc;
	}
	project(rt, &p->rec, p->lsn);
	if (ops->sync == NULL) {
		/* Synchronous store: durable now, apply at once. */
		p->result = apply_record(rt, &p->rec, &p->loc, true, err);
		p->done = true;
		return p->result;
	}
	p->next = NULL;
	if (rt->queue_tail != NULL)
		rt->queue_tail->next = p;
	else
		rt->queue = p;
	rt->queue_tail = p;
	return WR_OK;
}

/* ---- commits awaited without a thread ------------------------------- */

/* Takes c off rt->cw if it is there.  Write lock held. */
static void
commit_unlink(struct wr_runtime *rt, struct wr_commit *c)
{
	if (!c->linked)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		rt->cw_head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		rt->cw_tail = c->prev;
	c->linked = false;
	__atomic_store_n(&rt->cw_n, rt->cw_n - 1, __ATOMIC_RELAXED);
}

/* Sets c's error for the failure rc: why when it says one, else
 * store_failed (the store failed to persist the change). */
static void
commit_fail(struct wr_commit *c, wr_err rc, const struct wr_error *why)
{
	if (why != NULL && why->code != WR_OK)
		c->err = *why;
	else
		wr__fail(&c->err, rc, WR_REASON_STORE_FAILED, NULL,
		         "the store failed to persist this change");
}

/* Ends c's wait with rc (why: the error of a failure; NULL: the store
 * failed to persist it), undoes what a failure leaves (its key in flight,
 * an input the driver already had), calls done() if notify and marks c
 * completed - the last thing, after which its owner may free it.  Write
 * lock held (or c was never linked). */
static void
commit_complete(struct wr_runtime *rt, struct wr_commit *c, wr_err rc,
                const struct wr_error *why, bool notify)
{
	commit_unlink(rt, c);
	if (rc == WR_OK && c->refused) { /* what it was judged on stands */
		rc = c->refusal;
		why = &c->refusal_err;
	}
	c->rc = rc;
	if (rc != WR_OK) {
		commit_fail(c, rc, why);
		if (c->ikey != NULL)
			wr__idem_abort(rt, c->ikey);
		if (c->diag_seq != 0)
			wr_runtime_diagnose(rt, c->worker_id, "input %llu "
			                    "reached the driver but was not "
			                    "persisted",
			                    (unsigned long long)c->diag_seq);
	}
	if (notify && c->done != NULL)
		c->done(c->done_arg);
	__atomic_store_n(&c->completed, 1, __ATOMIC_RELEASE);
}

/* Completes c with rc (why: as commit_complete), unless it failed while
 * a reset is due: then it waits on rt->held for the reset covering the
 * newest failure (held), and reset_ended completes it.  Write lock
 * held. */
static void
commit_end(struct wr_runtime *rt, struct wr_commit *c, wr_err rc,
           const struct wr_error *why)
{
	if (rc == WR_OK || !wr__reset_due(rt)) {
		commit_complete(rt, c, rc, why, true);
		return;
	}
	commit_unlink(rt, c);
	c->rc = rc;
	commit_fail(c, rc, why);
	c->held = rt->fail_seq;
	c->next = NULL;
	if (rt->held_tail != NULL)
		rt->held_tail->next = c;
	else
		rt->held_head = c;
	rt->held_tail = c;
}

/* After records were applied (or discarded: failed, why): completes, in
 * order, every waiting commit whose record is applied or discarded; with
 * why, also those awaiting an lsn that will never be applied.  Write
 * lock held. */
static void
commits_settle(struct wr_runtime *rt, const struct wr_error *why)
{
	struct wr_commit *c, *next;

	for (c = rt->cw_head; c != NULL; c = next) {
		next = c->next;
		if (c->p != NULL && c->p->done)
			commit_end(rt, c, c->p->result, why);
		else if (c->p == NULL && c->lsn <= rt->applied_lsn)
			commit_complete(rt, c, WR_OK, NULL, true);
		else if (why != NULL)
			commit_end(rt, c, WR_EUNAVAILABLE, why);
	}
}

/* Applies every queued record the store reports durable, in order, and
 * completes the commits waiting for them.  Write lock held. */
static void
apply_durable(struct wr_runtime *rt, uint64_t durable)
{
	while (rt->queue != NULL && rt->queue->lsn <= durable) {
		struct pending *p = rt->queue;
		rt->queue = p->next;
		if (rt->queue == NULL)
			rt->queue_tail = NULL;
		p->result = apply_record(rt, &p->rec, &p->loc, true, NULL);
		p->done = true;
	}
	if (durable > rt->applied_lsn)
		rt->applied_lsn = durable;
	if (rt->cw_head != NULL)
		commits_settle(rt, NULL);
}

/*
 * After a failed sync (why: its error): applies the queued records the
 * store did make durable (a sync for them answers at once, even on a
 * broken store), then discards the rest, fails the commits waiting for
 * them and resets the store.  Write lock held.
 */
static void
discard_queue(struct wr_runtime *rt, const struct wr_error *why)
{
	const struct wr__store_ops *ops = rt->store->ops;
	uint64_t tag = rt->fail_seq + 1;

	while (rt->queue != NULL &&
	       ops->sync(rt->store, rt->queue->lsn, NULL) == WR_OK)
		apply_durable(rt, rt->queue->lsn);
	/* Reset once the lock is released (reset_if_due): its fdatasync
	 * must not hold the readers. */
	__atomic_store_n(&rt->fail_seq, tag, __ATOMIC_RELEASE);
	while (rt->queue != NULL) {
		struct pending *p = rt->queue;
		rt->queue = p->next;
		p->result = WR_EUNAVAILABLE;
		p->done = true;
		p->discarded = tag;
		if (p->rec.idem_key != NULL)
			wr__idem_limbo(rt, p->rec.idem_key, tag);
	}
	rt->queue_tail = NULL;
	if (rt->cw_head != NULL)
		commits_settle(rt, why);
	unproject(rt);
}

/* Turns *err, the failure of a change whose record a failed sync
 * dropped, into store_reset_failed: the reset that was to cut the record
 * from the journal failed too, so a restart may apply it.  NULL ok. */
static void
outcome_unknown(struct wr_error *err)
{
	char was[WR_MESSAGE_MAX];

	if (err == NULL)
		return;
	wr__strlcpy(was, err->message, sizeof(was));
	wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_RESET_FAILED, NULL,
	         "%s, and the journal could not be cut back: this change is "
	         "not applied, but may be after a restart", was);
}

/*
 * A reset covering the failed syncs up to upto ended (ok: it cut their
 * records from the journal; else they may still be there): answers the
 * commits they failed, and forgets their keys if ok.  A commit with a
 * record whose reset failed is answered store_reset_failed (the change
 * may come back after a crash; its key stays in flight), a refusal
 * with the sync's error (it wrote nothing).  Write lock held.
 */
static void
reset_ended(struct wr_runtime *rt, uint64_t upto, bool ok)
{
	struct wr_commit *c, **pp = &rt->held_head;
	struct wr_error why;

	if (ok)
		wr__idem_limbo_release(rt, upto);
	rt->held_tail = NULL;
	while ((c = *pp) != NULL) {
		if (c->held > upto) {
			rt->held_tail = c;
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		why = c->err;
		if (!ok && c->p != NULL)
			outcome_unknown(&why);
		c->held = 0;
		commit_complete(rt, c, c->rc, &why, true);
	}
	/* Published last: reset_until's check without the lock may then
	 * take every commit this reset covered as completed. */
	if (ok)
		__atomic_store_n(&rt->reset_ok_seq, upto, __ATOMIC_RELEASE);
	__atomic_store_n(&rt->reset_seq, upto, __ATOMIC_RELEASE);
}

/*
 * Resets the store a failed sync left broken (discard_queue marked it)
 * once fail_seq reached (lock NOT held), then answers the commits the
 * failures failed (reset_ended): never before the reset returned.  The
 * reset runs without the Runtime's lock: reads go on during its
 * ftruncate and fdatasync, and appends fail meanwhile with store_failed
 * (the store is broken; wr__submit does not retry a reset while one is
 * due).  One thread resets at a time (reset_mu); a caller whose failure
 * another thread's reset covers waits for it.  Returns whether the
 * records of failure fail_seq are cut (a reset since succeeded).
 */
static bool
reset_until(struct wr_runtime *rt, uint64_t fail_seq)
{
	struct wr_error e;
	uint64_t upto;
	bool ok;

	if (__atomic_load_n(&rt->reset_seq, __ATOMIC_ACQUIRE) < fail_seq) {
		pthread_mutex_lock(&rt->reset_mu);
		while (__atomic_load_n(&rt->reset_seq, __ATOMIC_ACQUIRE) <
		       fail_seq) {
			upto = __atomic_load_n(&rt->fail_seq,
			                       __ATOMIC_ACQUIRE);
			wr_error_clear(&e);
			ok = rt->store->ops->reset(rt->store, &e) == WR_OK;
			if (!ok)
				wr_runtime_diagnose(rt, NULL, "store stays "
				                    "failed: %s", e.message);
			pthread_rwlock_wrlock(&rt->lock);
			reset_ended(rt, upto, ok);
			pthread_rwlock_unlock(&rt->lock);
			/* The commit thread retries it while the store
			 * stays failed (retry_reset). */
			if (!ok && rt->cmt_started &&
			    !pthread_equal(pthread_self(), rt->cmt_thread))
				wr__commit_ring(rt);
		}
		pthread_mutex_unlock(&rt->reset_mu);
	}
	return __atomic_load_n(&rt->reset_ok_seq, __ATOMIC_ACQUIRE) >=
	       fail_seq;
}

/* reset_until the newest failure.  Every caller of discard_queue calls
 * this after releasing the lock.  Lock NOT held. */
static void
reset_if_due(struct wr_runtime *rt)
{
	(void)reset_until(rt, __atomic_load_n(&rt->fail_seq,
	                                       __ATOMIC_ACQUIRE));
}

void
wr__bury_worker(struct wr_runtime *rt, struct worker *w)
{
	w->gnext = rt->graves;
	rt->graves = w;
	if (w->driver->release_waits)
		__atomic_add_fetch(&rt->n_buried, 1, __ATOMIC_RELAXED);
}

/* Releases the drivers of the workers of list g and frees them; each
 * gives its max_workers slot back once its execution is gone. */
static void
release_all(struct wr_runtime *rt, struct worker *g)
{
	while (g != NULL) {
		struct worker *next = g->gnext;
		bool counted = g->driver->release_waits;

		g->driver->release(g->dstate);
		wr__free_worker(g);
		if (counted)
			__atomic_sub_fetch(&rt->n_buried, 1, __ATOMIC_RELEASE);
		g = next;
	}
}

/* The reaper thread: releases what bury() hands it until halted with
 * nothing left. */
static void *
reap_main(void *arg)
{
	struct wr_runtime *rt = arg;
	struct worker *g;

	pthread_mutex_lock(&rt->reap_mu);
	for (;;) {
		while (rt->reap == NULL && !rt->reap_halt)
			pthread_cond_wait(&rt->reap_cv, &rt->reap_mu);
		if (rt->reap == NULL)
			break; /* halted, drained */
		g = rt->reap;
		rt->reap = NULL;
		pthread_mutex_unlock(&rt->reap_mu);
		release_all(rt, g);
		pthread_mutex_lock(&rt->reap_mu);
	}
	pthread_mutex_unlock(&rt->reap_mu);
	return NULL;
}

/*
 * Releases the graves: those whose driver's release() does not wait here,
 * the others (release_waits: a deleted exec worker may still be in its
 * stop grace, up to stop_grace_ms) by the reaper, so a request never
 * waits for them.  If the reaper cannot start (or the Runtime is closing)
 * the caller releases them itself.  Lock NOT held.
 */
static void
bury(struct wr_runtime *rt)
{
	struct worker *g, *tail, *quick = NULL, *slow = NULL;

	pthread_rwlock_wrlock(&rt->lock);
	g = rt->graves;
	rt->graves = NULL;
	pthread_rwlock_unlock(&rt->lock);
	/* Drivers whose release() does not wait are released right here. */
	while (g != NULL) {
		struct worker *next = g->gnext;
		struct worker **to = g->driver->release_waits ? &slow : &quick;
		g->gnext = *to;
		*to = g;
		g = next;
	}
	release_all(rt, quick);
	if ((g = slow) == NULL)
		return;
	for (tail = g; tail->gnext != NULL; tail = tail->gnext)
		;
	pthread_mutex_lock(&rt->reap_mu);
	if (!rt->reap_started && !rt->reap_halt &&
	    pthread_create(&rt->reap_thread, NULL, reap_main, rt) == 0)
		rt->reap_started = true;
	if (rt->reap_started && !rt->reap_halt) {
		tail->gnext = rt->reap;
		rt->reap = g;
		pthread_cond_signal(&rt->reap_cv);
		g = NULL;
	}
	pthread_mutex_unlock(&rt->reap_mu);
	release_all(rt, g);
}

void
wr__reaper_stop(struct wr_runtime *rt)
{
	bool started;

	pthread_mutex_lock(&rt->reap_mu);
	rt->reap_halt = true;
	started = rt->reap_started;
	pthread_cond_signal(&rt->reap_cv);
	pthread_mutex_unlock(&rt->reap_mu);
	if (started)
		pthread_join(rt->reap_thread, NULL);
	rt->reap_started = false;
}

wr_err
wr__await(struct wr_runtime *rt, struct pending **p, size_t n,
          struct wr_error *err)
{
	const struct wr__store_ops *ops = rt->store->ops;
	struct pending *last = n > 0 ? p[n - 1] : NULL;
	struct wr_error e;
	wr_err rc = WR_OK, synced;
	uint64_t discarded = 0;
	bool graves;

	if (last == NULL)
		return WR_OK;
	if (ops->sync == NULL) {
		graves = false;
		for (size_t i = 0; i < n; i++) {
			if (rc == WR_OK)
				rc = p[i]->result;
			graves |= p[i]->rec.kind == WR__REC_WORKER_DELETED;
		}
		/* Deletes, applied at once, left their drivers to release. */
		if (graves)
			bury(rt);
		return rc;
	}
	wr_error_clear(&e);
	synced = ops->sync(rt->store, last->lsn, &e);
	pthread_rwlock_wrlock(&rt->lock);
	if (!last->done) {
		if (synced == WR_OK)
			apply_durable(rt, last->lsn);
		else
			discard_queue(rt, &e);
	}
	for (size_t i = 0; i < n; i++) {
		if (rc == WR_OK)
			rc = p[i]->result;
		if (p[i]->discarded > discarded)
			discarded = p[i]->discarded;
	}
	if (rc != WR_OK && synced == WR_OK)
		wr__fail(err, rc, WR_REASON_STORE_FAILED, NULL,
		         "the store failed to persist this change");
	else if (synced != WR_OK && err != NULL)
		*err = e;
	wr__snapshot_maybe(rt);
	graves = rt->graves != NULL;
	pthread_rwlock_unlock(&rt->lock);
	/* A dropped record is answered once the reset cut it, not before. */
	reset_if_due(rt);
	if (discarded != 0 && !reset_until(rt, discarded))
		outcome_unknown(err);
	if (graves)
		bury(rt);
	return rc;
}

wr_err
wr__await_lsn(struct wr_runtime *rt, uint64_t lsn, struct wr_error *err)
{
	const struct wr__store_ops *ops = rt->store->ops;
	wr_err rc;
	bool graves;

	if (ops->sync == NULL || lsn == 0)
		return WR_OK;
	rc = ops->sync(rt->store, lsn, err);
	pthread_rwlock_wrlock(&rt->lock);
	/* On failure the owners of the queued records discard them. */
	if (rc == WR_OK)
		apply_durable(rt, lsn);
	graves = rt->graves != NULL;
	pthread_rwlock_unlock(&rt->lock);
	if (graves)
		bury(rt);
	return rc;
}

/* ---- the commit thread ------------------------------------------------ */

/* Links c at the tail of rt->cw (lsn order for records).  Write lock. */
static void
commit_link(struct wr_runtime *rt, struct wr_commit *c)
{
	c->next = NULL;
	c->prev = rt->cw_tail;
	if (rt->cw_tail != NULL)
		rt->cw_tail->next = c;
	else
		rt->cw_head = c;
	rt->cw_tail = c;
	c->linked = true;
	__atomic_store_n(&rt->cw_n, rt->cw_n + 1, __ATOMIC_RELAXED);
	if (c->lsn > rt->cw_target)
		__atomic_store_n(&rt->cw_target, c->lsn, __ATOMIC_RELAXED);
}

bool
wr__commit_register(struct wr_runtime *rt, struct wr_commit *c,
                    struct pending *p, uint64_t lsn)
{
	const struct wr__store_ops *ops = rt->store->ops;
	struct wr_error e;

	c->rt = rt;
	c->p = p;
	if (p != NULL && p->done) { /* a synchronous store applied it */
		c->bury = p->rec.kind == WR__REC_WORKER_DELETED;
		c->ready = true;
		commit_complete(rt, c, p->result, NULL, false);
		return true;
	}
	if (p == NULL && (lsn == 0 || ops->sync == NULL)) {
		c->ready = true;
		commit_complete(rt, c, WR_OK, NULL, false);
		return true;
	}
	c->lsn = p != NULL ? p->lsn : lsn;
	if (p == NULL && (rt->queue == NULL || rt->queue->lsn > lsn)) {
		/* Not queued: applied (durable), or dropped by a failed
		 * sync; the store says which at once, as wr__await_lsn. */
		wr_error_clear(&e);
		c->ready = true;
		commit_complete(rt, c, ops->sync(rt->store, lsn, &e), &e,
		                false);
		return true;
	}
	commit_link(rt, c);
	return false;
}

bool
wr__commit_refusal(struct wr_runtime *rt, struct wr_commit *c, uint64_t lsn,
                   wr_err rc, const struct wr_error *why)
{
	c->refused = true;
	c->refusal = rc;
	c->refusal_err = *why;
	c->refusal_err.code = rc;
	return wr__commit_register(rt, c, NULL, lsn);
}

void
wr__commit_ring(struct wr_runtime *rt)
{
	pthread_mutex_lock(&rt->cmt_mu);
	rt->cmt_bell = true;
	pthread_cond_signal(&rt->cmt_cv);
	pthread_mutex_unlock(&rt->cmt_mu);
}

void
wr__commit_bury(struct wr_runtime *rt)
{
	bury(rt);
}

/* A snapshot is due but records keep arriving (the queue is never empty
 * between rounds under load): make everything durable now, under the
 * write lock, so that snapshot_maybe finds nothing in flight.  Write
 * lock held. */
static void
drain_for_snapshot(struct wr_runtime *rt)
{
	const struct wr__store_ops *ops = rt->store->ops;
	struct wr_error e;

	if (rt->queue == NULL || ops->snapshot_begin == NULL ||
	    rt->snap_running || rt->closing || !ops->snapshot_due(rt->store))
		return;
	wr_error_clear(&e);
	if (ops->sync(rt->store, rt->queue_tail->lsn, &e) == WR_OK)
		apply_durable(rt, rt->queue_tail->lsn);
	else
		discard_queue(rt, &e);
}

/* One round of the commit thread: syncs up to the newest awaited record,
 * applies, completes.  Returns the commits still waiting.  Lock NOT
 * held. */
static size_t
commit_round(struct wr_runtime *rt)
{
	const struct wr__store_ops *ops = rt->store->ops;
	uint64_t target = __atomic_load_n(&rt->cw_target, __ATOMIC_RELAXED);
	struct wr_commit *c, *next;
	struct wr_error e;
	wr_err synced;
	size_t left;
	bool graves;

	if (__atomic_load_n(&rt->cw_n, __ATOMIC_RELAXED) == 0)
		return 0;
	wr_error_clear(&e);
	synced = ops->sync(rt->store, target, &e);
	pthread_rwlock_wrlock(&rt->lock);
	if (synced == WR_OK) {
		apply_durable(rt, target);
	} else {
		if (rt->queue != NULL && rt->queue->lsn <= target)
			discard_queue(rt, &e);
		/* Whatever it covered and is still waiting cannot succeed. */
		for (c = rt->cw_head; c != NULL; c = next) {
			next = c->next;
			if (c->lsn <= target)
				commit_end(rt, c, synced, &e);
		}
	}
	drain_for_snapshot(rt);
	wr__snapshot_maybe(rt);
	graves = rt->graves != NULL;
	left = rt->cw_n;
	pthread_rwlock_unlock(&rt->lock);
	reset_if_due(rt);
	if (graves)
		bury(rt);
	return left;
}

/* Whether the store refuses appends until it is reset. */
static bool
store_broken(struct wr_runtime *rt)
{
	struct wr__store_stats ss;

	if (rt->store->ops->stats == NULL)
		return false;
	rt->store->ops->stats(rt->store, &ss);
	return ss.failed;
}

/* The commit thread's retry of a reset that failed, without a mutation
 * to ask for it (a client that only retries with an idempotency key in
 * limbo gets idempotency_in_flight, which appends nothing).  Returns
 * whether the store stays failed.  Lock NOT held. */
static bool
retry_reset(struct wr_runtime *rt)
{
	bool due;

	if (!store_broken(rt))
		return false;
	pthread_rwlock_wrlock(&rt->lock);
	due = retry_reset_due(rt);
	pthread_rwlock_unlock(&rt->lock);
	if (due)
		reset_if_due(rt);
	return store_broken(rt);
}

/* Waits for the bell or a halt; while the store stays failed, at most
 * RESET_RETRY_S, then returns as if rung (a retry of the reset is due).
 * cmt_mu held. */
#define RESET_RETRY_S 1
static void
commit_bell_wait(struct wr_runtime *rt, bool broken)
{
	struct timespec until;

	if (broken) {
		clock_gettime(CLOCK_MONOTONIC, &until); /* cmt_cv's clock */
		until.tv_sec += RESET_RETRY_S;
	}
	while (!rt->cmt_bell && !rt->cmt_halt) {
		if (!broken)
			pthread_cond_wait(&rt->cmt_cv, &rt->cmt_mu);
		else if (pthread_cond_timedwait(&rt->cmt_cv, &rt->cmt_mu,
		                                &until) != 0)
			break;
	}
}

static void *
commit_main(void *arg)
{
	struct wr_runtime *rt = arg;
	bool halt, broken = false;

	for (;;) {
		pthread_mutex_lock(&rt->cmt_mu);
		commit_bell_wait(rt, broken);
		rt->cmt_bell = false;
		halt = rt->cmt_halt;
		pthread_mutex_unlock(&rt->cmt_mu);
		pthread_mutex_lock(&rt->cmt_round_mu);
		while (commit_round(rt) > 0)
			;
		pthread_mutex_unlock(&rt->cmt_round_mu);
		reset_if_due(rt); /* a retry wr__submit asked for */
		if (halt)
			break; /* close: nothing waits, nothing new comes */
		broken = retry_reset(rt);
	}
	return NULL;
}

wr_err
wr__commit_start(struct wr_runtime *rt, struct wr_error *err)
{
	if (rt->store->ops->sync == NULL)
		return WR_OK;
	if (pthread_create(&rt->cmt_thread, NULL, commit_main, rt) != 0)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY,
		                NULL, "cannot start the commit thread");
	rt->cmt_started = true;
	return WR_OK;
}

void
wr__commit_stop(struct wr_runtime *rt)
{
	if (!rt->cmt_started)
		return;
	pthread_mutex_lock(&rt->cmt_mu);
	rt->cmt_halt = true;
	pthread_cond_signal(&rt->cmt_cv);
	pthread_mutex_unlock(&rt->cmt_mu);
	pthread_join(rt->cmt_thread, NULL);
	rt->cmt_started = false;
}

bool
wr_commit_lead(struct wr_commit *c)
{
	struct wr_runtime *rt = c->rt;

	if (__atomic_load_n(&c->completed, __ATOMIC_ACQUIRE))
		return true;
	if (pthread_mutex_trylock(&rt->cmt_round_mu) != 0) {
		wr__commit_ring(rt); /* the commit thread's, after this round */
		return false;
	}
	/* c is waiting, so the round's target covers it: one round ends it
	 * (durable, or failed with its fdatasync). */
	(void)commit_round(rt);
	pthread_mutex_unlock(&rt->cmt_round_mu);
	if (__atomic_load_n(&rt->cw_n, __ATOMIC_SEQ_CST) > 0)
		wr__commit_ring(rt); /* registered during the round */
	return __atomic_load_n(&c->completed, __ATOMIC_ACQUIRE);
}

void
wr__commit_wait(struct wr_commit *c)
{
	struct wr_runtime *rt = c->rt;
	const struct wr__store_ops *ops = rt->store->ops;
	bool by_record = c->p != NULL, graves;
	struct wr_error e;
	wr_err synced;

	wr_error_clear(&e);
	synced = ops->sync(rt->store, c->lsn, &e);
	pthread_rwlock_wrlock(&rt->lock);
	if (!__atomic_load_n(&c->completed, __ATOMIC_ACQUIRE)) {
		if (synced == WR_OK)
			apply_durable(rt, c->lsn);
		else if (by_record && !c->p->done)
			discard_queue(rt, &e);
	}
	if (!__atomic_load_n(&c->completed, __ATOMIC_ACQUIRE) && c->held == 0)
		commit_end(rt, c, synced != WR_OK ? synced
		           : by_record ? c->p->result : WR_OK, &e);
	wr__snapshot_maybe(rt);
	graves = rt->graves != NULL;
	pthread_rwlock_unlock(&rt->lock);
	reset_if_due(rt);
	if (graves)
		bury(rt);
}

/* ---- replay ------------------------------------------------------------ */

struct replay_ctx {
	struct wr_runtime *rt;
	bool had_meta;
	char stored_id[WR_ID_MAX + 1];
};

static wr_err
replay_refuse(struct wr_error *err, const struct wr__record *rec,
              const char *what, uint64_t a, uint64_t b)
{
	return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
	                "record for worker \"%s\": %s (%llu, %llu)",
	                rec->worker_id, what, (unsigned long long)a,
	                (unsigned long long)b);
}

/* A creation's order (the number in its id) must be its creation event
 * id (a snapshot's creation carries none: then at most the Runtime's last
 * event id) and above every earlier worker's, or paging would break. */
static wr_err
replay_check_order(const struct wr_runtime *rt, const struct wr__record *rec,
                   struct wr_error *err)
{
	uint64_t order = wr__id_order(rec->worker_id);
	uint64_t prev = rt->n_workers > 0
	                        ? rt->workers[rt->n_workers - 1]->order
	                        : 0;

	if (order == 0)
		return WR_OK; /* an id of the older form */
	if (rec->event_id != 0 ? order != rec->event_id
	                       : order > rt->last_event_id)
		return replay_refuse(err, rec, "creation order is not the "
		                     "creation's event id", order,
		                     rec->event_id ? rec->event_id
		                                   : rt->last_event_id);
	if (order <= prev)
		return replay_refuse(err, rec, "creation order does not grow",
		                     order, prev);
	return WR_OK;
}

/* The runtime record: the first one names the runtime, any later one
 * (a snapshot's) the same, with an event id that does not go back. */
static wr_err
check_meta(const struct replay_ctx *c, const struct wr__record *rec,
           struct wr_error *err)
{
	if (c->had_meta && strcmp(rec->runtime_id, c->stored_id) != 0)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT,
		                NULL, "runtime record names \"%s\", the "
		                "store \"%s\"", rec->runtime_id, c->stored_id);
	if (rec->event_id < c->rt->last_event_id)
		return replay_refuse(err, rec, "runtime event id goes "
		                     "backwards", rec->event_id,
		                     c->rt->last_event_id);
	return WR_OK;
}

/* A creation: the worker belongs to this runtime, is stored under its own
 * id with an empty transcript, and its event id is new (journal) or, in
 * a snapshot (event id 0), not above the Runtime's; the snapshot form's
 * last_event_id is then rebuilt from the records that follow. */
static wr_err
check_created(const struct replay_ctx *c, struct wr__record *rec,
              struct wr_error *err)
{
	const struct wr_runtime *rt = c->rt;
	struct wr_worker_info *wi = rec->worker;
	wr_err rc;

	if (wi == NULL)
		return WR_OK; /* apply_record refuses it */
	if (strcmp(wi->ref.runtime_id, c->stored_id) != 0 ||
	    strcmp(wi->ref.worker_id, rec->worker_id) != 0)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT,
		                NULL, "worker \"%s\" of runtime \"%s\" "
		                "in the store of \"%s\" as \"%s\"",
		                wi->ref.worker_id, wi->ref.runtime_id,
		                c->stored_id, rec->worker_id);
	if (wi->transcript_len != 0)
		return replay_refuse(err, rec, "created with a transcript",
		                     wi->transcript_len, 0);
	if ((rc = replay_check_order(rt, rec, err)) != WR_OK)
		return rc;
	if (rec->event_id != 0 && (wi->last_event_id != rec->event_id ||
	                           rec->event_id <= rt->last_event_id))
		return replay_refuse(err, rec, "creation event id is not "
		                     "new or not the worker's",
		                     wi->last_event_id, rec->event_id);
	if (rec->event_id != 0 && (wi->status != WR_STATUS_RUNNING ||
	                           wi->run_state != WR_RUN_IDLE))
		return corrupt(err, rec, "created in a journal other than "
		               "running and idle");
	if (rec->event_id == 0) {
		if (wi->last_event_id > rt->last_event_id)
			return replay_refuse(err, rec, "last_event_id "
			                     "above the runtime's",
			                     wi->last_event_id,
			                     rt->last_event_id);
		wi->last_event_id = 0;
	}
	return WR_OK;
}

/* A snapshot's final state of a worker: its last event id is at least
 * its own events' and at most the Runtime's. */
static wr_err
check_state(const struct replay_ctx *c, const struct wr__record *rec,
            struct wr_error *err)
{
	const struct worker *w = wr__find_worker(c->rt, rec->worker_id);

	if (w == NULL)
		return WR_OK; /* apply_record refuses it */
	if (rec->event_id < w->info.last_event_id ||
	    rec->event_id > c->rt->last_event_id)
		return replay_refuse(err, rec, "last_event_id outside "
		                     "its events and the runtime's",
		                     rec->event_id, c->rt->last_event_id);
	return WR_OK;
}

/* What the worker's state must be for the live path to have written
 * rec: input starts a turn only on a running, idle worker; a turn ends
 * only while one is in progress; a worker ends once, while running.
 * (Entries without a turn are not checked: a snapshot stores the entries
 * of ended workers too.) */
static wr_err
check_turn(const struct worker *w, const struct wr__record *rec,
           struct wr_error *err)
{
	bool running = w->info.status == WR_STATUS_RUNNING;

	switch (rec->kind) {
	case WR__REC_TRANSCRIPT:
		if (rec->turn_started &&
		    (!running || w->info.run_state != WR_RUN_IDLE))
			return corrupt(err, rec, "a turn starts on a worker "
			               "that is busy or ended");
		return WR_OK;
	case WR__REC_TURN_END:
		if (!running || w->info.run_state != WR_RUN_BUSY)
			return corrupt(err, rec, "a turn ends with no turn "
			               "in progress");
		return WR_OK;
	case WR__REC_WORKER_STATUS:
		if (!running)
			return corrupt(err, rec, "a worker that already "
			               "ended ends again");
		return WR_OK;
	case WR__REC_META:
	case WR__REC_RUNTIME_STATUS:
	case WR__REC_WORKER_CREATED:
	case WR__REC_WORKER_STATE:
	case WR__REC_WORKER_DELETED: /* apply refuses a running one */
	case WR__REC_IDEMPOTENCY:
		break;
	}
	return WR_OK;
}

/* An event about a worker: entries and ends carry an event id, and a
 * worker's event ids only grow. */
static wr_err
check_event(const struct replay_ctx *c, const struct wr__record *rec,
            struct wr_error *err)
{
	const struct worker *w = wr__find_worker(c->rt, rec->worker_id);

	if (w == NULL)
		return WR_OK; /* apply_record refuses it */
	if ((rec->kind == WR__REC_TRANSCRIPT ||
	     rec->kind == WR__REC_WORKER_STATUS ||
	     rec->kind == WR__REC_WORKER_DELETED) && rec->event_id == 0)
		return replay_refuse(err, rec, "event without an event id", 0,
		                     w->info.last_event_id);
	if (rec->event_id != 0 && rec->event_id <= w->info.last_event_id)
		return replay_refuse(err, rec, "event id does not grow",
		                     rec->event_id, w->info.last_event_id);
	return check_turn(w, rec, err);
}

/*
 * What a restored record must agree with in the records before it, as
 * live commits guarantee: the runtime record comes first and names one
 * runtime; workers belong to it; a worker's event ids only grow, and none
 * is above the Runtime's last event id (or new ids would go backwards).
 * Every kind is listed (no default:) so that the compiler names a kind
 * this misses.
 */
static wr_err
replay_check(struct replay_ctx *c, struct wr__record *rec,
             struct wr_error *err)
{
	struct wr_worker_info *wi = rec->worker;

	if (rec->event_id > WR_MAX_EVENT_ID ||
	    (wi != NULL && wi->last_event_id > WR_MAX_EVENT_ID))
		return replay_refuse(err, rec, "event id above WR_MAX_EVENT_ID",
		                     rec->event_id, WR_MAX_EVENT_ID);
	if (rec->kind != WR__REC_META && !c->had_meta)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
		                "a record comes before the runtime record");
	switch (rec->kind) {
	case WR__REC_META:
		return check_meta(c, rec, err);
	case WR__REC_RUNTIME_STATUS:
		/* A stop ends every running worker before "stopped". */
		if (rec->runtime_status == WR_RUNTIME_STOPPED &&
		    c->rt->count[WR_STATUS_RUNNING] > 0)
			return wr__fail(err, WR_EUNAVAILABLE,
			                WR_REASON_STORE_CORRUPT, NULL,
			                "runtime stopped with %llu workers "
			                "running", (unsigned long long)
			                c->rt->count[WR_STATUS_RUNNING]);
		return WR_OK;
	case WR__REC_WORKER_CREATED:
		return check_created(c, rec, err);
	case WR__REC_WORKER_STATE:
		return check_state(c, rec, err);
	case WR__REC_TRANSCRIPT:
	case WR__REC_TURN_END:
	case WR__REC_WORKER_STATUS:
	case WR__REC_WORKER_DELETED:
		return check_event(c, rec, err);
	case WR__REC_IDEMPOTENCY:
		/* A key alone carries no event: nothing to agree with. */
		return rec->event_id == 0 ? WR_OK
		       : replay_refuse(err, rec, "a key alone with an event id",
		                       rec->event_id, 0);
	}
	/* A value outside the enum (a decoder bug): refuse it. */
	return corrupt(err, rec, "unknown record kind");
}

static wr_err
replay_one(void *arg, struct wr__record *rec, const struct wr__loc *loc,
           struct wr_error *err)
{
	struct replay_ctx *c = arg;
	wr_err rc;

	if ((rc = replay_check(c, rec, err)) != WR_OK) {
		wr__record_clear(rec);
		return rc;
	}
	if (rec->kind == WR__REC_META && !c->had_meta) {
		c->had_meta = true;
		wr__strlcpy(c->stored_id, rec->runtime_id, sizeof(c->stored_id));
	}
	rc = apply_record(c->rt, rec, loc, false, err);
	wr__record_clear(rec);
	return rc;
}

static void
replay_diag(void *arg, const char *message)
{
	struct replay_ctx *c = arg;

	wr_runtime_diagnose(c->rt, NULL, "%s", message);
}

wr_err
wr__replay(struct wr_runtime *rt, bool *had_meta,
           char stored_id[WR_ID_MAX + 1], struct wr_error *err)
{
	struct replay_ctx c = {.rt = rt};
	wr_err rc;

	if (rt->store->ops->load == NULL) {
		*had_meta = false;
		return WR_OK;
	}
	rc = rt->store->ops->load(rt->store, replay_one, replay_diag, &c, err);
	if (rc != WR_OK)
		return rc;
	/* Both views start equal. */
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w == NULL)
			continue;
		w->p_status = w->info.status;
		w->p_run_state = w->info.run_state;
		w->p_len = w->info.transcript_len;
		w->p_last_event = w->info.last_event_id;
		w->p_deleted = false;
	}
	rt->p_event = rt->last_event_id;
	*had_meta = c.had_meta;
	wr__strlcpy(stored_id, c.stored_id, WR_ID_MAX + 1);
	return WR_OK;
}
