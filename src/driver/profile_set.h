/*
 * driver/profile_set.h - private: what a loaded profiles file is (built by
 * profiles.c) and its lifetime, shared with the exec driver (exec.c).
 *
 * A set is immutable once loaded and reference counted: the loader's
 * reference (dropped by wr_profile_set_free) plus one per exec worker
 * started from one of its profiles (wr__exec_profile_hold, dropped when
 * the worker's state is freed), so that a set replaced by a reload lives
 * as long as the workers started from it.
 */
#ifndef WR_DRIVER_PROFILE_SET_H
#define WR_DRIVER_PROFILE_SET_H

#include <stddef.h>

#include "driver/exec.h"

struct wr_profile_set {
	struct wr_profile *profiles;   /* n, pointing into exec[] */
	struct wr__exec_profile *exec; /* n driver arguments; each ->set
	                                * points back here */
	size_t n;
	char *default_name;            /* NULL: none */
	char *source;                  /* the file's bytes as parsed */
	size_t source_len;
	size_t refs;                   /* __atomic builtins only */
};

#endif /* WR_DRIVER_PROFILE_SET_H */
