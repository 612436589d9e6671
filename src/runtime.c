/*
 * runtime.c - the Runtime: worker table, lifecycle rules, event ids.
 *
 * Invariants (all under rt->lock):
 *   - every mutation is one record (internal.h): it is validated, persisted
 *     by the store, then applied by apply_record(); nothing is applied when
 *     the store refuses it, so a failed mutation changes nothing;
 *   - event ids increase by one per event; a worker's last_event_id is the
 *     id of its newest event; transcript sequences are dense from 1;
 *   - the summary counters equal a recount of the worker statuses.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TRANSCRIPT_DEFAULT_LIMIT 256u
#define MAX_REASON_BYTES 1024
#define MAX_LIMIT_ITEMS 100000u
#define MAX_LIMIT_INPUT (64u * 1024u * 1024u)
#define MAX_LIMIT_WORKERS 10000000u

struct entry {
	enum wr_role role;
	uint64_t event_id;
	int64_t at_ms;
	char *content;
};

struct worker {
	struct wr_worker_info info; /* status, counters and timestamps live */
	struct entry *entries;      /* entries[i].sequence == i + 1 */
	size_t cap;
	char *status_reason;        /* reason of the terminal event, or NULL */
	const struct wr_driver *driver;
	void *dstate;
	struct worker *hnext;       /* hash chain */
};

struct profile {
	char *name;
	const struct wr_driver *driver;
	void *arg;
};

struct wr_runtime {
	pthread_rwlock_t lock;
	char id[WR_ID_MAX + 1];
	char *display_name;
	struct wr_limits limits;
	enum wr_runtime_status status;
	int64_t started_at_ms;
	uint64_t last_event_id;
	uint64_t count[4]; /* by enum wr_worker_status */

	struct worker **workers; /* creation order */
	size_t n_workers, cap_workers;
	struct worker **buckets; /* power-of-two hash table */
	size_t n_buckets;

	struct profile *profiles;
	size_t n_profiles;
	const struct profile *default_profile; /* NULL: builtin transcript */

	struct wr__store *store;
	struct worker *spare; /* preallocated by prepare_record */
	bool closing;         /* set by close: driver callbacks refused */

	pthread_mutex_t diag_lock; /* guards the diagnostics only */
	struct wr_diagnostic diags[WR_DIAGNOSTICS_KEPT];
	uint64_t diag_count;
};

/* ---- lookup ------------------------------------------------------------ */

static size_t
hash_id(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct worker *
find_worker(const struct wr_runtime *rt, const char *id)
{
	struct worker *w;

	if (id == NULL || rt->n_buckets == 0)
		return NULL;
	w = rt->buckets[hash_id(id) & (rt->n_buckets - 1)];
	while (w != NULL && strcmp(w->info.ref.worker_id, id) != 0)
		w = w->hnext;
	return w;
}

/* Makes room for one more worker in both tables; -1 on OOM, unchanged. */
static int
reserve_worker_slot(struct wr_runtime *rt)
{
	if (rt->n_workers == rt->cap_workers) {
		size_t cap = rt->cap_workers ? rt->cap_workers * 2 : 16;
		struct worker **v = realloc(rt->workers, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		rt->workers = v;
		rt->cap_workers = cap;
	}
	if (rt->n_workers + 1 > rt->n_buckets) {
		size_t nb = rt->n_buckets ? rt->n_buckets * 2 : 64;
		struct worker **b = calloc(nb, sizeof(*b));
		if (b == NULL)
			return -1;
		for (size_t i = 0; i < rt->n_workers; i++) {
			struct worker *w = rt->workers[i];
			size_t h = hash_id(w->info.ref.worker_id) & (nb - 1);
			w->hnext = b[h];
			b[h] = w;
		}
		free(rt->buckets);
		rt->buckets = b;
		rt->n_buckets = nb;
	}
	return 0;
}

static const struct profile *
find_profile(const struct wr_runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->n_profiles; i++)
		if (strcmp(rt->profiles[i].name, name) == 0)
			return &rt->profiles[i];
	return NULL;
}

/* ---- records ------------------------------------------------------------ */

void
wr__record_clear(struct wr__record *rec)
{
	if (rec == NULL)
		return;
	wr_worker_info_free(rec->worker);
	free(rec->content);
	free(rec->reason);
	rec->worker = NULL;
	rec->content = NULL;
	rec->reason = NULL;
}

/* Appends an entry; -1 on OOM with the worker unchanged.  Takes content. */
static int
append_entry(struct worker *w, enum wr_role role, uint64_t event_id,
             int64_t at_ms, char *content)
{
	size_t n = (size_t)w->info.transcript_len;

	if (n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		struct entry *e = realloc(w->entries, cap * sizeof(*e));
		if (e == NULL)
			return -1;
		w->entries = e;
		w->cap = cap;
	}
	w->entries[n] = (struct entry){role, event_id, at_ms, content};
	w->info.transcript_len = n + 1;
	return 0;
}

/* Reserves what apply_record() will need so that applying cannot fail:
 * returns -1 on OOM with nothing changed. */
static int
prepare_record(struct wr_runtime *rt, const struct wr__record *rec)
{
	struct worker *w;

	switch (rec->kind) {
	case WR__REC_WORKER_CREATED:
		if (rt->spare == NULL &&
		    (rt->spare = calloc(1, sizeof(*rt->spare))) == NULL)
			return -1;
		return reserve_worker_slot(rt);
	case WR__REC_TRANSCRIPT:
	case WR__REC_WORKER_STATUS:
		w = find_worker(rt, rec->worker_id);
		if (w != NULL && w->info.transcript_len == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 8;
			struct entry *e = realloc(w->entries, cap * sizeof(*e));
			if (e == NULL)
				return -1;
			w->entries = e;
			w->cap = cap;
		}
		return 0;
	case WR__REC_TURN_END:
	case WR__REC_RUNTIME_STATUS:
		return 0;
	}
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

/*
 * Applies a validated, persisted record; takes what it owns.  Cannot fail
 * after prepare_record() succeeded.  Used both by live mutations and by a
 * store replaying its journal, hence the defensive checks.
 */
static void
apply_record(struct wr_runtime *rt, struct wr__record *rec)
{
	struct worker *w = NULL;

	if (rec->kind != WR__REC_WORKER_CREATED &&
	    rec->kind != WR__REC_RUNTIME_STATUS) {
		w = find_worker(rt, rec->worker_id);
		if (w == NULL)
			return;
	}
	switch (rec->kind) {
	case WR__REC_WORKER_CREATED: {
		struct worker *nw = rt->spare;
		size_t h;
		rt->spare = NULL;
		nw->info = *rec->worker;
		free(rec->worker);
		rec->worker = NULL;
		h = hash_id(nw->info.ref.worker_id) & (rt->n_buckets - 1);
		nw->hnext = rt->buckets[h];
		rt->buckets[h] = nw;
		rt->workers[rt->n_workers++] = nw;
		rt->count[nw->info.status]++;
		if (rec->event_id > rt->last_event_id)
			rt->last_event_id = rec->event_id;
		break;
	}
	case WR__REC_TRANSCRIPT:
		append_entry(w, rec->role, rec->event_id, rec->at_ms,
		             rec->content);
		rec->content = NULL;
		if (rec->turn_started)
			w->info.run_state = WR_RUN_BUSY;
		touch(rt, w, rec);
		break;
	case WR__REC_TURN_END:
		if (w->info.status == WR_STATUS_RUNNING)
			w->info.run_state = WR_RUN_IDLE;
		touch(rt, w, rec);
		break;
	case WR__REC_WORKER_STATUS:
		if (rec->content != NULL) { /* failed: why, as an entry */
			append_entry(w, WR_ROLE_RUNTIME, rec->event_id,
			             rec->at_ms, rec->content);
			rec->content = NULL;
		}
		rt->count[w->info.status]--;
		rt->count[rec->status]++;
		w->info.status = rec->status;
		w->info.run_state = WR_RUN_NONE;
		free(w->status_reason);
		w->status_reason = rec->reason;
		rec->reason = NULL;
		touch(rt, w, rec);
		break;
	case WR__REC_RUNTIME_STATUS:
		rt->status = rec->runtime_status;
		break;
	}
}

/*
 * Persists and applies one record; the caller holds the write lock, has
 * validated the record and called prepare_record().  On failure nothing is
 * changed.  The caller clears the record either way.
 */
static wr_err
persist_apply(struct wr_runtime *rt, struct wr__record *rec,
              struct wr_error *err)
{
	wr_err rc = rt->store->ops->write(rt->store, rec, err);

	if (rc == WR_OK)
		apply_record(rt, rec);
	return rc;
}

static wr_err
commit(struct wr_runtime *rt, struct wr__record *rec, struct wr_error *err)
{
	if (prepare_record(rt, rec) < 0)
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		                "out of memory");
	return persist_apply(rt, rec, err);
}

static uint64_t
next_event(struct wr_runtime *rt)
{
	return rt->last_event_id + 1;
}

/* ---- diagnostics ------------------------------------------------------- */

void
wr_runtime_diagnose(struct wr_runtime *rt, const char *worker_id,
                    const char *fmt, ...)
{
	struct wr_diagnostic *d;
	va_list ap;

	if (rt == NULL || fmt == NULL)
		return;
	pthread_mutex_lock(&rt->diag_lock);
	d = &rt->diags[rt->diag_count % WR_DIAGNOSTICS_KEPT];
	rt->diag_count++;
	d->id = rt->diag_count;
	d->at_ms = wr__now_ms();
	wr__strlcpy(d->worker_id, worker_id != NULL ? worker_id : "",
	            sizeof(d->worker_id));
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&rt->diag_lock);
}

wr_err
wr_runtime_diagnostics(struct wr_runtime *rt, struct wr_diagnostic **out,
                       size_t *count, struct wr_error *err)
{
	struct wr_diagnostic *v = NULL;
	size_t n;
	uint64_t first;

	pthread_mutex_lock(&rt->diag_lock);
	n = rt->diag_count < WR_DIAGNOSTICS_KEPT ? (size_t)rt->diag_count
	                                         : WR_DIAGNOSTICS_KEPT;
	if (n > 0) {
		v = malloc(n * sizeof(*v));
		if (v == NULL) {
			pthread_mutex_unlock(&rt->diag_lock);
			return wr__fail(err, WR_EINTERNAL, "out_of_memory",
			                NULL, "out of memory");
		}
	}
	first = rt->diag_count - n;
	for (size_t i = 0; i < n; i++)
		v[i] = rt->diags[(first + i) % WR_DIAGNOSTICS_KEPT];
	pthread_mutex_unlock(&rt->diag_lock);
	*out = v;
	*count = n;
	return WR_OK;
}

/* ---- open / close --------------------------------------------------- */

static wr_err
check_limit(uint32_t v, uint32_t max, const char *field, struct wr_error *err)
{
	if (v > max)
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value", field,
		                "%s must be at most %u", field, max);
	return WR_OK;
}

static wr_err
open_store(const char *spec, struct wr__store **out, struct wr_error *err)
{
	if (spec == NULL || strcmp(spec, "memory") == 0)
		return wr__store_memory_open(out, err);
	if (strncmp(spec, "fs:", 3) == 0)
		return wr__fail(err, WR_EUNSUPPORTED, "store_not_built", "store",
		                "the fs store is not available in this build");
	return wr__fail(err, WR_EINVALID_INPUT, "invalid_value", "store",
	                "store must be \"memory\" or \"fs:DIR\"");
}

static wr_err
copy_profiles(struct wr_runtime *rt, const struct wr_config *cfg,
              struct wr_error *err)
{
	if (cfg->n_profiles == 0)
		goto dflt;
	rt->profiles = calloc(cfg->n_profiles, sizeof(*rt->profiles));
	if (rt->profiles == NULL)
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		                "out of memory");
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct wr_profile *p = &cfg->profiles[i];
		if (!wr_id_valid(p->name))
			return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
			                "profiles", "invalid profile name");
		if (find_profile(rt, p->name) != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
			                "profiles", "duplicate profile \"%s\"",
			                p->name);
		rt->profiles[i].name = strdup(p->name);
		if (rt->profiles[i].name == NULL)
			return wr__fail(err, WR_EINTERNAL, "out_of_memory",
			                NULL, "out of memory");
		rt->profiles[i].driver = p->driver != NULL
		                               ? p->driver
		                               : wr_driver_transcript();
		rt->profiles[i].arg = p->driver_arg;
		rt->n_profiles++;
	}
dflt:
	if (cfg->default_profile != NULL) {
		rt->default_profile = find_profile(rt, cfg->default_profile);
		if (rt->default_profile == NULL)
			return wr__fail(err, WR_EINVALID_INPUT, "unknown_profile",
			                "default_profile",
			                "default profile \"%s\" is not configured",
			                cfg->default_profile);
	}
	return WR_OK;
}

static void
free_runtime(struct wr_runtime *rt)
{
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		for (uint64_t k = 0; k < w->info.transcript_len; k++)
			free(w->entries[k].content);
		free(w->entries);
		free(w->status_reason);
		wr__worker_info_clear(&w->info);
		free(w);
	}
	free(rt->workers);
	free(rt->buckets);
	free(rt->spare);
	for (size_t i = 0; i < rt->n_profiles; i++)
		free(rt->profiles[i].name);
	free(rt->profiles);
	free(rt->display_name);
	if (rt->store != NULL)
		rt->store->ops->close(rt->store);
	pthread_mutex_destroy(&rt->diag_lock);
	pthread_rwlock_destroy(&rt->lock);
	free(rt);
}

wr_err
wr_runtime_open(const struct wr_config *cfg, struct wr_runtime **out,
                struct wr_error *err)
{
	static const struct wr_config zero;
	pthread_rwlockattr_t attr;
	struct wr_runtime *rt;
	wr_err rc;

	if (cfg == NULL)
		cfg = &zero;
	if (cfg->runtime_id != NULL && !wr_id_valid(cfg->runtime_id))
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
		                "runtime_id",
		                "runtime id must be 1-%d characters of "
		                "[A-Za-z0-9_.-]", WR_ID_MAX);
	if (cfg->display_name != NULL &&
	    (strlen(cfg->display_name) > WR_DISPLAY_NAME_MAX ||
	     !wr__utf8_valid(cfg->display_name, strlen(cfg->display_name))))
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
		                "display_name",
		                "display name must be UTF-8 of at most %d bytes",
		                WR_DISPLAY_NAME_MAX);
	if ((rc = check_limit(cfg->limits.max_transcript_projection_items,
	                      MAX_LIMIT_ITEMS,
	                      "limits.max_transcript_projection_items",
	                      err)) != WR_OK ||
	    (rc = check_limit(cfg->limits.max_input_bytes, MAX_LIMIT_INPUT,
	                      "limits.max_input_bytes", err)) != WR_OK ||
	    (rc = check_limit(cfg->limits.max_workers, MAX_LIMIT_WORKERS,
	                      "limits.max_workers", err)) != WR_OK)
		return rc;

	rt = calloc(1, sizeof(*rt));
	if (rt == NULL)
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		                "out of memory");
	pthread_rwlockattr_init(&attr);
	/* Writers must not starve behind a steady stream of readers. */
	pthread_rwlockattr_setkind_np(&attr,
	        PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&rt->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&rt->diag_lock, NULL);

	rt->limits = cfg->limits;
	if (rt->limits.max_transcript_projection_items == 0)
		rt->limits.max_transcript_projection_items =
			WR_DEFAULT_MAX_TRANSCRIPT_ITEMS;
	if (rt->limits.max_input_bytes == 0)
		rt->limits.max_input_bytes = WR_DEFAULT_MAX_INPUT_BYTES;
	if (rt->limits.max_workers == 0)
		rt->limits.max_workers = WR_DEFAULT_MAX_WORKERS;
	rt->started_at_ms = wr__now_ms();
	rt->status = WR_RUNTIME_RUNNING;

	if (cfg->runtime_id != NULL) {
		wr__strlcpy(rt->id, cfg->runtime_id, sizeof(rt->id));
	} else {
		memcpy(rt->id, "rt-", 3);
		if (wr__random_hex(rt->id + 3, 8) < 0) {
			rc = wr__fail(err, WR_EINTERNAL, "no_randomness", NULL,
			              "getrandom: %s", strerror(errno));
			goto fail;
		}
	}
	if (cfg->display_name != NULL &&
	    (rt->display_name = strdup(cfg->display_name)) == NULL) {
		rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		              "out of memory");
		goto fail;
	}
	if ((rc = copy_profiles(rt, cfg, err)) != WR_OK)
		goto fail;
	if ((rc = open_store(cfg->store, &rt->store, err)) != WR_OK)
		goto fail;
	*out = rt;
	return WR_OK;
fail:
	free_runtime(rt);
	return rc;
}

const char *
wr_runtime_id(const struct wr_runtime *rt)
{
	return rt->id;
}

void
wr_runtime_close(struct wr_runtime *rt)
{
	if (rt == NULL)
		return;
	/* Workers keep their recorded status (a durable store restores
	 * them); only their executions end.  Callbacks that race with this
	 * are refused, then each execution is awaited outside the lock. */
	pthread_rwlock_wrlock(&rt->lock);
	rt->closing = true;
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w->info.status == WR_STATUS_RUNNING && w->driver != NULL)
			w->driver->stop(w->dstate, false);
	}
	pthread_rwlock_unlock(&rt->lock);
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w->driver != NULL)
			w->driver->release(w->dstate);
	}
	free_runtime(rt);
}

/* ---- runtime-level operations ------------------------------------------ */

static wr_err
check_running(const struct wr_runtime *rt, struct wr_error *err)
{
	if (rt->status == WR_RUNTIME_RUNNING)
		return WR_OK;
	return wr__fail(err, WR_EUNAVAILABLE,
	                rt->status == WR_RUNTIME_STOPPING ? "runtime_stopping"
	                                                  : "runtime_stopped",
	                NULL, "the runtime is %s",
	                wr_runtime_status_name(rt->status));
}

static wr_err
set_runtime_status(struct wr_runtime *rt, enum wr_runtime_status s,
                   struct wr_error *err)
{
	struct wr__record rec = {
		.kind = WR__REC_RUNTIME_STATUS,
		.at_ms = wr__now_ms(),
		.runtime_status = s,
	};

	return commit(rt, &rec, err);
}

static wr_err end_worker(struct wr_runtime *rt, struct worker *w,
                         enum wr_worker_status status, const char *reason,
                         struct wr_error *err);

wr_err
wr_runtime_stop(struct wr_runtime *rt, struct wr_error *err)
{
	wr_err rc = WR_OK;

	pthread_rwlock_wrlock(&rt->lock);
	if (rt->status != WR_RUNTIME_RUNNING)
		goto out;
	if ((rc = set_runtime_status(rt, WR_RUNTIME_STOPPING, err)) != WR_OK)
		goto out;
	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (w->info.status != WR_STATUS_RUNNING)
			continue;
		if ((rc = end_worker(rt, w, WR_STATUS_STOPPED, "runtime_stopped",
		                     err)) != WR_OK)
			goto out; /* stays "stopping"; a retry goes on from here */
	}
	rc = set_runtime_status(rt, WR_RUNTIME_STOPPED, err);
out:
	pthread_rwlock_unlock(&rt->lock);
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
	s.worker_count = rt->n_workers;
	s.active_worker_count = rt->count[WR_STATUS_RUNNING];
	s.stopped_worker_count = rt->count[WR_STATUS_STOPPED];
	s.cancelled_worker_count = rt->count[WR_STATUS_CANCELLED];
	s.failed_worker_count = rt->count[WR_STATUS_FAILED];
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
		return wr__fail(err, WR_EINVALID_INPUT, "too_many_items", field,
		                "%s has more than %d items", field,
		                WR_JSON_MAX_ITEMS);
	for (size_t i = 0; i < n; i++) {
		if (!text_ok(r[i].name, WR_JSON_MAX_STRING) ||
		    !text_ok(r[i].reference, WR_JSON_MAX_STRING)) {
			char path[WR_FIELD_MAX];
			snprintf(path, sizeof(path), "%s[%zu]", field, i);
			return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
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
			return wr__fail(err, WR_EINVALID_INPUT, "unknown_field",
			                in->objective ? "intent.objective"
			                              : "intent.role",
			                "an assistant intent has only purpose");
		break;
	case WR_INTENT_TASK:
		if (!text_ok(in->objective, WR_JSON_MAX_STRING))
			return wr__fail(err, WR_EINVALID_INPUT, "missing_field",
			                "intent.objective",
			                "a task intent needs an objective");
		if (in->purpose != NULL || in->role != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, "unknown_field",
			                in->purpose ? "intent.purpose"
			                            : "intent.role",
			                "a task intent has only an objective");
		break;
	case WR_INTENT_ROLE:
		if (!text_ok(in->role, WR_JSON_MAX_STRING))
			return wr__fail(err, WR_EINVALID_INPUT, "missing_field",
			                "intent.role", "a role intent needs a role");
		if (in->objective != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, "unknown_field",
			                "intent.objective",
			                "a role intent has no objective");
		break;
	default:
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
		                "intent.kind", "unknown intent kind");
	}
	if (!opt_text_ok(in->purpose, WR_JSON_MAX_STRING))
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
		                "intent.purpose",
		                "purpose must be non-empty UTF-8");
	if (req->config_bundle_id != NULL &&
	    !text_ok(req->config_bundle_id, WR_JSON_MAX_STRING))
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
		                "config_bundle.id",
		                "config bundle id must be non-empty UTF-8");
	if (req->n_capabilities > WR_JSON_MAX_ITEMS)
		return wr__fail(err, WR_EINVALID_INPUT, "too_many_items",
		                "requested_capabilities",
		                "at most %d capabilities", WR_JSON_MAX_ITEMS);
	for (size_t i = 0; i < req->n_capabilities; i++) {
		if (!text_ok(req->capabilities[i].name, WR_JSON_MAX_STRING) ||
		    !opt_text_ok(req->capabilities[i].reason,
		                 WR_JSON_MAX_STRING)) {
			char path[WR_FIELD_MAX];
			snprintf(path, sizeof(path),
			         "requested_capabilities[%zu]", i);
			return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
			                path, "%s needs a non-empty name", path);
		}
	}
	if ((rc = check_refs(req->workspace_refs, req->n_workspace_refs,
	                     "workspace_refs", err)) != WR_OK)
		return rc;
	return check_refs(req->mount_refs, req->n_mount_refs, "mount_refs",
	                  err);
}

/* Resolves the profile selector to a driver; reports unknown_profile. */
static wr_err
resolve_profile(const struct wr_runtime *rt, const struct wr_profile_ref *p,
                const struct wr_driver **driver, void **arg,
                struct wr_error *err)
{
	const struct profile *prof;

	switch (p->kind) {
	case WR_PROFILE_RUNTIME_DEFAULT:
		if (p->value != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, "unknown_field",
			                "profile.value",
			                "runtime_default takes no value");
		prof = rt->default_profile;
		*driver = prof ? prof->driver : wr_driver_transcript();
		*arg = prof ? prof->arg : NULL;
		return WR_OK;
	case WR_PROFILE_BUILTIN:
		if (p->value == NULL || strcmp(p->value, "transcript") != 0)
			return wr__fail(err, WR_EINVALID_INPUT, "unknown_profile",
			                "profile.value",
			                "the only builtin profile is \"transcript\"");
		*driver = wr_driver_transcript();
		*arg = NULL;
		return WR_OK;
	case WR_PROFILE_NAMED:
		prof = p->value != NULL ? find_profile(rt, p->value) : NULL;
		if (prof == NULL)
			return wr__fail(err, WR_EINVALID_INPUT, "unknown_profile",
			                "profile.value",
			                "no profile named \"%.64s\" is configured",
			                p->value != NULL ? p->value : "");
		*driver = prof->driver;
		*arg = prof->arg;
		return WR_OK;
	}
	return wr__fail(err, WR_EINVALID_INPUT, "invalid_value", "profile.kind",
	                "unknown profile kind");
}

/* Picks an id not in use; caller holds the write lock. */
static wr_err
new_worker_id(const struct wr_runtime *rt, char id[WR_ID_MAX + 1],
              struct wr_error *err)
{
	for (int tries = 0; tries < 8; tries++) {
		memcpy(id, "w-", 2);
		if (wr__random_hex(id + 2, 8) < 0)
			return wr__fail(err, WR_EINTERNAL, "no_randomness", NULL,
			                "getrandom: %s", strerror(errno));
		if (find_worker(rt, id) == NULL)
			return WR_OK;
	}
	return wr__fail(err, WR_EINTERNAL, "id_collision", NULL,
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
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		                "out of memory");
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
	struct wr__record rec = {.kind = WR__REC_WORKER_CREATED};
	struct wr_worker_info *result = NULL;
	char id[WR_ID_MAX + 1];
	void *arg = NULL, *dstate = NULL;
	bool started = false;
	wr_err rc;

	if (req == NULL)
		req = &defaults;
	if ((rc = check_create(req, err)) != WR_OK)
		return rc;

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK ||
	    (rc = resolve_profile(rt, &req->profile, &driver, &arg, err)) !=
	            WR_OK)
		goto out;
	if (rt->n_workers >= rt->limits.max_workers) {
		rc = wr__fail(err, WR_EUNSUPPORTED, "worker_limit_reached",
		              NULL, "this runtime already holds max_workers "
		              "(%u) workers", rt->limits.max_workers);
		goto out;
	}
	if ((rc = new_worker_id(rt, id, err)) != WR_OK)
		goto out;
	rec.at_ms = wr__now_ms();
	rec.event_id = next_event(rt);
	wr__strlcpy(rec.worker_id, id, sizeof(rec.worker_id));
	rec.worker = build_info(rt, req, id, rec.at_ms);
	if (rec.worker == NULL) {
		rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		              "out of memory");
		goto out;
	}
	rec.worker->last_event_id = rec.event_id;
	if ((rc = driver->start(arg, rt, id, &dstate, err)) != WR_OK)
		goto out;
	started = true;
	if ((rc = commit(rt, &rec, err)) != WR_OK)
		goto out;
	{
		struct worker *w = find_worker(rt, id);
		w->driver = driver;
		w->dstate = dstate;
		started = false;
		rc = copy_out_info(w, &result, err);
		if (rc != WR_OK)
			rc = WR_OK, result = NULL; /* created; only the copy failed */
	}
out:
	if (started) {
		/* The worker was not recorded: end its execution now. */
		driver->stop(dstate, true);
	}
	pthread_rwlock_unlock(&rt->lock);
	if (started)
		driver->release(dstate);
	wr__record_clear(&rec);
	if (rc == WR_OK && out != NULL) {
		if (result == NULL)
			return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
			                "worker created but out of memory");
		*out = result;
	} else {
		wr_worker_info_free(result);
	}
	return rc;
}

/* ---- reads ---------------------------------------------------------- */

wr_err
wr_worker_list(struct wr_runtime *rt, struct wr_worker_list *out,
               struct wr_error *err)
{
	struct wr_worker_list l = {0};
	wr_err rc = WR_OK;

	pthread_rwlock_rdlock(&rt->lock);
	if (rt->n_workers > 0) {
		l.items = calloc(rt->n_workers, sizeof(*l.items));
		if (l.items == NULL)
			rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
			              "out of memory");
	}
	for (size_t i = 0; rc == WR_OK && i < rt->n_workers; i++) {
		rc = copy_out_info(rt->workers[i], &l.items[i], err);
		if (rc == WR_OK)
			l.count++;
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
	wr__fail(err, WR_EUNKNOWN_WORKER, NULL, NULL,
	         "no worker \"%.64s\" in this runtime", id ? id : "");
	return wr__fail_worker(err, WR_EUNKNOWN_WORKER, id);
}

wr_err
wr_worker_get(struct wr_runtime *rt, const char *worker_id,
              struct wr_worker_info **out, struct wr_error *err)
{
	struct worker *w;
	wr_err rc;

	pthread_rwlock_rdlock(&rt->lock);
	w = find_worker(rt, worker_id);
	rc = w == NULL ? unknown_worker(worker_id, err)
	               : copy_out_info(w, out, err);
	pthread_rwlock_unlock(&rt->lock);
	return rc;
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
		return wr__fail(err, WR_EINVALID_INPUT, "limit_too_large",
		                "limit", "limit must be at most %u", max);
	memset(&p, 0, sizeof(p));
	pthread_rwlock_rdlock(&rt->lock);
	w = find_worker(rt, worker_id);
	if (w == NULL) {
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	p.ref = w->info.ref;
	p.start = start;
	p.limit = limit;
	p.total_items = w->info.transcript_len;
	if (start < p.total_items) {
		uint64_t n = p.total_items - start;
		if (n > limit)
			n = limit;
		if (n > 0) {
			p.items = calloc((size_t)n, sizeof(*p.items));
			if (p.items == NULL) {
				rc = wr__fail(err, WR_EINTERNAL, "out_of_memory",
				              NULL, "out of memory");
				goto out;
			}
		}
		for (size_t i = 0; i < n; i++) {
			const struct entry *e = &w->entries[start + i];
			char *c = strdup(e->content);
			if (c == NULL) {
				rc = wr__fail(err, WR_EINTERNAL, "out_of_memory",
				              NULL, "out of memory");
				goto out;
			}
			p.items[i] = (struct wr_transcript_entry){
				start + i + 1, e->role, c, e->event_id, e->at_ms};
			p.count++;
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

/* ---- input ------------------------------------------------------------ */

static wr_err
not_running(const struct worker *w, struct wr_error *err)
{
	wr__fail(err, WR_EUNSUPPORTED, "worker_not_running", NULL,
	         "worker \"%s\" is %s", w->info.ref.worker_id,
	         wr_worker_status_name(w->info.status));
	return wr__fail_worker(err, WR_EUNSUPPORTED, w->info.ref.worker_id);
}

static wr_err
check_content(const char *content, uint32_t max, const char *field,
              struct wr_error *err)
{
	size_t n;

	if (content == NULL || content[0] == '\0')
		return wr__fail(err, WR_EINVALID_INPUT, "empty_content", field,
		                "content must not be empty");
	n = strlen(content);
	if (n > max)
		return wr__fail(err, WR_EINVALID_INPUT, "content_too_large",
		                field, "content is %zu bytes; at most %u allowed",
		                n, max);
	if (!wr__utf8_valid(content, n))
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_utf8", field,
		                "content must be valid UTF-8 without NUL");
	return WR_OK;
}

wr_err
wr_worker_input(struct wr_runtime *rt, const char *worker_id,
                const struct wr_input *in, struct wr_input_ack *out,
                struct wr_error *err)
{
	struct wr__record rec = {.kind = WR__REC_TRANSCRIPT};
	struct worker *w;
	wr_err rc;

	if (in == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, "missing_field", "content",
		                "input is required");
	if (in->kind != WR_INPUT_USER && in->kind != WR_INPUT_SYSTEM)
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value", "kind",
		                "kind must be user or system");

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK)
		goto out;
	if ((w = find_worker(rt, worker_id)) == NULL) {
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	if ((rc = check_content(in->content, rt->limits.max_input_bytes,
	                        "content", err)) != WR_OK)
		goto out;
	if (w->info.status != WR_STATUS_RUNNING) {
		rc = not_running(w, err);
		goto out;
	}
	if (w->info.run_state == WR_RUN_BUSY) {
		rc = wr__fail(err, WR_EBUSY, "turn_in_progress", NULL,
		              "worker \"%s\" is busy with a turn",
		              w->info.ref.worker_id);
		wr__fail_worker(err, rc, w->info.ref.worker_id);
		goto out;
	}
	rec.at_ms = wr__now_ms();
	rec.event_id = next_event(rt);
	rec.role = in->kind == WR_INPUT_USER ? WR_ROLE_USER : WR_ROLE_SYSTEM;
	rec.sequence = w->info.transcript_len + 1;
	wr__strlcpy(rec.worker_id, w->info.ref.worker_id,
	            sizeof(rec.worker_id));
	rec.content = strdup(in->content);
	if (rec.content == NULL) {
		rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		              "out of memory");
		goto out;
	}
	if (prepare_record(rt, &rec) < 0) {
		rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		              "out of memory");
		goto out;
	}
	/* The driver sees the input before the store does: should the store
	 * then fail, the input is refused and a diagnostic says the driver
	 * already had it. */
	if (w->driver != NULL &&
	    (rc = w->driver->input(w->dstate, in->kind, in->content,
	                           rec.sequence, &rec.turn_started, err)) !=
	            WR_OK) {
		if (rc == WR_EBUSY)
			wr__fail_worker(err, rc, w->info.ref.worker_id);
		goto out;
	}
	if ((rc = persist_apply(rt, &rec, err)) != WR_OK) {
		wr_runtime_diagnose(rt, w->info.ref.worker_id,
		                    "input %llu reached the driver but was not "
		                    "persisted: %s",
		                    (unsigned long long)rec.sequence,
		                    err ? err->message : wr_strerror(rc));
		goto out;
	}
	if (out != NULL) {
		out->ref = w->info.ref;
		out->status = w->info.status;
		out->run_state = w->info.run_state;
		out->transcript_sequence = rec.sequence;
		out->event_id = rec.event_id;
	}
out:
	pthread_rwlock_unlock(&rt->lock);
	wr__record_clear(&rec);
	return rc;
}

/* ---- stop / cancel / fail ------------------------------------------- */

/* Records a terminal status and tells the driver; caller holds the write
 * lock and checked the worker is running. */
static wr_err
end_worker(struct wr_runtime *rt, struct worker *w,
           enum wr_worker_status status, const char *reason,
           struct wr_error *err)
{
	struct wr__record rec = {
		.kind = WR__REC_WORKER_STATUS,
		.at_ms = wr__now_ms(),
		.event_id = next_event(rt),
		.status = status,
	};
	wr_err rc;

	wr__strlcpy(rec.worker_id, w->info.ref.worker_id, sizeof(rec.worker_id));
	if ((reason != NULL && (rec.reason = strdup(reason)) == NULL) ||
	    (status == WR_STATUS_FAILED &&
	     (rec.content = strdup(reason)) == NULL)) {
		wr__record_clear(&rec);
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		                "out of memory");
	}
	rc = commit(rt, &rec, err);
	wr__record_clear(&rec);
	if (rc == WR_OK && w->driver != NULL && status != WR_STATUS_FAILED)
		w->driver->stop(w->dstate, status == WR_STATUS_CANCELLED);
	return rc;
}

static wr_err
lifecycle(struct wr_runtime *rt, const char *worker_id, const char *reason,
          enum wr_worker_status status, struct wr_lifecycle_ack *out,
          struct wr_error *err)
{
	struct worker *w;
	wr_err rc = WR_OK;

	if (reason != NULL && (strlen(reason) > MAX_REASON_BYTES ||
	                       !wr__utf8_valid(reason, strlen(reason))))
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value", "reason",
		                "reason must be UTF-8 of at most %d bytes",
		                MAX_REASON_BYTES);
	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = check_running(rt, err)) != WR_OK)
		goto out;
	if ((w = find_worker(rt, worker_id)) == NULL) {
		rc = unknown_worker(worker_id, err);
		goto out;
	}
	/* The first terminal state wins; repeats report it unchanged. */
	if (w->info.status == WR_STATUS_RUNNING &&
	    (rc = end_worker(rt, w, status, reason, err)) != WR_OK)
		goto out;
	if (out != NULL) {
		out->ref = w->info.ref;
		out->status = w->info.status;
		out->event_id = w->info.last_event_id;
	}
out:
	pthread_rwlock_unlock(&rt->lock);
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

/* ---- driver callbacks ------------------------------------------------ */

/* Finds a running worker for a driver callback; caller holds the lock. */
static wr_err
driver_target(struct wr_runtime *rt, const char *worker_id,
              struct worker **wp, struct wr_error *err)
{
	struct worker *w = find_worker(rt, worker_id);

	if (rt->closing)
		return wr__fail(err, WR_EUNAVAILABLE, "runtime_closing", NULL,
		                "the runtime is closing");
	if (w == NULL)
		return unknown_worker(worker_id, err);
	if (w->info.status != WR_STATUS_RUNNING)
		return not_running(w, err);
	*wp = w;
	return WR_OK;
}

wr_err
wr_worker_emit(struct wr_runtime *rt, const char *worker_id,
               enum wr_role role, const char *content, struct wr_error *err)
{
	struct wr__record rec = {.kind = WR__REC_TRANSCRIPT, .role = role};
	struct worker *w;
	wr_err rc;

	if (role != WR_ROLE_WORKER && role != WR_ROLE_RUNTIME)
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value", "role",
		                "drivers emit worker or runtime entries");
	if (content == NULL || !wr__utf8_valid(content, strlen(content)))
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_utf8", "content",
		                "content must be valid UTF-8 without NUL");
	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = driver_target(rt, worker_id, &w, err)) != WR_OK)
		goto out;
	rec.at_ms = wr__now_ms();
	rec.event_id = next_event(rt);
	rec.sequence = w->info.transcript_len + 1;
	wr__strlcpy(rec.worker_id, worker_id, sizeof(rec.worker_id));
	if ((rec.content = strdup(content)) == NULL) {
		rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		              "out of memory");
		goto out;
	}
	rc = commit(rt, &rec, err);
out:
	pthread_rwlock_unlock(&rt->lock);
	wr__record_clear(&rec);
	return rc;
}

wr_err
wr_worker_turn_end(struct wr_runtime *rt, const char *worker_id,
                   struct wr_error *err)
{
	struct wr__record rec = {.kind = WR__REC_TURN_END};
	struct worker *w;
	wr_err rc;

	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = driver_target(rt, worker_id, &w, err)) != WR_OK)
		goto out;
	if (w->info.run_state != WR_RUN_BUSY)
		goto out; /* nothing to end: harmless */
	rec.at_ms = wr__now_ms();
	wr__strlcpy(rec.worker_id, worker_id, sizeof(rec.worker_id));
	rc = commit(rt, &rec, err);
out:
	pthread_rwlock_unlock(&rt->lock);
	return rc;
}

wr_err
wr_worker_fail(struct wr_runtime *rt, const char *worker_id, const char *why,
               struct wr_error *err)
{
	struct worker *w;
	wr_err rc;

	if (why == NULL || why[0] == '\0' ||
	    !wr__utf8_valid(why, strlen(why)))
		why = "the worker failed";
	pthread_rwlock_wrlock(&rt->lock);
	if ((rc = driver_target(rt, worker_id, &w, err)) == WR_OK)
		rc = end_worker(rt, w, WR_STATUS_FAILED, why, err);
	pthread_rwlock_unlock(&rt->lock);
	return rc;
}
