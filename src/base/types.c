/*
 * base/types.c - the public value types: wire names, ids, deep copies and
 * frees.
 *
 * Copies are all-or-nothing: on allocation failure the destination holds
 * nothing that needs freeing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

const char *
wr_version(void)
{
	return PACKAGE_VERSION;
}

const char *
wr_worker_status_name(enum wr_worker_status s)
{
	switch (s) {
	case WR_STATUS_RUNNING: return "running";
	case WR_STATUS_STOPPED: return "stopped";
	case WR_STATUS_CANCELLED: return "cancelled";
	case WR_STATUS_FAILED: return "failed";
	case WR__STATUS_COUNT: break;
	}
	return NULL;
}

const char *
wr_run_state_name(enum wr_run_state s)
{
	switch (s) {
	case WR_RUN_IDLE: return "idle";
	case WR_RUN_BUSY: return "busy";
	case WR_RUN_NONE: return "none";
	}
	return NULL;
}

const char *
wr_role_name(enum wr_role r)
{
	switch (r) {
	case WR_ROLE_USER: return "user";
	case WR_ROLE_SYSTEM: return "system";
	case WR_ROLE_WORKER: return "worker";
	case WR_ROLE_RUNTIME: return "runtime";
	}
	return NULL;
}

const char *
wr_runtime_status_name(enum wr_runtime_status s)
{
	switch (s) {
	case WR_RUNTIME_RUNNING: return "running";
	case WR_RUNTIME_STOPPING: return "stopping";
	case WR_RUNTIME_STOPPED: return "stopped";
	}
	return NULL;
}

bool
wr_id_valid(const char *s)
{
	size_t n;

	if (s == NULL || s[0] == '\0' || s[0] == '.')
		return false;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= WR_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* ---- deep copies ------------------------------------------------------ */

void
wr__intent_clear(struct wr_intent *i)
{
	free(i->purpose);
	free(i->objective);
	free(i->role);
	memset(i, 0, sizeof(*i));
}

int
wr__intent_copy(struct wr_intent *dst, const struct wr_intent *src)
{
	bool oom = false;

	dst->kind = src->kind;
	dst->purpose = wr__strdup(src->purpose, &oom);
	dst->objective = wr__strdup(src->objective, &oom);
	dst->role = wr__strdup(src->role, &oom);
	if (oom) {
		wr__intent_clear(dst);
		return -1;
	}
	return 0;
}

void
wr__profile_ref_clear(struct wr_profile_ref *p)
{
	free(p->value);
	memset(p, 0, sizeof(*p));
}

int
wr__profile_ref_copy(struct wr_profile_ref *dst,
                     const struct wr_profile_ref *src)
{
	bool oom = false;

	dst->kind = src->kind;
	dst->value = wr__strdup(src->value, &oom);
	return oom ? -1 : 0;
}

void
wr__capabilities_free(struct wr_capability *c, size_t n)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].reason);
	}
	free(c);
}

int
wr__capabilities_copy(struct wr_capability **dst, size_t *ndst,
                      const struct wr_capability *src, size_t n)
{
	struct wr_capability *c;
	bool oom = false;

	*dst = NULL;
	*ndst = 0;
	if (n == 0)
		return 0;
	c = calloc(n, sizeof(*c));
	if (c == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		c[i].name = wr__strdup(src[i].name, &oom);
		c[i].reason = wr__strdup(src[i].reason, &oom);
	}
	if (oom) {
		wr__capabilities_free(c, n);
		return -1;
	}
	*dst = c;
	*ndst = n;
	return 0;
}

void
wr__mount_refs_free(struct wr_mount_ref *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].reference);
	}
	free(r);
}

int
wr__mount_refs_copy(struct wr_mount_ref **dst, size_t *ndst,
                    const struct wr_mount_ref *src, size_t n)
{
	struct wr_mount_ref *r;
	bool oom = false;

	*dst = NULL;
	*ndst = 0;
	if (n == 0)
		return 0;
	r = calloc(n, sizeof(*r));
	if (r == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		r[i].name = wr__strdup(src[i].name, &oom);
		r[i].reference = wr__strdup(src[i].reference, &oom);
	}
	if (oom) {
		wr__mount_refs_free(r, n);
		return -1;
	}
	*dst = r;
	*ndst = n;
	return 0;
}

void
wr__worker_info_clear(struct wr_worker_info *w)
{
	wr__intent_clear(&w->intent);
	wr__profile_ref_clear(&w->profile);
	free(w->config_bundle_id);
	wr__capabilities_free(w->capabilities, w->n_capabilities);
	wr__mount_refs_free(w->workspace_refs, w->n_workspace_refs);
	wr__mount_refs_free(w->mount_refs, w->n_mount_refs);
	free(w->status_reason);
	memset(w, 0, sizeof(*w));
}

int
wr__worker_info_copy(struct wr_worker_info *dst,
                     const struct wr_worker_info *src)
{
	bool oom = false;

	*dst = *src;
	dst->intent = (struct wr_intent){0};
	dst->profile = (struct wr_profile_ref){0};
	dst->capabilities = NULL;
	dst->n_capabilities = 0;
	dst->workspace_refs = dst->mount_refs = NULL;
	dst->n_workspace_refs = dst->n_mount_refs = 0;
	dst->config_bundle_id = wr__strdup(src->config_bundle_id, &oom);
	dst->status_reason = wr__strdup(src->status_reason, &oom);
	if (oom ||
	    wr__intent_copy(&dst->intent, &src->intent) < 0 ||
	    wr__profile_ref_copy(&dst->profile, &src->profile) < 0 ||
	    wr__capabilities_copy(&dst->capabilities, &dst->n_capabilities,
	                          src->capabilities, src->n_capabilities) < 0 ||
	    wr__mount_refs_copy(&dst->workspace_refs, &dst->n_workspace_refs,
	                        src->workspace_refs, src->n_workspace_refs) < 0 ||
	    wr__mount_refs_copy(&dst->mount_refs, &dst->n_mount_refs,
	                        src->mount_refs, src->n_mount_refs) < 0) {
		wr__worker_info_clear(dst);
		return -1;
	}
	return 0;
}

/* ---- public frees ------------------------------------------------------ */

void
wr_create_request_free(struct wr_create_request *req)
{
	if (req == NULL)
		return;
	wr__intent_clear(&req->intent);
	wr__profile_ref_clear(&req->profile);
	free(req->config_bundle_id);
	wr__capabilities_free(req->capabilities, req->n_capabilities);
	wr__mount_refs_free(req->workspace_refs, req->n_workspace_refs);
	wr__mount_refs_free(req->mount_refs, req->n_mount_refs);
	free(req);
}

void
wr_worker_info_free(struct wr_worker_info *w)
{
	if (w == NULL)
		return;
	wr__worker_info_clear(w);
	free(w);
}

void
wr_worker_list_free(struct wr_worker_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->count; i++)
		wr_worker_info_free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

void
wr_input_clear(struct wr_input *in)
{
	if (in == NULL)
		return;
	free(in->content);
	in->content = NULL;
}

void
wr_transcript_page_clear(struct wr_transcript_page *page)
{
	if (page == NULL)
		return;
	for (size_t i = 0; i < page->count; i++)
		free(page->items[i].content);
	free(page->items);
	page->items = NULL;
	page->count = 0;
}
