/*
 * core/waiters.c - watches: being told when a worker changes.
 *
 * The one place where applied changes reach waiters: commit.c calls
 * wr__waiters_notify after applying any record about a worker (so every
 * mutation, every driver report, every deletion), runtime.c wakes them all
 * when the Runtime stops or closes.  A watch sits on its worker's list
 * (struct worker.watches) and is taken off it when it fires.
 *
 * Locking: the registry's mutex guards the lists, the count and the
 * reference count; it is taken inside rt->lock (read lock to register,
 * write lock to notify), never the other way round.  wake() runs under
 * the mutex, so a cancel, which takes it, returns only once no wake is
 * running.  The registry is reference counted (the Runtime plus each
 * watch), so a watch may be cancelled after wr_runtime_close.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/rt.h"

struct wr__waiters {
	pthread_mutex_t mu;
	size_t count;  /* watches not yet cancelled */
	size_t max;
	size_t refs;   /* 1 for the Runtime (until close) + count */
	bool closed;   /* close woke everything: register nothing more */
};

struct wr_watch {
	struct wr__waiters *hub;
	struct wr_watch *next;   /* on the worker's list while armed */
	struct wr_watch **pprev; /* NULL once fired */
	uint64_t after;
	void (*wake)(void *arg);
	void *arg;
	bool fired;
};

int
wr__waiters_open(struct wr_runtime *rt, uint32_t max)
{
	struct wr__waiters *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return -1;
	pthread_mutex_init(&h->mu, NULL);
	h->max = max != 0 ? max : WR_DEFAULT_MAX_WAITERS;
	h->refs = 1;
	rt->waiters = h;
	return 0;
}

/* Drops one reference; the last one frees the registry.  Mutex held on
 * entry, released on return. */
static void
hub_unref_unlock(struct wr__waiters *h)
{
	bool last = --h->refs == 0;

	pthread_mutex_unlock(&h->mu);
	if (last) {
		pthread_mutex_destroy(&h->mu);
		free(h);
	}
}

/* Takes w off its worker's list and calls its wake.  Mutex held. */
static void
fire(struct wr_watch *w)
{
	if (w->next != NULL)
		w->next->pprev = w->pprev;
	*w->pprev = w->next;
	w->next = NULL;
	w->pprev = NULL;
	w->fired = true;
	w->wake(w->arg);
}

static void
fire_worker(struct worker *wk, bool all)
{
	struct wr_watch *w = wk->watches, *next;

	for (; w != NULL; w = next) {
		next = w->next;
		if (all || wk->info.last_event_id > w->after)
			fire(w);
	}
}

void
wr__waiters_notify(struct wr_runtime *rt, struct worker *w, bool gone)
{
	struct wr__waiters *h = rt->waiters;

	if (h == NULL || w == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	fire_worker(w, gone);
	pthread_mutex_unlock(&h->mu);
}

void
wr__waiters_wake_all(struct wr_runtime *rt)
{
	struct wr__waiters *h = rt->waiters;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < rt->n_workers; i++)
		if (rt->workers[i] != NULL)
			fire_worker(rt->workers[i], true);
	pthread_mutex_unlock(&h->mu);
}

void
wr__waiters_close(struct wr_runtime *rt)
{
	struct wr__waiters *h = rt->waiters;

	if (h == NULL)
		return;
	wr__waiters_wake_all(rt);
	pthread_mutex_lock(&h->mu);
	h->closed = true;
	rt->waiters = NULL;
	hub_unref_unlock(h);
}

wr_err
wr_worker_watch(struct wr_runtime *rt, const char *worker_id,
                uint64_t after_event, void (*wake)(void *arg), void *arg,
                struct wr_watch **out, struct wr_error *err)
{
	struct wr__waiters *h;
	struct wr_watch *w;
	struct worker *wk;
	wr_err rc = WR_OK;

	if (wake == NULL || out == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                wake == NULL ? "wake" : "out",
		                "a watch needs a wake function and a result");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return wr__oom(err);
	w->after = after_event;
	w->wake = wake;
	w->arg = arg;
	pthread_rwlock_rdlock(&rt->lock);
	h = rt->waiters;
	wk = worker_id != NULL ? wr__find_visible(rt, worker_id) : NULL;
	/* An ended worker changes only by its deletion, which answers a
	 * wait the same way: nothing to wait for. */
	if (h == NULL || wk == NULL || rt->status != WR_RUNTIME_RUNNING ||
	    wk->info.status != WR_STATUS_RUNNING ||
	    wk->info.last_event_id > after_event) {
		pthread_rwlock_unlock(&rt->lock);
		free(w);
		*out = NULL; /* satisfied: read again now */
		return WR_OK;
	}
	pthread_mutex_lock(&h->mu);
	if (h->closed || h->count >= h->max) {
		rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_TOO_MANY_WAITERS,
		              NULL, "%zu requests are waiting already "
		              "(max_waiters); retry later", h->max);
	} else {
		h->count++;
		h->refs++;
		w->hub = h;
		w->next = wk->watches;
		if (w->next != NULL)
			w->next->pprev = &w->next;
		w->pprev = &wk->watches;
		wk->watches = w;
	}
	pthread_mutex_unlock(&h->mu);
	pthread_rwlock_unlock(&rt->lock);
	if (rc != WR_OK) {
		free(w);
		return rc;
	}
	*out = w;
	return WR_OK;
}

bool
wr_watch_cancel(struct wr_watch *w)
{
	struct wr__waiters *h;
	bool fired;

	if (w == NULL)
		return false;
	h = w->hub;
	pthread_mutex_lock(&h->mu);
	if (w->pprev != NULL) {
		/* Still armed: its worker exists (deletion and close fire
		 * every watch first), so its list may be edited. */
		if (w->next != NULL)
			w->next->pprev = w->pprev;
		*w->pprev = w->next;
	}
	fired = w->fired;
	h->count--;
	hub_unref_unlock(h);
	free(w);
	return fired;
}

/* ---- the blocking wait, built on a watch ------------------------------ */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool woken;
};

static void
waiter_wake(void *arg)
{
	struct waiter *wt = arg;

	pthread_mutex_lock(&wt->mu);
	wt->woken = true;
	pthread_cond_signal(&wt->cv);
	pthread_mutex_unlock(&wt->mu);
}

/* Blocks until wt is woken or timeout_ms pass. */
static void
waiter_block(struct waiter *wt, uint32_t timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&wt->mu);
	while (!wt->woken &&
	       pthread_cond_timedwait(&wt->cv, &wt->mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&wt->mu);
}

wr_err
wr_worker_wait(struct wr_runtime *rt, const char *worker_id,
               uint64_t after_event, uint32_t timeout_ms,
               uint64_t *last_event_id, struct wr_error *err)
{
	struct waiter wt = {.woken = false};
	pthread_condattr_t ca;
	struct wr_watch *w = NULL;
	struct worker *wk;
	wr_err rc;

	pthread_mutex_init(&wt.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wt.cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = timeout_ms == 0 ? WR_OK
	                     : wr_worker_watch(rt, worker_id, after_event,
	                                       waiter_wake, &wt, &w, err);
	if (w != NULL) {
		waiter_block(&wt, timeout_ms);
		wr_watch_cancel(w);
	}
	pthread_cond_destroy(&wt.cv);
	pthread_mutex_destroy(&wt.mu);
	if (rc != WR_OK)
		return rc;
	pthread_rwlock_rdlock(&rt->lock);
	if ((wk = wr__find_visible(rt, worker_id)) == NULL) {
		wr__fail(err, WR_EUNKNOWN_WORKER, WR_REASON_NONE, NULL,
		         "no worker \"%.64s\" in this runtime",
		         worker_id != NULL ? worker_id : "");
		rc = wr__fail_worker(err, WR_EUNKNOWN_WORKER, worker_id);
	} else if (last_event_id != NULL) {
		*last_event_id = wk->info.last_event_id;
	}
	pthread_rwlock_unlock(&rt->lock);
	return rc;
}
