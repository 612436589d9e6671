/*
 * driver/profile_set.h - private: what a loaded profiles file is, built by
 * the loader (profiles.c) and read and freed by profile_set.c (the public
 * accessors and wr_profile_set_free).
 *
 * A set is immutable once loaded.  The exec workers started from it copy
 * what they keep of their profile, so a set replaced by a reload can be
 * freed at once.
 */
#ifndef WR_DRIVER_PROFILE_SET_H
#define WR_DRIVER_PROFILE_SET_H

#include <stddef.h>

#include "driver/exec.h"

struct wr_profile_set {
	struct wr_profile *profiles;   /* n, pointing into exec[] */
	struct wr__exec_profile *exec; /* n driver arguments */
	size_t n;
	char *default_name;            /* NULL: none */
	char *source;                  /* the file's bytes as parsed */
	size_t source_len;
};

#endif /* WR_DRIVER_PROFILE_SET_H */
