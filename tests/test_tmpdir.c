/*
 * test_tmpdir.c - the shared temporary-directory fixture (tests/tmpdir.h):
 * where it creates, with what mode, and that removal takes everything
 * under the directory but nothing a symbolic link in it points to.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tmpdir.h"

static char outer[TEST_TMPDIR_SIZE];

static void
setup(void)
{
	test_tmpdir_create(outer, sizeof(outer), "tmpdir-outer");
}

static void
teardown(void)
{
	test_tmpdir_remove(outer);
}

TestSuite(tmpdir, .init = setup, .fini = teardown, .timeout = 10);

static void
write_file(const char *path)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	fputs("x\n", f);
	cr_assert_eq(fclose(f), 0);
}

static bool
path_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

Test(tmpdir, is_a_fresh_0700_directory_under_TMPDIR)
{
	char a[TEST_TMPDIR_SIZE], b[TEST_TMPDIR_SIZE], prefix[300];
	struct stat sb;

	cr_assert_eq(setenv("TMPDIR", outer, 1), 0);
	test_tmpdir_create(a, sizeof(a), "t");
	test_tmpdir_create(b, sizeof(b), "t");
	snprintf(prefix, sizeof(prefix), "%s/wr-t-", outer);
	cr_assert_eq(strncmp(a, prefix, strlen(prefix)), 0, "%s", a);
	cr_assert_eq(strlen(a), strlen(prefix) + 6, "%s", a);
	cr_assert_str_neq(a, b);
	cr_assert_eq(lstat(a, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0700, "mode %o", sb.st_mode);
}

Test(tmpdir, unset_or_empty_TMPDIR_means_slash_tmp)
{
	char a[TEST_TMPDIR_SIZE], b[TEST_TMPDIR_SIZE];

	cr_assert_eq(unsetenv("TMPDIR"), 0);
	test_tmpdir_create(a, sizeof(a), "t");
	cr_assert_eq(setenv("TMPDIR", "", 1), 0);
	test_tmpdir_create(b, sizeof(b), "t");
	test_tmpdir_remove(a);
	test_tmpdir_remove(b);
	cr_assert_eq(strncmp(a, "/tmp/wr-t-", 10), 0, "%s", a);
	cr_assert_eq(strncmp(b, "/tmp/wr-t-", 10), 0, "%s", b);
	cr_assert_not(path_exists(a));
	cr_assert_not(path_exists(b));
}

Test(tmpdir, remove_takes_everything_under_it_but_no_link_target)
{
	char d[TEST_TMPDIR_SIZE], p[TEST_TMPDIR_SIZE + 64];
	char kept[TEST_TMPDIR_SIZE + 64];

	snprintf(kept, sizeof(kept), "%s/kept", outer);
	write_file(kept);
	cr_assert_eq(setenv("TMPDIR", outer, 1), 0);
	test_tmpdir_create(d, sizeof(d), "t");
	snprintf(p, sizeof(p), "%s/a", d);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a/b", d);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a/b/file", d);
	write_file(p);
	snprintf(p, sizeof(p), "%s/.hidden", d);
	write_file(p);
	snprintf(p, sizeof(p), "%s/a/to-outer", d);
	cr_assert_eq(symlink(outer, p), 0);
	snprintf(p, sizeof(p), "%s/to-kept", d);
	cr_assert_eq(symlink(kept, p), 0);

	test_tmpdir_remove(d);
	cr_assert_not(path_exists(d), "%s is still there", d);
	cr_assert(path_exists(kept), "removal followed a symbolic link");
}

Test(tmpdir, remove_of_an_empty_name_does_nothing)
{
	test_tmpdir_remove("");
	cr_assert(path_exists(outer));
}
