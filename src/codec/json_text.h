/*
 * codec/json_text.h - json-c objects to text, refusing the text json-c gets
 * wrong when memory runs out.
 *
 * json-c 0.16's serialiser ignores most failures to grow its buffer: the
 * text then silently misses pieces (a quote, a member, part of a string)
 * and may even be valid JSON with another meaning.  Every text this
 * library writes to disk or hands out goes through wr__json_text.
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

#endif /* WR_JSON_TEXT_H */
