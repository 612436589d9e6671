/*
 * codec/json_text.h - json-c objects to text, refusing the text json-c gets
 * wrong when memory runs out.
 *
 * json-c 0.16's serialiser ignores most failures to grow its buffer: the
 * text then silently misses pieces (a quote, a member, part of a string)
 * and may even be valid JSON with another meaning.  Every text this
 * library writes to disk or hands out goes through wr__json_text, and
 * every text it reads through wr__json_tokener_parse.
 */
#ifndef WR_JSON_TEXT_H
#define WR_JSON_TEXT_H

#include <json-c/json.h>

#include "base/base.h"

/* Serialises o with json-c flags into a malloc'd NUL-terminated copy the
 * caller frees; *len (if not NULL) gets its length.  The text is parsed
 * back and must equal o.  NULL (errno ENOMEM) when memory runs out at any
 * step; o is borrowed and left as it was. */
char *wr__json_text(json_object *o, int flags, size_t *len);

/*
 * json_tokener_parse_ex(tok, s, len) with the calling thread in the C
 * locale for the call (uselocale; put back after).  json-c 0.16 switches
 * to a C locale for its numbers on every call: a duplocale, a newlocale
 * and a freelocale, which in glibc each take one process-wide lock and
 * allocate, unless the thread's locale is the C locale already, when all
 * three return it as is.  Measured at 64 connections on POST input:
 * about a tenth of the Runtime's CPU went to parsing a 45-byte body, a
 * third of that in those calls.  Same result, ownership and
 * thread-safety as json_tokener_parse_ex (the thread's locale is its
 * own).
 */
json_object *wr__json_tokener_parse(json_tokener *tok, const char *s,
                                    int len);

#endif /* WR_JSON_TEXT_H */
