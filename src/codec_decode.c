/*
 * codec_decode.c - untrusted JSON text -> structs (DESIGN section 3 shapes).
 *
 * Strict by design: every member is checked against the shape (unknown,
 * wrong type, missing, bad enum value, bad id or timestamp, too long, too
 * many items), and the failure names the rule (wr_error.reason) and the
 * JSON path (wr_error.field: dots and [i]; with an envelope the path starts
 * with the envelope's name, e.g. "worker.intent.kind").  Decoders write
 * their out-parameter only on success and free everything partial on
 * failure.  Nothing here keeps state between calls; all is reentrant.
 *
 * json-c notes: getters borrow from the parsed tree, which each decoder
 * frees once it has copied what it keeps.  json-c's own error strings are
 * never shown (they live in a global table and say nothing about fields).
 * Duplicate member names are not detected: json-c keeps the last value
 * (at the first one's position), so {"kind":"user","kind":"x"} is decoded
 * as kind "x".  A member *name* containing \u0000 is cut at the NUL by
 * json-c and then checked like any other name.
 */
#include "config.h"

#include "codec.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct json_object jobj;

/* Evaluates a wr_err expression; on failure jumps to the function's one
 * cleanup label with rc set. */
#define TRY(expr)                       \
	do {                            \
		rc = (expr);            \
		if (rc != WR_OK)        \
			goto done;      \
	} while (0)

/* ---- decode helpers: errors and paths -------------------------------- */

/* A WR_EINVALID_INPUT failure with our own message. */
static wr_err bad(struct wr_error *err, const char *reason, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static wr_err
bad(struct wr_error *err, const char *reason, const char *field,
    const char *fmt, ...)
{
	char msg[WR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wr__fail(err, WR_EINVALID_INPUT, reason, field, "%s", msg);
}

static wr_err
oom(struct wr_error *err)
{
	return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
	                "out of memory while decoding JSON");
}

/* After a truncating snprintf: drop a UTF-8 sequence cut in half, so a
 * reported path is always valid UTF-8. */
static void
trim_utf8(char *s)
{
	size_t n = strlen(s), i = n;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	if (i - 1 + need > n)
		s[i - 1] = '\0';
}

/* out = parent.key (or key at the top), cut to WR_FIELD_MAX - 1 bytes. */
static void
path_key(char out[static WR_FIELD_MAX], const char *parent,
         const char *key)
{
	int n = snprintf(out, WR_FIELD_MAX, "%s%s%s", parent,
	                 parent[0] != '\0' ? "." : "", key);
	if (n < 0 || n >= WR_FIELD_MAX)
		trim_utf8(out);
}

/* out = parent[i]. */
static void
path_index(char out[static WR_FIELD_MAX], const char *parent,
           size_t i)
{
	int n = snprintf(out, WR_FIELD_MAX, "%s[%zu]", parent, i);
	if (n < 0 || n >= WR_FIELD_MAX)
		trim_utf8(out);
}

/* "assistant, task, role": the wire names fn knows, for messages. */
static void
name_list(wr__name_fn fn, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < 64 && used < size; i++) {
		const char *name = fn(i);
		if (name == NULL)
			continue;
		int n = snprintf(buf + used, size - used, "%s%s",
		                 used > 0 ? ", " : "", name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Searches the value whose wire name is s; -1 if none.  Value ranges are
 * dense and small, 64 bounds the search. */
static int
name_lookup(wr__name_fn fn, const char *s)
{
	for (int i = 0; i < 64; i++) {
		const char *name = fn(i);
		if (name != NULL && strcmp(name, s) == 0)
			return i;
	}
	return -1;
}

/* error.code values: every code but "ok". */
static const char *
err_code_name(int code)
{
	return code > WR_OK && code < WR__ERR_COUNT ? wr_err_name((wr_err)code)
	                                             : NULL;
}

/* ---- decode helpers: parsing ----------------------------------------- */

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * A lexical pass before json-c sees the text, for what json-c does not
 * check (even with JSON_TOKENER_STRICT) or checks differently:
 *   - NUL bytes anywhere, 'single-quoted' strings and raw control
 *     characters inside strings are not JSON: PRESCAN_BAD at *at;
 *   - nesting: json-c's depth counts every value, scalars included, so it
 *     cannot say "at most N nested objects/arrays" exactly; counting the
 *     brackets outside strings can: PRESCAN_DEEP at the first bracket
 *     beyond WR_JSON_MAX_DEPTH.
 * Anything else malformed is left to json-c.
 */
enum prescan_result { PRESCAN_OK, PRESCAN_BAD, PRESCAN_DEEP };

static enum prescan_result
prescan(const char *s, size_t len, size_t *at)
{
	const char *nul = len > 0 ? memchr(s, '\0', len) : NULL;
	bool in_string = false;
	int depth = 0;

	if (nul != NULL) {
		*at = (size_t)(nul - s);
		return PRESCAN_BAD;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		*at = i;
		if (in_string) {
			if (c == '"')
				in_string = false;
			else if (c == '\\')
				i++; /* an escaped byte cannot end the string */
			else if (c < 0x20)
				return PRESCAN_BAD;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '\'') {
			return PRESCAN_BAD;
		} else if (c == '{' || c == '[') {
			if (++depth > WR_JSON_MAX_DEPTH)
				return PRESCAN_DEEP;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return PRESCAN_OK;
}

/*
 * Parses json[0..len) into *out (owned by the caller: json_object_put).
 * The whole text must be one JSON value plus optional whitespace.
 */
static wr_err
parse(const char *json, size_t len, jobj **out,
      struct wr_error *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	jobj *v;
	size_t end, at;

	if (len > WR_JSON_MAX_BYTES)
		return bad(err, "payload_too_large", NULL,
		           "the JSON text is %zu bytes; at most %u are accepted",
		           len, (unsigned)WR_JSON_MAX_BYTES);
	if (json == NULL)
		len = 0;
	switch (prescan(json, len, &at)) {
	case PRESCAN_OK:
		break;
	case PRESCAN_BAD:
		return bad(err, "invalid_json", NULL,
		           "the text is not valid JSON (byte %zu)", at);
	case PRESCAN_DEEP:
		return bad(err, "too_deep", NULL,
		           "the JSON text nests deeper than %d levels (byte %zu)",
		           WR_JSON_MAX_DEPTH, at);
	}

	/* prescan bounded the nesting; json-c's own limit (which counts the
	 * scalar inside the deepest container too) is only a backstop. */
	tok = json_tokener_new_ex(WR_JSON_MAX_DEPTH + 1);
	if (tok == NULL)
		return oom(err);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	v = json_tokener_parse_ex(tok, json != NULL ? json : "", (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* A value without an end of its own (a bare number) or a cut
		 * text: a NUL tells json-c the input is over. */
		v = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);

	if (jerr == json_tokener_error_depth)
		return bad(err, "too_deep", NULL,
		           "the JSON text nests deeper than %d levels",
		           WR_JSON_MAX_DEPTH);
	if (jerr == json_tokener_success && v == NULL)
		return bad(err, "invalid_json", NULL,
		           "the JSON text must be an object, not null");
	if (jerr != json_tokener_success || v == NULL) {
		json_object_put(v);
		return bad(err, "invalid_json", NULL,
		           "the text is not valid JSON (byte %zu)",
		           end < len ? end : len);
	}
	for (at = end; at < len; at++) {
		if (!is_ws(json[at])) {
			json_object_put(v);
			return bad(err, "invalid_json", NULL,
			           "unexpected text after the JSON value (byte %zu)",
			           at);
		}
	}
	*out = v;
	return WR_OK;
}

/* A parsed text and the shape inside it. */
struct doc {
	jobj *root;              /* owned; doc_close frees it */
	jobj *shape;             /* borrowed from root */
	char path[WR_FIELD_MAX]; /* path of shape: "" or the envelope */
};

static wr_err check_members(jobj *o, const char *path,
                            const char *const *allowed, const char *why,
                            struct wr_error *err);

/*
 * Parses the text and finds the shape of the given type, top level or
 * inside {"<envelope>": shape}.  A top level of the wrong type is
 * invalid_json; inside an envelope it is wrong_type at the envelope.
 * d is always safe to doc_close afterwards.
 */
static wr_err
doc_open(struct doc *d, const char *json, size_t len,
         const char *envelope, enum json_type type,
         struct wr_error *err)
{
	const char *what = type == json_type_array ? "an array" : "an object";
	wr_err rc;

	memset(d, 0, sizeof(*d));
	TRY(parse(json, len, &d->root, err));
	if (envelope == NULL) {
		if (!json_object_is_type(d->root, type))
			return bad(err, "invalid_json", NULL,
			           "the JSON text must be %s", what);
		d->shape = d->root;
		return WR_OK;
	}
	if (!json_object_is_type(d->root, json_type_object))
		return bad(err, "invalid_json", NULL,
		           "the JSON text must be an object");
	const char *const allowed[] = { envelope, NULL };
	TRY(check_members(d->root, "", allowed, "", err));
	path_key(d->path, "", envelope);
	if (!json_object_object_get_ex(d->root, envelope, &d->shape))
		return bad(err, "missing_field", d->path,
		           "member '%s' is required", d->path);
	if (!json_object_is_type(d->shape, type))
		return bad(err, "wrong_type", d->path, "member '%s' must be %s",
		           d->path, what);
done:
	return rc;
}

static void
doc_close(struct doc *d)
{
	json_object_put(d->root);
	d->root = d->shape = NULL;
}

/* ---- decode helpers: members ------------------------------------------ */

/*
 * Fails with unknown_field at the first member of o (in text order) not in
 * allowed (NULL-terminated).  why is appended to the message.  A member
 * name that is not UTF-8 is reported as invalid_utf8 at o itself.
 */
static wr_err
check_members(jobj *o, const char *path,
              const char *const *allowed, const char *why,
              struct wr_error *err)
{
	struct json_object_iterator it = json_object_iter_begin(o);
	struct json_object_iterator end = json_object_iter_end(o);
	char f[WR_FIELD_MAX];

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);
		size_t i;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] != NULL)
			continue;
		if (!wr__utf8_valid(key, strlen(key)))
			return bad(err, "invalid_utf8", path,
			           "a member name in '%s' is not valid UTF-8",
			           path);
		path_key(f, path, key);
		return bad(err, "unknown_field", f, "unknown member '%s'%s", f,
		           why);
	}
	return WR_OK;
}

static wr_err
missing(struct wr_error *err, const char *f)
{
	return bad(err, "missing_field", f, "member '%s' is required", f);
}

static wr_err
wrong_type(struct wr_error *err, const char *f,
           const char *what)
{
	return bad(err, "wrong_type", f, "member '%s' must be %s", f, what);
}

/* Finds member key of o: *v borrowed (NULL for JSON null), f its path.
 * Returns false if absent. */
static bool
member(jobj *o, const char *path, const char *key, jobj **v,
       char f[static WR_FIELD_MAX])
{
	path_key(f, path, key);
	*v = NULL;
	return json_object_object_get_ex(o, key, v);
}

/* An object member; *v = NULL if absent and optional.  f: its path. */
static wr_err
get_object(jobj *o, const char *path, const char *key,
           bool required, jobj **v,
           char f[static WR_FIELD_MAX], struct wr_error *err)
{
	if (!member(o, path, key, v, f))
		return required ? missing(err, f) : WR_OK;
	if (!json_object_is_type(*v, json_type_object))
		return wrong_type(err, f, "an object");
	return WR_OK;
}

/* An array member with at most max_items items (0: unbounded). */
static wr_err
get_array(jobj *o, const char *path, const char *key,
          bool required, size_t max_items, jobj **v,
          char f[static WR_FIELD_MAX], struct wr_error *err)
{
	if (!member(o, path, key, v, f))
		return required ? missing(err, f) : WR_OK;
	if (!json_object_is_type(*v, json_type_array))
		return wrong_type(err, f, "an array");
	if (max_items > 0 && json_object_array_length(*v) > max_items)
		return bad(err, "too_many_items", f,
		           "member '%s' has more than %zu items", f, max_items);
	return WR_OK;
}

/* The i-th item of array a, which must be an object; f: its path. */
static wr_err
get_item(jobj *a, const char *path, size_t i, jobj **v,
         char f[static WR_FIELD_MAX], struct wr_error *err)
{
	path_index(f, path, i);
	*v = json_object_array_get_idx(a, i);
	if (!json_object_is_type(*v, json_type_object))
		return wrong_type(err, f, "an object");
	return WR_OK;
}

enum {
	S_REQUIRED = 1,  /* absent: missing_field */
	S_NONEMPTY = 2,  /* "": invalid_value */
	S_NULLABLE = 4,  /* JSON null accepted: *s = NULL */
	S_UNBOUNDED = 8, /* no WR_JSON_MAX_STRING limit */
};

/*
 * A string member, borrowed: *s = NULL if absent (and optional) or null
 * (and S_NULLABLE).  Checks, in order: type, UTF-8 without NUL, length
 * (max bytes, or WR_JSON_MAX_STRING unless S_UNBOUNDED), emptiness.
 */
static wr_err
get_string(jobj *o, const char *path, const char *key,
           unsigned flags, size_t max, const char **s,
           size_t *n, struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	jobj *v;

	*s = NULL;
	*n = 0;
	if (!member(o, path, key, &v, f))
		return (flags & S_REQUIRED) ? missing(err, f) : WR_OK;
	if (v == NULL && (flags & S_NULLABLE))
		return WR_OK;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(err, f,
		                  (flags & S_NULLABLE) ? "a string or null"
		                                       : "a string");
	const char *str = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (!wr__utf8_valid(str, len))
		return bad(err, "invalid_utf8", f,
		           "member '%s' must be UTF-8 without NUL characters", f);
	if (max == 0 && !(flags & S_UNBOUNDED))
		max = WR_JSON_MAX_STRING;
	if (max > 0 && len > max)
		return bad(err, "too_long", f,
		           "member '%s' is longer than %zu bytes", f, max);
	if (len == 0 && (flags & S_NONEMPTY))
		return bad(err, "invalid_value", f,
		           "member '%s' must not be empty", f);
	*s = str;
	*n = len;
	return WR_OK;
}

/* As get_string, into a heap copy (NULL if absent) the caller frees. */
static wr_err
get_string_dup(jobj *o, const char *path, const char *key,
               unsigned flags, char **out,
               struct wr_error *err)
{
	const char *s;
	size_t n;
	bool nomem = false;
	wr_err rc = get_string(o, path, key, flags, 0, &s, &n, err);

	if (rc != WR_OK)
		return rc;
	*out = wr__strdup(s, &nomem); /* s has no NUL inside: checked */
	return nomem ? oom(err) : WR_OK;
}

/* As get_string, into buf (size bytes including the NUL; required). */
static wr_err
get_string_buf(jobj *o, const char *path, const char *key,
               unsigned flags, char *buf, size_t size,
               struct wr_error *err)
{
	const char *s;
	size_t n;
	wr_err rc = get_string(o, path, key, flags | S_REQUIRED, size - 1, &s,
	                       &n, err);

	if (rc == WR_OK)
		memcpy(buf, s, n + 1);
	return rc;
}

/* A worker or runtime id (wr_id_valid), required. */
static wr_err
get_id(jobj *o, const char *path, const char *key,
       char buf[static WR_ID_MAX + 1], struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	const char *s;
	size_t n;
	wr_err rc = get_string(o, path, key, S_REQUIRED, 0, &s, &n, err);

	if (rc != WR_OK)
		return rc;
	if (!wr_id_valid(s)) {
		path_key(f, path, key);
		return bad(err, "invalid_value", f,
		           "member '%s' must be 1 to %d characters of "
		           "[A-Za-z0-9_.-], not starting with '.'",
		           f, WR_ID_MAX);
	}
	memcpy(buf, s, n + 1);
	return WR_OK;
}

/* A required enum member given by its wire names. */
static wr_err
get_enum(jobj *o, const char *path, const char *key,
         wr__name_fn fn, int *out, struct wr_error *err)
{
	char f[WR_FIELD_MAX], names[160];
	const char *s;
	size_t n;
	wr_err rc = get_string(o, path, key, S_REQUIRED, 0, &s, &n, err);

	if (rc != WR_OK)
		return rc;
	int v = name_lookup(fn, s);
	if (v < 0) {
		path_key(f, path, key);
		name_list(fn, names, sizeof(names));
		return bad(err, "invalid_value", f,
		           "member '%s' must be one of %s", f, names);
	}
	*out = v;
	return WR_OK;
}

/* A required non-negative integer member, at most max.  (json-c saturates
 * integers beyond 64 bits; such a text reads as UINT64_MAX.) */
static wr_err
get_u64(jobj *o, const char *path, const char *key,
        bool nullable, uint64_t max, uint64_t *out, bool *null,
        struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	jobj *v;

	if (!member(o, path, key, &v, f))
		return missing(err, f);
	if (nullable) {
		*null = v == NULL;
		if (v == NULL)
			return WR_OK;
	}
	if (!json_object_is_type(v, json_type_int))
		return wrong_type(err, f,
		                  nullable ? "a non-negative integer or null"
		                           : "a non-negative integer");
	if (json_object_get_int64(v) < 0)
		return bad(err, "invalid_value", f,
		           "member '%s' must not be negative", f);
	uint64_t u = json_object_get_uint64(v);
	if (u > max)
		return bad(err, "invalid_value", f,
		           "member '%s' must be at most %llu", f,
		           (unsigned long long)max);
	*out = u;
	return WR_OK;
}

static wr_err
get_count(jobj *o, const char *path, const char *key,
          uint64_t *out, struct wr_error *err)
{
	return get_u64(o, path, key, false, UINT64_MAX, out, NULL, err);
}

static wr_err
get_u32(jobj *o, const char *path, const char *key,
        uint32_t *out, struct wr_error *err)
{
	uint64_t v;
	wr_err rc = get_u64(o, path, key, false, UINT32_MAX, &v, NULL, err);

	if (rc == WR_OK)
		*out = (uint32_t)v;
	return rc;
}

static wr_err
get_bool(jobj *o, const char *path, const char *key, bool *out,
         struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	jobj *v;

	if (!member(o, path, key, &v, f))
		return missing(err, f);
	if (!json_object_is_type(v, json_type_boolean))
		return wrong_type(err, f, "a boolean");
	*out = json_object_get_boolean(v);
	return WR_OK;
}

/* A required timestamp member (wr_time_parse form). */
static wr_err
get_time(jobj *o, const char *path, const char *key,
         int64_t *out, struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	const char *s;
	size_t n;
	wr_err rc = get_string(o, path, key, S_REQUIRED, 0, &s, &n, err);

	if (rc != WR_OK)
		return rc;
	if (!wr_time_parse(s, out)) {
		path_key(f, path, key);
		return bad(err, "invalid_value", f,
		           "member '%s' must be a UTC timestamp like "
		           "2026-11-24T10:21:56.123Z", f);
	}
	return WR_OK;
}

/* ---- decode helpers: shared shapes ------------------------------------ */

static const char *const REF_MEMBERS[] = { "runtime_id", "worker_id", NULL };

/* WorkerRef member key of o into *out (written on success only). */
static wr_err
ref_from(jobj *o, const char *path, const char *key,
         struct wr_worker_ref *out, struct wr_error *err)
{
	struct wr_worker_ref r;
	char f[WR_FIELD_MAX];
	jobj *v;
	wr_err rc;

	TRY(get_object(o, path, key, true, &v, f, err));
	TRY(check_members(v, f, REF_MEMBERS, "", err));
	TRY(get_id(v, f, "runtime_id", r.runtime_id, err));
	TRY(get_id(v, f, "worker_id", r.worker_id, err));
	*out = r;
done:
	return rc;
}

/* Members allowed for each intent kind, indexed by enum wr_intent_kind. */
static const char *const INTENT_ANY[] = { "kind", "purpose", "objective",
	                                  "role", NULL };
static const char *const INTENT_KIND[][4] = {
	[WR_INTENT_ASSISTANT] = { "kind", "purpose", NULL },
	[WR_INTENT_TASK] = { "kind", "objective", NULL },
	[WR_INTENT_ROLE] = { "kind", "role", "purpose", NULL },
};

/*
 * Member "intent" of o into *out (owned strings).  Absent and optional:
 * the assistant intent without purpose.
 */
static wr_err
intent_from(jobj *o, const char *path, bool required,
            struct wr_intent *out, struct wr_error *err)
{
	struct wr_intent in = { .kind = WR_INTENT_ASSISTANT };
	char f[WR_FIELD_MAX], why[64];
	jobj *v;
	int kind;
	wr_err rc;

	TRY(get_object(o, path, "intent", required, &v, f, err));
	if (v != NULL) {
		TRY(check_members(v, f, INTENT_ANY, "", err));
		TRY(get_enum(v, f, "kind", wr__intent_kind_name, &kind, err));
		in.kind = (enum wr_intent_kind)kind;
		snprintf(why, sizeof(why), " for intent kind '%s'",
		         wr__intent_kind_name(kind));
		TRY(check_members(v, f, INTENT_KIND[kind], why, err));
		if (in.kind == WR_INTENT_TASK)
			TRY(get_string_dup(v, f, "objective",
			                   S_REQUIRED | S_NONEMPTY,
			                   &in.objective, err));
		if (in.kind == WR_INTENT_ROLE)
			TRY(get_string_dup(v, f, "role", S_REQUIRED | S_NONEMPTY,
			                   &in.role, err));
		if (in.kind != WR_INTENT_TASK)
			TRY(get_string_dup(v, f, "purpose", 0, &in.purpose,
			                   err));
	}
	*out = in;
	return WR_OK;
done:
	wr__intent_clear(&in);
	return rc;
}

static const char *const PROFILE_ANY[] = { "kind", "value", NULL };
static const char *const PROFILE_DEFAULT[] = { "kind", NULL };

/* Member "profile" of o; absent and optional: the runtime default. */
static wr_err
profile_from(jobj *o, const char *path, bool required,
             struct wr_profile_ref *out, struct wr_error *err)
{
	struct wr_profile_ref p = { .kind = WR_PROFILE_RUNTIME_DEFAULT };
	char f[WR_FIELD_MAX];
	jobj *v;
	int kind;
	wr_err rc;

	TRY(get_object(o, path, "profile", required, &v, f, err));
	if (v != NULL) {
		TRY(check_members(v, f, PROFILE_ANY, "", err));
		TRY(get_enum(v, f, "kind", wr__profile_kind_name, &kind, err));
		p.kind = (enum wr_profile_kind)kind;
		if (p.kind == WR_PROFILE_RUNTIME_DEFAULT)
			TRY(check_members(v, f, PROFILE_DEFAULT,
			                  " for profile kind 'runtime_default'",
			                  err));
		else
			TRY(get_string_dup(v, f, "value",
			                   S_REQUIRED | S_NONEMPTY, &p.value,
			                   err));
	}
	*out = p;
	return WR_OK;
done:
	wr__profile_ref_clear(&p);
	return rc;
}

static const char *const BUNDLE_MEMBERS[] = { "id", NULL };

/* Optional member "config_bundle": {"id"} into *id (NULL if absent). */
static wr_err
config_bundle_from(jobj *o, const char *path, char **id,
                   struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	jobj *v;
	wr_err rc;

	*id = NULL;
	TRY(get_object(o, path, "config_bundle", false, &v, f, err));
	if (v != NULL) {
		TRY(check_members(v, f, BUNDLE_MEMBERS, "", err));
		TRY(get_string_dup(v, f, "id", S_REQUIRED | S_NONEMPTY, id,
		                   err));
	}
done:
	return rc;
}

static const char *const CAPABILITY_MEMBERS[] = { "name", "reason", NULL };

/* Member "requested_capabilities": [{"name","reason"?}]. */
static wr_err
capabilities_from(jobj *o, const char *path, bool required,
                  struct wr_capability **out, size_t *count,
                  struct wr_error *err)
{
	struct wr_capability *c = NULL;
	size_t n = 0;
	char f[WR_FIELD_MAX], fi[WR_FIELD_MAX];
	jobj *a, *v;
	wr_err rc;

	TRY(get_array(o, path, "requested_capabilities", required,
	              WR_JSON_MAX_ITEMS, &a, f, err));
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n > 0 && (c = calloc(n, sizeof(*c))) == NULL) {
		n = 0;
		TRY(oom(err));
	}
	for (size_t i = 0; i < n; i++) {
		TRY(get_item(a, f, i, &v, fi, err));
		TRY(check_members(v, fi, CAPABILITY_MEMBERS, "", err));
		TRY(get_string_dup(v, fi, "name", S_REQUIRED | S_NONEMPTY,
		                   &c[i].name, err));
		TRY(get_string_dup(v, fi, "reason", 0, &c[i].reason, err));
	}
	*out = c;
	*count = n;
	return WR_OK;
done:
	wr__capabilities_free(c, n);
	return rc;
}

static const char *const MOUNT_MEMBERS[] = { "name", "reference", NULL };

/* Member key (workspace_refs or mount_refs): [{"name","reference"}]. */
static wr_err
mount_refs_from(jobj *o, const char *path, const char *key,
                bool required, struct wr_mount_ref **out,
                size_t *count, struct wr_error *err)
{
	struct wr_mount_ref *r = NULL;
	size_t n = 0;
	char f[WR_FIELD_MAX], fi[WR_FIELD_MAX];
	jobj *a, *v;
	wr_err rc;

	TRY(get_array(o, path, key, required, WR_JSON_MAX_ITEMS, &a, f, err));
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n > 0 && (r = calloc(n, sizeof(*r))) == NULL) {
		n = 0;
		TRY(oom(err));
	}
	for (size_t i = 0; i < n; i++) {
		TRY(get_item(a, f, i, &v, fi, err));
		TRY(check_members(v, fi, MOUNT_MEMBERS, "", err));
		TRY(get_string_dup(v, fi, "name", S_REQUIRED | S_NONEMPTY,
		                   &r[i].name, err));
		TRY(get_string_dup(v, fi, "reference", S_REQUIRED | S_NONEMPTY,
		                   &r[i].reference, err));
	}
	*out = r;
	*count = n;
	return WR_OK;
done:
	wr__mount_refs_free(r, n);
	return rc;
}

static const char *const SUMMARY_MEMBERS[] = {
	"worker_ref", "runtime_id", "worker_id", "status", "run_state",
	"intent", "profile", "requested_capability_count",
	"has_config_bundle", "transcript_len", "last_event_id", "created_at",
	"updated_at", NULL
};
static const char *const DETAIL_MEMBERS[] = {
	"worker_ref", "runtime_id", "worker_id", "status", "run_state",
	"intent", "profile", "requested_capability_count",
	"has_config_bundle", "transcript_len", "last_event_id", "created_at",
	"updated_at", "config_bundle", "requested_capabilities",
	"workspace_refs", "mount_refs", NULL
};

/* Fails unless the copy of a worker_ref member equals the ref. */
static wr_err
same_id(const char *path, const char *key, const char *got,
        const char *want, struct wr_error *err)
{
	char f[WR_FIELD_MAX];

	if (strcmp(got, want) == 0)
		return WR_OK;
	path_key(f, path, key);
	return bad(err, "invalid_value", f,
	           "member '%s' must equal worker_ref.%s", f, key);
}

/*
 * A WorkerSummary or WorkerDetail object into *w, which the caller zeroed
 * and clears (wr__worker_info_clear) on failure.  A summary carries only
 * requested_capability_count and has_config_bundle, so a decoded summary
 * holds that many capabilities with empty names and, if the flag is set,
 * an empty config_bundle_id: counts and flags survive, names do not.
 */
static wr_err
worker_from(jobj *o, const char *path, bool detail,
            struct wr_worker_info *w, struct wr_error *err)
{
	char id[WR_ID_MAX + 1], f[WR_FIELD_MAX];
	int status, run_state;
	uint64_t ncap = 0;
	bool has_bundle = false, nomem = false;
	wr_err rc;

	TRY(check_members(o, path, detail ? DETAIL_MEMBERS : SUMMARY_MEMBERS,
	                  "", err));
	TRY(ref_from(o, path, "worker_ref", &w->ref, err));
	TRY(get_id(o, path, "runtime_id", id, err));
	TRY(same_id(path, "runtime_id", id, w->ref.runtime_id, err));
	TRY(get_id(o, path, "worker_id", id, err));
	TRY(same_id(path, "worker_id", id, w->ref.worker_id, err));
	TRY(get_enum(o, path, "status", wr__status_name, &status, err));
	w->status = (enum wr_worker_status)status;
	TRY(get_enum(o, path, "run_state", wr__run_state_name, &run_state,
	             err));
	w->run_state = (enum wr_run_state)run_state;
	TRY(intent_from(o, path, true, &w->intent, err));
	TRY(profile_from(o, path, true, &w->profile, err));
	TRY(get_u64(o, path, "requested_capability_count", false,
	            WR_JSON_MAX_ITEMS, &ncap, NULL, err));
	TRY(get_bool(o, path, "has_config_bundle", &has_bundle, err));
	TRY(get_count(o, path, "transcript_len", &w->transcript_len, err));
	TRY(get_count(o, path, "last_event_id", &w->last_event_id, err));
	TRY(get_time(o, path, "created_at", &w->created_at_ms, err));
	TRY(get_time(o, path, "updated_at", &w->updated_at_ms, err));

	if (!detail) {
		if (ncap > 0) {
			w->capabilities = calloc(ncap, sizeof(*w->capabilities));
			if (w->capabilities == NULL)
				TRY(oom(err));
			w->n_capabilities = ncap;
			for (size_t i = 0; i < ncap; i++)
				w->capabilities[i].name = wr__strdup("", &nomem);
		}
		if (has_bundle)
			w->config_bundle_id = wr__strdup("", &nomem);
		if (nomem)
			TRY(oom(err));
		return WR_OK;
	}

	TRY(config_bundle_from(o, path, &w->config_bundle_id, err));
	TRY(capabilities_from(o, path, true, &w->capabilities,
	                      &w->n_capabilities, err));
	TRY(mount_refs_from(o, path, "workspace_refs", true, &w->workspace_refs,
	                    &w->n_workspace_refs, err));
	TRY(mount_refs_from(o, path, "mount_refs", true, &w->mount_refs,
	                    &w->n_mount_refs, err));
	if (ncap != w->n_capabilities) {
		path_key(f, path, "requested_capability_count");
		TRY(bad(err, "invalid_value", f,
		        "member '%s' must equal the number of "
		        "requested_capabilities", f));
	}
	if (has_bundle != (w->config_bundle_id != NULL)) {
		path_key(f, path, "has_config_bundle");
		TRY(bad(err, "invalid_value", f,
		        "member '%s' must say whether config_bundle is present",
		        f));
	}
done:
	return rc;
}

/* ---- decoders --------------------------------------------------------- */

static const char *const CREATE_MEMBERS[] = {
	"intent", "profile", "config_bundle", "requested_capabilities",
	"workspace_refs", "mount_refs", NULL
};

wr_err
wr_json_decode_create_request(const char *json, size_t len,
                              const char *envelope,
                              struct wr_create_request **out,
                              struct wr_error *err)
{
	struct wr_create_request *r = NULL;
	struct doc d;
	wr_err rc;

	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	if ((r = calloc(1, sizeof(*r))) == NULL)
		TRY(oom(err));
	TRY(check_members(d.shape, d.path, CREATE_MEMBERS, "", err));
	TRY(intent_from(d.shape, d.path, false, &r->intent, err));
	TRY(profile_from(d.shape, d.path, false, &r->profile, err));
	TRY(config_bundle_from(d.shape, d.path, &r->config_bundle_id, err));
	TRY(capabilities_from(d.shape, d.path, false, &r->capabilities,
	                      &r->n_capabilities, err));
	TRY(mount_refs_from(d.shape, d.path, "workspace_refs", false,
	                    &r->workspace_refs, &r->n_workspace_refs, err));
	TRY(mount_refs_from(d.shape, d.path, "mount_refs", false,
	                    &r->mount_refs, &r->n_mount_refs, err));
	*out = r;
	r = NULL;
done:
	wr_create_request_free(r);
	doc_close(&d);
	return rc;
}

static const char *const INPUT_MEMBERS[] = { "kind", "content", NULL };

/* content has no length limit here: the Runtime applies max_input_bytes
 * (and the text as a whole is bounded by WR_JSON_MAX_BYTES). */
wr_err
wr_json_decode_input(const char *json, size_t len, const char *envelope,
                     struct wr_input *out, struct wr_error *err)
{
	struct wr_input in = { .kind = WR_INPUT_USER };
	struct doc d;
	char f[WR_FIELD_MAX];
	const char *s;
	size_t n;
	int kind;
	bool nomem = false;
	wr_err rc;

	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(check_members(d.shape, d.path, INPUT_MEMBERS, "", err));
	TRY(get_enum(d.shape, d.path, "kind", wr__input_kind_name, &kind, err));
	in.kind = (enum wr_input_kind)kind;
	TRY(get_string(d.shape, d.path, "content", S_REQUIRED | S_UNBOUNDED, 0,
	               &s, &n, err));
	if (n == 0) {
		path_key(f, d.path, "content");
		TRY(bad(err, "empty_content", f, "member '%s' must not be empty",
		        f));
	}
	if ((in.content = wr__strdup(s, &nomem)) == NULL)
		TRY(oom(err));
	*out = in;
done:
	doc_close(&d);
	return rc;
}

static const char *const LIFECYCLE_MEMBERS[] = { "reason", NULL };

wr_err
wr_json_decode_lifecycle_request(const char *json, size_t len,
                                 const char *envelope, char **reason,
                                 struct wr_error *err)
{
	struct doc d = { 0 };
	char *r = NULL;
	size_t i;
	wr_err rc = WR_OK;

	/* An empty body means "no reason". */
	for (i = 0; json != NULL && i < len && is_ws(json[i]); i++)
		;
	if (json == NULL || i == len) {
		*reason = NULL;
		return WR_OK;
	}
	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(check_members(d.shape, d.path, LIFECYCLE_MEMBERS, "", err));
	TRY(get_string_dup(d.shape, d.path, "reason", 0, &r, err));
	*reason = r;
done:
	doc_close(&d);
	return rc;
}

static const char *const RUNTIME_MEMBERS[] = {
	"runtime_id", "display_name", "backend", "status", "worker_count",
	"active_worker_count", "stopped_worker_count",
	"cancelled_worker_count", "failed_worker_count", "diagnostic_count",
	"limits", "version", "started_at", NULL
};
static const char *const LIMITS_MEMBERS[] = {
	"max_transcript_projection_items", "max_input_bytes", "max_workers",
	NULL
};

wr_err
wr_json_decode_runtime_summary(const char *json, size_t len,
                               const char *envelope,
                               struct wr_runtime_summary *out,
                               struct wr_error *err)
{
	struct wr_runtime_summary s;
	struct doc d;
	char f[WR_FIELD_MAX];
	const char *name;
	size_t n;
	jobj *o, *lim;
	int v;
	wr_err rc;

	memset(&s, 0, sizeof(s));
	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	o = d.shape;
	TRY(check_members(o, d.path, RUNTIME_MEMBERS, "", err));
	TRY(get_id(o, d.path, "runtime_id", s.runtime_id, err));
	TRY(get_string(o, d.path, "display_name", S_REQUIRED | S_NULLABLE,
	               WR_DISPLAY_NAME_MAX, &name, &n, err));
	if (name != NULL) {
		s.has_display_name = true;
		memcpy(s.display_name, name, n + 1);
	}
	TRY(get_enum(o, d.path, "backend", wr__backend_name, &v, err));
	wr__strlcpy(s.backend, wr__backend_name(v), sizeof(s.backend));
	TRY(get_enum(o, d.path, "status", wr__runtime_status_name, &v, err));
	s.status = (enum wr_runtime_status)v;
	TRY(get_count(o, d.path, "worker_count", &s.worker_count, err));
	TRY(get_count(o, d.path, "active_worker_count", &s.active_worker_count,
	              err));
	TRY(get_count(o, d.path, "stopped_worker_count",
	              &s.stopped_worker_count, err));
	TRY(get_count(o, d.path, "cancelled_worker_count",
	              &s.cancelled_worker_count, err));
	TRY(get_count(o, d.path, "failed_worker_count", &s.failed_worker_count,
	              err));
	TRY(get_count(o, d.path, "diagnostic_count", &s.diagnostic_count, err));
	TRY(get_object(o, d.path, "limits", true, &lim, f, err));
	TRY(check_members(lim, f, LIMITS_MEMBERS, "", err));
	TRY(get_u32(lim, f, "max_transcript_projection_items",
	            &s.limits.max_transcript_projection_items, err));
	TRY(get_u32(lim, f, "max_input_bytes", &s.limits.max_input_bytes, err));
	TRY(get_u32(lim, f, "max_workers", &s.limits.max_workers, err));
	TRY(get_string_buf(o, d.path, "version", 0, s.version,
	                   sizeof(s.version), err));
	TRY(get_time(o, d.path, "started_at", &s.started_at_ms, err));
	*out = s;
done:
	doc_close(&d);
	return rc;
}

wr_err
wr_json_decode_worker(const char *json, size_t len, const char *envelope,
                      bool detail, struct wr_worker_info **out,
                      struct wr_error *err)
{
	struct wr_worker_info *w = NULL;
	struct doc d;
	wr_err rc;

	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	if ((w = calloc(1, sizeof(*w))) == NULL)
		TRY(oom(err));
	TRY(worker_from(d.shape, d.path, detail, w, err));
	*out = w;
	w = NULL;
done:
	wr_worker_info_free(w);
	doc_close(&d);
	return rc;
}

/* [WorkerSummary...]; the array length is bounded only by the text size. */
wr_err
wr_json_decode_worker_list(const char *json, size_t len,
                           const char *envelope,
                           struct wr_worker_list *out,
                           struct wr_error *err)
{
	struct wr_worker_list l = { NULL, 0 };
	struct doc d;
	char fi[WR_FIELD_MAX];
	size_t n;
	jobj *v;
	wr_err rc;

	TRY(doc_open(&d, json, len, envelope, json_type_array, err));
	n = json_object_array_length(d.shape);
	if (n > 0 && (l.items = calloc(n, sizeof(*l.items))) == NULL)
		TRY(oom(err));
	for (size_t i = 0; i < n; i++) {
		TRY(get_item(d.shape, d.path, i, &v, fi, err));
		if ((l.items[i] = calloc(1, sizeof(**l.items))) == NULL)
			TRY(oom(err));
		l.count = i + 1;
		TRY(worker_from(v, fi, false, l.items[i], err));
	}
	*out = l;
	l.items = NULL;
	l.count = 0;
done:
	wr_worker_list_free(&l);
	doc_close(&d);
	return rc;
}

static const char *const ACK_INPUT_MEMBERS[] = {
	"worker_ref", "status", "run_state", "transcript_sequence", "event_id",
	NULL
};

wr_err
wr_json_decode_input_ack(const char *json, size_t len,
                         const char *envelope, struct wr_input_ack *out,
                         struct wr_error *err)
{
	struct wr_input_ack a;
	struct doc d;
	int v;
	wr_err rc;

	memset(&a, 0, sizeof(a));
	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(check_members(d.shape, d.path, ACK_INPUT_MEMBERS, "", err));
	TRY(ref_from(d.shape, d.path, "worker_ref", &a.ref, err));
	TRY(get_enum(d.shape, d.path, "status", wr__status_name, &v, err));
	a.status = (enum wr_worker_status)v;
	TRY(get_enum(d.shape, d.path, "run_state", wr__run_state_name, &v, err));
	a.run_state = (enum wr_run_state)v;
	TRY(get_count(d.shape, d.path, "transcript_sequence",
	              &a.transcript_sequence, err));
	TRY(get_count(d.shape, d.path, "event_id", &a.event_id, err));
	*out = a;
done:
	doc_close(&d);
	return rc;
}

static const char *const ACK_LIFECYCLE_MEMBERS[] = { "worker_ref", "status",
	                                             "event_id", NULL };

wr_err
wr_json_decode_lifecycle_ack(const char *json, size_t len,
                             const char *envelope,
                             struct wr_lifecycle_ack *out,
                             struct wr_error *err)
{
	struct wr_lifecycle_ack a;
	struct doc d;
	int v;
	wr_err rc;

	memset(&a, 0, sizeof(a));
	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(check_members(d.shape, d.path, ACK_LIFECYCLE_MEMBERS, "", err));
	TRY(ref_from(d.shape, d.path, "worker_ref", &a.ref, err));
	TRY(get_enum(d.shape, d.path, "status", wr__status_name, &v, err));
	a.status = (enum wr_worker_status)v;
	TRY(get_count(d.shape, d.path, "event_id", &a.event_id, err));
	*out = a;
done:
	doc_close(&d);
	return rc;
}

static const char *const PAGE_MEMBERS[] = {
	"worker_ref", "start", "limit", "total_items", "items", "next_start",
	NULL
};
static const char *const ENTRY_MEMBERS[] = {
	"sequence", "worker_ref", "role", "content", "event_id", "created_at",
	NULL
};

/* One TranscriptEntry; its worker_ref must be the page's.  content may be
 * empty (worker output can be) and is bounded only by the text size. */
static wr_err
entry_from(jobj *o, const char *path,
           const struct wr_worker_ref *page_ref,
           struct wr_transcript_entry *e, struct wr_error *err)
{
	struct wr_worker_ref ref;
	char f[WR_FIELD_MAX];
	int role;
	wr_err rc;

	TRY(check_members(o, path, ENTRY_MEMBERS, "", err));
	TRY(get_count(o, path, "sequence", &e->sequence, err));
	TRY(ref_from(o, path, "worker_ref", &ref, err));
	if (strcmp(ref.runtime_id, page_ref->runtime_id) != 0 ||
	    strcmp(ref.worker_id, page_ref->worker_id) != 0) {
		path_key(f, path, "worker_ref");
		TRY(bad(err, "invalid_value", f,
		        "member '%s' must equal the page's worker_ref", f));
	}
	TRY(get_enum(o, path, "role", wr__role_name, &role, err));
	e->role = (enum wr_role)role;
	TRY(get_string_dup(o, path, "content", S_REQUIRED | S_UNBOUNDED,
	                   &e->content, err));
	TRY(get_count(o, path, "event_id", &e->event_id, err));
	TRY(get_time(o, path, "created_at", &e->created_at_ms, err));
done:
	return rc;
}

/* items is bounded only by the text size (a page may be as large as the
 * Runtime's max_transcript_projection_items). */
wr_err
wr_json_decode_transcript_page(const char *json, size_t len,
                               const char *envelope,
                               struct wr_transcript_page *out,
                               struct wr_error *err)
{
	struct wr_transcript_page p;
	struct doc d;
	char f[WR_FIELD_MAX], fi[WR_FIELD_MAX];
	size_t n;
	jobj *a, *v;
	bool null;
	wr_err rc;

	memset(&p, 0, sizeof(p));
	TRY(doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(check_members(d.shape, d.path, PAGE_MEMBERS, "", err));
	TRY(ref_from(d.shape, d.path, "worker_ref", &p.ref, err));
	TRY(get_count(d.shape, d.path, "start", &p.start, err));
	TRY(get_u32(d.shape, d.path, "limit", &p.limit, err));
	TRY(get_count(d.shape, d.path, "total_items", &p.total_items, err));
	TRY(get_array(d.shape, d.path, "items", true, 0, &a, f, err));
	n = json_object_array_length(a);
	if (n > 0 && (p.items = calloc(n, sizeof(*p.items))) == NULL)
		TRY(oom(err));
	p.count = n;
	for (size_t i = 0; i < n; i++) {
		TRY(get_item(a, f, i, &v, fi, err));
		TRY(entry_from(v, fi, &p.ref, &p.items[i], err));
	}
	TRY(get_u64(d.shape, d.path, "next_start", true, UINT64_MAX,
	            &p.next_start, &null, err));
	p.has_next = !null;
	*out = p;
	memset(&p, 0, sizeof(p)); /* handed over */
done:
	wr_transcript_page_clear(&p);
	doc_close(&d);
	return rc;
}

static const char *const ERROR_MEMBERS[] = { "code", "message", "reason",
	                                     "field", "worker_id", NULL };

/* {"error": {...}}: code is any code but "ok"; absent optional members
 * become empty strings; over-long strings are too_long, never cut. */
wr_err
wr_json_decode_error(const char *json, size_t len, struct wr_error *out,
                     struct wr_error *err)
{
	struct wr_error e;
	struct doc d;
	const char *s;
	size_t n;
	int code;
	wr_err rc;

	memset(&e, 0, sizeof(e));
	TRY(doc_open(&d, json, len, "error", json_type_object, err));
	TRY(check_members(d.shape, d.path, ERROR_MEMBERS, "", err));
	TRY(get_enum(d.shape, d.path, "code", err_code_name, &code, err));
	e.code = (wr_err)code;
	TRY(get_string_buf(d.shape, d.path, "message", 0, e.message,
	                   sizeof(e.message), err));
	TRY(get_string(d.shape, d.path, "reason", 0, sizeof(e.reason) - 1, &s,
	               &n, err));
	if (s != NULL)
		memcpy(e.reason, s, n + 1);
	TRY(get_string(d.shape, d.path, "field", 0, sizeof(e.field) - 1, &s, &n,
	               err));
	if (s != NULL)
		memcpy(e.field, s, n + 1);
	TRY(get_string(d.shape, d.path, "worker_id", 0, sizeof(e.worker_id) - 1,
	               &s, &n, err));
	if (s != NULL)
		memcpy(e.worker_id, s, n + 1);
	*out = e;
done:
	doc_close(&d);
	return rc;
}
