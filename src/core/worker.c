/*
 * core/worker.c - the worker operations and their rules: create, list, get,
 * input, stop, cancel, delete, transcript pages, and the driver callbacks.
 *
 * Validation reads the projected view (rt.h) so that a mutation is judged
 * against every earlier one, durable or not; reads see only the applied
 * view.  Each mutation: validate and submit under the write lock, then
 * wait for the store with the lock released.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt.h"

#define TRANSCRIPT_DEFAULT_LIMIT 256u

static wr_err
oom(struct wr_error *err)
{
	return wr__oom(err);
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

static wr_err
copy_out_info(const struct worker *w, struct wr_worker_info **out,
              struct wr_error *err)
{
	struct wr_worker_info *copy;

	if (out == NULL)
		return WR_OK;
	copy = calloc(1, sizeof(*copy));
	if (copy == NULL || wr__worker_info_copy(copy, &w->info) < 0) {
		free(copy);
		return wr__oom(err);
	}
	/* Kept beside the info (the terminal record's reason). */
	if (w->status_reason != NULL &&
	    (copy->status_reason = strdup(w->status_reason)) == NULL) {
		wr_worker_info_free(copy);
		return wr__oom(err);
	}
	*out = copy;
	return WR_OK;
}

wr_err
wr_worker_create(struct wr_runtime *rt, const struct wr_create_request *req,
                 struct wr_worker_info **out, struct wr_error *err)
{
	static const struct wr_create_request defaults;
	const struct wr_driver *driver = NULL;
	struct wr_worker_info *result = NULL;
	struct pending *p = NULL;
	struct worker *w = NULL;
	char id[WR_ID_MAX + 1];
	void *arg = NULL, *dstate = NULL;
	bool started = false, submitted = false;
	wr_err rc;

	if (req == NULL)
		req = &defaults;
	if ((rc = check_create(req, err)) != WR_OK)
		return rc;

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK ||
	    (rc = wr__resolve_profile(rt, &req->profile, &driver, &arg, err)) !=
	            WR_OK)
		goto out;
	/* Deleted workers whose process is still ending keep their slot. */
	if (rt->n_workers + __atomic_load_n(&rt->n_buried, __ATOMIC_ACQUIRE) >=
	    rt->limits.max_workers) {
		rc = wr__fail(err, WR_EUNSUPPORTED, WR_REASON_WORKER_LIMIT_REACHED,
		              NULL, "this runtime already holds max_workers "
		              "(%u) workers, counting deleted ones whose "
		              "process is still ending", rt->limits.max_workers);
		goto out;
	}
	if ((rc = new_worker_id(rt, wr__next_event(rt), id, err)) != WR_OK)
		goto out;
	if ((p = wr__pending_new(WR__REC_WORKER_CREATED)) == NULL ||
	    (w = calloc(1, sizeof(*w))) == NULL ||
	    wr__reserve_worker_slot(rt) < 0) {
		rc = oom(err);
		goto out;
	}
	p->rec.at_ms = wr__now_ms();
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
	if ((rc = driver->start(arg, rt, id, &dstate, err)) != WR_OK)
		goto out;
	started = true;
	w->driver = driver;
	w->dstate = dstate;
	wr__insert_worker(rt, w);
	if ((rc = wr__submit(rt, p, err)) != WR_OK) {
		/* The store refused it: take the worker back out. */
		wr__unlink_worker(rt, w);
		rt->n_workers--;
		goto out;
	}
	submitted = true;
	started = false; /* the worker owns its execution now */
	w = NULL;
out:
	if (started)
		driver->stop(dstate, true); /* not recorded: end it now */
	pthread_rwlock_unlock(&rt->lock);
	if (started)
		driver->release(dstate);
	if (w != NULL) {
		/* Never inserted, or taken back out. */
		wr__free_worker(w);
	}
	if (submitted)
		rc = wr__await(rt, &p, 1, err);
	wr__pending_free(p);
	if (rc == WR_OK && out != NULL)
		*out = result;
	else
		wr_worker_info_free(result);
	return rc;
}

/* ---- reads ---------------------------------------------------------- */

static bool
list_match(const struct worker *w, const struct wr_list_query *q)
{
	return w->applied && (!q->has_status || w->info.status == q->status);
}

/* Checks q and finds where its page starts in rt->workers.  Lock held. */
static wr_err
list_start(const struct wr_runtime *rt, const struct wr_list_query *q,
           size_t *start, struct wr_error *err)
{
	const struct worker *w;
	uint64_t order;

	*start = 0;
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

wr_err
wr_worker_list(struct wr_runtime *rt, const struct wr_list_query *query,
               struct wr_worker_list *out, struct wr_error *err)
{
	static const struct wr_list_query first;
	const struct wr_list_query *q = query != NULL ? query : &first;
	struct wr_worker_list l = {0};
	uint32_t limit = q->limit ? q->limit : WR_LIST_LIMIT_DEFAULT;
	size_t i;
	wr_err rc;

	if (limit > WR_LIST_LIMIT_MAX)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_LIMIT_TOO_LARGE,
		                "limit", "limit must be at most %u",
		                WR_LIST_LIMIT_MAX);
	if (q->has_status && wr_worker_status_name(q->status) == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "status", "unknown worker status");
	if ((l.items = calloc(limit, sizeof(*l.items))) == NULL)
		return wr__oom(err);
	pthread_rwlock_rdlock(&rt->lock);
	rc = list_start(rt, q, &i, err);
	for (; rc == WR_OK && i < rt->n_workers && l.count < limit; i++) {
		if (!list_match(rt->workers[i], q))
			continue;
		rc = copy_out_info(rt->workers[i], &l.items[l.count], err);
		if (rc == WR_OK)
			l.count++;
	}
	/* More only if another worker matches after the last one. */
	while (rc == WR_OK && l.count > 0 && i < rt->n_workers &&
	       !list_match(rt->workers[i], q))
		i++;
	if (rc == WR_OK && l.count > 0 && i < rt->n_workers) {
		l.has_next = true;
		wr__strlcpy(l.next_after, l.items[l.count - 1]->ref.worker_id,
		            sizeof(l.next_after));
	}
	pthread_rwlock_unlock(&rt->lock);
	if (rc != WR_OK) {
		wr_worker_list_free(&l);
		return rc;
	}
	*out = l;
	return WR_OK;
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

wr_err
wr_worker_get(struct wr_runtime *rt, const char *worker_id,
              struct wr_worker_info **out, struct wr_error *err)
{
	struct worker *w;
	wr_err rc;

	pthread_rwlock_rdlock(&rt->lock);
	w = wr__find_visible(rt, worker_id);
	rc = w == NULL ? unknown_worker(worker_id, err)
	               : copy_out_info(w, out, err);
	pthread_rwlock_unlock(&rt->lock);
	return rc;
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

wr_err
wr_worker_input(struct wr_runtime *rt, const char *worker_id,
                const struct wr_input *in, struct wr_input_ack *out,
                struct wr_error *err)
{
	struct pending *p = NULL;
	struct wr_input_ack ack;
	struct worker *w;
	bool submitted = false;
	wr_err rc;

	if (in == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_MISSING_FIELD, "content",
		                "input is required");
	if (in->kind != WR_INPUT_USER && in->kind != WR_INPUT_SYSTEM)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, "kind",
		                "kind must be user or system");

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK)
		goto out;
	if ((w = find_live(rt, worker_id)) == NULL) {
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	if ((rc = wr__content_check(in->content, rt->limits.max_input_bytes,
	                        "content", err)) != WR_OK)
		goto out;
	if (w->p_status != WR_STATUS_RUNNING) {
		rc = not_running(w, err);
		goto out;
	}
	if (w->p_run_state == WR_RUN_BUSY) {
		rc = wr__fail(err, WR_EBUSY, WR_REASON_TURN_IN_PROGRESS, NULL,
		              "worker \"%s\" is busy with a turn",
		              w->info.ref.worker_id);
		wr__fail_worker(err, rc, w->info.ref.worker_id);
		goto out;
	}
	if ((p = wr__pending_new(WR__REC_TRANSCRIPT)) == NULL ||
	    (p->rec.content = strdup(in->content)) == NULL) {
		rc = oom(err);
		goto out;
	}
	p->rec.at_ms = wr__now_ms();
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
	if ((rc = wr__submit(rt, p, err)) != WR_OK)
		goto out;
	submitted = true;
	ack.ref = w->info.ref;
	ack.status = w->p_status;
	ack.run_state = w->p_run_state;
	ack.transcript_sequence = p->rec.sequence;
	ack.event_id = p->rec.event_id;
out:
	pthread_rwlock_unlock(&rt->lock);
	if (submitted)
		rc = wr__await(rt, &p, 1, err);
	if (rc != WR_OK && p != NULL && p->rec.turn_started)
		wr_runtime_diagnose(rt, worker_id, "input %llu reached the "
		                    "driver but was not persisted",
		                    (unsigned long long)p->rec.sequence);
	wr__pending_free(p);
	if (rc == WR_OK && out != NULL)
		*out = ack;
	return rc;
}

/* ---- stop / cancel / fail ------------------------------------------- */

wr_err
wr__end_worker(struct wr_runtime *rt, struct worker *w,
               enum wr_worker_status status, const char *reason,
               struct pending **out, struct wr_error *err)
{
	struct pending *p = wr__pending_new(WR__REC_WORKER_STATUS);
	wr_err rc;

	if (p == NULL ||
	    (reason != NULL && (p->rec.reason = strdup(reason)) == NULL) ||
	    (status == WR_STATUS_FAILED &&
	     (p->rec.content = strdup(reason)) == NULL)) {
		wr__pending_free(p);
		return oom(err);
	}
	p->rec.at_ms = wr__now_ms();
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

static wr_err
lifecycle(struct wr_runtime *rt, const char *worker_id, const char *reason,
          enum wr_worker_status status, struct wr_lifecycle_ack *out,
          struct wr_error *err)
{
	struct wr_lifecycle_ack ack;
	struct pending *p = NULL;
	struct worker *w;
	uint64_t lsn = 0;
	wr_err rc = WR_OK;

	if ((rc = wr__reason_check(reason, err)) != WR_OK)
		return rc;
	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK)
		goto out;
	if ((w = find_live(rt, worker_id)) == NULL) {
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	/* The first terminal state wins; repeats report it unchanged, once
	 * it is durable. */
	if (w->p_status == WR_STATUS_RUNNING) {
		if ((rc = wr__end_worker(rt, w, status, reason, &p, err)) !=
		    WR_OK)
			goto out;
	} else {
		lsn = w->p_last_lsn;
	}
	ack.ref = w->info.ref;
	ack.status = w->p_status;
	ack.event_id = w->p_last_event;
	ack.deleted = false;
out:
	pthread_rwlock_unlock(&rt->lock);
	if (p != NULL)
		rc = wr__await(rt, &p, 1, err);
	else if (rc == WR_OK)
		rc = wr__await_lsn(rt, lsn, err);
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
	return lifecycle(rt, worker_id, reason, WR_STATUS_STOPPED, out, err);
}

wr_err
wr_worker_cancel(struct wr_runtime *rt, const char *worker_id,
                 const char *reason, struct wr_lifecycle_ack *out,
                 struct wr_error *err)
{
	return lifecycle(rt, worker_id, reason, WR_STATUS_CANCELLED, out, err);
}

/* ---- delete ----------------------------------------------------------- */

wr_err
wr__delete_worker(struct wr_runtime *rt, struct worker *w,
                  struct pending **out, struct wr_error *err)
{
	struct pending *p = wr__pending_new(WR__REC_WORKER_DELETED);
	wr_err rc;

	if (p == NULL)
		return oom(err);
	p->rec.at_ms = wr__now_ms();
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

wr_err
wr_worker_delete(struct wr_runtime *rt, const char *worker_id,
                 struct wr_lifecycle_ack *out, struct wr_error *err)
{
	struct wr_lifecycle_ack ack;
	struct pending *p = NULL;
	struct worker *w;
	wr_err rc;

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK)
		goto out;
	if ((w = find_live(rt, worker_id)) == NULL) {
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	if (w->p_status == WR_STATUS_RUNNING) {
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
	rc = wr__delete_worker(rt, w, &p, err);
out:
	pthread_rwlock_unlock(&rt->lock);
	if (p != NULL)
		rc = wr__await(rt, &p, 1, err);
	wr__pending_free(p);
	if (rc == WR_OK && out != NULL)
		*out = ack;
	return rc;
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
		p->rec.at_ms = wr__now_ms();
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
		p->rec.at_ms = wr__now_ms();
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
		rc = wr__end_worker(rt, w, WR_STATUS_FAILED, why, &p, err);
	pthread_rwlock_unlock(&rt->lock);
	if (p != NULL) {
		rc = wr__await(rt, &p, 1, err);
		wr__pending_free(p);
	}
	return rc;
}
