/*
 * test_oom.c - out of memory, on purpose (the seam of tests/oom.h fails
 * the n-th allocation of the calling thread, json-c's and libc's included):
 *   - the loop of SQLite's malloc tests: for create, input, stop, cancel,
 *     transcript read and store replay, fail the 1st, 2nd, ... allocation
 *     in turn until the operation succeeds with the seam armed; every
 *     failure is WR_EINTERNAL/out_of_memory and leaves summary, worker list
 *     and every transcript exactly as before (and leaks nothing: run under
 *     valgrind and ASan by tests/run-all);
 *   - a failed sync that runs out of memory releases the discarded
 *     worker's driver outside the Runtime lock (no deadlock with a driver
 *     thread waiting for that lock in wr_worker_emit).
 * Links the static library for the wr__ I/O seam of the fs store.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "internal.h"
#include "oom.h"

/* Far more than any operation allocates: a loop that reaches it is a
 * seam that never stops failing. */
#define MAX_ROUNDS 5000ul

static char base[64];
static char dir[128];
static char spec[160];

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

static void
setup(void)
{
	strcpy(base, "/tmp/wr-oom-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(dir, sizeof(dir), "%s/store", base);
	snprintf(spec, sizeof(spec), "fs:%s", dir);
}

static void
teardown(void)
{
	oom_disarm();
	if (base[0] != '\0')
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(oom, .init = setup, .fini = teardown, .timeout = 240);

/* ---- a driver whose release waits for a thread that calls back ------- */

/*
 * Like the exec driver: release() waits for the driver's own thread, and
 * that thread may be calling wr_worker_emit, which takes the Runtime lock.
 * Released under that lock, this waits forever; the wait is bounded so
 * that the test fails instead of hanging.
 */
struct emitter {
	struct wr_runtime *rt;
	char id[WR_ID_MAX + 1];
	wr_err emitted;
};

static atomic_int released;
static atomic_bool deadlocked;
static pthread_t stuck; /* an emit thread that did not finish in time */
static bool have_stuck;

static wr_err
em_start(void *arg, struct wr_runtime *rt, const char *worker_id,
         void **state, struct wr_error *err)
{
	struct emitter *em = calloc(1, sizeof(*em));

	(void)arg;
	if (em == NULL)
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL, NULL);
	em->rt = rt;
	snprintf(em->id, sizeof(em->id), "%s", worker_id);
	*state = em;
	return WR_OK;
}

static wr_err
em_input(void *state, enum wr_input_kind kind, const char *content,
         uint64_t sequence, bool *turn_started, struct wr_error *err)
{
	(void)state;
	(void)kind;
	(void)content;
	(void)sequence;
	(void)turn_started;
	(void)err;
	return WR_OK;
}

static void
em_stop(void *state, bool cancel)
{
	(void)state;
	(void)cancel;
}

static void *
em_thread(void *arg)
{
	struct emitter *em = arg;

	em->emitted = wr_worker_emit(em->rt, em->id, WR_ROLE_WORKER, "late",
	                             NULL);
	return NULL;
}

static void
em_release(void *state)
{
	struct oom_state saved = oom_pause(); /* pthread_create allocates */
	struct emitter *em = state;
	struct timespec until;
	pthread_t t;

	if (pthread_create(&t, NULL, em_thread, em) == 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		if (pthread_timedjoin_np(t, NULL, &until) != 0) {
			atomic_store(&deadlocked, true);
			stuck = t;
			have_stuck = true;
			oom_resume(saved);
			return; /* em stays for the stuck thread */
		}
	}
	free(em);
	atomic_fetch_add(&released, 1);
	oom_resume(saved);
}

static const struct wr_driver emitter_driver = {
	"test-emitter", em_start, em_input, em_stop, em_release};

/* The fdatasync of the fs store fails and, from then on, so does every
 * allocation of the thread that called it. */
static atomic_bool sync_fails_oom;

static int
t_fdatasync(int fd)
{
	if (atomic_exchange(&sync_fails_oom, false)) {
		oom_arm(1, true);
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

static const struct wr__fs_io sync_seam = {NULL, t_fdatasync, NULL};

Test(oom, discarded_creation_releases_driver_outside_the_lock)
{
	struct wr_profile prof = {.name = "emitter", .driver = &emitter_driver};
	struct wr_config cfg = {.runtime_id = "rt-oom", .store = spec,
	                        .profiles = &prof, .n_profiles = 1};
	struct wr_create_request req = {
		.profile = {.kind = WR_PROFILE_NAMED, .value = "emitter"}};
	struct wr_runtime *rt = NULL;
	struct wr_worker_list l;
	struct wr_error e;
	wr_err rc;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "%s", e.message);
	wr__store_fs_set_io(wr__runtime_store(rt), &sync_seam);
	atomic_store(&sync_fails_oom, true);
	rc = wr_worker_create(rt, &req, NULL, &e);
	cr_assert(oom_disarm(), "the seam was never reached");
	if (have_stuck)
		pthread_join(stuck, NULL); /* the lock is free by now */
	cr_assert_not(atomic_load(&deadlocked),
	              "release() ran under the Runtime lock: the driver's "
	              "thread waited for it in wr_worker_emit");
	cr_assert_eq(rc, WR_EUNAVAILABLE, "create: %s (%s)",
	             wr_strerror(rc), e.reason);
	cr_assert_eq(atomic_load(&released), 1);
	cr_assert_eq(wr_worker_list(rt, &l, &e), WR_OK);
	cr_assert_eq(l.count, 0, "the discarded worker is still listed");
	wr_worker_list_free(&l);
	wr__store_fs_set_io(wr__runtime_store(rt), NULL);
	wr_runtime_close(rt);
}
