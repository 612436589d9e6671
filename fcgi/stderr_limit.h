/*
 * stderr_limit.h - how many of the exec workers' stderr lines the log
 * takes (docs/worker-protocol.md, "stderr").
 *
 * A worker's stderr line is logged as "worker stderr" (fcgi/main.c).  In
 * one second (of CLOCK_MONOTONIC) the log takes at most
 * STDERR_LINES_PER_WORKER lines from one worker and STDERR_LINES_PER_SEC
 * from all together, so one worker that floods its stderr neither floods
 * the log nor hides the other workers' lines.  The lines past a limit are
 * counted per worker and handed back to be reported ("not logged").  The
 * first STDERR_LIMIT_SLOTS workers to write in a second are counted one by
 * one; the rest of that second only meet the limit of all together, and
 * their lines not logged are counted together (worker_id "").
 *
 * Pure state, no I/O, no clock and no lock: the caller serialises the
 * calls and passes the time.
 */
#ifndef WR_FCGI_STDERR_LIMIT_H
#define WR_FCGI_STDERR_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "worker-runtime.h"

#define STDERR_LINES_PER_SEC 100
#define STDERR_LINES_PER_WORKER 20
#define STDERR_LIMIT_SLOTS 16

#define STDERR_LIMIT_STR_(x) #x
#define STDERR_LIMIT_STR(x) STDERR_LIMIT_STR_(x)
/* The limits in words, for the line that reports lines not logged. */
#define STDERR_LIMIT_TEXT                                                   \
	"more than " STDERR_LIMIT_STR(STDERR_LINES_PER_WORKER) " a second "  \
	"from one worker or " STDERR_LIMIT_STR(STDERR_LINES_PER_SEC)         \
	" from all"

/* Lines of one worker not logged; worker_id "" for the workers past the
 * slots. */
struct stderr_drop {
	char worker_id[WR_ID_MAX + 1];
	unsigned long lines;
};

/* Zero-initialised: no second counted yet. */
struct stderr_limit {
	time_t window;    /* the second counted */
	bool started;     /* window is set */
	unsigned logged;  /* lines logged in it, all workers */
	size_t n_slots;
	struct {
		char worker_id[WR_ID_MAX + 1];
		unsigned logged;       /* in this second */
		unsigned long dropped; /* not yet reported */
	} slot[STDERR_LIMIT_SLOTS];
	unsigned long others_dropped; /* workers past the slots */
};

/* Room stderr_limit_admit() and stderr_limit_take() may fill. */
#define STDERR_DROPS_MAX (STDERR_LIMIT_SLOTS + 1)

/*
 * Decides one line of worker_id (at most WR_ID_MAX bytes are compared)
 * written at second now: true to log it, false if it is only counted.
 * When now starts a new second, the lines not logged and not yet reported
 * are first moved into drops[] (room for STDERR_DROPS_MAX) and their
 * number of entries into *n_drops (else *n_drops is 0).
 */
bool stderr_limit_admit(struct stderr_limit *l, const char *worker_id,
                        time_t now, struct stderr_drop *drops,
                        size_t *n_drops);

/* Moves the lines not logged and not yet reported into drops[] (room for
 * STDERR_DROPS_MAX) and returns the number of entries (0: none).  The
 * counts of the current second stay. */
size_t stderr_limit_take(struct stderr_limit *l, struct stderr_drop *drops);

#endif
