/*
 * codec/encode.c - structs -> JSON text in the DESIGN section 3 shapes.
 *
 * Member order is fixed (the order the shapes are listed in), so equal
 * structs always encode to identical bytes.  Optional members are omitted,
 * never written as null, except where the shape says null (display_name,
 * next_start).  A NULL string where a string is required is written as ""
 * rather than crashing; an enum value out of range makes the encoder fail
 * (returns NULL) because there is no honest wire value for it.
 *
 * json-c ownership: every member and item is added with wr__json_add /
 * wr__json_push (codec/json.h), which hand the value to the container and
 * take it in all cases, also when they fail, so no caller ever frees a
 * child and a failed constructor is never written as null.
 */
#include "config.h"

#include "codec/json.h"
#include "codec/json_text.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* ---- encode helpers ------------------------------------------------- */

typedef struct json_object jobj;

static bool
add_str(jobj *o, const char *key, const char *s)
{
	return wr__json_add(o, key, json_object_new_string(s != NULL ? s : ""));
}

static bool
add_u64(jobj *o, const char *key, uint64_t v)
{
	return wr__json_add(o, key, json_object_new_uint64(v));
}

static bool
add_bool(jobj *o, const char *key, bool v)
{
	return wr__json_add(o, key, json_object_new_boolean(v));
}

/* A new array with room for n items (a hint only; capped so a huge n
 * cannot turn into a huge up-front allocation or an int overflow). */
static jobj *
new_array(size_t n)
{
	return json_object_new_array_ext(n == 0 ? 1 : n > 1024 ? 1024 : (int)n);
}

/* A JSON null is a NULL json_object in json-c; adding it owns nothing. */
static bool
add_null(jobj *o, const char *key)
{
	return json_object_object_add(o, key, NULL) == 0;
}

/* Adds the wire name of an enum value; false if out of range. */
static bool
add_name(jobj *o, const char *key, wr__name_fn fn, int value)
{
	const char *name = fn(value);
	return name != NULL && add_str(o, key, name);
}

static bool
add_time(jobj *o, const char *key, int64_t ms)
{
	char buf[25];
	wr_time_format(ms, buf);
	return add_str(o, key, buf);
}

/*
 * Serialises root (consumed: freed in every case), wrapped in
 * {"<envelope>": root} when envelope is not NULL.  Returns a malloc'd copy
 * of the text, NULL on OOM or when root is NULL (a failed build).
 */
static char *
finish(jobj *root, const char *envelope, size_t *len)
{
	char *out = NULL;
	size_t n = 0;

	if (root == NULL)
		return NULL;
	if (envelope != NULL) {
		jobj *env = json_object_new_object();
		if (env == NULL) {
			json_object_put(root);
			return NULL;
		}
		/* root is now env's or gone */
		if (!wr__json_add(env, envelope, root)) {
			json_object_put(env);
			return NULL;
		}
		root = env;
	}
	out = wr__json_text(root, JSON_C_TO_STRING_PLAIN |
	                                  JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (out != NULL && len != NULL)
		*len = n;
	json_object_put(root);
	return out;
}

/* ---- shape builders ------------------------------------------------- */
/* Each returns a new object owned by the caller, or NULL on failure. */

static jobj *
ref_obj(const struct wr_worker_ref *r)
{
	jobj *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (!add_str(o, "runtime_id", r->runtime_id) ||
	    !add_str(o, "worker_id", r->worker_id)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static jobj *
intent_obj(const struct wr_intent *in)
{
	jobj *o = json_object_new_object();
	bool ok;

	if (o == NULL)
		return NULL;
	ok = add_name(o, "kind", wr__intent_kind_name, (int)in->kind);
	switch (in->kind) {
	case WR_INTENT_ASSISTANT:
		if (ok && in->purpose != NULL)
			ok = add_str(o, "purpose", in->purpose);
		break;
	case WR_INTENT_TASK:
		ok = ok && add_str(o, "objective", in->objective);
		break;
	case WR_INTENT_ROLE:
		ok = ok && add_str(o, "role", in->role);
		if (ok && in->purpose != NULL)
			ok = add_str(o, "purpose", in->purpose);
		break;
	}
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static jobj *
profile_obj(const struct wr_profile_ref *p)
{
	jobj *o = json_object_new_object();
	bool ok;

	if (o == NULL)
		return NULL;
	ok = add_name(o, "kind", wr__profile_kind_name, (int)p->kind);
	if (ok && p->kind != WR_PROFILE_RUNTIME_DEFAULT)
		ok = add_str(o, "value", p->value);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static jobj *
config_bundle_obj(const char *id)
{
	jobj *o = json_object_new_object();
	if (o != NULL && !add_str(o, "id", id)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static jobj *
capabilities_arr(const struct wr_capability *c, size_t n)
{
	jobj *a = new_array(n);
	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		jobj *o = json_object_new_object();
		if (!wr__json_push(a, o) || !add_str(o, "name", c[i].name) ||
		    (c[i].reason != NULL && !add_str(o, "reason", c[i].reason))) {
			json_object_put(a); /* frees o too once pushed */
			return NULL;
		}
	}
	return a;
}

static jobj *
mount_refs_arr(const struct wr_mount_ref *r, size_t n)
{
	jobj *a = new_array(n);
	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		jobj *o = json_object_new_object();
		if (!wr__json_push(a, o) || !add_str(o, "name", r[i].name) ||
		    !add_str(o, "reference", r[i].reference)) {
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* WorkerSummary, plus the WorkerDetail members when detail is true. */
static jobj *
worker_obj(const struct wr_worker_info *w, bool detail)
{
	jobj *o = json_object_new_object();
	bool ok;

	if (o == NULL)
		return NULL;
	ok = wr__json_add(o, "worker_ref", ref_obj(&w->ref)) &&
	     add_str(o, "runtime_id", w->ref.runtime_id) &&
	     add_str(o, "worker_id", w->ref.worker_id) &&
	     add_name(o, "status", wr__status_name, (int)w->status) &&
	     add_name(o, "run_state", wr__run_state_name, (int)w->run_state) &&
	     wr__json_add(o, "intent", intent_obj(&w->intent)) &&
	     wr__json_add(o, "profile", profile_obj(&w->profile)) &&
	     add_u64(o, "requested_capability_count", w->n_capabilities) &&
	     add_bool(o, "has_config_bundle", w->config_bundle_id != NULL) &&
	     add_u64(o, "transcript_len", w->transcript_len) &&
	     add_u64(o, "last_event_id", w->last_event_id) &&
	     add_time(o, "created_at", w->created_at_ms) &&
	     add_time(o, "updated_at", w->updated_at_ms);
	if (ok && detail) {
		/* Absent when none (so a store record, which never has one,
		 * keeps its bytes). */
		if (w->status_reason != NULL)
			ok = add_str(o, "status_reason", w->status_reason);
		if (ok && w->config_bundle_id != NULL)
			ok = wr__json_add(o, "config_bundle",
			         config_bundle_obj(w->config_bundle_id));
		ok = ok &&
		     wr__json_add(o, "requested_capabilities",
		         capabilities_arr(w->capabilities, w->n_capabilities)) &&
		     wr__json_add(o, "workspace_refs",
		         mount_refs_arr(w->workspace_refs,
		                        w->n_workspace_refs)) &&
		     wr__json_add(o, "mount_refs",
		         mount_refs_arr(w->mount_refs, w->n_mount_refs));
	}
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

wr_err
wr__json_worker_to_object(const struct wr_worker_info *w, json_object **out,
                          struct wr_error *err)
{
	static const char *const what[] = {"status", "run_state",
	                                   "intent.kind", "profile.kind"};
	const char *names[] = {
		wr__status_name((int)w->status),
		wr__run_state_name((int)w->run_state),
		wr__intent_kind_name((int)w->intent.kind),
		wr__profile_kind_name((int)w->profile.kind)};
	jobj *o;

	/* worker_obj fails on either; tell a value without a wire name
	 * from running out of memory. */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i] == NULL)
			return wr__json_bad(err, WR_REASON_INVALID_VALUE, what[i],
			                    "the worker's %s has no wire name",
			                    what[i]);
	if ((o = worker_obj(w, true)) == NULL)
		return wr__oom(err);
	*out = o;
	return WR_OK;
}

/* ---- encoders ------------------------------------------------------- */

static jobj *
limits_obj(const struct wr_limits *l)
{
	jobj *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (!add_u64(o, "max_transcript_projection_items",
	             l->max_transcript_projection_items) ||
	    !add_u64(o, "max_input_bytes", l->max_input_bytes) ||
	    !add_u64(o, "max_workers", l->max_workers)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

char *
wr_json_encode_runtime_summary(const struct wr_runtime_summary *s,
                               const char *envelope, size_t *len)
{
	jobj *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (!add_str(o, "runtime_id", s->runtime_id) ||
	    !(s->has_display_name ? add_str(o, "display_name", s->display_name)
	                          : add_null(o, "display_name")) ||
	    !add_str(o, "backend", s->backend) ||
	    !add_name(o, "status", wr__runtime_status_name, (int)s->status) ||
	    !add_u64(o, "worker_count", s->worker_count) ||
	    !add_u64(o, "active_worker_count", s->active_worker_count) ||
	    !add_u64(o, "stopped_worker_count", s->stopped_worker_count) ||
	    !add_u64(o, "cancelled_worker_count", s->cancelled_worker_count) ||
	    !add_u64(o, "failed_worker_count", s->failed_worker_count) ||
	    !add_u64(o, "deleted_worker_count", s->deleted_worker_count) ||
	    !add_u64(o, "diagnostic_count", s->diagnostic_count) ||
	    !wr__json_add(o, "limits", limits_obj(&s->limits)) ||
	    !add_str(o, "version", s->version) ||
	    !add_time(o, "started_at", s->started_at_ms)) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, envelope, len);
}

char *
wr_json_encode_worker_summary(const struct wr_worker_info *w,
                              const char *envelope, size_t *len)
{
	return finish(worker_obj(w, false), envelope, len);
}

char *
wr_json_encode_worker_detail(const struct wr_worker_info *w,
                             const char *envelope, size_t *len)
{
	struct wr_error e;
	jobj *o = NULL;

	if (wr__json_worker_to_object(w, &o, &e) != WR_OK)
		return NULL;
	return finish(o, envelope, len);
}

char *
wr_json_encode_worker_list(const struct wr_worker_list *l,
                           const char *envelope, size_t *len)
{
	jobj *a = new_array(l->count);
	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < l->count; i++) {
		if (!wr__json_push(a, worker_obj(l->items[i], false))) {
			json_object_put(a);
			return NULL;
		}
	}
	return finish(a, envelope, len);
}

char *
wr_json_encode_worker_page(const struct wr_worker_list *l, size_t *len)
{
	jobj *o = json_object_new_object();
	jobj *a = new_array(l->count);

	if (o == NULL || a == NULL || !wr__json_add(o, "workers", a)) {
		json_object_put(o);
		if (o == NULL)
			json_object_put(a);
		return NULL;
	}
	for (size_t i = 0; i < l->count; i++) {
		if (!wr__json_push(a, worker_obj(l->items[i], false))) {
			json_object_put(o);
			return NULL;
		}
	}
	if (!(l->has_next ? add_str(o, "next_after", l->next_after)
	                  : add_null(o, "next_after"))) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, NULL, len);
}

char *
wr_json_encode_create_request(const struct wr_create_request *r,
                              const char *envelope, size_t *len)
{
	jobj *o = json_object_new_object();
	bool ok;

	if (o == NULL)
		return NULL;
	ok = wr__json_add(o, "intent", intent_obj(&r->intent)) &&
	     wr__json_add(o, "profile", profile_obj(&r->profile));
	if (ok && r->config_bundle_id != NULL)
		ok = wr__json_add(o, "config_bundle",
		                  config_bundle_obj(r->config_bundle_id));
	ok = ok &&
	     wr__json_add(o, "requested_capabilities",
	         capabilities_arr(r->capabilities, r->n_capabilities)) &&
	     wr__json_add(o, "workspace_refs",
	         mount_refs_arr(r->workspace_refs, r->n_workspace_refs)) &&
	     wr__json_add(o, "mount_refs",
	         mount_refs_arr(r->mount_refs, r->n_mount_refs));
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, envelope, len);
}

char *
wr_json_encode_input(const struct wr_input *in, const char *envelope,
                     size_t *len)
{
	jobj *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (!add_name(o, "kind", wr__input_kind_name, (int)in->kind) ||
	    !add_str(o, "content", in->content)) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, envelope, len);
}

char *
wr_json_encode_input_ack(const struct wr_input_ack *a,
                         const char *envelope, size_t *len)
{
	jobj *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (!wr__json_add(o, "worker_ref", ref_obj(&a->ref)) ||
	    !add_name(o, "status", wr__status_name, (int)a->status) ||
	    !add_name(o, "run_state", wr__run_state_name, (int)a->run_state) ||
	    !add_u64(o, "transcript_sequence", a->transcript_sequence) ||
	    !add_u64(o, "event_id", a->event_id)) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, envelope, len);
}

char *
wr_json_encode_lifecycle_request(const char *reason,
                                 const char *envelope, size_t *len)
{
	jobj *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (reason != NULL && !add_str(o, "reason", reason)) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, envelope, len);
}

char *
wr_json_encode_lifecycle_ack(const struct wr_lifecycle_ack *a,
                             const char *envelope, size_t *len)
{
	jobj *o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (!wr__json_add(o, "worker_ref", ref_obj(&a->ref)) ||
	    !add_name(o, "status", wr__status_name, (int)a->status) ||
	    !add_u64(o, "event_id", a->event_id) ||
	    (a->deleted && !add_bool(o, "deleted", true))) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, envelope, len);
}

/*
 * ---- transcript pages: text written straight into one buffer ----------
 *
 * A page is the one response that grows with data (up to 100,000 entries,
 * about 8 MiB of content), and a json-c tree costs some ten allocations
 * per entry.  So a page is appended straight into one buffer, sized from
 * the contents up front, in exactly the bytes json-c writes for the same
 * tree with JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE (the
 * codec tests compare the two).
 */
struct text {
	char *p;
	size_t len, cap;
	bool failed; /* out of memory: every later append does nothing */
};

static bool
text_reserve(struct text *t, size_t n)
{
	size_t cap = t->cap;
	char *np;

	if (t->failed)
		return false;
	if (n < SIZE_MAX - t->len - 1 && t->len + n + 1 <= cap)
		return true;
	if (n >= SIZE_MAX / 4 - t->len) {
		t->failed = true;
		return false;
	}
	while (cap < t->len + n + 1)
		cap = cap < 256 ? 256 : cap * 2;
	if ((np = realloc(t->p, cap)) == NULL) {
		t->failed = true;
		return false;
	}
	t->p = np;
	t->cap = cap;
	return true;
}

static void
text_put(struct text *t, const char *s, size_t n)
{
	if (!text_reserve(t, n))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
}
#define TEXT_LIT(t, s) text_put((t), (s), sizeof(s) - 1)

static void
text_u64(struct text *t, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	text_put(t, d + i, sizeof(d) - i);
}

/* s as a JSON string, escaped as json-c escapes it: the five short
 * escapes, \" and \\, \u00xx (lower-case hex) for the other control
 * bytes, everything else (also '/' and bytes >= 0x7f) as it is. */
static void
text_str(struct text *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	TEXT_LIT(t, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = {'\\', 0, '0', '0', 0, 0};
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		text_put(t, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '\b': esc[1] = 'b'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\f': esc[1] = 'f'; break;
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		default:
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
		}
		text_put(t, esc, n);
	}
	text_put(t, run, (size_t)(s - run));
	TEXT_LIT(t, "\"");
}

static void
text_ref(struct text *t, const struct wr_worker_ref *r)
{
	TEXT_LIT(t, "{\"runtime_id\":");
	text_str(t, r->runtime_id);
	TEXT_LIT(t, ",\"worker_id\":");
	text_str(t, r->worker_id);
	TEXT_LIT(t, "}");
}

/* One entry; false if its role has no wire name. */
static bool
text_entry(struct text *t, const struct wr_transcript_entry *e,
           const struct wr_worker_ref *ref)
{
	const char *role = wr__role_name((int)e->role);
	char at[25];

	if (role == NULL)
		return false;
	wr_time_format(e->created_at_ms, at);
	TEXT_LIT(t, "{\"sequence\":");
	text_u64(t, e->sequence);
	TEXT_LIT(t, ",\"worker_ref\":");
	text_ref(t, ref);
	TEXT_LIT(t, ",\"role\":");
	text_str(t, role);
	TEXT_LIT(t, ",\"content\":");
	text_str(t, e->content != NULL ? e->content : "");
	TEXT_LIT(t, ",\"event_id\":");
	text_u64(t, e->event_id);
	TEXT_LIT(t, ",\"created_at\":");
	text_str(t, at);
	TEXT_LIT(t, "}");
	return true;
}

char *
wr_json_encode_transcript_page(const struct wr_transcript_page *p,
                               const char *envelope, size_t *len)
{
	struct text t = {0};
	size_t guess = 256;

	/* One allocation in the usual case: the contents plus ~200 bytes of
	 * members per entry (escapes may still grow it). */
	for (size_t i = 0; i < p->count && guess < SIZE_MAX / 4; i++)
		guess += 200 + (p->items[i].content != NULL
		                        ? strlen(p->items[i].content)
		                        : 0);
	text_reserve(&t, guess);
	if (envelope != NULL) {
		TEXT_LIT(&t, "{");
		text_str(&t, envelope);
		TEXT_LIT(&t, ":");
	}
	TEXT_LIT(&t, "{\"worker_ref\":");
	text_ref(&t, &p->ref);
	TEXT_LIT(&t, ",\"start\":");
	text_u64(&t, p->start);
	TEXT_LIT(&t, ",\"limit\":");
	text_u64(&t, p->limit);
	TEXT_LIT(&t, ",\"total_items\":");
	text_u64(&t, p->total_items);
	TEXT_LIT(&t, ",\"items\":[");
	for (size_t i = 0; i < p->count; i++) {
		if (i > 0)
			TEXT_LIT(&t, ",");
		if (!text_entry(&t, &p->items[i], &p->ref))
			t.failed = true;
	}
	TEXT_LIT(&t, "],\"next_start\":");
	if (p->has_next)
		text_u64(&t, p->next_start);
	else
		TEXT_LIT(&t, "null");
	TEXT_LIT(&t, "}");
	if (envelope != NULL)
		TEXT_LIT(&t, "}");
	if (t.failed) {
		free(t.p);
		return NULL;
	}
	t.p[t.len] = '\0';
	if (len != NULL)
		*len = t.len;
	return t.p;
}

/*
 * {"error": {"code", "message", "reason"?, "field"?, "worker_id"?,
 * "request_id"?}}.  An empty message is replaced by the taxonomy's message
 * so the member is never empty.
 */
char *
wr_json_encode_error(const struct wr_error *e, size_t *len)
{
	return wr_json_encode_error_request(e, NULL, len);
}

char *
wr_json_encode_error_request(const struct wr_error *e, const char *request_id,
                             size_t *len)
{
	jobj *o = json_object_new_object();
	bool ok;

	if (o == NULL)
		return NULL;
	ok = add_str(o, "code", wr_err_name(e->code)) &&
	     add_str(o, "message", e->message[0] != '\0'
	                                   ? e->message
	                                   : wr_strerror(e->code));
	if (ok && e->reason != WR_REASON_NONE)
		ok = add_str(o, "reason", wr_reason_name(e->reason));
	if (ok && e->field[0] != '\0')
		ok = add_str(o, "field", e->field);
	if (ok && e->worker_id[0] != '\0')
		ok = add_str(o, "worker_id", e->worker_id);
	if (ok && request_id != NULL && request_id[0] != '\0')
		ok = add_str(o, "request_id", request_id);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, "error", len);
}
