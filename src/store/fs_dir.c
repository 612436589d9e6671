/*
 * store/fs_dir.c - the directory of the fs store (docs/store.md, Layout):
 * creating it, the names of its files ("<kind>-<20 digits>[.tmp]", so
 * names sort), listing them by generation and removing what restore no
 * longer reads.  A name that starts like a store file ("journal-",
 * "snapshot-") but does not parse is damage: ignoring it could drop
 * acknowledged records without a word.  Other names are never touched.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/fs.h"

/* ---- names -------------------------------------------------------------- */

/* "<prefix>-<20 digits><suffix>" exactly; gen 0 is not a valid name. */
static bool
parse_name(const char *name, const char *prefix, const char *suffix,
           uint64_t *gen)
{
	size_t p = strlen(prefix), s = strlen(suffix);
	uint64_t g = 0;

	if (strlen(name) != p + 1 + 20 + s || strncmp(name, prefix, p) != 0 ||
	    name[p] != '-' || strcmp(name + p + 21, suffix) != 0)
		return false;
	for (size_t i = p + 1; i < p + 21; i++) {
		uint64_t d;

		if (name[i] < '0' || name[i] > '9')
			return false;
		d = (uint64_t)(name[i] - '0');
		if (g > (UINT64_MAX - d) / 10) /* g * 10 + d > UINT64_MAX */
			return false;
		g = g * 10 + d;
	}
	*gen = g;
	return g > 0;
}

/* ---- the directory ------------------------------------------------------ */

wr_err
wr__fs_make_dir(const char *dir, struct wr_error *err)
{
	char *parent;
	char *slash;
	int pfd;

	if (mkdir(dir, 0700) == 0) {
		if ((parent = strdup(dir)) == NULL)
			return wr__oom(err);
		slash = strrchr(parent, '/');
		if (slash == NULL)
			strcpy(parent, ".");
		else if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			/* Best effort: without it only the empty directory
			 * could vanish in a crash, which loses nothing. */
			(void)fsync(pfd);
			close(pfd);
		}
		free(parent);
		return WR_OK;
	}
	if (errno == EEXIST)
		return WR_OK;
	return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "mkdir", dir, errno);
}

/* ---- listing ------------------------------------------------------------ */

static int
gens_push(struct wr__fs_gens *g, uint64_t x)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		uint64_t *v = realloc(g->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = x;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void
wr__fs_listing_free(struct wr__fs_listing *l)
{
	free(l->journals.v);
	free(l->snapshots.v);
	free(l->tmps.v);
	memset(l, 0, sizeof(*l));
}

wr_err
wr__fs_list(const struct wr__fs_dir *d, struct wr__fs_listing *l,
            struct wr_error *err)
{
	DIR *dp = opendir(d->path);
	struct dirent *de;
	wr_err rc = WR_OK;
	uint64_t g;

	memset(l, 0, sizeof(*l));
	if (dp == NULL)
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "opendir",
		                       d->path, errno);
	errno = 0;
	while ((de = readdir(dp)) != NULL) {
		int r = 0;
		if (parse_name(de->d_name, "journal", "", &g))
			r = gens_push(&l->journals, g);
		else if (parse_name(de->d_name, "snapshot", "", &g))
			r = gens_push(&l->snapshots, g);
		else if (parse_name(de->d_name, "snapshot", ".tmp", &g))
			r = gens_push(&l->tmps, g);
		else if (strncmp(de->d_name, "journal-", 8) == 0 ||
		         strncmp(de->d_name, "snapshot-", 9) == 0) {
			rc = wr__fail(err, WR_EUNAVAILABLE,
			              WR_REASON_STORE_CORRUPT, NULL,
			              "store %s is damaged: %.64s is not a store "
			              "file name (journal-, snapshot- + 20 "
			              "digits, generation 1 to %" PRIu64 ")",
			              d->path, de->d_name, UINT64_MAX);
			break;
		}
		if (r < 0) {
			rc = wr__oom(err);
			break;
		}
		errno = 0;
	}
	if (rc == WR_OK && errno != 0)
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "readdir",
		                     d->path, errno);
	closedir(dp);
	if (rc != WR_OK) {
		wr__fs_listing_free(l);
		return rc;
	}
	if (l->journals.n > 1)
		qsort(l->journals.v, l->journals.n, sizeof(uint64_t), cmp_u64);
	if (l->snapshots.n > 1)
		qsort(l->snapshots.v, l->snapshots.n, sizeof(uint64_t),
		      cmp_u64);
	return WR_OK;
}

void
wr__fs_remove_stale(const struct wr__fs_dir *d,
                    const struct wr__fs_listing *l, uint64_t snap)
{
	char name[WR__FS_NAME_MAX], *path;
	bool removed = false;

	for (int k = 0; k < 3; k++) {
		const struct wr__fs_gens *g = k == 0   ? &l->tmps
		                              : k == 1 ? &l->snapshots
		                                       : &l->journals;
		for (size_t i = 0; i < g->n; i++) {
			if (k > 0 && g->v[i] >= snap)
				continue;
			wr__fs_file_name(name, k == 2 ? "journal" : "snapshot",
			                 g->v[i], k == 0 ? ".tmp" : "");
			if ((path = wr__fs_join(d->path, name)) == NULL)
				continue;
			if (unlink(path) == 0)
				removed = true;
			free(path);
		}
	}
	/* Best effort: a file that comes back after a crash is removed by
	 * the next load again. */
	if (removed)
		(void)wr__fs_sync_dir(d);
}
