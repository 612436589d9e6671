/*
 * fuzz-profiles.c - the profiles loader (src/profiles.c) on arbitrary
 * file contents.
 *
 * The input is written to a file in a per-process directory (under
 * $TMPDIR, default /tmp; removed at exit) and loaded.  A refusal must be
 * WR_EINVALID_INPUT with a reason and a message naming the file.  A loaded
 * set must hold distinct non-empty names with the default among them, and
 * a Runtime must open with it (what the loader accepts, the Runtime
 * accepts); no worker is created, so nothing is spawned.
 */
#include "config.h"

#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"
#include "worker-runtime.h"

static char dir[256], path[300];

static void
remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/wr-fuzz-profiles-XXXXXX",
	         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/profiles.json", dir);
	atexit(remove_dir);
	return 0;
}

static void
check_set(const struct wr_profile_set *set)
{
	const struct wr_profile *p;
	const char *def = wr_profile_set_default(set);
	bool def_found = def == NULL;
	struct wr_config cfg = { .runtime_id = "rt-fuzz" };
	struct wr_runtime *rt;
	struct wr_error err;
	size_t n;
	wr_err rc;

	p = wr_profile_set_profiles(set, &n);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(p[i].name != NULL && p[i].name[0] != '\0');
		FUZZ_CHECK(p[i].driver != NULL);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(p[i].name, p[j].name) != 0);
		if (def != NULL && strcmp(def, p[i].name) == 0)
			def_found = true;
	}
	FUZZ_CHECK(def_found);
	cfg.profiles = p;
	cfg.n_profiles = n;
	cfg.default_profile = def;
	rc = wr_runtime_open(&cfg, &rt, &err);
	if (rc != WR_OK)
		fprintf(stderr, "loaded, but the Runtime refuses: %s\n",
		        err.message);
	FUZZ_CHECK(rc == WR_OK);
	wr_runtime_close(rt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wr_profile_set *set = NULL;
	struct wr_error err;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	FUZZ_CHECK(close(fd) == 0);
	memset(&err, 0, sizeof(err));
	if (wr_profiles_load(path, &set, &err) != WR_OK) {
		FUZZ_CHECK(set == NULL);
		FUZZ_CHECK(err.code == WR_EINVALID_INPUT);
		FUZZ_CHECK(err.reason != WR_REASON_NONE);
		FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)));
		FUZZ_CHECK(strstr(err.message, path) != NULL);
		return 0;
	}
	check_set(set);
	wr_profile_set_free(set);
	return 0;
}
