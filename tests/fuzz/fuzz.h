/*
 * fuzz.h - what the libFuzzer harnesses in tests/fuzz/ share.
 *
 * A harness defines LLVMFuzzerTestOneInput; libFuzzer (clang
 * -fsanitize=fuzzer) supplies main().  FUZZ_CHECK turns a broken invariant
 * into an abort, which libFuzzer reports as a crash with the input saved.
 */
#ifndef WR_FUZZ_H
#define WR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",    \
			        __FILE__, __LINE__, #cond);                 \
			abort();                                            \
		}                                                           \
	} while (0)

/* A NUL-terminated heap copy of data[0..size) (an embedded NUL ends the
 * C string early, as it would for a caller); aborts when out of memory. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Splits data at its first '\n': *head gets the part before it (a heap
 * string), the rest stays in data/size.  No '\n': *head = "" and the whole
 * input is the rest. */
static inline char *
fuzz_take_line(const uint8_t **data, size_t *size)
{
	const uint8_t *nl = memchr(*data, '\n', *size);
	char *head;

	if (nl == NULL)
		return fuzz_strndup((const uint8_t *)"", 0);
	head = fuzz_strndup(*data, (size_t)(nl - *data));
	*size -= (size_t)(nl - *data) + 1;
	*data = nl + 1;
	return head;
}

#endif /* WR_FUZZ_H */
