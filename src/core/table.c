/*
 * core/table.c - the Runtime's lookup tables: workers by id (a power-of-two
 * hash table plus the creation-order array) and configured profiles by name.
 *
 * The creation-order array keeps a hole (NULL) where a worker was removed
 * instead of moving every later slot: with max_workers at its bound of
 * 10,000,000 that move was 80 MB under the write lock for a delete of an
 * old worker (tests/bench/delete-speed.c).  The array closes up once
 * holes are over a quarter of its slots (HOLES_MIN at least), so a delete
 * is O(1) amortized and a walk over the array visits at most 4/3 slots
 * per worker.  Each worker knows its slot (idx), kept by every move.
 *
 * Lookups and changes run with rt->lock held by the caller (read lock for
 * lookups, write lock for changes); wr__copy_profiles runs at open and
 * wr__free_worker on a worker no table holds any more, so neither needs it
 * (a reader may still hold a pin on it: see wr__pin_worker).
 * Nothing here takes a lock or does I/O.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "codec/text.h"
#include "core/rt.h"

static size_t
hash_id(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

struct worker *
wr__find_worker(const struct wr_runtime *rt, const char *id)
{
	struct worker *w;

	if (id == NULL || rt->n_buckets == 0)
		return NULL;
	w = rt->buckets[hash_id(id) & (rt->n_buckets - 1)];
	while (w != NULL && strcmp(w->info.ref.worker_id, id) != 0)
		w = w->hnext;
	return w;
}

struct worker *
wr__find_visible(const struct wr_runtime *rt, const char *id)
{
	struct worker *w = wr__find_worker(rt, id);

	return w != NULL && w->applied ? w : NULL;
}

void
wr__insert_worker(struct wr_runtime *rt, struct worker *w)
{
	size_t h = hash_id(w->info.ref.worker_id) & (rt->n_buckets - 1);

	w->hnext = rt->buckets[h];
	rt->buckets[h] = w;
	/* An id without an order (the old form) sorts with the one before
	 * it, so the array stays ordered. */
	w->order = wr__id_order(w->info.ref.worker_id);
	if (rt->n_workers > 0 && w->order < rt->workers[rt->n_workers - 1]->order)
		w->order = rt->workers[rt->n_workers - 1]->order;
	w->idx = rt->n_workers;
	w->summary_max = wr__worker_summary_size_max(&w->info);
	rt->workers[rt->n_workers++] = w;
}

void
wr__unlink_worker(struct wr_runtime *rt, struct worker *w)
{
	struct worker **pp =
		&rt->buckets[hash_id(w->info.ref.worker_id) & (rt->n_buckets - 1)];

	while (*pp != NULL && *pp != w)
		pp = &(*pp)->hnext;
	if (*pp == w)
		*pp = w->hnext;
}

/* Holes below this many never make the array close up. */
#define HOLES_MIN 64

void
wr__compact_workers(struct wr_runtime *rt)
{
	size_t keep = 0, cursor = SIZE_MAX;

	for (size_t i = 0; i < rt->n_workers; i++) {
		struct worker *w = rt->workers[i];
		if (i == rt->retain_cursor)
			cursor = keep;
		if (w == NULL)
			continue;
		w->idx = keep;
		rt->workers[keep++] = w;
	}
	rt->retain_cursor = cursor != SIZE_MAX ? cursor : keep;
	rt->n_workers = keep;
	rt->n_holes = 0;
	rt->first_live = 0;
}

size_t
wr__workers_held(const struct wr_runtime *rt)
{
	return rt->n_workers - rt->n_holes;
}

void
wr__remove_worker(struct wr_runtime *rt, struct worker *w)
{
	size_t i = wr__index_of(rt, w);

	wr__unlink_worker(rt, w);
	if (i >= rt->n_workers)
		return;
	rt->workers[i] = NULL;
	rt->n_holes++;
	/* The last slot is never a hole (insert reads its order). */
	while (rt->n_workers > 0 && rt->workers[rt->n_workers - 1] == NULL) {
		rt->n_workers--;
		rt->n_holes--;
	}
	/* Walks from the start skip the front's holes once, here. */
	while (rt->first_live < rt->n_workers &&
	       rt->workers[rt->first_live] == NULL)
		rt->first_live++;
	if (rt->first_live > rt->n_workers)
		rt->first_live = rt->n_workers;
	if (rt->retain_cursor > rt->n_workers)
		rt->retain_cursor = rt->n_workers;
	if (rt->n_holes > HOLES_MIN && rt->n_holes > rt->n_workers / 4)
		wr__compact_workers(rt);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

uint64_t
wr__id_order(const char *id)
{
	uint64_t v = 0;

	if (id == NULL || strlen(id) != WR__ID_LEN || id[0] != 'w' ||
	    id[1] != '-' || id[2 + WR__ID_ORDER_HEX] != '-')
		return 0;
	for (size_t i = 2; i < WR__ID_LEN; i++) {
		int d = hex_digit(id[i]);
		if (i == 2 + WR__ID_ORDER_HEX)
			continue;
		if (d < 0)
			return 0;
		if (i < 2 + WR__ID_ORDER_HEX)
			v = v * 16 + (uint64_t)d;
	}
	return v;
}

size_t
wr__order_upper(const struct wr_runtime *rt, uint64_t order)
{
	size_t lo = rt->first_live, hi = rt->n_workers;

	/* No worker in [0, lo) is above order, none in [hi, n) is not. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, m = mid;
		while (m < hi && rt->workers[m] == NULL)
			m++; /* holes are a quarter of the slots at most */
		if (m < hi && rt->workers[m]->order <= order)
			lo = m + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t
wr__index_of(const struct wr_runtime *rt, const struct worker *w)
{
	return w->idx < rt->n_workers && rt->workers[w->idx] == w
	               ? w->idx
	               : rt->n_workers;
}

void
wr__pin_worker(struct worker *w)
{
	__atomic_add_fetch(&w->pins, 1, __ATOMIC_RELAXED);
}

static void
destroy_worker(struct worker *w)
{
	for (uint64_t k = 0; w->entries != NULL && k < w->info.transcript_len;
	     k++)
		free(w->entries[k].content);
	free(w->entries);
	free(w->locs);
	free(w->status_reason);
	free(w->summary);
	wr__worker_info_clear(&w->info);
	free(w);
}

void
wr__unpin_worker(struct worker *w)
{
	if (__atomic_sub_fetch(&w->pins, 1, __ATOMIC_ACQ_REL) == UINT_MAX)
		destroy_worker(w);
}

void
wr__free_worker(struct worker *w)
{
	if (w != NULL)
		wr__unpin_worker(w);
}

/* Makes room for one more worker in both tables; -1 on OOM, unchanged. */
int
wr__reserve_worker_slot(struct wr_runtime *rt)
{
	/* Closing up visits every worker (each idx): only worth it, rather
	 * than growing, once it frees a fair share of the slots; with a
	 * few holes in a full array every creation after a delete would
	 * close it up again. */
	if (rt->n_workers == rt->cap_workers &&
	    rt->n_holes > rt->n_workers / 8)
		wr__compact_workers(rt);
	if (rt->n_workers == rt->cap_workers) {
		size_t cap = rt->cap_workers ? rt->cap_workers * 2 : 16;
		struct worker **v = realloc(rt->workers, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		rt->workers = v;
		rt->cap_workers = cap;
	}
	if (wr__workers_held(rt) + 1 > rt->n_buckets) { /* not the holes */
		size_t nb = rt->n_buckets ? rt->n_buckets * 2 : 64;
		struct worker **b = calloc(nb, sizeof(*b));
		if (b == NULL)
			return -1;
		for (size_t i = 0; i < rt->n_workers; i++) {
			struct worker *w = rt->workers[i];
			size_t h;
			if (w == NULL)
				continue;
			h = hash_id(w->info.ref.worker_id) & (nb - 1);
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

/* Resolves the profile selector to a driver; reports unknown_profile. */
wr_err
wr__resolve_profile(const struct wr_runtime *rt, const struct wr_profile_ref *p,
                const struct wr_driver **driver, void **arg,
                struct wr_error *err)
{
	const struct profile *prof;

	switch (p->kind) {
	case WR_PROFILE_RUNTIME_DEFAULT:
		if (p->value != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_UNKNOWN_FIELD,
			                "profile.value",
			                "runtime_default takes no value");
		prof = rt->default_profile;
		*driver = prof ? prof->driver : wr_driver_transcript();
		*arg = prof ? prof->arg : NULL;
		return WR_OK;
	case WR_PROFILE_BUILTIN:
		if (p->value == NULL || strcmp(p->value, "transcript") != 0)
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_UNKNOWN_PROFILE,
			                "profile.value",
			                "the only builtin profile is \"transcript\"");
		*driver = wr_driver_transcript();
		*arg = NULL;
		return WR_OK;
	case WR_PROFILE_NAMED:
		prof = p->value != NULL ? find_profile(rt, p->value) : NULL;
		if (prof == NULL)
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_UNKNOWN_PROFILE,
			                "profile.value",
			                "no profile named \"%.64s\" is configured",
			                p->value != NULL ? p->value : "");
		*driver = prof->driver;
		*arg = prof->arg;
		return WR_OK;
	}
	return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, "profile.kind",
	                "unknown profile kind");
}

wr_err
wr__copy_profiles(struct wr_runtime *rt, const struct wr_config *cfg,
              struct wr_error *err)
{
	if (cfg->n_profiles == 0)
		goto dflt;
	rt->profiles = calloc(cfg->n_profiles, sizeof(*rt->profiles));
	if (rt->profiles == NULL)
		return wr__oom(err);
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct wr_profile *p = &cfg->profiles[i];
		if (!wr_id_valid(p->name))
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
			                "profiles", "invalid profile name");
		if (find_profile(rt, p->name) != NULL)
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
			                "profiles", "duplicate profile \"%s\"",
			                p->name);
		rt->profiles[i].name = strdup(p->name);
		if (rt->profiles[i].name == NULL)
			return wr__oom(err);
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
			return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_UNKNOWN_PROFILE,
			                "default_profile",
			                "default profile \"%s\" is not configured",
			                cfg->default_profile);
	}
	return WR_OK;
}

/* The record read at loc must be entry seq of worker_id: a transcript
 * record of that sequence or a failed status carrying its runtime entry. */
static bool
is_entry(const struct wr__record *rec, const char *worker_id, uint64_t seq)
{
	if (strcmp(rec->worker_id, worker_id) != 0)
		return false;
	if (rec->kind == WR__REC_TRANSCRIPT)
		return rec->sequence == seq && rec->content != NULL;
	return rec->kind == WR__REC_WORKER_STATUS && rec->content != NULL &&
	       rec->status == WR_STATUS_FAILED;
}

/* True unless loc is the place of the damaged entry reported last, so a
 * client retrying a page over one damaged entry adds one diagnostic, not
 * one per retry (the answer still names it each time). */
static bool
damage_is_new(struct wr_runtime *rt, const struct wr__loc *loc)
{
	bool fresh;

	pthread_mutex_lock(&rt->diag_lock);
	fresh = !rt->damage_seen || rt->last_damage.file != loc->file ||
	        rt->last_damage.off != loc->off;
	rt->last_damage = *loc;
	rt->damage_seen = true;
	pthread_mutex_unlock(&rt->diag_lock);
	return fresh;
}

wr_err
wr__entry_read(struct wr_runtime *rt, const struct worker *w,
               const char *worker_id, const struct wr__loc *loc,
               uint64_t seq, enum wr_role *role, char **content,
               uint64_t *event_id, int64_t *at_ms, struct wr_error *err)
{
	const struct wr__store_ops *ops = rt->store->ops;
	struct wr__record rec;
	struct wr_error e;
	wr_err rc;

	if (ops->read == NULL) {
		const struct entry *en = &w->entries[seq - 1];
		if ((*content = strdup(en->content)) == NULL)
			return wr__oom(err);
		*role = en->role;
		*event_id = en->event_id;
		*at_ms = en->at_ms;
		return WR_OK;
	}
	if (loc == NULL)
		loc = &w->locs[seq - 1];
	memset(&rec, 0, sizeof(rec));
	wr_error_clear(&e);
	rc = ops->read(rt->store, loc, &rec, &e);
	if (rc == WR_OK && !is_entry(&rec, worker_id, seq)) {
		wr__record_clear(&rec);
		rc = wr__fail(&e, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
		              "store: the record at byte offset %llu of file "
		              "number %lu is not entry %llu of worker \"%s\"",
		              (unsigned long long)loc->off,
		              (unsigned long)loc->file, (unsigned long long)seq,
		              worker_id);
	}
	if (rc != WR_OK) {
		if (e.reason == WR_REASON_STORE_CORRUPT && damage_is_new(rt, loc))
			wr_runtime_diagnose(rt, worker_id, "transcript entry %llu: %s",
			                    (unsigned long long)seq, e.message);
		if (err != NULL)
			*err = e;
		return rc;
	}
	*role = rec.kind == WR__REC_TRANSCRIPT ? rec.role : WR_ROLE_RUNTIME;
	*content = rec.content;
	rec.content = NULL;
	*event_id = rec.event_id;
	*at_ms = rec.at_ms;
	wr__record_clear(&rec);
	return WR_OK;
}
