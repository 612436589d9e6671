/*
 * request_id.c - checks and generates request ids (see request_id.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "request_id.h"

static pthread_once_t seed_once = PTHREAD_ONCE_INIT;
static uint64_t seed_hi, seed_lo;
static atomic_uint_fast64_t counter;

/* splitmix64's finaliser: a bijection on 64 bits, so distinct counters
 * give distinct ids. */
static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void seed_init(void)
{
	uint64_t s[2] = { 0, 0 };
	struct timespec ts;

	/* Without entropy (never on Linux >= 3.17) the time and pid still
	 * keep ids of two processes apart. */
	if (getrandom(s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
		clock_gettime(CLOCK_REALTIME, &ts);
		s[0] ^= mix((uint64_t)ts.tv_sec * 1000000000ull +
		            (uint64_t)ts.tv_nsec);
		s[1] ^= mix((uint64_t)getpid());
	}
	seed_hi = s[0];
	seed_lo = s[1];
}

bool request_id_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n == REQUEST_ID_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

const char *request_id_or_new(const char *s, char buf[REQUEST_ID_SIZE])
{
	uint64_t n;

	if (request_id_valid(s))
		return s;
	pthread_once(&seed_once, seed_init);
	n = atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
	fmt_hex64(buf, seed_hi ^ mix(n >> 32 ^ seed_lo));
	fmt_hex64(buf + 16, mix(seed_lo + n));
	buf[32] = '\0';
	return buf;
}
