/*
 * fuzz-json.c - every wr_json_decode_* on arbitrary text.
 *
 * Input: one selector byte (decoder = byte % 10, envelope "x" when bit 7 is
 * set), then the JSON text.  A refusal must be WR_EINVALID_INPUT with a
 * reason and a NUL-terminated message.  An accepted text is encoded again,
 * and that encoding must decode and re-encode to the very same bytes: the
 * codec never accepts what it cannot write back, and never changes a value
 * between two round trips.
 */
#include "config.h"

#include "fuzz.h"
#include "worker-runtime.h"

enum { D_CREATE, D_INPUT, D_LIFECYCLE, D_SUMMARY, D_WORKER_DETAIL,
       D_WORKER_SUMMARY, D_LIST, D_INPUT_ACK, D_LIFECYCLE_ACK, D_PAGE,
       D_ERROR, D_COUNT };

/* Decodes json with decoder `which` and encodes the result again.
 * Returns the decoder's code; on WR_OK *text is the encoding (caller
 * frees), or NULL when the encoder ran out of memory. */
static wr_err
round_trip(int which, const char *env, const char *json, size_t len,
           char **text, struct wr_error *err)
{
	struct wr_create_request *cr = NULL;
	struct wr_input in = { 0 };
	struct wr_runtime_summary sum;
	struct wr_worker_info *w = NULL;
	struct wr_worker_list list = { 0 };
	struct wr_input_ack iack;
	struct wr_lifecycle_ack lack;
	struct wr_transcript_page page = { 0 };
	struct wr_error e;
	char *reason = NULL;
	wr_err rc = WR_EINTERNAL;

	*text = NULL;
	switch (which) {
	case D_CREATE:
		rc = wr_json_decode_create_request(json, len, env, &cr, err);
		if (rc == WR_OK)
			*text = wr_json_encode_create_request(cr, env, NULL);
		wr_create_request_free(cr);
		break;
	case D_INPUT:
		rc = wr_json_decode_input(json, len, env, &in, err);
		if (rc == WR_OK)
			*text = wr_json_encode_input(&in, env, NULL);
		wr_input_clear(&in);
		break;
	case D_LIFECYCLE:
		rc = wr_json_decode_lifecycle_request(json, len, env, &reason,
		                                      err);
		if (rc == WR_OK)
			*text = wr_json_encode_lifecycle_request(reason, env,
			                                         NULL);
		free(reason);
		break;
	case D_SUMMARY:
		rc = wr_json_decode_runtime_summary(json, len, env, &sum, err);
		if (rc == WR_OK)
			*text = wr_json_encode_runtime_summary(&sum, env, NULL);
		break;
	case D_WORKER_DETAIL:
	case D_WORKER_SUMMARY:
		rc = wr_json_decode_worker(json, len, env,
		                           which == D_WORKER_DETAIL, &w, err);
		if (rc == WR_OK)
			*text = which == D_WORKER_DETAIL
			        ? wr_json_encode_worker_detail(w, env, NULL)
			        : wr_json_encode_worker_summary(w, env, NULL);
		wr_worker_info_free(w);
		break;
	case D_LIST:
		rc = wr_json_decode_worker_list(json, len, env, &list, err);
		if (rc == WR_OK)
			*text = wr_json_encode_worker_list(&list, env, NULL);
		wr_worker_list_free(&list);
		break;
	case D_INPUT_ACK:
		rc = wr_json_decode_input_ack(json, len, env, &iack, err);
		if (rc == WR_OK)
			*text = wr_json_encode_input_ack(&iack, env, NULL);
		break;
	case D_LIFECYCLE_ACK:
		rc = wr_json_decode_lifecycle_ack(json, len, env, &lack, err);
		if (rc == WR_OK)
			*text = wr_json_encode_lifecycle_ack(&lack, env, NULL);
		break;
	case D_PAGE:
		rc = wr_json_decode_transcript_page(json, len, env, &page, err);
		if (rc == WR_OK)
			*text = wr_json_encode_transcript_page(&page, env,
			                                       NULL);
		wr_transcript_page_clear(&page);
		break;
	case D_ERROR: /* the error shape has no envelope */
		rc = wr_json_decode_error(json, len, &e, err);
		if (rc == WR_OK)
			*text = wr_json_encode_error(&e, NULL);
		break;
	}
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wr_error err;
	char *json, *first, *second;
	const char *env;
	int which;
	wr_err rc;

	if (size < 1)
		return 0;
	which = data[0] % D_COUNT;
	env = (data[0] & 0x80) != 0 ? "x" : NULL;
	/* A copy of exactly the text: a decoder reading past len trips ASan. */
	json = malloc(size - 1 > 0 ? size - 1 : 1);
	FUZZ_CHECK(json != NULL);
	memcpy(json, data + 1, size - 1);
	memset(&err, 0, sizeof(err));
	rc = round_trip(which, env, json, size - 1, &first, &err);
	free(json);
	if (rc != WR_OK) {
		FUZZ_CHECK(rc == WR_EINVALID_INPUT);
		FUZZ_CHECK(err.code == rc && err.reason != WR_REASON_NONE);
		FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)));
		return 0;
	}
	FUZZ_CHECK(first != NULL);
	memset(&err, 0, sizeof(err));
	rc = round_trip(which, env, first, strlen(first), &second, &err);
	if (rc != WR_OK)
		fprintf(stderr, "decoder %d refused its own encoding %s: %s\n",
		        which, first, err.message);
	FUZZ_CHECK(rc == WR_OK);
	FUZZ_CHECK(second != NULL);
	if (strcmp(first, second) != 0)
		fprintf(stderr, "decoder %d: %s\nthen: %s\n", which, first,
		        second);
	FUZZ_CHECK(strcmp(first, second) == 0);
	free(first);
	free(second);
	return 0;
}
