/*
 * store/memory.c - the memory store: the Runtime's own tables are the only
 * copy (transcript contents included: its RAM is the store, docs/store.md),
 * so there is nothing to load or read back, append is a no-op that
 * succeeds and every record is durable at once (sync is NULL).
 */
#include "config.h"

#include <stdlib.h>

#include "store/store.h"

static wr_err
memory_append(struct wr__store *st, const struct wr__record *rec,
              uint64_t *lsn, struct wr__loc *loc, struct wr_error *err WR__UNUSED)
{
	(void)rec;
	(void)st;
	*lsn = 0;
	if (loc != NULL)
		*loc = (struct wr__loc){0, 0, 0};
	return WR_OK;
}

static void
memory_close(struct wr__store *st)
{
	free(st);
}

static const struct wr__store_ops memory_ops = {
	.backend = "memory",
	.load = NULL,
	.append = memory_append,
	.sync = NULL,
	.reset = NULL,
	.read = NULL,
	.snapshot_due = NULL,
	.snapshot_begin = NULL,
	.snapshot_write = NULL,
	.snapshot_switch = NULL,
	.close = memory_close,
};

wr_err
wr__store_memory_open(struct wr__store **out, struct wr_error *err)
{
	struct wr__store *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY, NULL,
		                "cannot allocate the memory store");
	st->ops = &memory_ops;
	*out = st;
	return WR_OK;
}
