/*
 * watchdog_find.c - the tests' wr-watchdog lookup (watchdog_find.h): one
 * pass over /proc/PID/stat, fields after the command name in parentheses
 * (state, then the parent's pid).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "watchdog_find.h"

/* Whether /proc/name/stat is a live wr-watchdog child of parent. */
static bool
is_watchdog_of(const char *name, pid_t parent)
{
	char path[300], buf[512], *rp, state;
	long ppid;
	bool yes;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/stat", name);
	if ((f = fopen(path, "r")) == NULL)
		return false; /* gone meanwhile */
	yes = fgets(buf, sizeof(buf), f) != NULL &&
	      strstr(buf, "(wr-watchdog) ") != NULL &&
	      (rp = strrchr(buf, ')')) != NULL &&
	      sscanf(rp + 2, "%c %ld", &state, &ppid) == 2 &&
	      state != 'Z' && ppid == (long)parent;
	fclose(f);
	return yes;
}

/* One pass over /proc: the first match other than not, -1 if none. */
static pid_t
scan(pid_t parent, pid_t not)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;

	cr_assert_not_null(d, "opendir /proc");
	while (found < 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		if (atol(e->d_name) != (long)not &&
		    is_watchdog_of(e->d_name, parent))
			found = (pid_t)atol(e->d_name);
	}
	closedir(d);
	return found;
}

pid_t
test_find_watchdog(pid_t parent, pid_t not, int64_t ms)
{
	pid_t found;

	/* A scan, then one more after each 10 ms sleep, until ms slept. */
	for (int64_t slept = 0;; slept += 10) {
		if ((found = scan(parent, not)) > 0)
			return found;
		if (slept >= ms)
			return -1;
		usleep(10000);
	}
}
