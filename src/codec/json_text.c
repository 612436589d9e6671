/*
 * codec/json_text.c - see json_text.h.  The check costs one parse of the
 * text just written; nothing is kept between calls.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_text.h"

/* The C locale, made once (in glibc the static C locale object: nothing
 * is allocated); (locale_t)0 if that failed, then json-c's calls run in
 * the thread's own locale as they would without this. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void
c_locale_make(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

json_object *
wr__json_tokener_parse(json_tokener *tok, const char *s, int len)
{
	locale_t was = (locale_t)0;
	json_object *v;

	(void)pthread_once(&c_locale_once, c_locale_make);
	if (c_locale != (locale_t)0)
		was = uselocale(c_locale);
	v = json_tokener_parse_ex(tok, s, len);
	if (was != (locale_t)0)
		(void)uselocale(was);
	return v;
}

/* True if text[0..n) parses to exactly o. */
static bool
intact(json_object *o, const char *text, size_t n)
{
	json_tokener *tok;
	json_object *back = NULL;
	bool same = false;

	if (n > (size_t)INT32_MAX || (tok = json_tokener_new()) == NULL)
		return false;
	back = wr__json_tokener_parse(tok, text, (int)n);
	if (back != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) == n)
		same = json_object_equal(o, back) != 0;
	json_object_put(back);
	json_tokener_free(tok);
	return same;
}

char *
wr__json_text(json_object *o, int flags, size_t *len)
{
	const char *text;
	char *out;
	size_t n = 0;

	if ((text = json_object_to_json_string_length(o, flags, &n)) == NULL ||
	    (out = malloc(n + 1)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(out, text, n + 1);
	if (!intact(o, out, n)) {
		free(out);
		errno = ENOMEM;
		return NULL;
	}
	if (len != NULL)
		*len = n;
	return out;
}
