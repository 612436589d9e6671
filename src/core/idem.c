/*
 * core/idem.c - idempotency keys (docs/api.md, "Retrying safely").
 *
 * A keyed mutation puts its key in flight here (wr__idem_begin), then
 * attaches the key, the digest of its request and its answer to the
 * record it submits (wr__idem_attach): the key is stored by the same
 * record as the mutation, so it becomes durable exactly when the
 * mutation does.  Applying that record (live or at restore) makes the key
 * done (wr__idem_apply); a failed mutation forgets it (wr__idem_abort),
 * except one whose record a failed fdatasync dropped: that key stays in
 * flight (limbo) until a reset cut the record from the journal, since a
 * crash before would replay it (wr__idem_limbo, commit.c).
 *
 * The keys live in a hash table (seeded FNV-1a: the keys are the
 * client's) and an age list, oldest first, which expiry sweeps.  The
 * count includes keys in flight and is bounded by max_idempotency_keys:
 * at the bound a new key is refused, never an unexpired one dropped.
 * Everything here runs under the Runtime's write lock, but
 * wr__idem_record: a snapshot freezes the keys by pinning the entries
 * themselves (no copy under the lock; an entry dropped meanwhile waits
 * on a grave list), and its thread reads them without a lock.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "core/rt.h"

/* Buckets: a power of two near max_idempotency_keys, at most this. */
#define IK_BUCKETS_MAX (1u << 20)

void
wr__idem_digest(struct wr__ikey *ik, const struct wr_idempotency *k)
{
	struct sha256_ctx c;
	const char *path = k->path != NULL ? k->path : "";
	const char *method = k->method != NULL ? k->method : "";

	sha256_init(&c);
	/* NUL-separated: neither a method nor a path holds a NUL. */
	sha256_update(&c, strlen(method) + 1, (const uint8_t *)method);
	sha256_update(&c, strlen(path) + 1, (const uint8_t *)path);
	if (k->body_len > 0)
		sha256_update(&c, k->body_len, (const uint8_t *)k->body);
	sha256_digest(&c, SHA256_DIGEST_SIZE, ik->digest);
	ik->key = k->key;
}

static size_t
bucket_of(const struct wr_runtime *rt, const char *key)
{
	uint64_t h = 14695981039346656037ull ^ rt->ik_seed;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	h ^= h >> 29;
	return (size_t)(h & (rt->ik_nbuckets - 1));
}

static struct idem_entry *
find(const struct wr_runtime *rt, const char *key)
{
	struct idem_entry *e;

	if (rt->ik_buckets == NULL)
		return NULL;
	for (e = rt->ik_buckets[bucket_of(rt, key)]; e != NULL; e = e->hnext)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static bool
expired(const struct wr_runtime *rt, int64_t at_ms, int64_t now)
{
	return now - at_ms >= (int64_t)rt->ik_ttl_ms;
}

int64_t
wr__rt_now(const struct wr_runtime *rt)
{
	return rt->now_ms != NULL ? rt->now_ms() : wr__now_ms();
}

/* The table itself, at the first key; -1 on OOM. */
static int
ensure_table(struct wr_runtime *rt)
{
	size_t n = 16;

	if (rt->ik_buckets != NULL)
		return 0;
	while (n < rt->ik_max && n < IK_BUCKETS_MAX)
		n *= 2;
	if ((rt->ik_buckets = calloc(n, sizeof(*rt->ik_buckets))) == NULL)
		return -1;
	rt->ik_nbuckets = n;
	if (rt->ik_seed == 0) {
		char hex[17];
		if (wr__random_hex(hex, 8) == 0)
			rt->ik_seed = strtoull(hex, NULL, 16);
	}
	return 0;
}

static void
age_unlink(struct wr_runtime *rt, struct idem_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		rt->ik_oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		rt->ik_newest = e->older;
	e->older = e->newer = NULL;
}

static void
age_append(struct wr_runtime *rt, struct idem_entry *e)
{
	e->older = rt->ik_newest;
	e->newer = NULL;
	if (rt->ik_newest != NULL)
		rt->ik_newest->newer = e;
	else
		rt->ik_oldest = e;
	rt->ik_newest = e;
}

static void
entry_free(struct idem_entry *e)
{
	free(e->key);
	free(e->body);
	free(e);
}

/* True if the snapshot running may read e: it was done when the keys
 * were frozen.  A key begun, aborted or stored since is not pinned. */
static bool
pinned(const struct wr_runtime *rt, const struct idem_entry *e)
{
	return rt->ik_pinned && e->pin_gen == rt->ik_pin_gen;
}

/* Takes e out of both structures and frees it, or, if a snapshot has it
 * pinned, keeps it on the grave list for wr__idem_unpin: so the grave
 * holds at most the keys frozen, whatever else is dropped meanwhile. */
static void
drop(struct wr_runtime *rt, struct idem_entry *e)
{
	struct idem_entry **pp = &rt->ik_buckets[bucket_of(rt, e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	age_unlink(rt, e);
	rt->ik_count--;
	if (pinned(rt, e)) {
		e->hnext = rt->ik_grave;
		rt->ik_grave = e;
		return;
	}
	entry_free(e);
}

/* Drops expired keys from the oldest on; stops at the first unexpired
 * one unless all.  The age list follows the clock only as far as the
 * clock goes forwards, so all looks at every key - but only while
 * rt->ik_unordered says the clock went back: in order, the first
 * unexpired key proves every newer one unexpired, and a full walk of up
 * to max_idempotency_keys under the write lock for each request refused
 * at the bound would stall every other request.  A full walk that finds
 * the kept keys in order clears ik_unordered. */
static void
sweep(struct wr_runtime *rt, int64_t now, bool all)
{
	struct idem_entry *e = rt->ik_oldest, *next;
	int64_t last = INT64_MIN;
	bool ordered = true;

	if (!rt->ik_unordered)
		all = false;
	for (; e != NULL; e = next) {
		next = e->newer;
		rt->ik_swept++;
		if (!e->done)
			continue;
		if (expired(rt, e->at_ms, now)) {
			drop(rt, e);
			continue;
		}
		if (!all)
			return;
		if (e->at_ms < last)
			ordered = false;
		last = e->at_ms;
	}
	if (all && ordered)
		rt->ik_unordered = false;
}

/* A new entry for key (in flight), in both structures; NULL on OOM. */
static struct idem_entry *
insert(struct wr_runtime *rt, const char *key)
{
	struct idem_entry *e;
	size_t b;

	if (ensure_table(rt) < 0 || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	if ((e->key = strdup(key)) == NULL) {
		free(e);
		return NULL;
	}
	b = bucket_of(rt, key);
	e->hnext = rt->ik_buckets[b];
	rt->ik_buckets[b] = e;
	age_append(rt, e);
	rt->ik_count++;
	return e;
}

static wr_err
replay_answer(const struct idem_entry *e, struct wr_idempotent_result *out,
              struct wr_error *err)
{
	char *body = malloc(e->body_len + 1);

	if (body == NULL)
		return wr__oom(err);
	memcpy(body, e->body, e->body_len + 1);
	out->status = e->status;
	out->body = body;
	out->body_len = e->body_len;
	wr__strlcpy(out->worker_id, e->worker_id, sizeof(out->worker_id));
	out->replayed = true;
	return WR_OK;
}

wr_err
wr__idem_begin(struct wr_runtime *rt, const struct wr__ikey *ik,
               struct wr_idempotent_result *out, bool *replayed,
               struct wr_error *err)
{
	int64_t now = wr__rt_now(rt);
	struct idem_entry *e;

	*replayed = false;
	sweep(rt, now, false);
	if ((e = find(rt, ik->key)) != NULL && e->done &&
	    expired(rt, e->at_ms, now)) {
		drop(rt, e);
		e = NULL;
	}
	if (e != NULL && !e->done)
		return wr__fail(err, WR_EBUSY, WR_REASON_IDEMPOTENCY_IN_FLIGHT,
		                "Idempotency-Key", "a request with this "
		                "idempotency key is still in flight");
	if (e != NULL && memcmp(e->digest, ik->digest, sizeof(e->digest)))
		return wr__fail(err, WR_EINVALID_INPUT,
		                WR_REASON_IDEMPOTENCY_KEY_REUSED,
		                "Idempotency-Key", "this idempotency key was "
		                "used for another method, path or body");
	if (e != NULL) {
		*replayed = true;
		return replay_answer(e, out, err);
	}
	if (rt->ik_count >= rt->ik_max)
		sweep(rt, now, true);
	if (rt->ik_count >= rt->ik_max)
		return wr__fail(err, WR_EUNAVAILABLE,
		                WR_REASON_IDEMPOTENCY_KEYS_FULL,
		                "Idempotency-Key", "the runtime holds "
		                "max_idempotency_keys (%zu) unexpired keys; "
		                "nothing was done", rt->ik_max);
	if ((e = insert(rt, ik->key)) == NULL)
		return wr__oom(err);
	memcpy(e->digest, ik->digest, sizeof(e->digest));
	return WR_OK;
}

void
wr__idem_abort(struct wr_runtime *rt, const char *key)
{
	struct idem_entry *e = find(rt, key);

	if (e != NULL && !e->done && e->limbo == 0)
		drop(rt, e);
}

void
wr__idem_limbo(struct wr_runtime *rt, const char *key, uint64_t tag)
{
	struct idem_entry *e = find(rt, key);

	if (e != NULL && !e->done) {
		if (e->limbo == 0)
			rt->ik_limbo++;
		e->limbo = tag;
	}
}

void
wr__idem_limbo_release(struct wr_runtime *rt, uint64_t upto)
{
	struct idem_entry *e, *next;

	for (e = rt->ik_oldest; e != NULL && rt->ik_limbo > 0; e = next) {
		next = e->newer;
		if (e->limbo != 0 && e->limbo <= upto) {
			rt->ik_limbo--;
			drop(rt, e);
		}
	}
}

int
wr__idem_attach(struct wr__record *rec, const struct wr__ikey *ik)
{
	char *key = strdup(ik->key);
	char *body = malloc(ik->body_len + 1);

	if (key == NULL || body == NULL) {
		free(key);
		free(body);
		return -1;
	}
	memcpy(body, ik->body, ik->body_len);
	body[ik->body_len] = '\0';
	rec->idem_key = key;
	rec->idem_body = body;
	memcpy(rec->idem_digest, ik->digest, sizeof(rec->idem_digest));
	rec->idem_status = ik->status;
	return 0;
}

wr_err
wr__idem_apply(struct wr_runtime *rt, struct wr__record *rec,
               struct wr_error *err)
{
	struct idem_entry *e = find(rt, rec->idem_key);

	if (e == NULL || e->done) {
		/* Restoring (or a key stored again after it expired). */
		if (expired(rt, rec->at_ms, wr__rt_now(rt)))
			return WR_OK; /* dropped: the store forgets it at the
			               * next snapshot */
		if (e != NULL && pinned(rt, e)) {
			drop(rt, e); /* a snapshot may be reading it */
			e = NULL;
		}
		if (e == NULL && (e = insert(rt, rec->idem_key)) == NULL)
			return wr__oom(err);
		free(e->body);
	}
	memcpy(e->digest, rec->idem_digest, sizeof(e->digest));
	e->status = rec->idem_status;
	e->body = rec->idem_body;
	e->body_len = strlen(rec->idem_body);
	rec->idem_body = NULL;
	wr__strlcpy(e->worker_id, rec->worker_id, sizeof(e->worker_id));
	e->at_ms = rec->at_ms;
	e->done = true;
	/* Newest stored last: the sweep goes by age. */
	if (e->at_ms < rt->ik_newest_at_ms)
		rt->ik_unordered = true;
	else
		rt->ik_newest_at_ms = e->at_ms;
	age_unlink(rt, e);
	age_append(rt, e);
	return WR_OK;
}

int
wr__idem_freeze(struct wr_runtime *rt, const struct idem_entry ***keys,
                size_t *n)
{
	const struct idem_entry **v;
	size_t k = 0;

	*keys = NULL;
	*n = 0;
	sweep(rt, wr__rt_now(rt), true);
	if (rt->ik_count == 0)
		return 0;
	if ((v = malloc(rt->ik_count * sizeof(*v))) == NULL)
		return -1;
	rt->ik_pin_gen++;
	for (struct idem_entry *e = rt->ik_oldest; e != NULL; e = e->newer)
		if (e->done) {
			e->pin_gen = rt->ik_pin_gen;
			v[k++] = e;
		}
	rt->ik_pinned = true;
	*keys = v;
	*n = k;
	return 0;
}

void
wr__idem_record(const struct idem_entry *e, struct wr__record *rec)
{
	rec->kind = WR__REC_IDEMPOTENCY;
	rec->at_ms = e->at_ms;
	wr__strlcpy(rec->worker_id, e->worker_id, sizeof(rec->worker_id));
	memcpy(rec->idem_digest, e->digest, sizeof(e->digest));
	rec->idem_status = e->status;
	rec->idem_key = e->key;
	rec->idem_body = e->body;
}

void
wr__idem_unpin(struct wr_runtime *rt)
{
	struct idem_entry *e, *next;

	rt->ik_pinned = false;
	for (e = rt->ik_grave; e != NULL; e = next) {
		next = e->hnext;
		entry_free(e);
	}
	rt->ik_grave = NULL;
}

void
wr__idem_free_all(struct wr_runtime *rt)
{
	struct idem_entry *e = rt->ik_oldest, *next;

	for (; e != NULL; e = next) {
		next = e->newer;
		entry_free(e);
	}
	wr__idem_unpin(rt);
	free(rt->ik_buckets);
	rt->ik_buckets = NULL;
	rt->ik_oldest = rt->ik_newest = NULL;
	rt->ik_count = 0;
}

void
wr__runtime_set_clock(struct wr_runtime *rt, int64_t (*now)(void))
{
	pthread_rwlock_wrlock(&rt->lock);
	rt->now_ms = now;
	pthread_rwlock_unlock(&rt->lock);
}

void
wr_idempotent_result_clear(struct wr_idempotent_result *r)
{
	if (r == NULL)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}
