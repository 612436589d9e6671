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
#include "codec/text.h"

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
wr__json_tree_encode_runtime_summary(const struct wr_runtime_summary *s,
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
wr__json_tree_encode_worker_summary(const struct wr_worker_info *w,
                              const char *envelope, size_t *len)
{
	return finish(worker_obj(w, false), envelope, len);
}

char *
wr__json_tree_encode_worker_detail(const struct wr_worker_info *w,
                             const char *envelope, size_t *len)
{
	struct wr_error e;
	jobj *o = NULL;

	if (wr__json_worker_to_object(w, &o, &e) != WR_OK)
		return NULL;
	return finish(o, envelope, len);
}

char *
wr__json_tree_encode_worker_list(const struct wr_worker_list *l,
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
wr__json_tree_encode_worker_page(const struct wr_worker_list *l, size_t *len)
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
wr__json_tree_encode_input_ack(const struct wr_input_ack *a,
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
wr__json_tree_encode_lifecycle_ack(const struct wr_lifecycle_ack *a,
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
 * codec tests compare the two).  The buffer is codec/text.h's, so that
 * core can put a page together from summaries it kept.
 */
static bool
text_reserve(struct wr__text *t, size_t n)
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
text_put(struct wr__text *t, const char *s, size_t n)
{
	if (!text_reserve(t, n))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
}
#define TEXT_LIT(t, s) text_put((t), (s), sizeof(s) - 1)

void
wr__text_u64(struct wr__text *t, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	text_put(t, d + i, sizeof(d) - i);
}

void
wr__text_str(struct wr__text *t, const char *s)
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

/* The bytes wr__text_str appends for s (NULL: none). */
static size_t
str_size(const char *s)
{
	size_t n = 2; /* the quotes */

	if (s == NULL)
		return 0;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c >= 0x20 && *c != '"' && *c != '\\')
			n += 1;
		else if (strchr("\"\\\b\n\r\t\f", *c) != NULL)
			n += 2; /* a short escape */
		else
			n += 6; /* \u00xx */
	}
	return n;
}

size_t
wr__worker_summary_size_max(const struct wr_worker_info *w)
{
	return WR__SUMMARY_FIXED_MAX + str_size(w->intent.purpose) +
	       str_size(w->intent.objective) + str_size(w->intent.role) +
	       str_size(w->profile.value);
}

static void
text_ref(struct wr__text *t, const struct wr_worker_ref *r)
{
	TEXT_LIT(t, "{\"runtime_id\":");
	wr__text_str(t, r->runtime_id);
	TEXT_LIT(t, ",\"worker_id\":");
	wr__text_str(t, r->worker_id);
	TEXT_LIT(t, "}");
}

/* One entry; false if its role has no wire name. */
static bool
text_entry(struct wr__text *t, const struct wr_transcript_entry *e,
           const struct wr_worker_ref *ref)
{
	const char *role = wr__role_name((int)e->role);
	char at[25];

	if (role == NULL)
		return false;
	wr_time_format(e->created_at_ms, at);
	TEXT_LIT(t, "{\"sequence\":");
	wr__text_u64(t, e->sequence);
	TEXT_LIT(t, ",\"worker_ref\":");
	text_ref(t, ref);
	TEXT_LIT(t, ",\"role\":");
	wr__text_str(t, role);
	TEXT_LIT(t, ",\"content\":");
	wr__text_str(t, e->content != NULL ? e->content : "");
	TEXT_LIT(t, ",\"event_id\":");
	wr__text_u64(t, e->event_id);
	TEXT_LIT(t, ",\"created_at\":");
	wr__text_str(t, at);
	TEXT_LIT(t, "}");
	return true;
}

char *
wr_json_encode_transcript_page(const struct wr_transcript_page *p,
                               const char *envelope, size_t *len)
{
	struct wr__text t = {0};
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
		wr__text_str(&t, envelope);
		TEXT_LIT(&t, ":");
	}
	TEXT_LIT(&t, "{\"worker_ref\":");
	text_ref(&t, &p->ref);
	TEXT_LIT(&t, ",\"start\":");
	wr__text_u64(&t, p->start);
	TEXT_LIT(&t, ",\"limit\":");
	wr__text_u64(&t, p->limit);
	TEXT_LIT(&t, ",\"total_items\":");
	wr__text_u64(&t, p->total_items);
	TEXT_LIT(&t, ",\"items\":[");
	for (size_t i = 0; i < p->count; i++) {
		if (i > 0)
			TEXT_LIT(&t, ",");
		if (!text_entry(&t, &p->items[i], &p->ref))
			t.failed = true;
	}
	TEXT_LIT(&t, "],\"next_start\":");
	if (p->has_next)
		wr__text_u64(&t, p->next_start);
	else
		TEXT_LIT(&t, "null");
	TEXT_LIT(&t, ",\"status\":");
	wr__text_str(&t, wr_worker_status_name(p->status));
	TEXT_LIT(&t, ",\"run_state\":");
	wr__text_str(&t, wr_run_state_name(p->run_state));
	TEXT_LIT(&t, ",\"last_event_id\":");
	wr__text_u64(&t, p->last_event_id);
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
 * ---- the fixed shapes as text ------------------------------------------
 *
 * The responses served per request (a worker's summary and detail, a page
 * of workers, the runtime summary, the acks) are written straight into
 * one buffer as well: no json-c tree, no parse-back, one allocation in the
 * usual case.  The bytes are exactly wr__json_tree_encode_*'s (the codec
 * tests compare the two on many inputs); an enum without a wire name fails
 * the same way (NULL).
 */

/* "key": enum's wire name; false (and t failed) if it has none. */
static bool
text_name(struct wr__text *t, const char *key, wr__name_fn fn, int value)
{
	const char *name = fn(value);

	if (name == NULL) {
		t->failed = true;
		return false;
	}
	text_put(t, key, strlen(key));
	wr__text_str(t, name);
	return true;
}

static void
text_time(struct wr__text *t, int64_t ms)
{
	char at[25];

	wr_time_format(ms, at);
	wr__text_str(t, at);
}

static void
text_opt_str(struct wr__text *t, const char *s)
{
	wr__text_str(t, s != NULL ? s : "");
}

static void
text_intent(struct wr__text *t, const struct wr_intent *in)
{
	if (!text_name(t, "{\"kind\":", wr__intent_kind_name, (int)in->kind))
		return;
	if (in->kind == WR_INTENT_TASK) {
		TEXT_LIT(t, ",\"objective\":");
		text_opt_str(t, in->objective);
	}
	if (in->kind == WR_INTENT_ROLE) {
		TEXT_LIT(t, ",\"role\":");
		text_opt_str(t, in->role);
	}
	if (in->kind != WR_INTENT_TASK && in->purpose != NULL) {
		TEXT_LIT(t, ",\"purpose\":");
		wr__text_str(t, in->purpose);
	}
	TEXT_LIT(t, "}");
}

static void
text_profile(struct wr__text *t, const struct wr_profile_ref *p)
{
	if (!text_name(t, "{\"kind\":", wr__profile_kind_name, (int)p->kind))
		return;
	if (p->kind != WR_PROFILE_RUNTIME_DEFAULT) {
		TEXT_LIT(t, ",\"value\":");
		text_opt_str(t, p->value);
	}
	TEXT_LIT(t, "}");
}

static void
text_capabilities(struct wr__text *t, const struct wr_capability *c, size_t n)
{
	TEXT_LIT(t, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			TEXT_LIT(t, ",");
		TEXT_LIT(t, "{\"name\":");
		text_opt_str(t, c[i].name);
		if (c[i].reason != NULL) {
			TEXT_LIT(t, ",\"reason\":");
			wr__text_str(t, c[i].reason);
		}
		TEXT_LIT(t, "}");
	}
	TEXT_LIT(t, "]");
}

static void
text_mount_refs(struct wr__text *t, const struct wr_mount_ref *r, size_t n)
{
	TEXT_LIT(t, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			TEXT_LIT(t, ",");
		TEXT_LIT(t, "{\"name\":");
		text_opt_str(t, r[i].name);
		TEXT_LIT(t, ",\"reference\":");
		text_opt_str(t, r[i].reference);
		TEXT_LIT(t, "}");
	}
	TEXT_LIT(t, "]");
}

static void
text_detail_tail(struct wr__text *t, const struct wr_worker_info *w)
{
	if (w->status_reason != NULL) {
		TEXT_LIT(t, ",\"status_reason\":");
		wr__text_str(t, w->status_reason);
	}
	if (w->config_bundle_id != NULL) {
		TEXT_LIT(t, ",\"config_bundle\":{\"id\":");
		wr__text_str(t, w->config_bundle_id);
		TEXT_LIT(t, "}");
	}
	TEXT_LIT(t, ",\"requested_capabilities\":");
	text_capabilities(t, w->capabilities, w->n_capabilities);
	TEXT_LIT(t, ",\"workspace_refs\":");
	text_mount_refs(t, w->workspace_refs, w->n_workspace_refs);
	TEXT_LIT(t, ",\"mount_refs\":");
	text_mount_refs(t, w->mount_refs, w->n_mount_refs);
}

/* WorkerSummary, plus the WorkerDetail members when detail is true. */
static void
text_worker(struct wr__text *t, const struct wr_worker_info *w, bool detail)
{
	TEXT_LIT(t, "{\"worker_ref\":");
	text_ref(t, &w->ref);
	TEXT_LIT(t, ",\"runtime_id\":");
	text_opt_str(t, w->ref.runtime_id);
	TEXT_LIT(t, ",\"worker_id\":");
	text_opt_str(t, w->ref.worker_id);
	if (!text_name(t, ",\"status\":", wr__status_name, (int)w->status) ||
	    !text_name(t, ",\"run_state\":", wr__run_state_name,
	               (int)w->run_state))
		return;
	TEXT_LIT(t, ",\"intent\":");
	text_intent(t, &w->intent);
	TEXT_LIT(t, ",\"profile\":");
	text_profile(t, &w->profile);
	TEXT_LIT(t, ",\"requested_capability_count\":");
	wr__text_u64(t, w->n_capabilities);
	if (w->config_bundle_id != NULL)
		TEXT_LIT(t, ",\"has_config_bundle\":true");
	else
		TEXT_LIT(t, ",\"has_config_bundle\":false");
	TEXT_LIT(t, ",\"transcript_len\":");
	wr__text_u64(t, w->transcript_len);
	TEXT_LIT(t, ",\"last_event_id\":");
	wr__text_u64(t, w->last_event_id);
	TEXT_LIT(t, ",\"created_at\":");
	text_time(t, w->created_at_ms);
	TEXT_LIT(t, ",\"updated_at\":");
	text_time(t, w->updated_at_ms);
	if (detail)
		text_detail_tail(t, w);
	TEXT_LIT(t, "}");
}

/* Opens {"<envelope>": when envelope is not NULL. */
static void
text_open(struct wr__text *t, const char *envelope, size_t guess)
{
	text_reserve(t, guess);
	if (envelope != NULL) {
		TEXT_LIT(t, "{");
		wr__text_str(t, envelope);
		TEXT_LIT(t, ":");
	}
}

/* Closes what text_open opened; the text (caller frees) or NULL. */
static char *
text_close(struct wr__text *t, const char *envelope, size_t *len)
{
	if (envelope != NULL)
		TEXT_LIT(t, "}");
	if (t->failed) {
		free(t->p);
		return NULL;
	}
	t->p[t->len] = '\0';
	if (len != NULL)
		*len = t->len;
	return t->p;
}

char *
wr_json_encode_worker_summary(const struct wr_worker_info *w,
                              const char *envelope, size_t *len)
{
	struct wr__text t = {0};

	text_open(&t, envelope, 640);
	text_worker(&t, w, false);
	return text_close(&t, envelope, len);
}

char *
wr_json_encode_worker_detail(const struct wr_worker_info *w,
                             const char *envelope, size_t *len)
{
	struct wr__text t = {0};

	text_open(&t, envelope, 1024);
	text_worker(&t, w, true);
	return text_close(&t, envelope, len);
}

char *
wr_json_encode_worker_list(const struct wr_worker_list *l,
                           const char *envelope, size_t *len)
{
	struct wr__text t = {0};

	text_open(&t, envelope, 64 + 640 * (l->count < 4096 ? l->count : 4096));
	TEXT_LIT(&t, "[");
	for (size_t i = 0; i < l->count && !t.failed; i++) {
		if (i > 0)
			TEXT_LIT(&t, ",");
		text_worker(&t, l->items[i], false);
	}
	TEXT_LIT(&t, "]");
	return text_close(&t, envelope, len);
}

void
wr__text_put(struct wr__text *t, const char *s, size_t n)
{
	text_put(t, s, n);
}

void
wr__text_worker_summary(struct wr__text *t, const struct wr_worker_info *w)
{
	text_worker(t, w, false);
}

char *
wr__text_worker_page(size_t count, bool has_next, const char *next_after,
                     wr__page_item_fn *item, void *arg, size_t *len)
{
	struct wr__text t = {0};

	text_open(&t, NULL, 64 + 640 * (count < 4096 ? count : 4096));
	TEXT_LIT(&t, "{\"workers\":[");
	for (size_t i = 0; i < count && !t.failed; i++) {
		if (i > 0)
			TEXT_LIT(&t, ",");
		item(&t, i, arg);
	}
	TEXT_LIT(&t, "],\"next_after\":");
	if (has_next)
		wr__text_str(&t, next_after);
	else
		TEXT_LIT(&t, "null");
	TEXT_LIT(&t, "}");
	return text_close(&t, NULL, len);
}

static void
list_item(struct wr__text *t, size_t i, void *arg)
{
	const struct wr_worker_list *l = arg;

	text_worker(t, l->items[i], false);
}

char *
wr_json_encode_worker_page(const struct wr_worker_list *l, size_t *len)
{
	return wr__text_worker_page(l->count, l->has_next, l->next_after,
	                            list_item, (void *)l, len);
}

#define TEXT_U64(t, key, v) \
	do { TEXT_LIT((t), key); wr__text_u64((t), (v)); } while (0)

char *
wr_json_encode_runtime_summary(const struct wr_runtime_summary *s,
                               const char *envelope, size_t *len)
{
	struct wr__text t = {0};

	text_open(&t, envelope, 768);
	TEXT_LIT(&t, "{\"runtime_id\":");
	wr__text_str(&t, s->runtime_id);
	TEXT_LIT(&t, ",\"display_name\":");
	if (s->has_display_name)
		wr__text_str(&t, s->display_name);
	else
		TEXT_LIT(&t, "null");
	TEXT_LIT(&t, ",\"backend\":");
	wr__text_str(&t, s->backend);
	text_name(&t, ",\"status\":", wr__runtime_status_name, (int)s->status);
	TEXT_U64(&t, ",\"worker_count\":", s->worker_count);
	TEXT_U64(&t, ",\"active_worker_count\":", s->active_worker_count);
	TEXT_U64(&t, ",\"stopped_worker_count\":", s->stopped_worker_count);
	TEXT_U64(&t, ",\"cancelled_worker_count\":", s->cancelled_worker_count);
	TEXT_U64(&t, ",\"failed_worker_count\":", s->failed_worker_count);
	TEXT_U64(&t, ",\"deleted_worker_count\":", s->deleted_worker_count);
	TEXT_U64(&t, ",\"diagnostic_count\":", s->diagnostic_count);
	TEXT_U64(&t, ",\"limits\":{\"max_transcript_projection_items\":",
	         s->limits.max_transcript_projection_items);
	TEXT_U64(&t, ",\"max_input_bytes\":", s->limits.max_input_bytes);
	TEXT_U64(&t, ",\"max_workers\":", s->limits.max_workers);
	TEXT_LIT(&t, "},\"version\":");
	wr__text_str(&t, s->version);
	TEXT_LIT(&t, ",\"started_at\":");
	text_time(&t, s->started_at_ms);
	TEXT_LIT(&t, "}");
	return text_close(&t, envelope, len);
}

char *
wr_json_encode_input_ack(const struct wr_input_ack *a,
                         const char *envelope, size_t *len)
{
	struct wr__text t = {0};

	text_open(&t, envelope, 256);
	TEXT_LIT(&t, "{\"worker_ref\":");
	text_ref(&t, &a->ref);
	if (text_name(&t, ",\"status\":", wr__status_name, (int)a->status))
		text_name(&t, ",\"run_state\":", wr__run_state_name,
		          (int)a->run_state);
	TEXT_U64(&t, ",\"transcript_sequence\":", a->transcript_sequence);
	TEXT_U64(&t, ",\"event_id\":", a->event_id);
	TEXT_LIT(&t, "}");
	return text_close(&t, envelope, len);
}

char *
wr_json_encode_lifecycle_ack(const struct wr_lifecycle_ack *a,
                             const char *envelope, size_t *len)
{
	struct wr__text t = {0};

	text_open(&t, envelope, 256);
	TEXT_LIT(&t, "{\"worker_ref\":");
	text_ref(&t, &a->ref);
	text_name(&t, ",\"status\":", wr__status_name, (int)a->status);
	TEXT_U64(&t, ",\"event_id\":", a->event_id);
	if (a->deleted)
		TEXT_LIT(&t, ",\"deleted\":true");
	TEXT_LIT(&t, "}");
	return text_close(&t, envelope, len);
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

/* A diagnostic's message as JSON text takes it: bytes that are not UTF-8
 * (a worker's stderr may hold any) become '?'.  NULL on OOM. */
static jobj *
diag_message(const char *msg)
{
	char buf[WR_DIAGNOSTIC_MAX];
	size_t n = strnlen(msg, sizeof(buf) - 1);

	memcpy(buf, msg, n);
	buf[n] = '\0';
	if (!wr__utf8_valid(buf, n))
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)buf[i] >= 0x80)
				buf[i] = '?';
	return json_object_new_string(buf);
}

static jobj *
diag_obj(const struct wr_diagnostic *d)
{
	jobj *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (!add_u64(o, "id", d->id) || !add_time(o, "at", d->at_ms) ||
	    !(d->worker_id[0] != '\0' ? add_str(o, "worker_id", d->worker_id)
	                              : add_null(o, "worker_id")) ||
	    !wr__json_add(o, "message", diag_message(d->message))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

char *
wr_json_encode_diagnostic_page(const struct wr_diagnostic *items,
                               size_t count, bool has_next, size_t *len)
{
	jobj *o = json_object_new_object();
	jobj *a = new_array(count);

	if (o == NULL || a == NULL || !wr__json_add(o, "diagnostics", a)) {
		json_object_put(o);
		if (o == NULL)
			json_object_put(a);
		return NULL;
	}
	for (size_t i = 0; i < count; i++) {
		if (!wr__json_push(a, diag_obj(&items[i]))) {
			json_object_put(o);
			return NULL;
		}
	}
	if (!(has_next && count > 0 ? add_u64(o, "next_after",
	                                      items[count - 1].id)
	                            : add_null(o, "next_after"))) {
		json_object_put(o);
		return NULL;
	}
	return finish(o, NULL, len);
}
