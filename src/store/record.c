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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/json_text.h"
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
	F_COUNT = 12
};

static const char *const field_names[F_COUNT] = {
	"runtime_id", "worker_id", "worker", "role", "sequence", "content",
	"turn_started", "status", "run_state", "reason", "runtime_status",
	"deleted_worker_count"
};

/* What each kind writes: required members always, optional ones when set
 * (a non-NULL string, a non-empty id). */
static const struct kind_desc {
	const char *name;
	unsigned required;
	unsigned optional;
} kinds[] = {
	[WR__REC_META] = {"meta", F_RUNTIME_ID, F_DELETED_COUNT},
	[WR__REC_WORKER_CREATED] = {"worker_created", F_WORKER, F_WORKER_ID},
	[WR__REC_TRANSCRIPT] = {"transcript",
	                        F_WORKER_ID | F_ROLE | F_SEQUENCE | F_CONTENT |
	                                F_TURN_STARTED,
	                        0},
	[WR__REC_TURN_END] = {"turn_end", F_WORKER_ID, 0},
	[WR__REC_WORKER_STATUS] = {"worker_status", F_WORKER_ID | F_STATUS,
	                           F_REASON | F_CONTENT},
	[WR__REC_RUNTIME_STATUS] = {"runtime_status", F_RUNTIME_STATUS, 0},
	[WR__REC_WORKER_STATE] = {"worker_state",
	                          F_WORKER_ID | F_STATUS | F_RUN_STATE, F_REASON},
	[WR__REC_WORKER_DELETED] = {"worker_deleted", F_WORKER_ID, 0},
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
	}
	*absent = true;
	return NULL;
}

char *
wr__record_encode(const struct wr__record *rec, size_t *len)
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
	return 0;
}

wr_err
wr__record_decode(const char *buf, size_t len, struct wr__record *rec,
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
	rec->worker = NULL;
	rec->content = NULL;
	rec->reason = NULL;
}
