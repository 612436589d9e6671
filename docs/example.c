/* Embed a Runtime, create a Worker, give it input, read its transcript. */
#include <stdio.h>
#include <worker-runtime.h>

int
main(void)
{
	struct wr_config cfg = {.display_name = "example"};
	struct wr_runtime *rt;
	struct wr_worker_info *w;
	struct wr_input in = {WR_INPUT_USER, "hello, worker"};
	struct wr_input_ack ack;
	struct wr_transcript_page page;
	struct wr_error err;

	if (wr_runtime_open(&cfg, &rt, &err) != WR_OK) {
		fprintf(stderr, "open: %s\n", err.message);
		return 1;
	}
	if (wr_worker_create(rt, NULL, &w, &err) != WR_OK ||
	    wr_worker_input(rt, w->ref.worker_id, &in, &ack, &err) != WR_OK ||
	    wr_worker_transcript(rt, w->ref.worker_id, 0,
	                         WR_TRANSCRIPT_LIMIT_DEFAULT, &page,
	                         &err) != WR_OK) {
		fprintf(stderr, "%s: %s\n", wr_err_name(err.code), err.message);
		wr_runtime_close(rt);
		return 1;
	}
	printf("%s #%llu: %s\n", w->ref.worker_id,
	       (unsigned long long)page.items[0].sequence,
	       page.items[0].content);
	wr_transcript_page_clear(&page);
	wr_worker_info_free(w);
	wr_runtime_close(rt);
	return 0;
}
