/*
 * tmpdir.c - the Criterion tests' temporary directories (tmpdir.h).
 * Removal walks depth first with nftw(FTW_PHYS): a symbolic link is
 * removed itself, whatever it points to stays.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tmpdir.h"

void
test_tmpdir_create(char *dir, size_t size, const char *tag)
{
	const char *root = getenv("TMPDIR");
	int n;

	if (root == NULL || root[0] == '\0')
		root = "/tmp";
	n = snprintf(dir, size, "%s/wr-%s-XXXXXX", root, tag);
	cr_assert(n > 0 && (size_t)n < size,
	          "TMPDIR %s is too long for a test directory (%zu bytes)",
	          root, size);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir,
	                   strerror(errno));
}

static int
remove_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	if (remove(path) != 0) {
		cr_log_error("remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void
test_tmpdir_remove(const char *dir)
{
	if (dir[0] == '\0')
		return;
	cr_assert_eq(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0,
	             "test directory %s not removed", dir);
}

bool
test_fd_is_tmp(int fd)
{
	char link[64], target[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 4)
		return false;
	target[n] = '\0';
	return strcmp(target + n - 4, ".tmp") == 0;
}
