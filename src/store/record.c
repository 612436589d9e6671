/*
 * store/record.c - the payload of one fs-store record: compact JSON with a
 * "kind", "event_id" and "at_ms", plus only the members that kind uses
 * (docs/store.md).  A created worker nests the public WorkerDetail shape,
 * built and read as json-c objects by the worker codec
 * (wr__json_worker_to_object/_from_object), so that codec is the single
 * definition of that shape and no worker goes through text on its own.
 * Decoding is strict: a record that does not read back exactly is damage,
 * not data.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/json_text.h"
#include "codec/text.h"
#include "store/record.h"

enum {
	F_RUNTIME_ID = 1u << 0,
	F_WORKER_ID = 1u << 1,
	F_WORKER = 1u << 2,
	F_ROLE = 1u << 3,
	F_SEQUENCE = 1u << 4,
	F_CONTENT = 1u << 5,
	F_TURN_STARTED = 1u << 6,
	F_STATUS = 1u << 7,
	F_RUN_STATE = 1u << 8,
	F_REASON = 1u << 9,
	F_RUNTIME_STATUS = 1u << 10,
	F_DELETED_COUNT = 1u << 11,
	F_IDEM_KEY = 1u << 12,
	F_IDEM_DIGEST = 1u << 13,
	F_IDEM_STATUS = 1u << 14,
	F_IDEM_BODY = 1u << 15,
	F_COUNT = 16
};
/* The idempotency members come all together or not at all. */
#define F_IDEM (F_IDEM_KEY | F_IDEM_DIGEST | F_IDEM_STATUS | F_IDEM_BODY)

static const char *const field_names[F_COUNT] = {
	"runtime_id", "worker_id", "worker", "role", "sequence", "content",
	"turn_started", "status", "run_state", "reason", "runtime_status",
	"deleted_worker_count", "idempotency_key", "idempotency_digest",
	"idempotency_status", "idempotency_body"
};

/* What each kind writes: required members always, optional ones when set
 * (a non-NULL string, a non-empty id). */
static const struct kind_desc {
	const char *name;
	unsigned required;
	unsigned optional;
} kinds[] = {
	[WR__REC_META] = {"meta", F_RUNTIME_ID, F_DELETED_COUNT},
	[WR__REC_WORKER_CREATED] = {"worker_created", F_WORKER,
	                            F_WORKER_ID | F_IDEM},
	[WR__REC_TRANSCRIPT] = {"transcript",
	                        F_WORKER_ID | F_ROLE | F_SEQUENCE | F_CONTENT |
	                                F_TURN_STARTED,
	                        F_IDEM},
	[WR__REC_TURN_END] = {"turn_end", F_WORKER_ID, 0},
	[WR__REC_WORKER_STATUS] = {"worker_status", F_WORKER_ID | F_STATUS,
	                           F_REASON | F_CONTENT | F_IDEM},
	[WR__REC_RUNTIME_STATUS] = {"runtime_status", F_RUNTIME_STATUS, 0},
	[WR__REC_WORKER_STATE] = {"worker_state",
	                          F_WORKER_ID | F_STATUS | F_RUN_STATE, F_REASON},
	[WR__REC_WORKER_DELETED] = {"worker_deleted", F_WORKER_ID, F_IDEM},
	[WR__REC_IDEMPOTENCY] = {"idempotency", F_IDEM, F_WORKER_ID},
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))
_Static_assert(N_KINDS == WR__REC_KIND_LAST + 1,
               "every record kind has a row in kinds[]");

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ---- encoding ----------------------------------------------------------- */

/* rec's worker as a WorkerDetail object, built by the codec directly (no
 * text in between); NULL with errno ENOMEM or, for a worker the codec
 * has no wire value for, EINVAL. */
static json_object *
worker_object(const struct wr_worker_info *w)
{
	json_object *o = NULL;
	struct wr_error e;

	if (wr__json_worker_to_object(w, &o, &e) != WR_OK) {
		errno = e.code == WR_EINTERNAL ? ENOMEM : EINVAL;
		return NULL;
	}
	return o;
}

/* One of the idempotency members of rec (absent when it has no key). */
static json_object *
idem_value(const struct wr__record *rec, unsigned f, bool *absent)
{
	static const char hex[] = "0123456789abcdef";
	char d[2 * sizeof(rec->idem_digest) + 1];

	*absent = rec->idem_key == NULL;
	if (*absent)
		return NULL;
	switch (f) {
	case F_IDEM_KEY:
		return json_object_new_string(rec->idem_key);
	case F_IDEM_DIGEST:
		for (size_t i = 0; i < sizeof(rec->idem_digest); i++) {
			d[2 * i] = hex[rec->idem_digest[i] >> 4];
			d[2 * i + 1] = hex[rec->idem_digest[i] & 15];
		}
		d[sizeof(d) - 1] = '\0';
		return json_object_new_string(d);
	case F_IDEM_STATUS:
		return json_object_new_int(rec->idem_status);
	default:
		*absent = rec->idem_body == NULL;
		return *absent ? NULL : json_object_new_string(rec->idem_body);
	}
}

/* The value of one field of rec, or NULL if absent; *absent tells an
 * absent optional member from an allocation failure. */
static json_object *
field_value(const struct wr__record *rec, unsigned f, bool *absent)
{
	*absent = false;
	switch (f) {
	case F_RUNTIME_ID:
		*absent = rec->runtime_id[0] == '\0';
		return *absent ? NULL : json_object_new_string(rec->runtime_id);
	case F_WORKER_ID:
		*absent = rec->worker_id[0] == '\0';
		return *absent ? NULL : json_object_new_string(rec->worker_id);
	case F_WORKER:
		*absent = rec->worker == NULL;
		return *absent ? NULL : worker_object(rec->worker);
	case F_ROLE:
		*absent = wr_role_name(rec->role) == NULL;
		return *absent ? NULL
		               : json_object_new_string(wr_role_name(rec->role));
	case F_SEQUENCE:
		return json_object_new_uint64(rec->sequence);
	case F_CONTENT:
		*absent = rec->content == NULL;
		return *absent ? NULL : json_object_new_string(rec->content);
	case F_TURN_STARTED:
		return json_object_new_boolean(rec->turn_started);
	case F_STATUS:
		*absent = wr_worker_status_name(rec->status) == NULL;
		return *absent ? NULL
		               : json_object_new_string(
		                         wr_worker_status_name(rec->status));
	case F_RUN_STATE:
		*absent = wr_run_state_name(rec->run_state) == NULL;
		return *absent ? NULL
		               : json_object_new_string(
		                         wr_run_state_name(rec->run_state));
	case F_REASON:
		*absent = rec->reason == NULL;
		return *absent ? NULL : json_object_new_string(rec->reason);
	case F_DELETED_COUNT:
		*absent = rec->deleted_count == 0;
		return *absent ? NULL : json_object_new_uint64(rec->deleted_count);
	case F_RUNTIME_STATUS:
		*absent = wr_runtime_status_name(rec->runtime_status) == NULL;
		return *absent ? NULL
		               : json_object_new_string(wr_runtime_status_name(
		                         rec->runtime_status));
	case F_IDEM_KEY:
	case F_IDEM_DIGEST:
	case F_IDEM_STATUS:
	case F_IDEM_BODY:
		return idem_value(rec, f, absent);
	}
	*absent = true;
	return NULL;
}

/* ---- encoding straight to text ---------------------------------------- */

/* One member of rec as text: ",\"name\":value"; false (nothing written)
 * when it is absent, as field_value judges absence. */
static bool
text_field(struct wr__text *t, const struct wr__record *rec, unsigned i)
{
	static const char hex[] = "0123456789abcdef";
	unsigned f = 1u << i;
	const char *str = NULL;
	char num[24];

	switch (f) {
	case F_RUNTIME_ID:
		str = rec->runtime_id[0] != '\0' ? rec->runtime_id : NULL;
		break;
	case F_WORKER_ID:
		str = rec->worker_id[0] != '\0' ? rec->worker_id : NULL;
		break;
	case F_ROLE:
		str = wr_role_name(rec->role);
		break;
	case F_CONTENT:
		str = rec->content;
		break;
	case F_STATUS:
		str = wr_worker_status_name(rec->status);
		break;
	case F_RUN_STATE:
		str = wr_run_state_name(rec->run_state);
		break;
	case F_REASON:
		str = rec->reason;
		break;
	case F_RUNTIME_STATUS:
		str = wr_runtime_status_name(rec->runtime_status);
		break;
	case F_IDEM_KEY:
		str = rec->idem_key;
		break;
	case F_IDEM_BODY:
		str = rec->idem_key != NULL ? rec->idem_body : NULL;
		break;
	case F_IDEM_DIGEST:
		if (rec->idem_key == NULL)
			return false;
		wr__text_put(t, ",\"idempotency_digest\":\"", 23);
		for (size_t k = 0; k < sizeof(rec->idem_digest); k++) {
			num[0] = hex[rec->idem_digest[k] >> 4];
			num[1] = hex[rec->idem_digest[k] & 15];
			wr__text_put(t, num, 2);
		}
		wr__text_put(t, "\"", 1);
		return true;
	case F_IDEM_STATUS:
		if (rec->idem_key == NULL)
			return false;
		break;
	case F_DELETED_COUNT:
		if (rec->deleted_count == 0)
			return false;
		break;
	}
	if (str == NULL && (f & (F_SEQUENCE | F_TURN_STARTED |
	                         F_IDEM_STATUS | F_DELETED_COUNT)) == 0)
		return false;
	wr__text_put(t, ",\"", 2);
	wr__text_put(t, field_names[i], strlen(field_names[i]));
	wr__text_put(t, "\":", 2);
	if (str != NULL)
		wr__text_str(t, str);
	else if (f == F_TURN_STARTED)
		wr__text_put(t, rec->turn_started ? "true" : "false",
		             rec->turn_started ? 4 : 5);
	else if (f == F_IDEM_STATUS)
		wr__text_put(t, num, (size_t)snprintf(num, sizeof(num), "%d",
		                                      rec->idem_status));
	else
		wr__text_u64(t, f == F_SEQUENCE ? rec->sequence
		                                : rec->deleted_count);
	return true;
}

/* rec in the bytes the json-c path writes for it (record_encode_tree),
 * without building a tree or parsing the text back: appends are encoded
 * under the Runtime's write lock.  Not for a kind with a worker member
 * (a WorkerDetail, which the codec builds as a tree).  NULL with errno
 * ENOMEM, or EINVAL for a required member that is absent. */
static char *
record_encode_text(const struct wr__record *rec, const struct kind_desc *k,
                   size_t *len)
{
	struct wr__text t = {0};
	char at[24];

	wr__text_put(&t, "{\"kind\":", 8);
	wr__text_str(&t, k->name);
	wr__text_put(&t, ",\"event_id\":", 12);
	wr__text_u64(&t, rec->event_id);
	wr__text_put(&t, ",\"at_ms\":", 9);
	wr__text_put(&t, at, (size_t)snprintf(at, sizeof(at), "%" PRId64,
	                                      rec->at_ms));
	for (unsigned i = 0; i < F_COUNT; i++) {
		unsigned f = 1u << i;

		if (((k->required | k->optional) & f) != 0 &&
		    !text_field(&t, rec, i) && (k->required & f) != 0) {
			free(t.p);
			errno = EINVAL;
			return NULL;
		}
	}
	wr__text_put(&t, "}", 1);
	if (t.failed) {
		free(t.p);
		errno = ENOMEM;
		return NULL;
	}
	t.p[t.len] = '\0';
	*len = t.len;
	return t.p;
}

char *
wr__record_encode(const struct wr__record *rec, size_t *len)
{
	const struct kind_desc *k;

	if ((unsigned)rec->kind >= N_KINDS || kinds[rec->kind].name == NULL) {
		errno = EINVAL;
		return NULL;
	}
	k = &kinds[rec->kind];
	if (((k->required | k->optional) & F_WORKER) == 0)
		return record_encode_text(rec, k, len);
	return wr__record_encode_tree(rec, len);
}

char *
wr__record_encode_tree(const struct wr__record *rec, size_t *len)
{
	const struct kind_desc *k;
	json_object *o = NULL;
	char *out = NULL;
	size_t n = 0;
	int e = ENOMEM;

	if ((unsigned)rec->kind >= N_KINDS || kinds[rec->kind].name == NULL) {
		e = EINVAL;
		goto done;
	}
	k = &kinds[rec->kind];
	if ((o = json_object_new_object()) == NULL ||
	    !wr__json_add(o, "kind", json_object_new_string(k->name)) ||
	    !wr__json_add(o, "event_id",
	                  json_object_new_uint64(rec->event_id)) ||
	    !wr__json_add(o, "at_ms", json_object_new_int64(rec->at_ms)))
		goto done;
	for (unsigned i = 0; i < F_COUNT; i++) {
		unsigned f = 1u << i;
		json_object *v;
		bool absent;

		if (((k->required | k->optional) & f) == 0)
			continue;
		errno = 0;
		v = field_value(rec, f, &absent);
		if (v == NULL && !absent && errno == EINVAL) {
			e = EINVAL;
			goto done;
		}
		if (absent) {
			if (k->required & f) {
				e = EINVAL;
				goto done;
			}
			continue;
		}
		if (!wr__json_add(o, field_names[i], v))
			goto done;
	}
	if ((out = wr__json_text(o, JSON_FLAGS, &n)) == NULL)
		goto done;
	*len = n;
done:
	json_object_put(o);
	if (out == NULL)
		errno = e;
	return out;
}

/* ---- decoding ----------------------------------------------------------- */

/* Where the verdict goes: store_corrupt with what is wrong, or
 * out_of_memory, which judges nothing. */
struct dec {
	struct wr_error *err;
};

/* The payload is damage: fmt names what, with one string arg. */
static int
refuse(struct dec *d, const char *fmt, const char *arg)
{
	char why[WR_MESSAGE_MAX];

	snprintf(why, sizeof(why), fmt, arg);
	wr__fail(d->err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL, "%s",
	         why);
	return -1;
}

/* Memory ran out: nothing is known about the payload. */
static int
nomem(struct dec *d)
{
	wr__oom(d->err);
	return -1;
}

static int
get_u64(struct dec *d, json_object *v, const char *key, uint64_t *out)
{
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return refuse(d, "member '%s' is not a non-negative integer",
		              key);
	*out = json_object_get_uint64(v);
	return 0;
}

/* A string member without NUL bytes; borrowed from v. */
static int
get_str(struct dec *d, json_object *v, const char *key, const char **out)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return refuse(d, "member '%s' is not a string", key);
	if ((s = wr__json_plain_string(v, NULL)) == NULL)
		return refuse(d, "member '%s' contains a NUL byte", key);
	*out = s;
	return 0;
}

static int
get_id(struct dec *d, json_object *v, const char *key,
       char out[WR_ID_MAX + 1])
{
	const char *s;

	if (get_str(d, v, key, &s) < 0)
		return -1;
	if (!wr_id_valid(s))
		return refuse(d, "member '%s' is not a valid id", key);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int
get_dup(struct dec *d, json_object *v, const char *key, char **out)
{
	const char *s;

	if (get_str(d, v, key, &s) < 0)
		return -1;
	if ((*out = strdup(s)) == NULL)
		return nomem(d);
	return 0;
}

/* An enum by its wire name: names(0), names(1), ... until NULL. */
static int
get_enum(struct dec *d, json_object *v, const char *key,
         const char *(*names)(int), int *out)
{
	const char *s, *n;

	if (get_str(d, v, key, &s) < 0)
		return -1;
	for (int i = 0; (n = names(i)) != NULL; i++) {
		if (strcmp(n, s) == 0) {
			*out = i;
			return 0;
		}
	}
	return refuse(d, "member '%s' has an unknown value", key);
}

static const char *
role_name(int v)
{
	return wr_role_name((enum wr_role)v);
}

static const char *
status_name(int v)
{
	return wr_worker_status_name((enum wr_worker_status)v);
}

static const char *
run_state_name(int v)
{
	return wr_run_state_name((enum wr_run_state)v);
}

static const char *
runtime_status_name(int v)
{
	return wr_runtime_status_name((enum wr_runtime_status)v);
}

static int
get_worker(struct dec *d, json_object *v, struct wr_worker_info **out)
{
	struct wr_worker_info *w = calloc(1, sizeof(*w));
	struct wr_error e;

	if (w == NULL)
		return nomem(d);
	if (wr__json_worker_from_object(v, "worker", w, &e) != WR_OK) {
		free(w);
		return e.code == WR_EINTERNAL ? nomem(d)
		                              : refuse(d, "%s", e.message);
	}
	*out = w;
	return 0;
}

/* 64 lowercase hex digits into the 32 bytes of a SHA-256 digest. */
static int
get_digest(struct dec *d, json_object *v, const char *key,
           unsigned char out[32])
{
	const char *s;

	if (get_str(d, v, key, &s) < 0)
		return -1;
	if (strlen(s) != 64)
		return refuse(d, "member '%s' is not 64 hex digits", key);
	for (size_t i = 0; i < 64; i++) {
		char c = s[i];
		int x = c >= '0' && c <= '9' ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (x < 0)
			return refuse(d, "member '%s' is not 64 hex digits",
			              key);
		out[i / 2] = (unsigned char)(i % 2 ? out[i / 2] | x : x << 4);
	}
	return 0;
}

static int
get_http_status(struct dec *d, json_object *v, const char *key, int *out)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int) ||
	    (n = json_object_get_int64(v)) < 200 || n > 299)
		return refuse(d, "member '%s' is not a 2xx status", key);
	*out = (int)n;
	return 0;
}

static int
decode_field(struct dec *d, unsigned i, json_object *v, struct wr__record *r)
{
	const char *key = field_names[i];
	int e = 0;

	switch (1u << i) {
	case F_RUNTIME_ID:
		return get_id(d, v, key, r->runtime_id);
	case F_WORKER_ID:
		return get_id(d, v, key, r->worker_id);
	case F_WORKER:
		return get_worker(d, v, &r->worker);
	case F_ROLE:
		if (get_enum(d, v, key, role_name, &e) < 0)
			return -1;
		r->role = (enum wr_role)e;
		return 0;
	case F_SEQUENCE:
		return get_u64(d, v, key, &r->sequence);
	case F_CONTENT:
		return get_dup(d, v, key, &r->content);
	case F_TURN_STARTED:
		if (!json_object_is_type(v, json_type_boolean))
			return refuse(d, "member '%s' is not a boolean", key);
		r->turn_started = json_object_get_boolean(v);
		return 0;
	case F_STATUS:
		if (get_enum(d, v, key, status_name, &e) < 0)
			return -1;
		r->status = (enum wr_worker_status)e;
		return 0;
	case F_RUN_STATE:
		if (get_enum(d, v, key, run_state_name, &e) < 0)
			return -1;
		r->run_state = (enum wr_run_state)e;
		return 0;
	case F_REASON:
		return get_dup(d, v, key, &r->reason);
	case F_DELETED_COUNT:
		return get_u64(d, v, key, &r->deleted_count);
	case F_RUNTIME_STATUS:
		if (get_enum(d, v, key, runtime_status_name, &e) < 0)
			return -1;
		r->runtime_status = (enum wr_runtime_status)e;
		return 0;
	case F_IDEM_KEY:
		if (get_dup(d, v, key, &r->idem_key) < 0)
			return -1;
		if (wr_idempotency_key_check(r->idem_key, NULL) != WR_OK)
			return refuse(d, "member '%s' is not a valid key", key);
		return 0;
	case F_IDEM_DIGEST:
		return get_digest(d, v, key, r->idem_digest);
	case F_IDEM_STATUS:
		return get_http_status(d, v, key, &r->idem_status);
	case F_IDEM_BODY:
		return get_dup(d, v, key, &r->idem_body);
	}
	return refuse(d, "internal: no decoder for '%s'", key);
}

/* Members of o into r for kind k; -1 on the first problem. */
static int
decode_members(struct dec *d, json_object *o, const struct kind_desc *k,
               struct wr__record *r)
{
	unsigned seen = 0;
	bool have_event = false, have_at = false;

	json_object_object_foreach(o, key, v)
	{
		unsigned i;

		if (strcmp(key, "kind") == 0)
			continue;
		if (strcmp(key, "event_id") == 0) {
			if (get_u64(d, v, key, &r->event_id) < 0)
				return -1;
			have_event = true;
			continue;
		}
		if (strcmp(key, "at_ms") == 0) {
			if (!json_object_is_type(v, json_type_int))
				return refuse(d, "member '%s' is not an integer",
				              key);
			r->at_ms = json_object_get_int64(v);
			have_at = true;
			continue;
		}
		for (i = 0; i < F_COUNT; i++)
			if (strcmp(key, field_names[i]) == 0)
				break;
		if (i == F_COUNT || ((k->required | k->optional) &
		                     (1u << i)) == 0)
			return refuse(d, "unknown member '%s'", key);
		if (decode_field(d, i, v, r) < 0)
			return -1;
		seen |= 1u << i;
	}
	if (!have_event)
		return refuse(d, "missing member '%s'", "event_id");
	if (!have_at)
		return refuse(d, "missing member '%s'", "at_ms");
	for (unsigned i = 0; i < F_COUNT; i++)
		if ((k->required & (1u << i)) && !(seen & (1u << i)))
			return refuse(d, "missing member '%s'", field_names[i]);
	if ((seen & F_IDEM) != 0 && (seen & F_IDEM) != F_IDEM)
		return refuse(d, "%s members come all together or not at all",
		              "idempotency_*");
	return 0;
}

/* ---- the fast path of decoding ----------------------------------------- */

/*
 * Almost every record of a large store is a transcript entry, written by
 * wr__record_encode in one fixed form.  fast_transcript() reads exactly
 * that form with one pass over the bytes and no tree; whatever it does
 * not recognise (other kinds, another member order, whitespace, escapes
 * other than the short ones and \u0001-\u001f, integers over 18 digits,
 * text that is not UTF-8, ...) goes to the strict path, which decides.
 * So the fast path never refuses anything, and what it accepts the strict
 * path accepts too, into the same record (tests/test_store.c compares the
 * two on generated records, their mutations and the fuzz corpora;
 * tests/fuzz/fuzz-store.c on every payload it is given).
 */
struct cur {
	const char *p, *end;
};

static bool
fast_lit(struct cur *c, const char *s, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}
#define FAST_LIT(c, s) fast_lit((c), (s), sizeof(s) - 1)

/* An integer written as the strict reader reads it: 0, or 1 to 18 digits
 * without a leading zero (no overflow possible), '-' first if neg_ok;
 * never -0.  What follows is checked by the caller's next literal. */
static bool
fast_int(struct cur *c, bool neg_ok, int64_t *out)
{
	bool neg = false;
	int64_t v = 0;
	int nd = 0;

	if (neg_ok && c->p < c->end && *c->p == '-') {
		neg = true;
		c->p++;
	}
	if (c->p >= c->end || *c->p < '0' || *c->p > '9' ||
	    (*c->p == '0' && neg))
		return false;
	if (*c->p == '0') {
		c->p++;
		*out = 0;
		return c->p >= c->end || *c->p < '0' || *c->p > '9';
	}
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (++nd > 18)
			return false;
		v = v * 10 + (*c->p++ - '0');
	}
	*out = neg ? -v : v;
	return true;
}

static int
hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char ch = p[i];
		int d = ch >= '0' && ch <= '9'   ? ch - '0'
		        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
		        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
		                                 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* One escape after the backslash at c->p[-1]: the byte it stands for, or
 * -1 for one left to the strict path. */
static int
fast_escape(struct cur *c)
{
	int v;

	if (c->p >= c->end)
		return -1;
	switch (*c->p++) {
	case '"': return '"';
	case '\\': return '\\';
	case '/': return '/';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u':
		if (c->end - c->p < 4 || (v = hex4(c->p)) < 1 || v > 0x1f)
			return -1;
		c->p += 4;
		return v;
	}
	return -1;
}

/* The raw length of the string whose text starts at c->p (after its
 * opening quote), up to its closing quote; false if there is none. */
static bool
fast_str_span(const struct cur *c, size_t *raw)
{
	const char *q = c->p;

	while (q < c->end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	if (q >= c->end)
		return false;
	*raw = (size_t)(q - c->p);
	return true;
}

/* The string at c->p into buf (at least raw + 1 bytes, raw from
 * fast_str_span): *n bytes plus a NUL.  False: left to the strict path. */
static bool
fast_str_into(struct cur *c, char *buf, size_t *n)
{
	unsigned char high = 0;
	size_t used = 0;

	while (*c->p != '"') {
		unsigned char ch = (unsigned char)*c->p++;
		int e;

		if (ch < 0x20)
			return false;
		if (ch == '\\') {
			if ((e = fast_escape(c)) < 0)
				return false;
			ch = (unsigned char)e;
		}
		high |= ch;
		buf[used++] = (char)ch;
	}
	if ((high & 0x80) && !wr__utf8_valid(buf, used))
		return false;
	c->p++;
	buf[used] = '\0';
	*n = used;
	return true;
}

/* A string into a new buffer the caller frees (*out, *n bytes plus a
 * NUL).  1: read; 0: left to the strict path; -1: out of memory. */
static int
fast_str(struct cur *c, char **out, size_t *n)
{
	size_t raw;
	char *buf;

	if (!FAST_LIT(c, "\"") || !fast_str_span(c, &raw))
		return 0;
	if ((buf = malloc(raw + 1)) == NULL)
		return -1;
	if (!fast_str_into(c, buf, n)) {
		free(buf);
		return 0;
	}
	*out = buf;
	return 1;
}

/* A short string (an id, an enum name) into buf[0..WR_ID_MAX]. */
static bool
fast_short(struct cur *c, char buf[WR_ID_MAX + 1])
{
	size_t raw, n;

	return FAST_LIT(c, "\"") && fast_str_span(c, &raw) && raw <= WR_ID_MAX &&
	       fast_str_into(c, buf, &n);
}

/* A string member that must be an id (into out) or one of names(i). */
static int
fast_id(struct cur *c, char out[WR_ID_MAX + 1])
{
	char s[WR_ID_MAX + 1];

	if (!fast_short(c, s) || !wr_id_valid(s))
		return 0;
	memcpy(out, s, strlen(s) + 1);
	return 1;
}

static int
fast_enum(struct cur *c, const char *(*names)(int), int *out)
{
	char s[WR_ID_MAX + 1];
	const char *name;

	if (!fast_short(c, s))
		return 0;
	for (int i = 0; (name = names(i)) != NULL; i++) {
		if (strcmp(name, s) == 0) {
			*out = i;
			return 1;
		}
	}
	return 0;
}

/*
 * A transcript record in wr__record_encode's form into *r.  1: decoded
 * (r owns its content); 0: left to the strict path (r holds nothing);
 * -1: out of memory (r holds nothing).
 */
static int
fast_transcript(const char *buf, size_t len, struct wr__record *r)
{
	struct cur c = {buf, buf + len};
	int64_t ev, at, seq;
	size_t n;
	int rc, role = 0;

	memset(r, 0, sizeof(*r));
	if (!FAST_LIT(&c, "{\"kind\":\"transcript\",\"event_id\":") ||
	    !fast_int(&c, false, &ev) || !FAST_LIT(&c, ",\"at_ms\":") ||
	    !fast_int(&c, true, &at) || !FAST_LIT(&c, ",\"worker_id\":"))
		return 0;
	if ((rc = fast_id(&c, r->worker_id)) != 1)
		return rc;
	if (!FAST_LIT(&c, ",\"role\":"))
		return 0;
	if ((rc = fast_enum(&c, role_name, &role)) != 1)
		return rc;
	if (!FAST_LIT(&c, ",\"sequence\":") || !fast_int(&c, false, &seq) ||
	    !FAST_LIT(&c, ",\"content\":"))
		return 0;
	if ((rc = fast_str(&c, &r->content, &n)) != 1)
		return rc;
	if (FAST_LIT(&c, ",\"turn_started\":true}"))
		r->turn_started = true;
	else if (!FAST_LIT(&c, ",\"turn_started\":false}"))
		c.p = c.end + 1; /* neither: not this form */
	if (c.p != c.end) {
		free(r->content);
		memset(r, 0, sizeof(*r));
		return 0;
	}
	r->kind = WR__REC_TRANSCRIPT;
	r->event_id = (uint64_t)ev;
	r->at_ms = at;
	r->role = (enum wr_role)role;
	r->sequence = (uint64_t)seq;
	return 1;
}

wr_err
wr__record_decode(const char *buf, size_t len, struct wr__record *rec,
                  struct wr_error *err)
{
	struct wr__record r;
	int rc = len > 0 && len <= (size_t)INT32_MAX
	                 ? fast_transcript(buf, len, &r)
	                 : 0;

	if (rc == 1) {
		*rec = r;
		return WR_OK;
	}
	if (rc < 0)
		return wr__oom(err);
	return wr__record_decode_strict(buf, len, rec, err);
}

wr_err
wr__record_decode_strict(const char *buf, size_t len, struct wr__record *rec,
                         struct wr_error *err)
{
	struct wr_error own;
	struct dec d = {err != NULL ? err : &own};
	struct wr__record r = {0};
	json_object *o = NULL, *kv;
	struct wr_error e;
	const char *kind;
	wr_err rc;
	size_t i;

	if (len == 0 || len > (size_t)INT32_MAX) {
		refuse(&d, "%s", "payload length out of range");
		goto done;
	}
	/* The one strict reader: a record json-c would read differently
	 * (a duplicate member, say) is damage, like any other; json-c
	 * running out of memory is not. */
	if ((rc = wr__json_parse(buf, len, WR_JSON_MAX_DEPTH + 4, &o, &e)) !=
	    WR_OK) {
		if (rc == WR_EINTERNAL)
			nomem(&d);
		else
			wr__fail(d.err, WR_EUNAVAILABLE,
			         WR_REASON_STORE_CORRUPT, NULL,
			         "payload: %s (%s)", e.message,
			         wr_reason_name(e.reason));
		goto done;
	}
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "kind", &kv) ||
	    !json_object_is_type(kv, json_type_string)) {
		refuse(&d, "%s", "payload is not an object with a kind");
		goto done;
	}
	kind = json_object_get_string(kv);
	for (i = 0; i < N_KINDS; i++)
		if (kinds[i].name != NULL && strcmp(kinds[i].name, kind) == 0)
			break;
	if (i == N_KINDS) {
		refuse(&d, "unknown record kind '%.32s'", kind);
		goto done;
	}
	r.kind = (enum wr__record_kind)i;
	if (decode_members(&d, o, &kinds[i], &r) < 0)
		goto done;
	*rec = r;
	memset(&r, 0, sizeof(r));
	json_object_put(o);
	return WR_OK;
done:
	wr__record_clear(&r);
	json_object_put(o);
	return d.err->code;
}

/* ---- field rules after decoding ----------------------------------------- */

/* The live rule's verdict as a why text; 0 if it passed. */
static int
rule(wr_err rc, const struct wr_error *e, const char *what, char *why,
     size_t whysz)
{
	if (rc == WR_OK)
		return 0;
	snprintf(why, whysz, "%s: %s", what, e->message);
	return -1;
}

/* run_state as live commits leave it: idle or busy while running, none
 * once the worker ended. */
static bool
run_state_fits(enum wr_worker_status st, enum wr_run_state rs)
{
	if (st == WR_STATUS_RUNNING)
		return rs == WR_RUN_IDLE || rs == WR_RUN_BUSY;
	return rs == WR_RUN_NONE;
}

/* A time the Runtime's clock gave: 1970 .. the last instant the API
 * prints (WR__TIME_MAX_MS). */
static int
time_fits(int64_t ms, const char *what, char *why, size_t whysz)
{
	if (ms >= 0 && ms <= WR__TIME_MAX_MS)
		return 0;
	snprintf(why, whysz, "%s %lld is outside 0..%lld (1970 to "
	         "9999-12-31T23:59:59.999Z)", what, (long long)ms,
	         (long long)WR__TIME_MAX_MS);
	return -1;
}

/* What only some kinds' live writes set, refused on the others: a turn
 * starts only with input; a status record only ends a worker, and only a
 * failure carries text; the Runtime journals stopping and stopped, never
 * running (a new process runs without saying so). */
static int
values_fit(const struct wr__record *rec, char *why, size_t whysz)
{
	if (rec->kind == WR__REC_TRANSCRIPT && rec->turn_started &&
	    rec->role != WR_ROLE_USER && rec->role != WR_ROLE_SYSTEM)
		snprintf(why, whysz, "a %s entry starts a turn",
		         wr_role_name(rec->role));
	else if (rec->kind == WR__REC_WORKER_STATUS &&
	         rec->status == WR_STATUS_RUNNING)
		snprintf(why, whysz, "worker_status running (only ends are "
		         "written)");
	else if (rec->kind == WR__REC_WORKER_STATUS && rec->content != NULL &&
	         rec->status != WR_STATUS_FAILED)
		snprintf(why, whysz, "failure text with status %s",
		         wr_worker_status_name(rec->status));
	else if (rec->kind == WR__REC_RUNTIME_STATUS &&
	         rec->runtime_status == WR_RUNTIME_RUNNING)
		snprintf(why, whysz, "runtime_status running (only stopping "
		         "and stopped are written)");
	else
		return 0;
	return -1;
}

int
wr__record_check(const struct wr__record *rec, char *why, size_t whysz)
{
	struct wr_error e;
	wr_err rc = WR_OK;

	if (time_fits(rec->at_ms, "at_ms", why, whysz) < 0 ||
	    (rec->worker != NULL &&
	     (time_fits(rec->worker->created_at_ms, "worker created_at", why,
	                whysz) < 0 ||
	      time_fits(rec->worker->updated_at_ms, "worker updated_at", why,
	                whysz) < 0)) ||
	    values_fit(rec, why, whysz) < 0)
		return -1;
	switch (rec->kind) {
	case WR__REC_TRANSCRIPT:
		if (rec->sequence == 0) {
			snprintf(why, whysz, "transcript sequence 0 (1-based)");
			return -1;
		}
		if (rec->role == WR_ROLE_USER || rec->role == WR_ROLE_SYSTEM)
			rc = wr__content_check(rec->content,
			                       WR__INPUT_BYTES_CEILING,
			                       "content", &e);
		else
			rc = wr__emitted_check(rec->content, &e);
		return rule(rc, &e, "transcript content", why, whysz);
	case WR__REC_WORKER_STATUS:
		if (rec->content != NULL &&
		    (rc = wr__emitted_check(rec->content, &e)) != WR_OK)
			return rule(rc, &e, "failure text", why, whysz);
		return rule(wr__reason_check(rec->reason, &e), &e, "reason",
		            why, whysz);
	case WR__REC_WORKER_STATE:
		if (!run_state_fits(rec->status, rec->run_state)) {
			snprintf(why, whysz, "run_state %s with status %s",
			         wr_run_state_name(rec->run_state),
			         wr_worker_status_name(rec->status));
			return -1;
		}
		return rule(wr__reason_check(rec->reason, &e), &e, "reason",
		            why, whysz);
	case WR__REC_WORKER_CREATED:
		if (rec->worker != NULL &&
		    !run_state_fits(rec->worker->status,
		                    rec->worker->run_state)) {
			snprintf(why, whysz, "worker run_state %s with status %s",
			         wr_run_state_name(rec->worker->run_state),
			         wr_worker_status_name(rec->worker->status));
			return -1;
		}
		return 0;
	case WR__REC_META:
	case WR__REC_TURN_END:
	case WR__REC_RUNTIME_STATUS:
	case WR__REC_WORKER_DELETED:
	case WR__REC_IDEMPOTENCY:
		return 0;
	}
	snprintf(why, whysz, "unknown record kind");
	return -1;
}

void
wr__record_clear(struct wr__record *rec)
{
	if (rec == NULL)
		return;
	wr_worker_info_free(rec->worker);
	free(rec->content);
	free(rec->reason);
	free(rec->idem_key);
	free(rec->idem_body);
	rec->worker = NULL;
	rec->content = NULL;
	rec->reason = NULL;
	rec->idem_key = NULL;
	rec->idem_body = NULL;
}
