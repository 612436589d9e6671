/*
 * oom.c - see oom.h.  malloc, calloc, realloc and free are defined here, in
 * the test program; by ELF symbol interposition (glibc's documented way to
 * replace its allocator) every call in the process resolves to them, from
 * the library, from libc itself and from json-c.  Each forwards to the next
 * definition - libc's, or ASan's, whose replacement valgrind then tracks -
 * so memory checkers still see every block.  Compiled with -fno-builtin.
 *
 * strdup is defined here too, for one reason: json-c 0.16's tokener does
 * not check the strdup of an object key and, when it fails, adds the
 * member under a NULL key and crashes in strlen (SIGSEGV: a bug of
 * json-c, not of this library).  strdup called from
 * json-c is therefore never failed.  Nor are the allocations of json-c's
 * lh_table_new: when an object's table cannot grow, json-c 0.16 leaks the
 * key it copied and its parser ignores the failure, leaking the value.
 * Every other allocation of json-c can fail.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oom.h"

/* Runs before a sanitizer's runtime is initialised (its start-up
 * allocates): must not be instrumented. */
#define NO_SAN __attribute__((no_sanitize("address,undefined")))

static _Thread_local struct oom_state st; /* fail_at 0: disarmed */

static void *(*next_malloc)(size_t);
static void *jsonc_base; /* where libjson-c is mapped, or NULL */
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);

/* dlsym may allocate while the next definitions are being looked up
 * (once, at the first allocation): those few blocks come from here and
 * are never freed. */
static alignas(max_align_t) char boot[8192];
static size_t boot_used;
static _Thread_local bool resolving;

NO_SAN static bool
in_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

NO_SAN static void *
boot_alloc(size_t n)
{
	size_t a = alignof(max_align_t);
	size_t at = (boot_used + a - 1) / a * a;

	if (n > sizeof(boot) - at) {
		errno = ENOMEM;
		return NULL;
	}
	boot_used = at + n;
	return boot + at; /* zero: static and never reused */
}

NO_SAN static void
resolve(void)
{
	if (__atomic_load_n(&next_free, __ATOMIC_ACQUIRE) != NULL)
		return;
	resolving = true;
	next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	__atomic_store_n(&next_free, (void (*)(void *))dlsym(RTLD_NEXT, "free"),
	                 __ATOMIC_RELEASE);
	resolving = false;
	{
		Dl_info jc;
		void *sym = dlsym(RTLD_DEFAULT, "json_tokener_parse_ex");
		if (sym != NULL && dladdr(sym, &jc) != 0)
			jsonc_base = jc.dli_fbase;
	}
	if (next_malloc == NULL || next_calloc == NULL ||
	    next_realloc == NULL || next_free == NULL)
		abort(); /* no allocator to forward to */
}

/* True if the allocation called from ret must not fail (see the top). */
NO_SAN static bool
spared(void *ret, bool any_jsonc)
{
	Dl_info caller;

	if (st.fail_at == 0 || jsonc_base == NULL ||
	    dladdr(ret, &caller) == 0 || caller.dli_fbase != jsonc_base)
		return false;
	return any_jsonc || (caller.dli_sname != NULL &&
	                     strcmp(caller.dli_sname, "lh_table_new") == 0);
}

/* Counts one allocation of this thread; true if it must fail. */
NO_SAN static bool
fail_now(void)
{
	if (st.fail_at == 0)
		return false;
	st.counted++;
	if (st.counted == st.fail_at || (st.persist && st.counted > st.fail_at)) {
		st.fired = true;
		errno = ENOMEM;
		return true;
	}
	return false;
}

NO_SAN void *
malloc(size_t n)
{
	if (resolving)
		return boot_alloc(n);
	resolve();
	if (spared(__builtin_return_address(0), false))
		return next_malloc(n);
	return fail_now() ? NULL : next_malloc(n);
}

NO_SAN void *
calloc(size_t n, size_t size)
{
	if (resolving)
		return size != 0 && n > SIZE_MAX / size ? NULL
		                                        : boot_alloc(n * size);
	resolve();
	if (spared(__builtin_return_address(0), false))
		return next_calloc(n, size);
	return fail_now() ? NULL : next_calloc(n, size);
}

NO_SAN void *
realloc(void *p, size_t n)
{
	void *q;

	if (resolving)
		return boot_alloc(n); /* only ever fresh blocks while booting */
	resolve();
	if (in_boot(p)) {
		if ((q = malloc(n)) != NULL)
			memcpy(q, p, n < (size_t)(boot + sizeof(boot) - (char *)p)
			                     ? n
			                     : (size_t)(boot + sizeof(boot) -
			                                (char *)p));
		return q;
	}
	return fail_now() ? NULL : next_realloc(p, n);
}

NO_SAN void
free(void *p)
{
	if (p == NULL || in_boot(p))
		return;
	resolve();
	next_free(p);
}

NO_SAN char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	resolve();
	if (spared(__builtin_return_address(0), true)) {
		struct oom_state saved = oom_pause(); /* see the top */
		d = malloc(n);
		oom_resume(saved);
	} else {
		d = malloc(n);
	}
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void
oom_arm(unsigned long n, bool persist)
{
	st = (struct oom_state){.fail_at = n, .persist = persist};
}

bool
oom_disarm(void)
{
	bool fired = st.fired;

	st.fail_at = 0;
	return fired;
}

unsigned long
oom_count(void)
{
	return st.counted;
}

struct oom_state
oom_pause(void)
{
	struct oom_state saved = st;

	st.fail_at = 0;
	return saved;
}

void
oom_resume(struct oom_state s)
{
	st = s;
}
