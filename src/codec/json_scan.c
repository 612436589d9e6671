/*
 * codec/json_scan.c - the strict pass every JSON text of the library goes
 * through before json-c builds a tree from it (wr__json_scan in
 * codec/json.h), and the errors and JSON paths every reader of the codec
 * reports (wr__json_bad, wr__json_path_key, ...).
 *
 * json-c accepts, and silently changes, texts another parser reads
 * differently: it cuts a member name at an escaped NUL, keeps the last of
 * duplicate members, turns an escaped lone surrogate into U+FFFD, reads
 * NaN, Infinity, "1." and "-01", saturates integers beyond 64 bits and
 * drops the sign of -0.  This pass checks the RFC 8259 grammar exactly and
 * refuses each of those, naming the JSON path, so the tree json-c builds
 * afterwards holds exactly what the text says.  Fractions and exponents
 * are left to json-c (a double); nothing the library reads is one.
 *
 * Memory: the decoded member names of the open objects, in one buffer of
 * the text's size (decoding never grows a name), plus one entry per such
 * name; both are stack-like and freed before returning.
 */
#include "config.h"

#include "codec/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_MAX_DEPTH 64 /* hard cap of max_depth: frames[] below */

/* A member name of an open object: decoded, NUL-terminated, in names. */
struct name {
	const char *p;
	size_t n;
	size_t seq; /* position among its object's members */
};

/* An open container: its path is built from these on error only. */
struct frame {
	bool array;
	size_t index;      /* arrays: the current item */
	const char *name;  /* objects: the current member (NULL before one) */
	size_t first;      /* objects: its first entry in scan.stack */
};

struct scan {
	const char *s;
	size_t len, i;
	int depth, max_depth;
	struct wr__json_tally tally; /* of what was scanned so far */
	char *names;        /* len + 1 bytes, never moved */
	size_t names_used;
	struct name *stack; /* names of all open objects, outer first */
	size_t n, cap;
	struct frame frames[SCAN_MAX_DEPTH];
	struct wr_error *err;
};

/* Why a string cannot be taken as written. */
enum str_problem { STR_OK, STR_SYNTAX, STR_SURROGATE };

static wr_err
syntax(struct scan *s)
{
	return wr__json_bad(s->err, WR_REASON_INVALID_JSON, NULL,
	                    "the text is not valid JSON (byte %zu)", s->i);
}

/* The path of the value being scanned: every open frame's current member
 * or item. */
static void
path_of(const struct scan *s, char out[static WR_FIELD_MAX])
{
	char tmp[WR_FIELD_MAX];

	out[0] = '\0';
	for (int d = 0; d < s->depth; d++) {
		const struct frame *f = &s->frames[d];
		memcpy(tmp, out, WR_FIELD_MAX);
		if (f->array)
			wr__json_path_index(out, tmp, f->index);
		else if (f->name != NULL)
			wr__json_path_key(out, tmp, f->name);
	}
}

/* "in 'PATH'", or "at the top level" for the outermost object (whose path
 * is empty): where a member name is, in a message.  Returns out. */
static const char *
name_place(const char *path, char out[static WR_FIELD_MAX + 8])
{
	if (path[0] == '\0')
		return strcpy(out, "at the top level");
	snprintf(out, WR_FIELD_MAX + 8, "in '%s'", path);
	return out;
}

/* The path of the innermost open object itself (for problems with one of
 * its member names, which cannot be printed). */
static void
object_path(struct scan *s, char out[static WR_FIELD_MAX])
{
	struct frame *f = &s->frames[s->depth - 1];
	const char *saved = f->name;

	f->name = NULL;
	path_of(s, out);
	f->name = saved;
}

static bool
skip_ws(struct scan *s)
{
	while (s->i < s->len && wr__json_is_ws(s->s[s->i]))
		s->i++;
	return s->i < s->len;
}

static int
hex4(const char *p)
{
	int v = 0;

	for (int k = 0; k < 4; k++) {
		char c = p[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t
put_utf8(char *out, unsigned long cp)
{
	unsigned char *o = (unsigned char *)out;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* One \u escape at s->i (the backslash), a surrogate pair included, into
 * *cp; s->i ends past it.  At a problem s->i is where it is. */
static enum str_problem
unicode_escape(struct scan *s, unsigned long *cp)
{
	int hi, lo;

	if (s->len - s->i < 6 || (hi = hex4(s->s + s->i + 2)) < 0)
		return STR_SYNTAX;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return STR_SURROGATE;
	if (hi < 0xD800 || hi > 0xDBFF) {
		s->i += 6;
		*cp = (unsigned long)hi;
		return STR_OK;
	}
	if (s->len - s->i < 12 || s->s[s->i + 6] != '\\' ||
	    s->s[s->i + 7] != 'u')
		return STR_SURROGATE;
	if ((lo = hex4(s->s + s->i + 8)) < 0) {
		s->i += 6;
		return STR_SYNTAX;
	}
	if (lo < 0xDC00 || lo > 0xDFFF)
		return STR_SURROGATE;
	s->i += 12;
	*cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) +
	      ((unsigned long)lo - 0xDC00);
	return STR_OK;
}

/* Bytes of code point cp in UTF-8. */
static size_t
utf8_len(unsigned long cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/*
 * The string whose opening quote is at s->i; s->i ends past the closing
 * quote.  With out, its decoded bytes go there (room for as many as the
 * text has); their count goes to *n (if not NULL) either way.  At a
 * problem s->i is where it is.
 */
static enum str_problem
string(struct scan *s, char *out, size_t *n)
{
	static const char simple[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
	size_t o = 0;

	s->i++;
	while (s->i < s->len) {
		unsigned char c = (unsigned char)s->s[s->i];
		if (c == '"') {
			s->i++;
			if (n != NULL)
				*n = o;
			return STR_OK;
		}
		if (c < 0x20)
			return STR_SYNTAX;
		if (c != '\\') {
			if (out != NULL)
				out[o] = (char)c;
			o++;
			s->i++;
			continue;
		}
		if (s->i + 1 >= s->len)
			return STR_SYNTAX;
		const char *e = strchr(simple, s->s[s->i + 1]);
		if (e != NULL && *e != '\0') {
			if (out != NULL)
				out[o] = value[e - simple];
			o++;
			s->i += 2;
			continue;
		}
		if (s->s[s->i + 1] != 'u')
			return STR_SYNTAX;
		unsigned long cp = 0;
		enum str_problem p = unicode_escape(s, &cp);
		if (p != STR_OK)
			return p;
		o += out != NULL ? put_utf8(out + o, cp) : utf8_len(cp);
	}
	return STR_SYNTAX;
}

static wr_err
string_problem(struct scan *s, enum str_problem p, bool is_name)
{
	char f[WR_FIELD_MAX], what[WR_FIELD_MAX + 32];

	if (p == STR_SYNTAX)
		return syntax(s);
	if (is_name) {
		char place[WR_FIELD_MAX + 8];

		object_path(s, f);
		snprintf(what, sizeof what, "a member name %s",
		         name_place(f, place));
	} else {
		path_of(s, f);
		snprintf(what, sizeof what, "'%s'", f);
	}
	return wr__json_bad(s->err, WR_REASON_INVALID_UNICODE, f,
	                    "%s contains an escaped lone surrogate (byte "
	                    "%zu); send the character itself or a complete "
	                    "\\ud800-\\udbff + \\udc00-\\udfff pair",
	                    what, s->i);
}

/* Digits of an integer beyond the 64-bit range json-c saturates to:
 * more than UINT64_MAX, or (negative) less than INT64_MIN. */
static bool
beyond_64_bits(const char *digits, size_t n, bool negative)
{
	const char *max = negative ? "9223372036854775808"
	                           : "18446744073709551615";
	size_t m = strlen(max);

	return n > m || (n == m && memcmp(digits, max, m) > 0);
}

static wr_err
number(struct scan *s)
{
	const char *t = s->s;
	size_t start = s->i, digits;
	bool negative = t[s->i] == '-', integer = true;
	char f[WR_FIELD_MAX];

	if (negative)
		s->i++;
	digits = s->i;
	if (s->i >= s->len || t[s->i] < '0' || t[s->i] > '9')
		return syntax(s);
	if (t[s->i] == '0') {
		s->i++;
		if (s->i < s->len && t[s->i] >= '0' && t[s->i] <= '9')
			return syntax(s); /* a leading zero */
	} else {
		while (s->i < s->len && t[s->i] >= '0' && t[s->i] <= '9')
			s->i++;
	}
	size_t ndigits = s->i - digits;
	if (s->i < s->len && t[s->i] == '.') {
		integer = false;
		s->i++;
		if (s->i >= s->len || t[s->i] < '0' || t[s->i] > '9')
			return syntax(s);
		while (s->i < s->len && t[s->i] >= '0' && t[s->i] <= '9')
			s->i++;
	}
	if (s->i < s->len && (t[s->i] == 'e' || t[s->i] == 'E')) {
		integer = false;
		s->i++;
		if (s->i < s->len && (t[s->i] == '+' || t[s->i] == '-'))
			s->i++;
		if (s->i >= s->len || t[s->i] < '0' || t[s->i] > '9')
			return syntax(s);
		while (s->i < s->len && t[s->i] >= '0' && t[s->i] <= '9')
			s->i++;
	}
	s->tally.values[integer ? json_type_int : json_type_double]++;
	if (!integer)
		return WR_OK;
	if (negative && ndigits == 1 && t[digits] == '0') {
		path_of(s, f);
		return wr__json_bad(s->err, WR_REASON_INVALID_NUMBER, f,
		                    "'%s' is -0 (byte %zu): write 0", f, start);
	}
	if (beyond_64_bits(t + digits, ndigits, negative)) {
		path_of(s, f);
		return wr__json_bad(s->err, WR_REASON_INVALID_NUMBER, f,
		                    "'%s' is an integer beyond the 64-bit range "
		                    "(byte %zu)", f, start);
	}
	return WR_OK;
}

/* A literal true, false or null at s->i. */
static wr_err
literal(struct scan *s)
{
	static const char *const words[] = { "true", "false", "null" };

	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(words[k]);
		if (s->len - s->i >= n && memcmp(s->s + s->i, words[k], n) == 0) {
			s->i += n;
			s->tally.values[k < 2 ? json_type_boolean
			                      : json_type_null]++;
			return WR_OK;
		}
	}
	return syntax(s);
}

/* The member name at s->i, entered as the innermost object's current
 * member. */
static wr_err
member_name(struct scan *s)
{
	struct frame *f = &s->frames[s->depth - 1];
	char *out = s->names + s->names_used, p[WR_FIELD_MAX];
	char place[WR_FIELD_MAX + 8];
	enum str_problem pr;
	size_t n = 0, at = s->i;

	if (s->s[s->i] != '"')
		return syntax(s);
	if ((pr = string(s, out, &n)) != STR_OK)
		return string_problem(s, pr, true);
	if (memchr(out, '\0', n) != NULL) {
		object_path(s, p);
		return wr__json_bad(s->err, WR_REASON_NUL_IN_MEMBER_NAME, p,
		                    "the member name at byte %zu %s "
		                    "contains \\u0000", at,
		                    name_place(p, place));
	}
	if (!wr__utf8_valid(out, n)) {
		object_path(s, p);
		return wr__json_bad(s->err, WR_REASON_INVALID_UTF8, p,
		                    "the member name at byte %zu %s is "
		                    "not valid UTF-8", at,
		                    name_place(p, place));
	}
	out[n] = '\0';
	if (s->n == s->cap) {
		size_t cap = s->cap == 0 ? 16 : s->cap * 2;
		struct name *ns = realloc(s->stack, cap * sizeof(*ns));
		if (ns == NULL)
			return wr__oom(s->err);
		s->stack = ns;
		s->cap = cap;
	}
	s->tally.bytes += n;
	s->stack[s->n] = (struct name){ out, n, s->n - f->first };
	s->n++;
	s->names_used += n + 1;
	f->name = out;
	return WR_OK;
}

static int
name_cmp(const void *a, const void *b)
{
	const struct name *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Refuses the innermost object if a name occurs twice in it, naming the
 * first repetition in text order.  Sorts that object's entries. */
static wr_err
check_duplicates(struct scan *s)
{
	struct frame *f = &s->frames[s->depth - 1];
	size_t n = s->n - f->first;
	const struct name *dup = NULL;
	struct name *m;
	char p[WR_FIELD_MAX];

	if (n < 2)
		return WR_OK; /* stack may still be NULL */
	m = s->stack + f->first;
	qsort(m, n, sizeof(*m), name_cmp);
	for (size_t k = 1; k < n; k++)
		if (m[k].n == m[k - 1].n && memcmp(m[k].p, m[k - 1].p,
		                                   m[k].n) == 0 &&
		    (dup == NULL || m[k].seq < dup->seq))
			dup = &m[k];
	if (dup == NULL)
		return WR_OK;
	f->name = dup->p;
	path_of(s, p);
	return wr__json_bad(s->err, WR_REASON_DUPLICATE_MEMBER, p,
	                    "member '%s' occurs more than once; send each "
	                    "member once", p);
}

static wr_err value(struct scan *s);

static wr_err
open_container(struct scan *s, bool array)
{
	char p[WR_FIELD_MAX];

	if (s->depth >= s->max_depth) {
		path_of(s, p); /* where the container one too deep starts */
		return wr__json_bad(s->err, WR_REASON_TOO_DEEP, p,
		                    "the JSON text nests deeper than %d levels "
		                    "at '%s' (byte %zu)", s->max_depth, p,
		                    s->i);
	}
	s->frames[s->depth++] = (struct frame){ array, 0, NULL, s->n };
	s->i++; /* the bracket */
	return WR_OK;
}

/* After an item or member: true at c (the closing bracket), false at a
 * comma; anything else is a syntax error in *rc. */
static bool
next_or_close(struct scan *s, char c, wr_err *rc)
{
	*rc = WR_OK;
	if (skip_ws(s) && s->s[s->i] == ',') {
		s->i++;
		return false;
	}
	if (s->i < s->len && s->s[s->i] == c)
		return true;
	*rc = syntax(s);
	return true;
}

static wr_err
object(struct scan *s)
{
	size_t names_mark = s->names_used;
	wr_err rc = open_container(s, false);

	if (rc != WR_OK)
		return rc;
	if (!skip_ws(s))
		return syntax(s);
	if (s->s[s->i] != '}') {
		do {
			if (!skip_ws(s))
				return syntax(s);
			if ((rc = member_name(s)) != WR_OK)
				return rc;
			if (!skip_ws(s) || s->s[s->i] != ':')
				return syntax(s);
			s->i++;
			if ((rc = value(s)) != WR_OK)
				return rc;
		} while (!next_or_close(s, '}', &rc));
		if (rc != WR_OK)
			return rc;
	}
	if ((rc = check_duplicates(s)) != WR_OK)
		return rc;
	s->i++;
	s->depth--;
	s->n = s->frames[s->depth].first;
	s->names_used = names_mark;
	return WR_OK;
}

static wr_err
array(struct scan *s)
{
	wr_err rc = open_container(s, true);
	struct frame *f = &s->frames[s->depth - 1];

	if (rc != WR_OK)
		return rc;
	if (!skip_ws(s))
		return syntax(s);
	if (s->s[s->i] != ']') {
		for (;;) {
			if ((rc = value(s)) != WR_OK)
				return rc;
			if (next_or_close(s, ']', &rc))
				break;
			f->index++;
		}
		if (rc != WR_OK)
			return rc;
	}
	s->i++;
	s->depth--;
	return WR_OK;
}

/* One value at s->i (after whitespace); depth is bounded by open_container,
 * so the recursion is too. */
static wr_err
value(struct scan *s)
{
	enum str_problem p;
	char c;

	if (!skip_ws(s))
		return syntax(s);
	c = s->s[s->i];
	if (c == '{') {
		s->tally.values[json_type_object]++;
		return object(s);
	}
	if (c == '[') {
		s->tally.values[json_type_array]++;
		return array(s);
	}
	if (c == '"') {
		size_t n = 0, at = s->i;
		char f[WR_FIELD_MAX];

		s->tally.values[json_type_string]++;
		p = string(s, NULL, &n);
		s->tally.bytes += n;
		if (p != STR_OK)
			return string_problem(s, p, false);
		/* Escapes are ASCII, so the raw text between the quotes is
		 * UTF-8 exactly when the string is: every string, also one
		 * the reader then ignores. */
		if (!wr__utf8_valid(s->s + at + 1, s->i - at - 2)) {
			path_of(s, f);
			return wr__json_bad(s->err, WR_REASON_INVALID_UTF8, f,
			                    "the string at byte %zu in '%s' is "
			                    "not valid UTF-8", at, f);
		}
		return WR_OK;
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return number(s);
	return literal(s);
}

wr_err
wr__json_scan(const char *json, size_t len, int max_depth,
              struct wr__json_tally *tally, struct wr_error *err)
{
	struct scan s;
	wr_err rc;

	memset(&s, 0, sizeof(s));
	s.s = json != NULL ? json : "";
	s.len = json != NULL ? len : 0;
	s.max_depth = max_depth < 1 ? 1 : max_depth > SCAN_MAX_DEPTH
	                                          ? SCAN_MAX_DEPTH : max_depth;
	s.err = err;
	if ((s.names = malloc(s.len + 1)) == NULL)
		return wr__oom(err);
	rc = value(&s);
	if (rc == WR_OK && skip_ws(&s))
		rc = wr__json_bad(err, WR_REASON_INVALID_JSON, NULL,
		                  "unexpected text after the JSON value (byte "
		                  "%zu)", s.i);
	if (rc == WR_OK && tally != NULL)
		*tally = s.tally;
	free(s.names);
	free(s.stack);
	return rc;
}

wr_err
wr__json_bad(struct wr_error *err, enum wr_reason reason, const char *field,
             const char *fmt, ...)
{
	char msg[WR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wr__fail(err, WR_EINVALID_INPUT, reason, field, "%s", msg);
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

/* Ends a path cut at WR_FIELD_MAX - 1 bytes with "..." (its last bytes
 * give way, never half a UTF-8 character), so that it does not read as
 * another, shorter path. */
static void
mark_cut(char out[static WR_FIELD_MAX])
{
	out[WR_FIELD_MAX - 4] = '\0';
	trim_utf8(out);
	strcat(out, "...");
}

/* Appends s to the path out holds (*n bytes), as much as WR_FIELD_MAX
 * leaves room for; returns whether all of it fit.  s may be out itself
 * only while *n is 0 (a parent that is the path written to); a key must
 * not be. */
static bool
path_put(char out[static WR_FIELD_MAX], size_t *n, const char *s)
{
	size_t len = strlen(s), room = WR_FIELD_MAX - 1 - *n;
	bool whole = len <= room;

	if (!whole)
		len = room;
	memmove(out + *n, s, len);
	*n += len;
	out[*n] = '\0';
	return whole;
}

/* Without snprintf: it runs for every member a decoder reads, and a
 * decode of a small body spent a twentieth of its time in snprintf's
 * format parsing (tests/bench/decode-bench.c). */
void
wr__json_path_key(char out[static WR_FIELD_MAX], const char *parent,
                  const char *key)
{
	size_t n = 0;

	if (!path_put(out, &n, parent) ||
	    (parent[0] != '\0' && !path_put(out, &n, ".")) ||
	    !path_put(out, &n, key))
		mark_cut(out);
}

void
wr__json_path_index(char out[static WR_FIELD_MAX], const char *parent,
                    size_t i)
{
	int n = snprintf(out, WR_FIELD_MAX, "%s[%zu]", parent, i);
	if (n < 0 || n >= WR_FIELD_MAX)
		mark_cut(out);
}

bool
wr__json_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
