/*
 * test_driver.c - see test_driver.h.  The per-worker state is the stats
 * block (or NULL), so nothing is allocated and nothing can leak.
 */
#include "config.h"

#include <string.h>

#include "test_driver.h"

static wr_err
td_start(void *arg, struct wr_runtime *rt, const char *worker_id,
         void **state, struct wr_error *err)
{
	struct wr_test_driver_stats *st = arg;

	(void)rt;
	(void)worker_id;
	(void)err;
	if (st != NULL)
		atomic_fetch_add(&st->started, 1);
	*state = st;
	return WR_OK;
}

static wr_err
td_failstart(void *arg, struct wr_runtime *rt, const char *worker_id,
             void **state, struct wr_error *err)
{
	(void)arg;
	(void)rt;
	(void)worker_id;
	(void)state;
	if (err != NULL) {
		wr_error_clear(err);
		err->code = WR_EUNAVAILABLE;
		err->reason = WR_REASON_SPAWN_FAILED;
		strcpy(err->message, "test driver refuses to start");
	}
	return WR_EUNAVAILABLE;
}

static wr_err
td_input_turn(void *state, enum wr_input_kind kind, const char *content,
              uint64_t sequence, bool *turn_started, struct wr_error *err)
{
	struct wr_test_driver_stats *st = state;

	(void)kind;
	(void)content;
	(void)sequence;
	(void)err;
	if (st != NULL)
		atomic_fetch_add(&st->inputs, 1);
	*turn_started = true;
	return WR_OK;
}

static wr_err
td_input_refuse(void *state, enum wr_input_kind kind, const char *content,
                uint64_t sequence, bool *turn_started, struct wr_error *err)
{
	(void)state;
	(void)kind;
	(void)content;
	(void)sequence;
	(void)turn_started;
	if (err != NULL) {
		wr_error_clear(err);
		err->code = WR_EBUSY;
		err->reason = WR_REASON_TURN_IN_PROGRESS;
		strcpy(err->message, "test driver is busy");
	}
	return WR_EBUSY;
}

static void
td_stop(void *state, bool cancel)
{
	struct wr_test_driver_stats *st = state;

	if (st != NULL)
		atomic_fetch_add(cancel ? &st->cancels : &st->stops, 1);
}

static void
td_release(void *state)
{
	struct wr_test_driver_stats *st = state;

	if (st != NULL)
		atomic_fetch_add(&st->released, 1);
}

const struct wr_driver wr_test_busy_driver = {
	"test-busy", td_start, td_input_turn, td_stop, td_release, false};
const struct wr_driver wr_test_failstart_driver = {
	"test-failstart", td_failstart, td_input_turn, td_stop, td_release, false};
const struct wr_driver wr_test_refuse_driver = {
	"test-refuse", td_start, td_input_refuse, td_stop, td_release, false};
