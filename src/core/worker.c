/*
 * core/worker.c - the worker operations and their rules: create, list, get,
 * input, stop, cancel, delete, transcript pages, and the driver callbacks.
 *
 * Validation reads the projected view (rt.h) so that a mutation is judged
 * against every earlier one, durable or not; reads see only the applied
 * view.  A refusal judged on a change not yet durable waits for it
 * (refusal_settle; without a thread, refusal_park): if its fdatasync
 * fails, the refusal becomes that failure, never an answer about a state
 * the worker is not in.  Each mutation: validate and submit under the
 * write lock, then wait for the store with the lock released.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/text.h"
#include "core/rt.h"

#define TRANSCRIPT_DEFAULT_LIMIT 256u

static bool refusal_park(struct wr_runtime *rt, struct wr_commit *c,
                         uint64_t lsn, wr_err rc, const struct wr_error *err);
static wr_err refusal_settle(struct wr_runtime *rt, uint64_t lsn, wr_err rc,
                             struct wr_error *err);

static wr_err
oom(struct wr_error *err)
{
	return wr__oom(err);
}

/* Sets the answer of a keyed mutation (takes json, a wr_json_encode_*
 * result: NULL is out of memory) and attaches it with the key to rec
 * (if not NULL). */
static wr_err
set_answer(struct wr__ikey *ik, struct wr__record *rec, int status,
           char *json, struct wr_error *err)
{
	if (json == NULL)
		return oom(err);
	free(ik->body);
	ik->status = status;
	ik->body = json;
	ik->body_len = strlen(json); /* JSON text: no NUL inside */
	if (rec == NULL)
		return WR_OK;
	return wr__idem_attach(rec, ik) < 0 ? oom(err) : WR_OK;
}

static wr_err
check_running(const struct wr_runtime *rt, struct wr_error *err)
{
	if (rt->p_status == WR_RUNTIME_RUNNING)
		return WR_OK;
	return wr__fail(err, WR_EUNAVAILABLE,
	                rt->p_status == WR_RUNTIME_STOPPING
	                        ? WR_REASON_RUNTIME_STOPPING
	                        : WR_REASON_RUNTIME_STOPPED,
	                NULL, "the runtime is %s",
	                wr_runtime_status_name(rt->p_status));
}

/* ---- create --------------------------------------------------------- */

static bool
text_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return false;
	n = strlen(s);
	return n <= max && wr__utf8_valid(s, n);
}

static bool
opt_text_ok(const char *s, size_t max)
{
	return s == NULL || text_ok(s, max);
}

static wr_err
check_refs(const struct wr_mount_ref *r, size_t n, const char *field,
           struct wr_error *err)
{
	if (n > WR_JSON_MAX_ITEMS)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_TOO_MANY_ITEMS, field,
		                "%s has more than %d items", field,
		                WR_JSON_MAX_ITEMS);
	for (size_t i = 0; i < n; i++) {
		if (!text_ok(r[i].name, WR_JSON_MAX_STRING) ||
		    !text_ok(r[i].reference, WR_JSON_MAX_STRING)) {
			char path[WR_FIELD_MAX];
			snprintf(path, sizeof(path), "%s[%zu]", field, i);
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
			                path, "%s needs a non-empty name and "
			                "reference", path);
		}
	}
	return WR_OK;
}

static wr_err
check_create(const struct wr_create_request *req, struct wr_error *err)
{
	const struct wr_intent *in = &req->intent;
	wr_err rc;

	switch (in->kind) {
	case WR_INTENT_ASSISTANT:
		if (in->objective != NULL || in->role != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_UNKNOWN_FIELD,
			                in->objective ? "intent.objective"
			                              : "intent.role",
			                "an assistant intent has only purpose");
		break;
	case WR_INTENT_TASK:
		if (!text_ok(in->objective, WR_JSON_MAX_STRING))
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_MISSING_FIELD,
			                "intent.objective",
			                "a task intent needs an objective");
		if (in->purpose != NULL || in->role != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_UNKNOWN_FIELD,
			                in->purpose ? "intent.purpose"
			                            : "intent.role",
			                "a task intent has only an objective");
		break;
	case WR_INTENT_ROLE:
		if (!text_ok(in->role, WR_JSON_MAX_STRING))
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_MISSING_FIELD,
			                "intent.role", "a role intent needs a role");
		if (in->objective != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_UNKNOWN_FIELD,
			                "intent.objective",
			                "a role intent has no objective");
		break;
	default:
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "intent.kind", "unknown intent kind");
	}
	if (!opt_text_ok(in->purpose, WR_JSON_MAX_STRING))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "intent.purpose",
		                "purpose must be non-empty UTF-8");
	if (req->config_bundle_id != NULL &&
	    !text_ok(req->config_bundle_id, WR_JSON_MAX_STRING))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "config_bundle.id",
		                "config bundle id must be non-empty UTF-8");
	if (req->n_capabilities > WR_JSON_MAX_ITEMS)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_TOO_MANY_ITEMS,
		                "requested_capabilities",
		                "at most %d capabilities", WR_JSON_MAX_ITEMS);
	for (size_t i = 0; i < req->n_capabilities; i++) {
		if (!text_ok(req->capabilities[i].name, WR_JSON_MAX_STRING) ||
		    !opt_text_ok(req->capabilities[i].reason,
		                 WR_JSON_MAX_STRING)) {
			char path[WR_FIELD_MAX];
			snprintf(path, sizeof(path),
			         "requested_capabilities[%zu]", i);
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
			                path, "%s needs a non-empty name", path);
		}
	}
	if ((rc = check_refs(req->workspace_refs, req->n_workspace_refs,
	                     "workspace_refs", err)) != WR_OK)
		return rc;
	return check_refs(req->mount_refs, req->n_mount_refs, "mount_refs",
	                  err);
}

/* Picks an id not in use that carries the creation order (rt.h,
 * WR__ID_LEN); caller holds the write lock. */
static wr_err
new_worker_id(const struct wr_runtime *rt, uint64_t order,
              char id[WR_ID_MAX + 1], struct wr_error *err)
{
	for (int tries = 0; tries < 8; tries++) {
		int n = snprintf(id, WR_ID_MAX + 1, "w-%0*llx-",
		                 WR__ID_ORDER_HEX, (unsigned long long)order);
		if (wr__random_hex(id + n, 4) < 0)
			return wr__fail(err, WR_EINTERNAL, WR_REASON_NO_RANDOMNESS, NULL,
			                "getrandom: %s", strerror(errno));
		if (wr__find_worker(rt, id) == NULL)
			return WR_OK;
	}
	return wr__fail(err, WR_EINTERNAL, WR_REASON_ID_COLLISION, NULL,
	                "could not find a free worker id");
}

static struct wr_worker_info *
build_info(const struct wr_runtime *rt, const struct wr_create_request *req,
           const char *id, int64_t now)
{
	struct wr_worker_info *w = calloc(1, sizeof(*w));
	bool oom = false;

	if (w == NULL)
		return NULL;
	wr__strlcpy(w->ref.runtime_id, rt->id, sizeof(w->ref.runtime_id));
	wr__strlcpy(w->ref.worker_id, id, sizeof(w->ref.worker_id));
	w->status = WR_STATUS_RUNNING;
	w->run_state = WR_RUN_IDLE;
	w->created_at_ms = w->updated_at_ms = now;
	w->config_bundle_id = wr__strdup(req->config_bundle_id, &oom);
	if (oom || wr__intent_copy(&w->intent, &req->intent) < 0 ||
	    wr__profile_ref_copy(&w->profile, &req->profile) < 0 ||
	    wr__capabilities_copy(&w->capabilities, &w->n_capabilities,
	                          req->capabilities, req->n_capabilities) < 0 ||
	    wr__mount_refs_copy(&w->workspace_refs, &w->n_workspace_refs,
	                        req->workspace_refs, req->n_workspace_refs) < 0 ||
	    wr__mount_refs_copy(&w->mount_refs, &w->n_mount_refs,
	                        req->mount_refs, req->n_mount_refs) < 0) {
		wr_worker_info_free(w);
		return NULL;
	}
	return w;
}

/*
 * What a read needs of one worker, taken under the lock: the pinned worker
 * (its immutable parts stay put) and a shallow copy of its info with the
 * changing members as they were then.  The deep copy is made from it
 * after the lock is let go (snap_out), so a long page holds the lock for a
 * few stores per worker, not for its allocations.
 */
struct snap {
	struct worker *w;
	struct wr_worker_info info; /* shallow: strings are w's */
	char *reason;               /* w->status_reason copied, or NULL */
	bool oom;
};

/* Lock held.  Also copies the terminal event's reason (the detail shape
 * has it). */
static void
snap_take(struct worker *w, struct snap *s)
{
	wr__pin_worker(w);
	s->w = w;
	s->info = w->info;
	s->info.status_reason = NULL;
	s->reason = NULL;
	s->oom = w->status_reason != NULL &&
	         (s->reason = strdup(w->status_reason)) == NULL;
}

/* How a list takes each worker of its page under the read lock: take
 * pins w and fills item, one of size bytes. */
struct list_taker {
	size_t size;
	void (*take)(struct worker *w, void *item);
};

static void
take_snap(struct worker *w, void *item)
{
	snap_take(w, item);
}

/* Called by wr_worker_list and wr_worker_list_json between letting go of
 * the lock and copying or writing the page out; NULL but in tests (see
 * rt.h). */
void (*wr__list_copy_hook)(void);

/* The deep copy of s into *out (NULL: drop it); unpins.  No lock. */
static wr_err
snap_out(struct snap *s, struct wr_worker_info **out, struct wr_error *err)
{
	struct wr_worker_info *copy = NULL;
	wr_err rc = WR_OK;

	if (out != NULL) {
		copy = calloc(1, sizeof(*copy));
		if (s->oom || copy == NULL ||
		    wr__worker_info_copy(copy, &s->info) < 0) {
			free(copy);
			rc = wr__oom(err);
		} else {
			/* Kept beside the info (the terminal record's reason). */
			copy->status_reason = s->reason;
			s->reason = NULL;
			*out = copy;
		}
	}
	free(s->reason);
	wr__unpin_worker(s->w);
	return rc;
}

/* Room for one more worker: deleted workers whose process is still
 * ending keep their slot.  Else the refusal, with *judged the newest
 * creation not yet durable that it counted (see refusal_settle: if that
 * creation fails, so may the limit).  Write lock held. */
static wr_err
check_room(const struct wr_runtime *rt, uint64_t *judged,
           struct wr_error *err)
{
	if (wr__workers_held(rt) +
	        __atomic_load_n(&rt->n_buried, __ATOMIC_ACQUIRE) <
	    rt->limits.max_workers)
		return WR_OK;
	for (const struct pending *q = rt->queue; q != NULL; q = q->next)
		if (q->rec.kind == WR__REC_WORKER_CREATED)
			*judged = q->lsn;
	return wr__fail(err, WR_EUNSUPPORTED, WR_REASON_WORKER_LIMIT_REACHED,
	                NULL, "this runtime already holds max_workers (%u) "
	                "workers, counting deleted ones whose process is "
	                "still ending", rt->limits.max_workers);
}

/* What a creation is judged on, under the write lock: the Runtime
 * running, its profile (*driver, *arg), room (*judged: see check_room);
 * then its new id. */
static wr_err
create_judge(struct wr_runtime *rt, const struct wr_create_request *req,
             const struct wr_driver **driver, void **arg,
             char id[WR_ID_MAX + 1], uint64_t *judged, struct wr_error *err)
{
	wr_err rc;

	if ((rc = check_running(rt, err)) != WR_OK ||
	    (rc = wr__resolve_profile(rt, &req->profile, driver, arg, err)) !=
	            WR_OK ||
	    (rc = check_room(rt, judged, err)) != WR_OK)
		return rc;
	return new_worker_id(rt, wr__next_event(rt), id, err);
}

/* c NULL: blocks until the creation is durable; else registers c for it
 * (the same holds for input, lifecycle and delete_one below). */
static wr_err
create(struct wr_runtime *rt, const struct wr_create_request *req,
       struct wr_worker_info **out, struct wr__ikey *ik, struct wr_commit *c,
       struct wr_error *err)
{
	static const struct wr_create_request defaults;
	const struct wr_driver *driver = NULL;
	struct wr_worker_info *result = NULL;
	struct pending *p = NULL;
	struct worker *w = NULL;
	char id[WR_ID_MAX + 1];
	void *arg = NULL, *dstate = NULL;
	bool started = false, submitted = false, parked;
	uint64_t judged = 0; /* a refusal's record, see refusal_settle */
	size_t len = 0;
	wr_err rc;

	if (req == NULL)
		req = &defaults;
	if ((rc = check_create(req, err)) != WR_OK)
		return rc;

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = create_judge(rt, req, &driver, &arg, id, &judged, err)) !=
	    WR_OK)
		goto out;
	if ((p = wr__pending_new(WR__REC_WORKER_CREATED)) == NULL ||
	    (w = calloc(1, sizeof(*w))) == NULL ||
	    wr__reserve_worker_slot(rt) < 0) {
		rc = oom(err);
		goto out;
	}
	p->rec.at_ms = wr__rt_now(rt);
	p->rec.event_id = wr__next_event(rt); /* the order in the id */
	wr__strlcpy(p->rec.worker_id, id, sizeof(p->rec.worker_id));
	p->rec.worker = build_info(rt, req, id, p->rec.at_ms);
	if (p->rec.worker == NULL ||
	    wr__worker_info_copy(&w->info, p->rec.worker) < 0) {
		rc = oom(err);
		goto out;
	}
	w->info.last_event_id = p->rec.worker->last_event_id = p->rec.event_id;
	w->p_status = WR_STATUS_RUNNING;
	w->p_run_state = WR_RUN_IDLE;
	/* The caller's copy, made before anything is recorded: once the
	 * store took the creation, nothing may fail. */
	if (out != NULL && ((result = calloc(1, sizeof(*result))) == NULL ||
	                    wr__worker_info_copy(result, p->rec.worker) < 0)) {
		rc = oom(err);
		goto out;
	}
	if (ik != NULL && (rc = set_answer(ik, &p->rec, 201,
	                   wr_json_encode_worker_detail(p->rec.worker,
	                                                "worker", &len),
	                   err)) != WR_OK)
		goto out;
	if ((rc = driver->start(arg, rt, id, &dstate, err)) != WR_OK)
		goto out;
	started = true;
	w->driver = driver;
	w->dstate = dstate;
	wr__insert_worker(rt, w);
	if ((rc = wr__submit(rt, p, err)) != WR_OK) {
		/* The store refused it: take the worker back out. */
		wr__remove_worker(rt, w);
		goto out;
	}
	submitted = true;
	started = false; /* the worker owns its execution now */
	w = NULL;
	if (c != NULL) {
		(void)wr__commit_register(rt, c, p, 0);
		p = NULL; /* c's now */
		submitted = false;
	}
out:
	if (started)
		driver->stop(dstate, true); /* not recorded: end it now */
	parked = refusal_park(rt, c, judged, rc, err);
	pthread_rwlock_unlock(&rt->lock);
	if (parked)
		return WR_OK; /* judged before anything was made */
	if (started)
		driver->release(dstate);
	if (w != NULL) {
		/* Never inserted, or taken back out. */
		wr__free_worker(w);
	}
	if (submitted)
		rc = wr__await(rt, &p, 1, err);
	rc = refusal_settle(rt, judged, rc, err);
	wr__pending_free(p);
	if (rc == WR_OK && out != NULL)
		*out = result;
	else
		wr_worker_info_free(result);
	return rc;
}

wr_err
wr_worker_create(struct wr_runtime *rt, const struct wr_create_request *req,
                 struct wr_worker_info **out, struct wr_error *err)
{
	return create(rt, req, out, NULL, NULL, err);
}

/* ---- reads ---------------------------------------------------------- */

static bool
list_match(const struct worker *w, const struct wr_list_query *q)
{
	return w != NULL && w->applied &&
	       (!q->has_status || w->info.status == q->status);
}

/* Checks q and finds where its page starts in rt->workers.  Lock held. */
static wr_err
list_start(const struct wr_runtime *rt, const struct wr_list_query *q,
           size_t *start, struct wr_error *err)
{
	const struct worker *w;
	uint64_t order;

	*start = rt->first_live;
	if (q->after == NULL || q->after[0] == '\0')
		return WR_OK;
	if ((w = wr__find_worker(rt, q->after)) != NULL) {
		*start = wr__index_of(rt, w) + 1;
		return WR_OK;
	}
	/* Gone (deleted, or never created): its id says where it was. */
	if (!wr_id_valid(q->after) || (order = wr__id_order(q->after)) == 0)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "after", "after names no worker of this runtime "
		                "and carries no creation order");
	*start = wr__order_upper(rt, order);
	return WR_OK;
}

/* Where a page's walk over rt->workers stands.  mark is the last worker
 * it looked at that reads may see; looked counts the workers (not holes)
 * looked at, bounded by WR_LIST_SCAN_MAX once mark is set. */
struct list_walk {
	size_t i, looked;
	const struct worker *mark;
};

/* Looks at slot walk->i; true if its worker matches q.  Lock held. */
static bool
list_look(const struct wr_runtime *rt, const struct wr_list_query *q,
          struct list_walk *walk)
{
	const struct worker *w = rt->workers[walk->i];

	if (w == NULL)
		return false;
	walk->looked++;
	if (w->applied)
		walk->mark = w;
	return list_match(w, q);
}

static bool
list_budget_left(const struct list_walk *walk)
{
	return walk->looked < WR_LIST_SCAN_MAX || walk->mark == NULL;
}

/* The page's workers into items (taken by tk, pinned), and where the
 * next one starts: after the last one, if another worker matches after
 * it (past the limit, or past WR_LIST_PAGE_MAX_BYTES of summaries); after
 * the last worker looked at, if the walk looked at WR_LIST_SCAN_MAX first
 * (a page with a status filter that few workers match), so that one page
 * never holds the read lock for a walk over every worker. */
static wr_err
list_snap(struct wr_runtime *rt, const struct wr_list_query *q,
          uint32_t limit, const struct list_taker *tk, char *items,
          size_t *count, struct wr_worker_list *l, struct wr_error *err)
{
	struct list_walk walk = {0};
	const struct worker *last = NULL;
	struct worker *w;
	const char *next = NULL;
	size_t n = 0, bytes = 0;
	wr_err rc;

	pthread_rwlock_rdlock(&rt->lock);
	rc = list_start(rt, q, &walk.i, err);
	for (; rc == WR_OK && walk.i < rt->n_workers && n < limit &&
	       list_budget_left(&walk);
	     walk.i++) {
		if (!list_look(rt, q, &walk))
			continue;
		w = rt->workers[walk.i];
		if (n > 0 && bytes + w->summary_max > WR_LIST_PAGE_MAX_BYTES) {
			next = last->info.ref.worker_id; /* w is the next's */
			break;
		}
		bytes += w->summary_max;
		last = w;
		tk->take(w, items + n++ * tk->size);
	}
	/* More only if another worker matches after the last one. */
	while (rc == WR_OK && n == limit && walk.i < rt->n_workers &&
	       list_budget_left(&walk) && next == NULL)
		if (list_look(rt, q, &walk))
			next = last->info.ref.worker_id;
		else
			walk.i++;
	/* Else if the walk stopped short of the end, its budget ran out. */
	if (rc == WR_OK && next == NULL && walk.i < rt->n_workers)
		next = walk.mark->info.ref.worker_id;
	if (next != NULL) {
		l->has_next = true;
		wr__strlcpy(l->next_after, next, sizeof(l->next_after));
	}
	pthread_rwlock_unlock(&rt->lock);
	*count = n;
	return rc;
}

/* The checks of a list query; its page size in *limit. */
static wr_err
list_check(const struct wr_list_query *q, uint32_t *limit,
           struct wr_error *err)
{
	*limit = q->limit ? q->limit : WR_LIST_LIMIT_DEFAULT;
	if (*limit > WR_LIST_LIMIT_MAX)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_LIMIT_TOO_LARGE,
		                "limit", "limit must be at most %u",
		                WR_LIST_LIMIT_MAX);
	if (q->has_status && wr_worker_status_name(q->status) == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "status", "unknown worker status");
	return WR_OK;
}

/* Takes a page of query (NULL: the first page of every worker): checks
 * it, allocates its items (*items, tk->size bytes each, freed by the
 * caller, who unpins each of the *count, also after an error) and takes
 * them with tk under the read lock; l gets has_next and next_after.
 * Lock NOT held. */
static wr_err
list_take(struct wr_runtime *rt, const struct wr_list_query *query,
          const struct list_taker *tk, void **items, size_t *count,
          struct wr_worker_list *l, struct wr_error *err)
{
	static const struct wr_list_query first;
	const struct wr_list_query *q = query != NULL ? query : &first;
	uint32_t limit;
	wr_err rc;

	*items = NULL;
	*count = 0;
	if ((rc = list_check(q, &limit, err)) != WR_OK)
		return rc;
	/* Not zeroed: take fills each item it hands out (a page of 1,000
	 * snaps is 300 KB, which calloc would clear for nothing). */
	if ((*items = malloc((size_t)limit * tk->size)) == NULL)
		return wr__oom(err);
	rc = list_snap(rt, q, limit, tk, *items, count, l, err);
	if (wr__list_copy_hook != NULL)
		wr__list_copy_hook();
	return rc;
}

wr_err
wr_worker_list(struct wr_runtime *rt, const struct wr_list_query *query,
               struct wr_worker_list *out, struct wr_error *err)
{
	static const struct list_taker tk = {sizeof(struct snap), take_snap};
	struct wr_worker_list l = {0};
	struct snap *snaps;
	void *items;
	size_t n = 0;
	wr_err rc;

	rc = list_take(rt, query, &tk, &items, &n, &l, err);
	snaps = items;
	if (rc == WR_OK && n > 0 &&
	    (l.items = calloc(n, sizeof(*l.items))) == NULL)
		rc = wr__oom(err);
	/* Every snap is let go, also after a failure. */
	for (size_t k = 0; k < n; k++) {
		wr_err one = snap_out(&snaps[k],
		                      rc == WR_OK ? &l.items[l.count] : NULL, err);
		if (rc == WR_OK && one == WR_OK)
			l.count++;
		else if (rc == WR_OK)
			rc = one;
	}
	free(snaps);
	if (rc != WR_OK) {
		wr_worker_list_free(&l);
		return rc;
	}
	*out = l;
	return WR_OK;
}

/* ---- a page as JSON, from the summaries workers keep ------------------ */

static struct summary_key
summary_key_of(const struct wr_worker_info *i)
{
	return (struct summary_key){i->status, i->run_state, i->transcript_len,
	                            i->last_event_id, i->updated_at_ms};
}

static bool
summary_key_eq(const struct summary_key *a, const struct summary_key *b)
{
	return a->status == b->status && a->run_state == b->run_state &&
	       a->transcript_len == b->transcript_len &&
	       a->last_event_id == b->last_event_id &&
	       a->updated_at_ms == b->updated_at_ms;
}

/* What a page of summaries needs of one worker, taken under the read
 * lock: the pinned worker (what it never changes after its creation stays
 * put) and the rest of its summary as it was then: 40 bytes, an eighth
 * of a snap (a page takes 1,000 of them). */
struct page_snap {
	struct worker *w;
	struct summary_key key;
};

static void
take_page_snap(struct worker *w, void *item)
{
	struct page_snap *ps = item;

	wr__pin_worker(w);
	ps->w = w;
	ps->key = summary_key_of(&w->info);
}

/* The WorkerSummary members of ps's worker (no lock: ps pins it): what
 * the worker never changes after its creation, and the rest as in
 * ps->key.  Shallow: the strings are the worker's. */
static struct wr_worker_info
page_snap_info(const struct page_snap *ps)
{
	const struct wr_worker_info *i = &ps->w->info;

	return (struct wr_worker_info){
		.ref = i->ref,
		.status = ps->key.status,
		.run_state = ps->key.run_state,
		.intent = i->intent,
		.profile = i->profile,
		.config_bundle_id = i->config_bundle_id,
		.n_capabilities = i->n_capabilities,
		.transcript_len = ps->key.transcript_len,
		.last_event_id = ps->key.last_event_id,
		.created_at_ms = i->created_at_ms,
		.updated_at_ms = ps->key.updated_at_ms,
	};
}

struct page_job {
	struct wr_runtime *rt;
	struct page_snap *snaps;
	size_t encoded;        /* summaries written afresh, not reused */
	pthread_mutex_t *held; /* the summary lock held, or NULL */
};

/* The lock of w's kept summary: WR__SUMMARY_RUN workers created one
 * after another share one, so a page takes each lock once per run of
 * them rather than once per worker. */
static pthread_mutex_t *
summary_mu_of(struct wr_runtime *rt, const struct worker *w)
{
	return &rt->summary_mu[(w->order / WR__SUMMARY_RUN) %
	                       WR__SUMMARY_LOCKS];
}

/*
 * Page item i: the summary its worker kept, when kept for the state the
 * snap holds; else written from the snap and kept (unless the worker
 * kept a newer one meanwhile, it is longer than WR__SUMMARY_KEEP_MAX, or
 * memory runs out: then the next list writes it again).  Under the
 * worker's summary lock, which it takes unless job->held is that lock
 * already (letting go of the one held) and leaves held for the next
 * item: wr_worker_list_json lets go of the last one.
 */
static void
page_item(struct wr__text *t, size_t i, void *arg)
{
	struct page_job *job = arg;
	const struct page_snap *ps = &job->snaps[i];
	struct worker *w = ps->w;
	pthread_mutex_t *mu = summary_mu_of(job->rt, w);
	size_t start = t->len;
	char *kept;

	if (job->held != mu) {
		if (job->held != NULL)
			pthread_mutex_unlock(job->held);
		pthread_mutex_lock(mu);
		job->held = mu;
	}
	if (w->summary != NULL && summary_key_eq(&w->summary_key, &ps->key)) {
		wr__text_put(t, w->summary, w->summary_len);
	} else {
		struct wr_worker_info info = page_snap_info(ps);

		job->encoded++;
		wr__text_worker_summary(t, &info);
		if (!t->failed && t->len - start <= WR__SUMMARY_KEEP_MAX &&
		    (w->summary == NULL ||
		     w->summary_key.last_event_id <= ps->key.last_event_id) &&
		    (kept = malloc(t->len - start)) != NULL) {
			memcpy(kept, t->p + start, t->len - start);
			free(w->summary);
			w->summary = kept;
			w->summary_len = t->len - start;
			w->summary_key = ps->key;
		}
	}
}

/* Counts the summaries wr_worker_list_json wrote afresh (tests). */
size_t wr__list_summaries_encoded;

wr_err
wr_worker_list_json(struct wr_runtime *rt, const struct wr_list_query *query,
                    char **json, size_t *len, struct wr_error *err)
{
	static const struct list_taker tk = {sizeof(struct page_snap),
	                                     take_page_snap};
	struct wr_worker_list l = {0}; /* has_next and next_after only */
	struct page_job job = {rt, NULL, 0, NULL};
	size_t n = 0;
	char *text = NULL;
	void *items;
	wr_err rc;

	rc = list_take(rt, query, &tk, &items, &n, &l, err);
	job.snaps = items;
	if (rc == WR_OK)
		text = wr__text_worker_page(n, l.has_next, l.next_after,
		                            page_item, &job, len);
	if (job.held != NULL)
		pthread_mutex_unlock(job.held);
	__atomic_add_fetch(&wr__list_summaries_encoded, job.encoded,
	                   __ATOMIC_RELAXED);
	for (size_t k = 0; k < n; k++)
		wr__unpin_worker(job.snaps[k].w);
	free(job.snaps);
	if (rc == WR_OK && text == NULL)
		rc = wr__oom(err);
	if (rc == WR_OK)
		*json = text;
	return rc;
}

static wr_err
unknown_worker(const char *id, struct wr_error *err)
{
	wr__fail(err, WR_EUNKNOWN_WORKER, WR_REASON_NONE, NULL,
	         "no worker \"%.64s\" in this runtime", id ? id : "");
	return wr__fail_worker(err, WR_EUNKNOWN_WORKER, id);
}

/* A worker a mutation may act on: visible and not being deleted. */
static struct worker *
find_live(const struct wr_runtime *rt, const char *id)
{
	struct worker *w = wr__find_visible(rt, id);

	return w != NULL && !w->p_deleted ? w : NULL;
}

/* The newest record of worker id whose delete is on its way (find_live
 * refused it), else 0.  Write lock held. */
static uint64_t
deleting_lsn(const struct wr_runtime *rt, const char *id)
{
	const struct worker *w = wr__find_visible(rt, id);

	return w != NULL && w->p_deleted ? w->p_last_lsn : 0;
}

/*
 * A refusal judged on the projected view stands only once what it was
 * judged on is durable: waits (lock not held) for lsn, the refused
 * worker's newest record (0: nothing to wait for).  If that fdatasync
 * fails, the change the refusal rests on never happened: the answer is
 * then the sync's error (503 store_sync_failed, safe to retry), never a
 * 404 or 409 about a state the worker is not in.  Returns rc otherwise.
 */
static wr_err
refusal_settle(struct wr_runtime *rt, uint64_t lsn, wr_err rc,
               struct wr_error *err)
{
	struct wr_error serr;
	wr_err synced;

	if (rc == WR_OK || lsn == 0)
		return rc;
	wr_error_clear(&serr);
	synced = wr__await_lsn(rt, lsn, &serr);
	if (synced == WR_OK)
		return rc;
	if (err != NULL)
		*err = serr;
	return synced;
}

/*
 * The same without a thread (c, wr_mutation_start): the refusal waits
 * for that change as a mutation waits for its record, with no thread
 * held - c is registered on lsn and completes with the refusal once it
 * is durable, or with the sync's error - so a disk that hangs holds no
 * serving thread for it.  True when c took the refusal (the caller
 * answers WR_OK: c is started).  Write lock held.
 */
static bool
refusal_park(struct wr_runtime *rt, struct wr_commit *c, uint64_t lsn,
             wr_err rc, const struct wr_error *err)
{
	if (c == NULL || rc == WR_OK || lsn == 0)
		return false;
	(void)wr__commit_refusal(rt, c, lsn, rc, err);
	return true;
}

wr_err
wr_worker_get(struct wr_runtime *rt, const char *worker_id,
              struct wr_worker_info **out, struct wr_error *err)
{
	struct worker *w;
	struct snap s;

	pthread_rwlock_rdlock(&rt->lock);
	w = wr__find_visible(rt, worker_id);
	if (w != NULL && out != NULL)
		snap_take(w, &s);
	pthread_rwlock_unlock(&rt->lock);
	if (w == NULL)
		return unknown_worker(worker_id, err);
	return out != NULL ? snap_out(&s, out, err) : WR_OK;
}

/* Upper bound of the JSON text of one entry holding content: escapes
 * included, plus the members around it. */
static size_t
json_size(const char *content)
{
	size_t n = 256; /* sequence, worker_ref, role, event_id, created_at */

	for (const unsigned char *c = (const unsigned char *)content; *c; c++) {
		if (*c < 0x20)
			n += 6; /* \u00XX */
		else if (*c == '"' || *c == '\\' || *c == '/')
			n += 2;
		else
			n++;
	}
	return n;
}

wr_err
wr_worker_transcript(struct wr_runtime *rt, const char *worker_id,
                     uint64_t start, uint32_t limit,
                     struct wr_transcript_page *out, struct wr_error *err)
{
	struct wr_transcript_page p;
	struct worker *w;
	uint32_t max = rt->limits.max_transcript_projection_items;
	wr_err rc = WR_OK;

	if (limit == WR_TRANSCRIPT_LIMIT_DEFAULT)
		limit = max < TRANSCRIPT_DEFAULT_LIMIT ? max
		                                       : TRANSCRIPT_DEFAULT_LIMIT;
	if (limit > max)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_LIMIT_TOO_LARGE,
		                "limit", "limit must be at most %u", max);
	memset(&p, 0, sizeof(p));
	pthread_rwlock_rdlock(&rt->lock);
	w = wr__find_visible(rt, worker_id);
	if (w == NULL) {
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	p.ref = w->info.ref;
	p.start = start;
	p.limit = limit;
	p.total_items = w->info.transcript_len;
	p.status = w->info.status;
	p.run_state = w->info.run_state;
	p.last_event_id = w->info.last_event_id;
	if (start < p.total_items) {
		uint64_t n = p.total_items - start;
		if (n > limit)
			n = limit;
		if (n > 0) {
			p.items = calloc((size_t)n, sizeof(*p.items));
			if (p.items == NULL) {
				rc = wr__oom(err);
				goto out;
			}
		}
		for (size_t i = 0, bytes = 0; i < n; i++) {
			struct wr_transcript_entry *it = &p.items[i];

			/* With the fs store the content comes from disk. */
			rc = wr__entry_read(rt, w, worker_id, NULL, start + i + 1,
			                    &it->role, &it->content,
			                    &it->event_id, &it->created_at_ms,
			                    err);
			if (rc != WR_OK)
				goto out;
			it->sequence = start + i + 1;
			p.count++;
			bytes += json_size(it->content);
			if (i > 0 && bytes > WR_TRANSCRIPT_PAGE_MAX_BYTES) {
				/* the rest is for the next page */
				free(it->content);
				it->content = NULL;
				p.count--;
				n = i;
				break;
			}
		}
		if (start + n < p.total_items) {
			p.has_next = true;
			p.next_start = start + n;
		}
	}
out:
	pthread_rwlock_unlock(&rt->lock);
	if (rc != WR_OK) {
		wr_transcript_page_clear(&p);
		return rc;
	}
	*out = p;
	return WR_OK;
}

/* ---- input ---------------------------------------------------------- */

static wr_err
not_running(const struct worker *w, struct wr_error *err)
{
	wr__fail(err, WR_EUNSUPPORTED, WR_REASON_WORKER_NOT_RUNNING, NULL,
	         "worker \"%s\" is %s", w->info.ref.worker_id,
	         wr_worker_status_name(w->p_status));
	return wr__fail_worker(err, WR_EUNSUPPORTED, w->info.ref.worker_id);
}

/* The worker id an input may go to, under the write lock: running, not
 * busy with a turn, content within bounds; else the refusal, with
 * *judged the record it rests on (see refusal_settle). */
static wr_err
input_target(struct wr_runtime *rt, const char *worker_id,
             const struct wr_input *in, struct worker **out,
             uint64_t *judged, struct wr_error *err)
{
	struct worker *w;
	wr_err rc;

	if ((rc = check_running(rt, err)) != WR_OK)
		return rc;
	if ((w = find_live(rt, worker_id)) == NULL) {
		*judged = deleting_lsn(rt, worker_id);
		return unknown_worker(worker_id, err);
	}
	if ((rc = wr__content_check(in->content, rt->limits.max_input_bytes,
	                            "content", err)) != WR_OK)
		return rc;
	if (w->p_status != WR_STATUS_RUNNING) {
		*judged = w->p_last_lsn;
		return not_running(w, err);
	}
	if (w->p_run_state == WR_RUN_BUSY) {
		*judged = w->p_last_lsn;
		rc = wr__fail(err, WR_EBUSY, WR_REASON_TURN_IN_PROGRESS, NULL,
		              "worker \"%s\" is busy with a turn",
		              w->info.ref.worker_id);
		return wr__fail_worker(err, rc, w->info.ref.worker_id);
	}
	*out = w;
	return WR_OK;
}

static wr_err
input(struct wr_runtime *rt, const char *worker_id, const struct wr_input *in,
      struct wr_input_ack *out, struct wr__ikey *ik, struct wr_commit *c,
      struct wr_error *err)
{
	struct pending *p = NULL;
	struct wr_input_ack ack;
	struct worker *w = NULL;
	bool submitted = false, parked;
	uint64_t judged = 0; /* a refusal's record, see refusal_settle */
	size_t len = 0;
	wr_err rc;

	if (in == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_MISSING_FIELD, "content",
		                "input is required");
	if (in->kind != WR_INPUT_USER && in->kind != WR_INPUT_SYSTEM)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, "kind",
		                "kind must be user or system");

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = input_target(rt, worker_id, in, &w, &judged, err)) != WR_OK)
		goto out;
	if ((p = wr__pending_new(WR__REC_TRANSCRIPT)) == NULL ||
	    (p->rec.content = strdup(in->content)) == NULL) {
		rc = oom(err);
		goto out;
	}
	p->rec.at_ms = wr__rt_now(rt);
	p->rec.event_id = wr__next_event(rt);
	p->rec.role = in->kind == WR_INPUT_USER ? WR_ROLE_USER : WR_ROLE_SYSTEM;
	p->rec.sequence = w->p_len + 1;
	wr__strlcpy(p->rec.worker_id, w->info.ref.worker_id,
	            sizeof(p->rec.worker_id));
	/* The driver sees the input before the store makes it durable
	 * (it says whether a turn starts, which the record holds).  So all
	 * that can fail without the store is done first: the room for the
	 * entry is reserved now, and should the store then fail, a
	 * diagnostic says the driver had it. */
	if ((rc = wr__reserve(rt, &p->rec, err)) != WR_OK)
		goto out;
	if (w->driver != NULL &&
	    (rc = w->driver->input(w->dstate, in->kind, in->content,
	                           p->rec.sequence, &p->rec.turn_started,
	                           err)) != WR_OK) {
		if (rc == WR_EBUSY)
			wr__fail_worker(err, rc, w->info.ref.worker_id);
		goto out;
	}
	/* The answer as it is once the entry is recorded. */
	ack.ref = w->info.ref;
	ack.status = w->p_status;
	ack.run_state = p->rec.turn_started ? WR_RUN_BUSY : w->p_run_state;
	ack.transcript_sequence = p->rec.sequence;
	ack.event_id = p->rec.event_id;
	if (ik != NULL && (rc = set_answer(ik, &p->rec, 200,
	                   wr_json_encode_input_ack(&ack, "ack", &len),
	                   err)) != WR_OK)
		goto out;
	if ((rc = wr__submit(rt, p, err)) != WR_OK)
		goto out;
	submitted = true;
	if (c != NULL) {
		c->diag_seq = p->rec.turn_started ? p->rec.sequence : 0;
		wr__strlcpy(c->worker_id, p->rec.worker_id,
		            sizeof(c->worker_id));
		(void)wr__commit_register(rt, c, p, 0);
		p = NULL; /* c's now */
		submitted = false;
	}
out:
	parked = refusal_park(rt, c, judged, rc, err);
	pthread_rwlock_unlock(&rt->lock);
	if (parked)
		return WR_OK;
	if (submitted)
		rc = wr__await(rt, &p, 1, err);
	rc = refusal_settle(rt, judged, rc, err);
	if (rc != WR_OK && p != NULL && p->rec.turn_started)
		wr_runtime_diagnose(rt, worker_id, "input %llu reached the "
		                    "driver but was not persisted",
		                    (unsigned long long)p->rec.sequence);
	wr__pending_free(p);
	if (rc == WR_OK && out != NULL)
		*out = ack;
	return rc;
}

wr_err
wr_worker_input(struct wr_runtime *rt, const char *worker_id,
                const struct wr_input *in, struct wr_input_ack *out,
                struct wr_error *err)
{
	return input(rt, worker_id, in, out, NULL, NULL, err);
}

/* ---- stop / cancel / fail ------------------------------------------- */

wr_err
wr__end_worker(struct wr_runtime *rt, struct worker *w,
               enum wr_worker_status status, const char *reason,
               const struct wr__ikey *ik, struct pending **out,
               struct wr_error *err)
{
	struct pending *p = wr__pending_new(WR__REC_WORKER_STATUS);
	wr_err rc;

	if (p == NULL || (ik != NULL && wr__idem_attach(&p->rec, ik) < 0) ||
	    (reason != NULL && (p->rec.reason = strdup(reason)) == NULL) ||
	    (status == WR_STATUS_FAILED &&
	     (p->rec.content = strdup(reason)) == NULL)) {
		wr__pending_free(p);
		return oom(err);
	}
	p->rec.at_ms = wr__rt_now(rt);
	p->rec.event_id = wr__next_event(rt);
	p->rec.status = status;
	wr__strlcpy(p->rec.worker_id, w->info.ref.worker_id,
	            sizeof(p->rec.worker_id));
	if ((rc = wr__submit(rt, p, err)) != WR_OK) {
		wr__pending_free(p);
		return rc;
	}
	*out = p;
	return WR_OK;
}

/* A keyed stop or cancel that changes nothing (the worker has ended or
 * is ending): a record of its key alone, submitted.  Write lock held. */
static wr_err
submit_key_alone(struct wr_runtime *rt, const struct worker *w,
                 const struct wr__ikey *ik, struct pending **out,
                 struct wr_error *err)
{
	struct pending *p = wr__pending_new(WR__REC_IDEMPOTENCY);
	wr_err rc;

	if (p == NULL || wr__idem_attach(&p->rec, ik) < 0) {
		wr__pending_free(p);
		return oom(err);
	}
	p->rec.at_ms = wr__rt_now(rt);
	wr__strlcpy(p->rec.worker_id, w->info.ref.worker_id,
	            sizeof(p->rec.worker_id));
	if ((rc = wr__submit(rt, p, err)) != WR_OK) {
		wr__pending_free(p);
		return rc;
	}
	*out = p;
	return WR_OK;
}

static wr_err
lifecycle(struct wr_runtime *rt, const char *worker_id, const char *reason,
          enum wr_worker_status status, struct wr_lifecycle_ack *out,
          struct wr__ikey *ik, struct wr_commit *c, struct wr_error *err)
{
	struct wr_lifecycle_ack ack;
	struct pending *p = NULL;
	struct worker *w;
	bool ends = false, parked;
	uint64_t lsn = 0, judged = 0;
	size_t len = 0;
	wr_err rc = WR_OK;

	if ((rc = wr__reason_check(reason, err)) != WR_OK)
		return rc;
	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK)
		goto out;
	if ((w = find_live(rt, worker_id)) == NULL) {
		judged = deleting_lsn(rt, worker_id);
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	/* The first terminal state wins; repeats report it unchanged, once
	 * it is durable. */
	ends = w->p_status == WR_STATUS_RUNNING;
	ack.ref = w->info.ref;
	ack.status = ends ? status : w->p_status;
	ack.event_id = ends ? wr__next_event(rt) : w->p_last_event;
	ack.deleted = false;
	if (ik != NULL && (rc = set_answer(ik, NULL, 200,
	                   wr_json_encode_lifecycle_ack(&ack, "ack", &len),
	                   err)) != WR_OK)
		goto out;
	if (ends)
		rc = wr__end_worker(rt, w, status, reason, ik, &p, err);
	else if (ik != NULL)
		rc = submit_key_alone(rt, w, ik, &p, err);
	else
		lsn = w->p_last_lsn;
	if (c != NULL && rc == WR_OK) {
		(void)wr__commit_register(rt, c, p, lsn);
		p = NULL; /* c's now */
		lsn = 0;
	}
out:
	parked = refusal_park(rt, c, judged, rc, err);
	pthread_rwlock_unlock(&rt->lock);
	if (parked)
		return WR_OK;
	if (p != NULL)
		rc = wr__await(rt, &p, 1, err);
	else if (rc == WR_OK)
		rc = wr__await_lsn(rt, lsn, err);
	rc = refusal_settle(rt, judged, rc, err);
	wr__pending_free(p);
	if (rc == WR_OK && out != NULL)
		*out = ack;
	return rc;
}

wr_err
wr_worker_stop(struct wr_runtime *rt, const char *worker_id,
               const char *reason, struct wr_lifecycle_ack *out,
               struct wr_error *err)
{
	return lifecycle(rt, worker_id, reason, WR_STATUS_STOPPED, out, NULL,
	                 NULL, err);
}

wr_err
wr_worker_cancel(struct wr_runtime *rt, const char *worker_id,
                 const char *reason, struct wr_lifecycle_ack *out,
                 struct wr_error *err)
{
	return lifecycle(rt, worker_id, reason, WR_STATUS_CANCELLED, out, NULL,
	                 NULL, err);
}

/* ---- delete ----------------------------------------------------------- */

wr_err
wr__delete_worker(struct wr_runtime *rt, struct worker *w,
                  const struct wr__ikey *ik, struct pending **out,
                  struct wr_error *err)
{
	struct pending *p = wr__pending_new(WR__REC_WORKER_DELETED);
	wr_err rc;

	if (p == NULL || (ik != NULL && wr__idem_attach(&p->rec, ik) < 0)) {
		wr__pending_free(p);
		return oom(err);
	}
	p->rec.at_ms = wr__rt_now(rt);
	p->rec.event_id = wr__next_event(rt);
	wr__strlcpy(p->rec.worker_id, w->info.ref.worker_id,
	            sizeof(p->rec.worker_id));
	if ((rc = wr__submit(rt, p, err)) != WR_OK) {
		wr__pending_free(p);
		return rc;
	}
	*out = p;
	return WR_OK;
}

static wr_err
delete_one(struct wr_runtime *rt, const char *worker_id,
           struct wr_lifecycle_ack *out, struct wr__ikey *ik,
           struct wr_commit *c, struct wr_error *err)
{
	struct wr_lifecycle_ack ack;
	struct pending *p = NULL;
	struct worker *w;
	uint64_t judged = 0; /* a refusal's record, see refusal_settle */
	size_t len = 0;
	bool parked;
	wr_err rc;

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK)
		goto out;
	if ((w = find_live(rt, worker_id)) == NULL) {
		judged = deleting_lsn(rt, worker_id);
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	if (w->p_status == WR_STATUS_RUNNING) {
		judged = w->p_last_lsn;
		wr__fail(err, WR_EUNSUPPORTED, WR_REASON_WORKER_RUNNING, NULL,
		         "worker \"%s\" is running; stop or cancel it before "
		         "deleting it", w->info.ref.worker_id);
		rc = wr__fail_worker(err, WR_EUNSUPPORTED,
		                     w->info.ref.worker_id);
		goto out;
	}
	/* The answer is built first: the worker may be gone once the
	 * store took its delete. */
	ack.ref = w->info.ref;
	ack.status = w->p_status;
	ack.event_id = wr__next_event(rt);
	ack.deleted = true;
	if (ik != NULL && (rc = set_answer(ik, NULL, 200,
	                   wr_json_encode_lifecycle_ack(&ack, "ack", &len),
	                   err)) != WR_OK)
		goto out;
	rc = wr__delete_worker(rt, w, ik, &p, err);
	if (c != NULL && rc == WR_OK) {
		(void)wr__commit_register(rt, c, p, 0);
		p = NULL; /* c's now */
	}
out:
	parked = refusal_park(rt, c, judged, rc, err);
	pthread_rwlock_unlock(&rt->lock);
	if (parked)
		return WR_OK;
	if (p != NULL)
		rc = wr__await(rt, &p, 1, err);
	rc = refusal_settle(rt, judged, rc, err);
	wr__pending_free(p);
	if (rc == WR_OK && out != NULL)
		*out = ack;
	return rc;
}

wr_err
wr_worker_delete(struct wr_runtime *rt, const char *worker_id,
                 struct wr_lifecycle_ack *out, struct wr_error *err)
{
	return delete_one(rt, worker_id, out, NULL, NULL, err);
}

/* ---- keyed mutations ------------------------------------------------- */

/* Checks k, digests it and puts its key in flight.  True when the call
 * is answered already: *rc an error, or WR_OK with out the stored answer
 * (replayed). */
static bool
keyed_begin(struct wr_runtime *rt, const struct wr_idempotency *k,
            struct wr__ikey *ik, struct wr_idempotent_result *out,
            wr_err *rc, struct wr_error *err)
{
	bool replayed = false;

	memset(ik, 0, sizeof(*ik));
	memset(out, 0, sizeof(*out));
	if ((*rc = wr_idempotency_key_check(k != NULL ? k->key : NULL,
	                                    err)) != WR_OK)
		return true;
	wr__idem_digest(ik, k);
	pthread_rwlock_wrlock(&rt->lock);
	*rc = wr__idem_begin(rt, ik, out, &replayed, err);
	pthread_rwlock_unlock(&rt->lock);
	return *rc != WR_OK || replayed;
}

/* The answer of a keyed mutation that ran: on success the one it
 * stored; on failure its key is forgotten (it stored nothing). */
static wr_err
keyed_end(struct wr_runtime *rt, struct wr__ikey *ik, wr_err rc,
          const char *worker_id, struct wr_idempotent_result *out)
{
	if (rc != WR_OK) {
		pthread_rwlock_wrlock(&rt->lock);
		wr__idem_abort(rt, ik->key);
		pthread_rwlock_unlock(&rt->lock);
		free(ik->body);
		return rc;
	}
	out->status = ik->status;
	out->body = ik->body;
	out->body_len = ik->body_len;
	wr__strlcpy(out->worker_id, worker_id, sizeof(out->worker_id));
	out->replayed = false;
	return WR_OK;
}

wr_err
wr_worker_create_keyed(struct wr_runtime *rt,
                       const struct wr_create_request *req,
                       const struct wr_idempotency *k,
                       struct wr_idempotent_result *out,
                       struct wr_error *err)
{
	struct wr_worker_info *info = NULL;
	struct wr__ikey ik;
	wr_err rc;

	if (keyed_begin(rt, k, &ik, out, &rc, err))
		return rc;
	rc = create(rt, req, &info, &ik, NULL, err);
	rc = keyed_end(rt, &ik, rc, info != NULL ? info->ref.worker_id : "",
	               out);
	wr_worker_info_free(info);
	return rc;
}

wr_err
wr_worker_input_keyed(struct wr_runtime *rt, const char *worker_id,
                      const struct wr_input *in,
                      const struct wr_idempotency *k,
                      struct wr_idempotent_result *out, struct wr_error *err)
{
	struct wr__ikey ik;
	wr_err rc;

	if (keyed_begin(rt, k, &ik, out, &rc, err))
		return rc;
	rc = input(rt, worker_id, in, NULL, &ik, NULL, err);
	return keyed_end(rt, &ik, rc, worker_id, out);
}

static wr_err
lifecycle_keyed(struct wr_runtime *rt, const char *worker_id,
                const char *reason, enum wr_worker_status status,
                bool del, const struct wr_idempotency *k,
                struct wr_idempotent_result *out, struct wr_error *err)
{
	struct wr__ikey ik;
	wr_err rc;

	if (keyed_begin(rt, k, &ik, out, &rc, err))
		return rc;
	if (del)
		rc = delete_one(rt, worker_id, NULL, &ik, NULL, err);
	else
		rc = lifecycle(rt, worker_id, reason, status, NULL, &ik, NULL,
		               err);
	return keyed_end(rt, &ik, rc, worker_id, out);
}

wr_err
wr_worker_stop_keyed(struct wr_runtime *rt, const char *worker_id,
                     const char *reason, const struct wr_idempotency *k,
                     struct wr_idempotent_result *out, struct wr_error *err)
{
	return lifecycle_keyed(rt, worker_id, reason, WR_STATUS_STOPPED, false,
	                       k, out, err);
}

wr_err
wr_worker_cancel_keyed(struct wr_runtime *rt, const char *worker_id,
                       const char *reason, const struct wr_idempotency *k,
                       struct wr_idempotent_result *out,
                       struct wr_error *err)
{
	return lifecycle_keyed(rt, worker_id, reason, WR_STATUS_CANCELLED,
	                       false, k, out, err);
}

wr_err
wr_worker_delete_keyed(struct wr_runtime *rt, const char *worker_id,
                       const struct wr_idempotency *k,
                       struct wr_idempotent_result *out,
                       struct wr_error *err)
{
	return lifecycle_keyed(rt, worker_id, NULL, WR_STATUS_STOPPED, true, k,
	                       out, err);
}

/* ---- mutations awaited without a thread ------------------------------ */

/* The mutation, registering c for its record (ik: its key, or NULL). */
static wr_err
start_op(struct wr_runtime *rt, const struct wr_mutation *m,
         struct wr__ikey *ik, struct wr_commit *c, struct wr_error *err)
{
	switch (m->op) {
	case WR_MUTATE_CREATE:
		return create(rt, m->create, &c->info, ik, c, err);
	case WR_MUTATE_INPUT:
		return input(rt, m->worker_id, m->input, &c->input_ack, ik, c,
		             err);
	case WR_MUTATE_STOP:
	case WR_MUTATE_CANCEL:
		return lifecycle(rt, m->worker_id, m->reason,
		                 m->op == WR_MUTATE_STOP ? WR_STATUS_STOPPED
		                                         : WR_STATUS_CANCELLED,
		                 &c->lifecycle_ack, ik, c, err);
	case WR_MUTATE_DELETE:
		return delete_one(rt, m->worker_id, &c->lifecycle_ack, ik, c,
		                  err);
	}
	return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, "op",
	                "unknown mutation");
}

/* A keyed mutation: puts its key in flight, then runs it.  True when it
 * did not run: c is complete (a replayed answer) or *rc is an error. */
static bool
start_keyed(struct wr_runtime *rt, const struct wr_mutation *m,
            struct wr_commit *c, wr_err *rc, struct wr_error *err)
{
	struct wr__ikey ik;

	if (keyed_begin(rt, m->key, &ik, &c->keyed_res, rc, err)) {
		c->ready = *rc == WR_OK; /* the stored answer, replayed */
		return true;
	}
	if ((c->ikey = strdup(ik.key)) == NULL) {
		*rc = oom(err);
	} else if ((*rc = start_op(rt, m, &ik, c, err)) == WR_OK) {
		/* The answer, sent once the record is durable. */
		c->keyed_res.status = ik.status;
		c->keyed_res.body = ik.body;
		c->keyed_res.body_len = ik.body_len;
		wr__strlcpy(c->keyed_res.worker_id,
		            c->info != NULL ? c->info->ref.worker_id
		            : m->worker_id != NULL ? m->worker_id : "",
		            sizeof(c->keyed_res.worker_id));
		return false;
	}
	(void)keyed_end(rt, &ik, *rc, "", &c->keyed_res); /* forgets it */
	return true;
}

wr_err
wr_mutation_start(struct wr_runtime *rt, const struct wr_mutation *m,
                  void (*done)(void *done_arg), void *done_arg,
                  struct wr_commit **out, bool *ready, struct wr_error *err)
{
	struct wr_commit *c;
	struct wr_error local;
	wr_err rc;

	if (err == NULL) /* a refusal that waits keeps its error (c->err) */
		err = &local;
	if (m == NULL || out == NULL || ready == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                NULL, "mutation, out and ready are required");
	*out = NULL;
	*ready = false;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return oom(err);
	c->op = m->op;
	c->done = done;
	c->done_arg = done_arg;
	if (m->key != NULL) {
		c->keyed = true;
		(void)start_keyed(rt, m, c, &rc, err);
	} else {
		rc = start_op(rt, m, NULL, c, err);
	}
	if (rc != WR_OK) {
		wr_worker_info_free(c->info);
		free(c->ikey);
		free(c);
		return rc;
	}
	if (c->ready) {
		__atomic_store_n(&c->completed, 1, __ATOMIC_RELEASE);
		if (c->bury)
			wr__commit_bury(rt);
	} else if (done != NULL && !m->lead) {
		wr__commit_ring(rt); /* else wr_commit_lead rings if need be */
	}
	*ready = c->ready;
	*out = c;
	return WR_OK;
}

wr_err
wr_commit_finish(struct wr_commit *c, struct wr_mutation_result *out,
                 struct wr_error *err)
{
	wr_err rc;

	if (!__atomic_load_n(&c->completed, __ATOMIC_ACQUIRE))
		wr__commit_wait(c);
	rc = c->rc;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (rc != WR_OK && err != NULL)
		*err = c->err;
	if (rc == WR_OK && out != NULL && c->keyed) {
		out->keyed = c->keyed_res;
	} else if (rc == WR_OK && out != NULL) {
		out->worker = c->info;
		c->info = NULL;
		out->input_ack = c->input_ack;
		out->lifecycle_ack = c->lifecycle_ack;
	} else {
		wr_idempotent_result_clear(&c->keyed_res);
	}
	wr_worker_info_free(c->info);
	wr__pending_free(c->p);
	free(c->ikey);
	free(c);
	return rc;
}

void
wr_mutation_result_clear(struct wr_mutation_result *r)
{
	if (r == NULL)
		return;
	wr_worker_info_free(r->worker);
	wr_idempotent_result_clear(&r->keyed);
	memset(r, 0, sizeof(*r));
}

/* ---- driver callbacks ------------------------------------------------ */

/* Finds a running worker for a driver callback (its creation may still be
 * on its way to the disk); caller holds the write lock. */
static wr_err
driver_target(struct wr_runtime *rt, const char *worker_id,
              struct worker **wp, struct wr_error *err)
{
	struct worker *w = wr__find_worker(rt, worker_id);

	if (rt->closing)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_RUNTIME_CLOSING, NULL,
		                "the runtime is closing");
	if (w == NULL)
		return unknown_worker(worker_id, err);
	if (w->p_status != WR_STATUS_RUNNING)
		return not_running(w, err);
	*wp = w;
	return WR_OK;
}

/* Submits a record built by a driver callback and waits for it. */
static wr_err
callback_commit(struct wr_runtime *rt, struct pending *p, wr_err rc,
                struct wr_error *err)
{
	bool submitted = false;

	if (rc == WR_OK) {
		rc = wr__submit(rt, p, err);
		submitted = rc == WR_OK;
	}
	pthread_rwlock_unlock(&rt->lock);
	if (submitted)
		rc = wr__await(rt, &p, 1, err);
	wr__pending_free(p);
	return rc;
}

wr_err
wr_worker_emit(struct wr_runtime *rt, const char *worker_id,
               enum wr_role role, const char *content, struct wr_error *err)
{
	struct pending *p;
	struct worker *w;
	wr_err rc;

	if (role != WR_ROLE_WORKER && role != WR_ROLE_RUNTIME)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, "role",
		                "drivers emit worker or runtime entries");
	if ((rc = wr__emitted_check(content, err)) != WR_OK)
		return rc;
	if ((p = wr__pending_new(WR__REC_TRANSCRIPT)) == NULL ||
	    (p->rec.content = strdup(content)) == NULL) {
		wr__pending_free(p);
		return oom(err);
	}
	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = driver_target(rt, worker_id, &w, err)) == WR_OK) {
		p->rec.at_ms = wr__rt_now(rt);
		p->rec.event_id = wr__next_event(rt);
		p->rec.role = role;
		p->rec.sequence = w->p_len + 1;
		wr__strlcpy(p->rec.worker_id, worker_id,
		            sizeof(p->rec.worker_id));
	}
	return callback_commit(rt, p, rc, err);
}

wr_err
wr_worker_turn_end(struct wr_runtime *rt, const char *worker_id,
                   struct wr_error *err)
{
	struct pending *p = wr__pending_new(WR__REC_TURN_END);
	struct worker *w;
	wr_err rc;

	if (p == NULL)
		return oom(err);
	pthread_rwlock_wrlock(&rt->lock);
	rc = driver_target(rt, worker_id, &w, err);
	if (rc == WR_OK && w->p_run_state != WR_RUN_BUSY) {
		/* Nothing to end: harmless. */
		pthread_rwlock_unlock(&rt->lock);
		wr__pending_free(p);
		return WR_OK;
	}
	if (rc == WR_OK) {
		p->rec.at_ms = wr__rt_now(rt);
		/* busy -> idle is a change a follower waits for: its own
		 * event id (stores written before had 0 here). */
		p->rec.event_id = wr__next_event(rt);
		wr__strlcpy(p->rec.worker_id, worker_id,
		            sizeof(p->rec.worker_id));
	}
	return callback_commit(rt, p, rc, err);
}

wr_err
wr_worker_fail(struct wr_runtime *rt, const char *worker_id, const char *why,
               struct wr_error *err)
{
	struct pending *p = NULL;
	struct worker *w;
	wr_err rc;

	if (why == NULL || why[0] == '\0' ||
	    !wr__utf8_valid(why, strlen(why)))
		why = "the worker failed";
	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = driver_target(rt, worker_id, &w, err)) == WR_OK)
		rc = wr__end_worker(rt, w, WR_STATUS_FAILED, why, NULL, &p, err);
	pthread_rwlock_unlock(&rt->lock);
	if (p != NULL) {
		rc = wr__await(rt, &p, 1, err);
		wr__pending_free(p);
	}
	return rc;
}
