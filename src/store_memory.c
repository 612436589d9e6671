/*
 * store_memory.c - the memory store: the Runtime's own tables are the only
 * copy, so persisting a record is a no-op that always succeeds.
 */
#include "config.h"

#include <stdlib.h>

#include "internal.h"

static wr_err
memory_write(struct wr__store *st WR__UNUSED,
             const struct wr__record *rec WR__UNUSED,
             struct wr_error *err WR__UNUSED)
{
	return WR_OK;
}

static void
memory_close(struct wr__store *st)
{
	free(st);
}

static const struct wr__store_ops memory_ops = {
	.backend = "memory",
	.write = memory_write,
	.close = memory_close,
};

wr_err
wr__store_memory_open(struct wr__store **out, struct wr_error *err)
{
	struct wr__store *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
		                "cannot allocate the memory store");
	st->ops = &memory_ops;
	*out = st;
	return WR_OK;
}
