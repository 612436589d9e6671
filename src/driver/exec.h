/*
 * driver/exec.h - private interface between the profiles file loader
 * (profiles.c) and the exec driver (exec.c, with spawn.c, watch.c and
 * lines.c).
 *
 * An exec profile is immutable after loading; the driver only reads it, so
 * any number of workers (and threads) may share one.
 */
#ifndef WR_DRIVER_EXEC_H
#define WR_DRIVER_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define WR__EXEC_STOP_GRACE_DEFAULT_MS 5000u /* stdin EOF -> SIGTERM */
#define WR__EXEC_KILL_GRACE_MS 500u          /* SIGTERM -> SIGKILL */
/* A worker whose stdout reached EOF while it still runs can send no more
 * output or turn_end: if it has not exited this long after, it is failed
 * and ended (its exit, if it was exiting, is reported as such). */
#define WR__EXEC_STDOUT_EOF_GRACE_MS 1000
/* One stdout protocol line: at least WR__EXEC_LINE_MIN, and room for any
 * content the Runtime accepts as input, however the worker escapes it
 * (wr__exec_line_max). */
#define WR__EXEC_LINE_MIN (1024u * 1024u)
#define WR__EXEC_LINE_SLACK 4096u /* the message around the content */
#define WR__EXEC_ERRLINE_MAX 1024u           /* one stderr line kept */

/* What one profile of the profiles file runs.  Owned by the profile set.
 * A worker reads it only while it starts (exec_start, under the Runtime's
 * write lock) and copies what it keeps. */
struct wr__exec_profile {
	char *name;
	char **argv;        /* NULL-terminated; argv[0] is an absolute path */
	size_t argc;
	char **env;         /* NULL-terminated "KEY=VALUE" overrides */
	size_t n_env;
	char *cwd;          /* NULL: the Runtime's working directory */
	uint32_t stop_grace_ms;
	uint32_t turn_timeout_ms; /* 0: no limit */
};

/* Returns the byte bound on one stdout line of a worker of a Runtime
 * whose max_input_bytes is max_input: 6 * max_input + WR__EXEC_LINE_SLACK,
 * so that a worker can answer with anything it was sent even when its
 * JSON encoder escapes every byte as \u00XX (6 bytes; an echo of the
 * largest input is the case in point), but at least WR__EXEC_LINE_MIN and
 * at most WR__STORE_RECORD_MAX: a longer line could not become a record
 * of the fs store, so it is dropped as it is read rather than held whole
 * first (max_input above about 10.7 MiB).  Pure. */
size_t wr__exec_line_max(uint32_t max_input);

/* Returns the exec driver (static).  Its driver_arg is a
 * const struct wr__exec_profile * that must stay alive while a Runtime
 * has it in force; the workers started from it copy what they keep. */
const struct wr_driver *wr__driver_exec(void);

#endif /* WR_DRIVER_EXEC_H */
