/*
 * oom.h - the allocation-failure seam of the tests: a program linked with
 * tests/oom.c has every malloc/calloc/realloc of the process (the
 * library's, libc's own such as strdup, and json-c's) go through a counter
 * that can make the n-th one fail with ENOMEM.  Only the allocations of the
 * thread that armed it count, so driver or Criterion threads never fail by
 * accident.  Nothing in the library changes: see "Allocation failures" in
 * src/base/base.h.
 */
#ifndef WR_TEST_OOM_H
#define WR_TEST_OOM_H

#include <stdbool.h>

/* From now on, the n-th allocation (n >= 1) of the calling thread fails;
 * with persist, every later one fails too.  Resets the count. */
void oom_arm(unsigned long n, bool persist);

/* Stops failing in the calling thread.  Returns true if a failure was
 * injected since oom_arm. */
bool oom_disarm(void);

/* Allocations the calling thread made while armed (failed ones too). */
unsigned long oom_count(void);

/* What oom_pause saved, for oom_resume. */
struct oom_state {
	unsigned long fail_at, counted;
	bool persist, fired;
};

/* Suspends the seam in the calling thread (for a test hook that must
 * allocate) and resumes it where it was. */
struct oom_state oom_pause(void);
void oom_resume(struct oom_state s);

#endif
