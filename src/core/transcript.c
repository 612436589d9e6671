/*
 * core/transcript.c - the builtin "transcript" driver: input is recorded
 * by the Runtime and nothing runs, so a worker is never busy.
 */
#include "config.h"

#include "base/base.h"

static wr_err
transcript_start(void *arg WR__UNUSED, struct wr_runtime *rt WR__UNUSED,
                 const char *worker_id WR__UNUSED, void **state,
                 struct wr_error *err WR__UNUSED)
{
	*state = NULL;
	return WR_OK;
}

static wr_err
transcript_input(void *state WR__UNUSED, enum wr_input_kind kind WR__UNUSED,
                 const char *content WR__UNUSED, uint64_t sequence WR__UNUSED,
                 bool *turn_started, struct wr_error *err WR__UNUSED)
{
	*turn_started = false;
	return WR_OK;
}

static void
transcript_stop(void *state WR__UNUSED, bool cancel WR__UNUSED)
{
}

static void
transcript_release(void *state WR__UNUSED)
{
}

static const struct wr_driver transcript_driver = {
	.name = "transcript",
	.start = transcript_start,
	.input = transcript_input,
	.stop = transcript_stop,
	.release = transcript_release,
	.release_waits = false,
};

const struct wr_driver *
wr_driver_transcript(void)
{
	return &transcript_driver;
}
