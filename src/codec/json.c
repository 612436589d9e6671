/*
 * codec/json.c - strict JSON reading for the decoders (codec/json.h).
 *
 * Parsing goes through the strict pass of json_scan.c first (exact
 * grammar, size, nesting, and refusal of what json-c would silently
 * change: escaped NUL in member names, duplicate members, lone surrogates,
 * -0 and integers beyond 64 bits), then json-c builds the tree; the
 * getters check each member's type, encoding and length and name the JSON
 * path of what is wrong.  json-c's own error strings are never shown (they
 * live in a global table and say nothing about fields).  The other readers
 * of the library (store records, profiles, exec worker lines) parse with
 * wr__json_parse too, and every builder adds members with wr__json_add.
 */
#include "config.h"

#include "codec/json.h"
#include "codec/json_text.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors and paths ------------------------------------------------- */

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

/* ---- parsing ---------------------------------------------------------- */

/* Adds what tree v holds to *t (wr__json_tally).  Recursion is bounded by
 * the depth the scan allowed. */
static void
tally_tree(json_object *v, struct wr__json_tally *t)
{
	enum json_type type = json_object_get_type(v); /* NULL: null */
	size_t n;

	t->values[type]++;
	switch (type) {
	case json_type_string:
		t->bytes += (size_t)json_object_get_string_len(v);
		break;
	case json_type_object: {
		json_object_object_foreach(v, key, m)
		{
			t->bytes += strlen(key);
			tally_tree(m, t);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++)
			tally_tree(json_object_array_get_idx(v, i), t);
		break;
	default:
		break;
	}
}

wr_err
wr__json_parse(const char *json, size_t len, int max_depth, json_object **out,
               struct wr_error *err)
{
	struct wr__json_tally want, got;
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *v;
	wr_err rc;

	*out = NULL;
	memset(&want, 0, sizeof(want));
	memset(&got, 0, sizeof(got));
	if (len > INT32_MAX)
		return wr__json_bad(err, WR_REASON_PAYLOAD_TOO_LARGE, NULL,
		                    "the JSON text is %zu bytes; at most %d are "
		                    "accepted", len, INT32_MAX);
	if (json == NULL)
		len = 0;
	rc = wr__json_scan(json, len, max_depth, &want, err);
	if (rc != WR_OK)
		return rc;

	/* The scan checked the grammar and bounded the nesting; json-c's own
	 * checks (its depth counts the scalar inside the deepest container
	 * too) are only a backstop. */
	tok = json_tokener_new_ex(max_depth + 1);
	if (tok == NULL)
		return wr__oom(err);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	v = wr__json_tokener_parse(tok, json != NULL ? json : "", (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		/* A value without an end of its own (a bare number): a NUL
		 * tells json-c the input is over. */
		v = wr__json_tokener_parse(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_success)
		tally_tree(v, &got);
	if (jerr != json_tokener_success || memcmp(&got, &want, sizeof(got))) {
		/* Out of memory inside json-c (0.16 does not say which): the
		 * scan proved the text is one value json-c reads as is. */
		json_object_put(v);
		return wr__oom(err);
	}
	*out = v; /* NULL for a JSON null */
	return WR_OK;
}

/* ---- documents -------------------------------------------------------- */

wr_err
wr__json_doc_open(struct wr__json_doc *d, const char *json, size_t len,
                  const char *envelope, enum json_type type,
                  struct wr_error *err)
{
	const char *what = type == json_type_array ? "an array" : "an object";
	wr_err rc;

	memset(d, 0, sizeof(*d));
	if (len > WR_JSON_MAX_BYTES)
		return wr__json_bad(err, WR_REASON_PAYLOAD_TOO_LARGE, NULL,
		                    "the JSON text is %zu bytes; at most %u "
		                    "are accepted",
		                    len, (unsigned)WR_JSON_MAX_BYTES);
	TRY(wr__json_parse(json, len, WR_JSON_MAX_DEPTH, &d->root, err));
	if (d->root == NULL)
		return wr__json_bad(err, WR_REASON_INVALID_JSON, NULL,
		                    "the JSON text must be %s, not null", what);
	if (envelope == NULL) {
		if (!json_object_is_type(d->root, type))
			return wr__json_bad(err, WR_REASON_INVALID_JSON, NULL,
			                    "the JSON text must be %s", what);
		d->shape = d->root;
		return WR_OK;
	}
	if (!json_object_is_type(d->root, json_type_object))
		return wr__json_bad(err, WR_REASON_INVALID_JSON, NULL,
		                    "the JSON text must be an object");
	const char *const allowed[] = { envelope, NULL };
	TRY(wr__json_check_members(d->root, "", allowed, "", err));
	wr__json_path_key(d->path, "", envelope);
	if (!json_object_object_get_ex(d->root, envelope, &d->shape))
		return wr__json_bad(err, WR_REASON_MISSING_FIELD, d->path,
		                    "member '%s' is required", d->path);
	if (!json_object_is_type(d->shape, type))
		return wr__json_bad(err, WR_REASON_WRONG_TYPE, d->path,
		                    "member '%s' must be %s", d->path, what);
done:
	return rc;
}

void
wr__json_doc_close(struct wr__json_doc *d)
{
	json_object_put(d->root);
	d->root = d->shape = NULL;
}

const char *
wr__json_plain_string(json_object *v, size_t *n)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (memchr(s, '\0', len) != NULL)
		return NULL;
	if (n != NULL)
		*n = len;
	return s;
}

/* ---- building ---------------------------------------------------------- */

bool
wr__json_add(json_object *o, const char *key, json_object *v)
{
	if (o == NULL || v == NULL) {
		json_object_put(v);
		return false;
	}
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

bool
wr__json_push(json_object *a, json_object *v)
{
	if (a == NULL || v == NULL) {
		json_object_put(v);
		return false;
	}
	if (json_object_array_add(a, v) != 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

/* ---- members ---------------------------------------------------------- */

wr_err
wr__json_check_members(json_object *o, const char *path,
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
			return wr__json_bad(err, WR_REASON_INVALID_UTF8, path,
			                    "a member name in '%s' is not "
			                    "valid UTF-8", path);
		wr__json_path_key(f, path, key);
		return wr__json_bad(err, WR_REASON_UNKNOWN_FIELD, f,
		                    "unknown member '%s'%s", f, why);
	}
	return WR_OK;
}

static wr_err
missing(struct wr_error *err, const char *f)
{
	return wr__json_bad(err, WR_REASON_MISSING_FIELD, f, "member '%s' is required",
	                    f);
}

static wr_err
wrong_type(struct wr_error *err, const char *f,
           const char *what)
{
	return wr__json_bad(err, WR_REASON_WRONG_TYPE, f, "member '%s' must be %s", f,
	                    what);
}

/* Finds member key of o: *v borrowed (NULL for JSON null), f its path.
 * Returns false if absent. */
static bool
member(json_object *o, const char *path, const char *key, json_object **v,
       char f[static WR_FIELD_MAX])
{
	wr__json_path_key(f, path, key);
	*v = NULL;
	return json_object_object_get_ex(o, key, v);
}

wr_err
wr__json_get_object(json_object *o, const char *path, const char *key,
                    bool required, json_object **v,
                    char f[static WR_FIELD_MAX], struct wr_error *err)
{
	if (!member(o, path, key, v, f))
		return required ? missing(err, f) : WR_OK;
	if (!json_object_is_type(*v, json_type_object))
		return wrong_type(err, f, "an object");
	return WR_OK;
}

wr_err
wr__json_get_array(json_object *o, const char *path, const char *key,
                   bool required, size_t max_items, json_object **v,
                   char f[static WR_FIELD_MAX], struct wr_error *err)
{
	if (!member(o, path, key, v, f))
		return required ? missing(err, f) : WR_OK;
	if (!json_object_is_type(*v, json_type_array))
		return wrong_type(err, f, "an array");
	if (max_items > 0 && json_object_array_length(*v) > max_items)
		return wr__json_bad(err, WR_REASON_TOO_MANY_ITEMS, f,
		                    "member '%s' has more than %zu items", f,
		                    max_items);
	return WR_OK;
}

wr_err
wr__json_get_item(json_object *a, const char *path, size_t i,
                  json_object **v, char f[static WR_FIELD_MAX],
                  struct wr_error *err)
{
	wr__json_path_index(f, path, i);
	*v = json_object_array_get_idx(a, i);
	if (!json_object_is_type(*v, json_type_object))
		return wrong_type(err, f, "an object");
	return WR_OK;
}

wr_err
wr__json_get_string(json_object *o, const char *path, const char *key,
                    unsigned flags, size_t max, const char **s,
                    size_t *n, struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	json_object *v;

	*s = NULL;
	*n = 0;
	if (!member(o, path, key, &v, f))
		return (flags & WR__JSON_REQUIRED) ? missing(err, f) : WR_OK;
	if (v == NULL && (flags & WR__JSON_NULLABLE))
		return WR_OK;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(err, f, (flags & WR__JSON_NULLABLE)
		                          ? "a string or null" : "a string");
	const char *str = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (!wr__utf8_valid(str, len))
		return wr__json_bad(err, WR_REASON_INVALID_UTF8, f,
		                    "member '%s' must be UTF-8 without NUL "
		                    "characters", f);
	if (max == 0 && !(flags & WR__JSON_UNBOUNDED))
		max = WR_JSON_MAX_STRING;
	if (max > 0 && len > max)
		return wr__json_bad(err, WR_REASON_TOO_LONG, f,
		                    "member '%s' is longer than %zu bytes", f,
		                    max);
	if (len == 0 && (flags & WR__JSON_NONEMPTY))
		return wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                    "member '%s' must not be empty", f);
	*s = str;
	*n = len;
	return WR_OK;
}

wr_err
wr__json_get_string_dup(json_object *o, const char *path, const char *key,
                        unsigned flags, char **out, struct wr_error *err)
{
	const char *s;
	size_t n;
	bool nomem = false;
	wr_err rc = wr__json_get_string(o, path, key, flags, 0, &s, &n, err);

	if (rc != WR_OK)
		return rc;
	*out = wr__strdup(s, &nomem); /* s has no NUL inside: checked */
	return nomem ? wr__oom(err) : WR_OK;
}

wr_err
wr__json_get_string_buf(json_object *o, const char *path, const char *key,
                        unsigned flags, char *buf, size_t size,
                        struct wr_error *err)
{
	const char *s;
	size_t n;
	wr_err rc = wr__json_get_string(o, path, key,
	                                flags | WR__JSON_REQUIRED, size - 1,
	                                &s, &n, err);

	if (rc == WR_OK)
		memcpy(buf, s, n + 1);
	return rc;
}

wr_err
wr__json_get_id(json_object *o, const char *path, const char *key,
                char buf[static WR_ID_MAX + 1], struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	const char *s;
	size_t n;
	wr_err rc = wr__json_get_string(o, path, key, WR__JSON_REQUIRED, 0, &s,
	                                &n, err);

	if (rc != WR_OK)
		return rc;
	if (!wr_id_valid(s)) {
		wr__json_path_key(f, path, key);
		return wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                    "member '%s' must be 1 to %d characters of "
		                    "[A-Za-z0-9_.-], not starting with '.'",
		                    f, WR_ID_MAX);
	}
	memcpy(buf, s, n + 1);
	return WR_OK;
}

wr_err
wr__json_get_enum(json_object *o, const char *path, const char *key,
                  wr__name_fn fn, int *out, struct wr_error *err)
{
	char f[WR_FIELD_MAX], names[160];
	const char *s;
	size_t n;
	wr_err rc = wr__json_get_string(o, path, key, WR__JSON_REQUIRED, 0, &s,
	                                &n, err);

	if (rc != WR_OK)
		return rc;
	int v = name_lookup(fn, s);
	if (v < 0) {
		wr__json_path_key(f, path, key);
		name_list(fn, names, sizeof(names));
		return wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                    "member '%s' must be one of %s", f, names);
	}
	*out = v;
	return WR_OK;
}

wr_err
wr__json_get_u64(json_object *o, const char *path, const char *key,
                 bool nullable, uint64_t max, uint64_t *out, bool *null,
                 struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	json_object *v;

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
		return wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                    "member '%s' must not be negative", f);
	uint64_t u = json_object_get_uint64(v);
	if (u > max)
		return wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                    "member '%s' must be at most %llu", f,
		                    (unsigned long long)max);
	*out = u;
	return WR_OK;
}

wr_err
wr__json_get_count(json_object *o, const char *path, const char *key,
                   uint64_t *out, struct wr_error *err)
{
	return wr__json_get_u64(o, path, key, false, UINT64_MAX, out, NULL,
	                        err);
}

wr_err
wr__json_get_u32(json_object *o, const char *path, const char *key,
                 uint32_t *out, struct wr_error *err)
{
	uint64_t v;
	wr_err rc = wr__json_get_u64(o, path, key, false, UINT32_MAX, &v, NULL,
	                             err);

	if (rc == WR_OK)
		*out = (uint32_t)v;
	return rc;
}

wr_err
wr__json_get_bool(json_object *o, const char *path, const char *key,
                  bool *out, struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	json_object *v;

	if (!member(o, path, key, &v, f))
		return missing(err, f);
	if (!json_object_is_type(v, json_type_boolean))
		return wrong_type(err, f, "a boolean");
	*out = json_object_get_boolean(v);
	return WR_OK;
}

wr_err
wr__json_get_time(json_object *o, const char *path, const char *key,
                  int64_t *out, struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	const char *s;
	size_t n;
	wr_err rc = wr__json_get_string(o, path, key, WR__JSON_REQUIRED, 0, &s,
	                                &n, err);

	if (rc != WR_OK)
		return rc;
	if (!wr_time_parse(s, out)) {
		wr__json_path_key(f, path, key);
		return wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                    "member '%s' must be a UTC timestamp like "
		                    "2026-11-24T10:21:56.123Z", f);
	}
	return WR_OK;
}
