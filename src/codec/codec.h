/*
 * codec/codec.h - private to the codec layer: the wire names of enums, for
 * codec.c, encode.c and decode.c (and json.c, through codec/json.h).
 *
 * The JSON codec: codec.c holds what both directions share (wire names of
 * enums, RFC 3339 time), encode.c turns structs into JSON text, decode.c
 * turns untrusted JSON text into structs, reading it with json.c and
 * json_scan.c (strict parsing and typed getters, declared in
 * codec/json.h); json_text.c turns json-c objects into text.  Nothing here
 * is exported (wr__ prefix); json-c stays out of this header.
 */
#ifndef WR_CODEC_H
#define WR_CODEC_H

#include "base/base.h"

/*
 * A wire-name function maps an enum value to its static wire name, or NULL
 * when the value is out of range.  Values are dense from 0, so a decoder
 * can search a name by counting up until NULL.
 */
typedef const char *(*wr__name_fn)(int value);

/* Wire names of the enums the public header has no name function for. */
const char *wr__intent_kind_name(int kind);  /* assistant, task, role */
const char *wr__profile_kind_name(int kind); /* runtime_default, ... */
const char *wr__input_kind_name(int kind);   /* user, system */

/* Adapters of the public name functions to wr__name_fn. */
const char *wr__status_name(int s);
const char *wr__run_state_name(int s);
const char *wr__role_name(int r);
const char *wr__runtime_status_name(int s);

/* RuntimeSummary.backend values: "memory", "fs_store". */
const char *wr__backend_name(int b);

#endif /* WR_CODEC_H */
