/*
 * decode-bench.c - what decoding one POST .../input body costs the
 * library (wr_json_decode_input: the strict scan, json-c's tree, the
 * getters), on one thread and on several at once.  Library level (the
 * public API, no HTTP).
 *
 *   cc -O2 -I SRC/src -o decode-bench tests/bench/decode-bench.c \
 *      -L BUILD/src/.libs -lworker-runtime -pthread
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./decode-bench [THREADS [N]]
 *
 * Each of THREADS (default 1, at most 64) threads decodes the body of
 * tests/bench/http-bench.sh's POST N times (default 300000, at most 10^8);
 * prints the CPU time per decode (all threads' CPU over all decodes) and
 * decodes per second of wall time.  To compare two builds, run them by
 * turns (LD_LIBRARY_PATH of each) in one session.  Not run by make check.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <worker-runtime.h>

static const char body[] = "{\"kind\":\"user\",\"content\":\"benchmark input\"}";
static long per_thread = 300000;

static void *
decode_loop(void *arg)
{
	(void)arg;
	for (long i = 0; i < per_thread; i++) {
		struct wr_input in;
		struct wr_error e;

		if (wr_json_decode_input(body, sizeof body - 1, NULL, &in,
		                         &e) != WR_OK) {
			fprintf(stderr, "decode-bench: %s\n", e.message);
			exit(1);
		}
		wr_input_clear(&in);
	}
	return NULL;
}

static double
seconds(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	pthread_t th[64];
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	double wall, cpu;

	if (argc > 2)
		per_thread = atol(argv[2]);
	if (threads < 1 || threads > 64 || per_thread < 1 ||
	    per_thread > 100000000) {
		fprintf(stderr, "usage: decode-bench [THREADS (1-64) "
		        "[N (1-10^8)]]\n");
		return 2;
	}
	wall = seconds(CLOCK_MONOTONIC);
	cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, decode_loop, NULL) != 0) {
			fprintf(stderr, "decode-bench: pthread_create\n");
			return 1;
		}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	wall = seconds(CLOCK_MONOTONIC) - wall;
	cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	printf("threads %d: %.0f ns CPU per decode, %.0f decodes/s\n", threads,
	       cpu * 1e9 / ((double)per_thread * threads),
	       (double)per_thread * threads / wall);
	return 0;
}
