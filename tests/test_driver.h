/*
 * test_driver.h - drivers for tests: make busy, start failure and
 * driver-reported busy reachable through the public driver interface.
 */
#ifndef WR_TEST_DRIVER_H
#define WR_TEST_DRIVER_H

#include <stdatomic.h>

#include "worker-runtime.h"

/* Optional driver_arg of the drivers below: counts calls. */
struct wr_test_driver_stats {
	atomic_int started, inputs, stops, cancels, released;
};

/* Every input starts a turn that lasts until the test calls
 * wr_worker_turn_end(rt, id, NULL). */
extern const struct wr_driver wr_test_busy_driver;

/* start() fails with WR_EUNAVAILABLE / "spawn_failed". */
extern const struct wr_driver wr_test_failstart_driver;

/* input() itself answers WR_EBUSY (the driver reports busy). */
extern const struct wr_driver wr_test_refuse_driver;

#endif
