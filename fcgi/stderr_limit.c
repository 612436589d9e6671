/*
 * stderr_limit.c - the per-worker and overall limits on the exec workers'
 * stderr lines in the log (see stderr_limit.h).
 */
#include "config.h"

#include <string.h>

#include "stderr_limit.h"

size_t
stderr_limit_take(struct stderr_limit *l, struct stderr_drop *drops)
{
	size_t i, n = 0;

	for (i = 0; i < l->n_slots; i++) {
		if (l->slot[i].dropped == 0)
			continue;
		memcpy(drops[n].worker_id, l->slot[i].worker_id,
		       sizeof(drops[n].worker_id));
		drops[n++].lines = l->slot[i].dropped;
		l->slot[i].dropped = 0;
	}
	if (l->others_dropped > 0) {
		drops[n].worker_id[0] = '\0';
		drops[n++].lines = l->others_dropped;
		l->others_dropped = 0;
	}
	return n;
}

/* The slot of worker_id in this second, taken if free;
 * STDERR_LIMIT_SLOTS when the slots are all taken by other workers. */
static size_t
slot_of(struct stderr_limit *l, const char *worker_id)
{
	size_t i;

	for (i = 0; i < l->n_slots; i++)
		if (strncmp(l->slot[i].worker_id, worker_id, WR_ID_MAX) == 0)
			return i;
	if (l->n_slots == STDERR_LIMIT_SLOTS)
		return STDERR_LIMIT_SLOTS;
	strncpy(l->slot[i].worker_id, worker_id, WR_ID_MAX);
	l->slot[i].worker_id[WR_ID_MAX] = '\0';
	l->slot[i].logged = 0;
	l->slot[i].dropped = 0;
	l->n_slots++;
	return i;
}

bool
stderr_limit_admit(struct stderr_limit *l, const char *worker_id,
                   time_t now, struct stderr_drop *drops, size_t *n_drops)
{
	size_t s;
	bool admit;

	*n_drops = 0;
	if (!l->started || now != l->window) {
		*n_drops = stderr_limit_take(l, drops);
		l->started = true;
		l->window = now;
		l->logged = 0;
		l->n_slots = 0;
	}
	s = slot_of(l, worker_id);
	admit = l->logged < STDERR_LINES_PER_SEC &&
	        (s == STDERR_LIMIT_SLOTS ||
	         l->slot[s].logged < STDERR_LINES_PER_WORKER);
	if (admit) {
		l->logged++;
		if (s < STDERR_LIMIT_SLOTS)
			l->slot[s].logged++;
	} else if (s < STDERR_LIMIT_SLOTS) {
		l->slot[s].dropped++;
	} else {
		l->others_dropped++;
	}
	return admit;
}
