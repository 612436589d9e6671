/*
 * codec/decode.c - untrusted JSON text -> structs (DESIGN section 3 shapes).
 *
 * Strict by design: every member is checked against the shape (unknown,
 * wrong type, missing, bad enum value, bad id or timestamp, too long, too
 * many items), and the failure names the rule (wr_error.reason) and the
 * JSON path (wr_error.field: dots and [i]; with an envelope the path starts
 * with the envelope's name, e.g. "worker.intent.kind").  The reading itself
 * (parsing under the WR_JSON_MAX_* bounds, typed getters) is json.c's;
 * this file knows the shapes.  Decoders write their out-parameter only on
 * success and free everything partial on failure.  Nothing here keeps
 * state between calls; all is reentrant.  Getters borrow from the parsed
 * tree, which each decoder frees once it has copied what it keeps.
 */
#include "config.h"

#include "codec/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* error.code values: every code but "ok". */
static const char *
err_code_name(int code)
{
	return code > WR_OK && code < WR__ERR_COUNT ? wr_err_name((wr_err)code)
	                                             : NULL;
}

/* ---- shared shapes ---------------------------------------------------- */

static const char *const REF_MEMBERS[] = { "runtime_id", "worker_id", NULL };

/* WorkerRef member key of o into *out (written on success only). */
static wr_err
ref_from(json_object *o, const char *path, const char *key,
         struct wr_worker_ref *out, struct wr_error *err)
{
	struct wr_worker_ref r;
	char f[WR_FIELD_MAX];
	json_object *v;
	wr_err rc;

	TRY(wr__json_get_object(o, path, key, true, &v, f, err));
	TRY(wr__json_check_members(v, f, REF_MEMBERS, "", err));
	TRY(wr__json_get_id(v, f, "runtime_id", r.runtime_id, err));
	TRY(wr__json_get_id(v, f, "worker_id", r.worker_id, err));
	*out = r;
done:
	return rc;
}

/* Members allowed for each intent kind, indexed by enum wr_intent_kind. */
static const char *const INTENT_ANY[] = { "kind", "purpose", "objective",
	                                  "role", NULL };
static const char *const INTENT_KIND[][4] = {
	[WR_INTENT_ASSISTANT] = { "kind", "purpose", NULL },
	[WR_INTENT_TASK] = { "kind", "objective", NULL },
	[WR_INTENT_ROLE] = { "kind", "role", "purpose", NULL },
};

/*
 * Member "intent" of o into *out (owned strings).  Absent and optional:
 * the assistant intent without purpose.
 */
static wr_err
intent_from(json_object *o, const char *path, bool required,
            struct wr_intent *out, struct wr_error *err)
{
	struct wr_intent in = { .kind = WR_INTENT_ASSISTANT };
	char f[WR_FIELD_MAX], why[64];
	json_object *v;
	int kind;
	wr_err rc;

	TRY(wr__json_get_object(o, path, "intent", required, &v, f, err));
	if (v != NULL) {
		TRY(wr__json_check_members(v, f, INTENT_ANY, "", err));
		TRY(wr__json_get_enum(v, f, "kind", wr__intent_kind_name, &kind,
		                      err));
		in.kind = (enum wr_intent_kind)kind;
		snprintf(why, sizeof(why), " for intent kind '%s'",
		         wr__intent_kind_name(kind));
		TRY(wr__json_check_members(v, f, INTENT_KIND[kind], why, err));
		if (in.kind == WR_INTENT_TASK)
			TRY(wr__json_get_string_dup(v, f, "objective",
			        WR__JSON_REQUIRED | WR__JSON_NONEMPTY,
			        &in.objective, err));
		if (in.kind == WR_INTENT_ROLE)
			TRY(wr__json_get_string_dup(v, f, "role",
			        WR__JSON_REQUIRED | WR__JSON_NONEMPTY, &in.role,
			        err));
		if (in.kind != WR_INTENT_TASK)
			TRY(wr__json_get_string_dup(v, f, "purpose", 0,
			                            &in.purpose, err));
	}
	*out = in;
	return WR_OK;
done:
	wr__intent_clear(&in);
	return rc;
}

static const char *const PROFILE_ANY[] = { "kind", "value", NULL };
static const char *const PROFILE_DEFAULT[] = { "kind", NULL };

/* Member "profile" of o; absent and optional: the runtime default. */
static wr_err
profile_from(json_object *o, const char *path, bool required,
             struct wr_profile_ref *out, struct wr_error *err)
{
	struct wr_profile_ref p = { .kind = WR_PROFILE_RUNTIME_DEFAULT };
	char f[WR_FIELD_MAX];
	json_object *v;
	int kind;
	wr_err rc;

	TRY(wr__json_get_object(o, path, "profile", required, &v, f, err));
	if (v != NULL) {
		TRY(wr__json_check_members(v, f, PROFILE_ANY, "", err));
		TRY(wr__json_get_enum(v, f, "kind", wr__profile_kind_name,
		                      &kind, err));
		p.kind = (enum wr_profile_kind)kind;
		if (p.kind == WR_PROFILE_RUNTIME_DEFAULT)
			TRY(wr__json_check_members(v, f, PROFILE_DEFAULT,
			        " for profile kind 'runtime_default'", err));
		else
			TRY(wr__json_get_string_dup(v, f, "value",
			        WR__JSON_REQUIRED | WR__JSON_NONEMPTY, &p.value,
			        err));
	}
	*out = p;
	return WR_OK;
done:
	wr__profile_ref_clear(&p);
	return rc;
}

static const char *const BUNDLE_MEMBERS[] = { "id", NULL };

/* Optional member "config_bundle": {"id"} into *id (NULL if absent). */
static wr_err
config_bundle_from(json_object *o, const char *path, char **id,
                   struct wr_error *err)
{
	char f[WR_FIELD_MAX];
	json_object *v;
	wr_err rc;

	*id = NULL;
	TRY(wr__json_get_object(o, path, "config_bundle", false, &v, f, err));
	if (v != NULL) {
		TRY(wr__json_check_members(v, f, BUNDLE_MEMBERS, "", err));
		TRY(wr__json_get_string_dup(v, f, "id",
		        WR__JSON_REQUIRED | WR__JSON_NONEMPTY, id, err));
	}
done:
	return rc;
}

static const char *const CAPABILITY_MEMBERS[] = { "name", "reason", NULL };

/* Member "requested_capabilities": [{"name","reason"?}]. */
static wr_err
capabilities_from(json_object *o, const char *path, bool required,
                  struct wr_capability **out, size_t *count,
                  struct wr_error *err)
{
	struct wr_capability *c = NULL;
	size_t n = 0;
	char f[WR_FIELD_MAX], fi[WR_FIELD_MAX];
	json_object *a, *v;
	wr_err rc;

	TRY(wr__json_get_array(o, path, "requested_capabilities", required,
	                       WR_JSON_MAX_ITEMS, &a, f, err));
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n > 0 && (c = calloc(n, sizeof(*c))) == NULL) {
		n = 0;
		TRY(wr__oom(err));
	}
	for (size_t i = 0; i < n; i++) {
		TRY(wr__json_get_item(a, f, i, &v, fi, err));
		TRY(wr__json_check_members(v, fi, CAPABILITY_MEMBERS, "", err));
		TRY(wr__json_get_string_dup(v, fi, "name",
		        WR__JSON_REQUIRED | WR__JSON_NONEMPTY, &c[i].name,
		        err));
		TRY(wr__json_get_string_dup(v, fi, "reason", 0, &c[i].reason,
		                            err));
	}
	*out = c;
	*count = n;
	return WR_OK;
done:
	wr__capabilities_free(c, n);
	return rc;
}

static const char *const MOUNT_MEMBERS[] = { "name", "reference", NULL };

/* Member key (workspace_refs or mount_refs): [{"name","reference"}]. */
static wr_err
mount_refs_from(json_object *o, const char *path, const char *key,
                bool required, struct wr_mount_ref **out,
                size_t *count, struct wr_error *err)
{
	struct wr_mount_ref *r = NULL;
	size_t n = 0;
	char f[WR_FIELD_MAX], fi[WR_FIELD_MAX];
	json_object *a, *v;
	wr_err rc;

	TRY(wr__json_get_array(o, path, key, required, WR_JSON_MAX_ITEMS, &a, f,
	                       err));
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n > 0 && (r = calloc(n, sizeof(*r))) == NULL) {
		n = 0;
		TRY(wr__oom(err));
	}
	for (size_t i = 0; i < n; i++) {
		TRY(wr__json_get_item(a, f, i, &v, fi, err));
		TRY(wr__json_check_members(v, fi, MOUNT_MEMBERS, "", err));
		TRY(wr__json_get_string_dup(v, fi, "name",
		        WR__JSON_REQUIRED | WR__JSON_NONEMPTY, &r[i].name,
		        err));
		TRY(wr__json_get_string_dup(v, fi, "reference",
		        WR__JSON_REQUIRED | WR__JSON_NONEMPTY, &r[i].reference,
		        err));
	}
	*out = r;
	*count = n;
	return WR_OK;
done:
	wr__mount_refs_free(r, n);
	return rc;
}

static const char *const SUMMARY_MEMBERS[] = {
	"worker_ref", "runtime_id", "worker_id", "status", "run_state",
	"intent", "profile", "requested_capability_count",
	"has_config_bundle", "transcript_len", "last_event_id", "created_at",
	"updated_at", NULL
};
static const char *const DETAIL_MEMBERS[] = {
	"worker_ref", "runtime_id", "worker_id", "status", "run_state",
	"intent", "profile", "requested_capability_count",
	"has_config_bundle", "transcript_len", "last_event_id", "created_at",
	"updated_at", "status_reason", "config_bundle",
	"requested_capabilities", "workspace_refs", "mount_refs", NULL
};

/* Fails unless the copy of a worker_ref member equals the ref. */
static wr_err
same_id(const char *path, const char *key, const char *got,
        const char *want, struct wr_error *err)
{
	char f[WR_FIELD_MAX];

	if (strcmp(got, want) == 0)
		return WR_OK;
	wr__json_path_key(f, path, key);
	return wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
	                    "member '%s' must equal worker_ref.%s", f, key);
}

/*
 * A WorkerSummary or WorkerDetail object into *w, which the caller zeroed
 * and clears (wr__worker_info_clear) on failure.  A summary carries only
 * requested_capability_count and has_config_bundle, so a decoded summary
 * holds that many capabilities with empty names and, if the flag is set,
 * an empty config_bundle_id: counts and flags survive, names do not.
 */
static wr_err
worker_from(json_object *o, const char *path, bool detail,
            struct wr_worker_info *w, struct wr_error *err)
{
	char id[WR_ID_MAX + 1], f[WR_FIELD_MAX];
	int status, run_state;
	uint64_t ncap = 0;
	bool has_bundle = false, nomem = false;
	wr_err rc;

	TRY(wr__json_check_members(o, path,
	                           detail ? DETAIL_MEMBERS : SUMMARY_MEMBERS,
	                           "", err));
	TRY(ref_from(o, path, "worker_ref", &w->ref, err));
	TRY(wr__json_get_id(o, path, "runtime_id", id, err));
	TRY(same_id(path, "runtime_id", id, w->ref.runtime_id, err));
	TRY(wr__json_get_id(o, path, "worker_id", id, err));
	TRY(same_id(path, "worker_id", id, w->ref.worker_id, err));
	TRY(wr__json_get_enum(o, path, "status", wr__status_name, &status,
	                      err));
	w->status = (enum wr_worker_status)status;
	TRY(wr__json_get_enum(o, path, "run_state", wr__run_state_name,
	                      &run_state, err));
	w->run_state = (enum wr_run_state)run_state;
	TRY(intent_from(o, path, true, &w->intent, err));
	TRY(profile_from(o, path, true, &w->profile, err));
	TRY(wr__json_get_u64(o, path, "requested_capability_count", false,
	                     WR_JSON_MAX_ITEMS, &ncap, NULL, err));
	TRY(wr__json_get_bool(o, path, "has_config_bundle", &has_bundle, err));
	TRY(wr__json_get_count(o, path, "transcript_len", &w->transcript_len,
	                       err));
	TRY(wr__json_get_count(o, path, "last_event_id", &w->last_event_id,
	                       err));
	TRY(wr__json_get_time(o, path, "created_at", &w->created_at_ms, err));
	TRY(wr__json_get_time(o, path, "updated_at", &w->updated_at_ms, err));

	if (!detail) {
		if (ncap > 0) {
			w->capabilities = calloc(ncap, sizeof(*w->capabilities));
			if (w->capabilities == NULL)
				TRY(wr__oom(err));
			w->n_capabilities = ncap;
			for (size_t i = 0; i < ncap; i++)
				w->capabilities[i].name = wr__strdup("", &nomem);
		}
		if (has_bundle)
			w->config_bundle_id = wr__strdup("", &nomem);
		if (nomem)
			TRY(wr__oom(err));
		return WR_OK;
	}

	TRY(wr__json_get_string_dup(o, path, "status_reason",
	                            WR__JSON_NULLABLE, &w->status_reason, err));
	TRY(config_bundle_from(o, path, &w->config_bundle_id, err));
	TRY(capabilities_from(o, path, true, &w->capabilities,
	                      &w->n_capabilities, err));
	TRY(mount_refs_from(o, path, "workspace_refs", true, &w->workspace_refs,
	                    &w->n_workspace_refs, err));
	TRY(mount_refs_from(o, path, "mount_refs", true, &w->mount_refs,
	                    &w->n_mount_refs, err));
	if (ncap != w->n_capabilities) {
		wr__json_path_key(f, path, "requested_capability_count");
		TRY(wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                 "member '%s' must equal the number of "
		                 "requested_capabilities", f));
	}
	if (has_bundle != (w->config_bundle_id != NULL)) {
		wr__json_path_key(f, path, "has_config_bundle");
		TRY(wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                 "member '%s' must say whether config_bundle "
		                 "is present", f));
	}
done:
	return rc;
}

wr_err
wr__json_worker_from_object(json_object *o, const char *path,
                            struct wr_worker_info *out, struct wr_error *err)
{
	struct wr_worker_info w;
	wr_err rc;

	memset(&w, 0, sizeof(w));
	if (!json_object_is_type(o, json_type_object))
		return wr__json_bad(err, WR_REASON_WRONG_TYPE, path,
		                    "'%s' must be an object", path);
	if ((rc = worker_from(o, path, true, &w, err)) != WR_OK) {
		wr__worker_info_clear(&w);
		return rc;
	}
	*out = w;
	return WR_OK;
}

/* ---- decoders --------------------------------------------------------- */

static const char *const CREATE_MEMBERS[] = {
	"intent", "profile", "config_bundle", "requested_capabilities",
	"workspace_refs", "mount_refs", NULL
};

wr_err
wr_json_decode_create_request(const char *json, size_t len,
                              const char *envelope,
                              struct wr_create_request **out,
                              struct wr_error *err)
{
	struct wr_create_request *r = NULL;
	struct wr__json_doc d;
	wr_err rc;

	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	if ((r = calloc(1, sizeof(*r))) == NULL)
		TRY(wr__oom(err));
	TRY(wr__json_check_members(d.shape, d.path, CREATE_MEMBERS, "", err));
	TRY(intent_from(d.shape, d.path, false, &r->intent, err));
	TRY(profile_from(d.shape, d.path, false, &r->profile, err));
	TRY(config_bundle_from(d.shape, d.path, &r->config_bundle_id, err));
	TRY(capabilities_from(d.shape, d.path, false, &r->capabilities,
	                      &r->n_capabilities, err));
	TRY(mount_refs_from(d.shape, d.path, "workspace_refs", false,
	                    &r->workspace_refs, &r->n_workspace_refs, err));
	TRY(mount_refs_from(d.shape, d.path, "mount_refs", false,
	                    &r->mount_refs, &r->n_mount_refs, err));
	*out = r;
	r = NULL;
done:
	wr_create_request_free(r);
	wr__json_doc_close(&d);
	return rc;
}

static const char *const INPUT_MEMBERS[] = { "kind", "content", NULL };

/* content has no length limit here: the Runtime applies max_input_bytes
 * (and the text as a whole is bounded by WR_JSON_MAX_BYTES). */
wr_err
wr_json_decode_input(const char *json, size_t len, const char *envelope,
                     struct wr_input *out, struct wr_error *err)
{
	struct wr_input in = { .kind = WR_INPUT_USER };
	struct wr__json_doc d;
	char f[WR_FIELD_MAX];
	const char *s;
	size_t n;
	int kind;
	bool nomem = false;
	wr_err rc;

	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(wr__json_check_members(d.shape, d.path, INPUT_MEMBERS, "", err));
	TRY(wr__json_get_enum(d.shape, d.path, "kind", wr__input_kind_name,
	                      &kind, err));
	in.kind = (enum wr_input_kind)kind;
	TRY(wr__json_get_string(d.shape, d.path, "content",
	                        WR__JSON_REQUIRED | WR__JSON_UNBOUNDED, 0, &s,
	                        &n, err));
	if (n == 0) {
		wr__json_path_key(f, d.path, "content");
		TRY(wr__json_bad(err, WR_REASON_EMPTY_CONTENT, f,
		                 "member '%s' must not be empty", f));
	}
	if ((in.content = wr__strdup(s, &nomem)) == NULL)
		TRY(wr__oom(err));
	*out = in;
done:
	wr__json_doc_close(&d);
	return rc;
}

static const char *const LIFECYCLE_MEMBERS[] = { "reason", NULL };

wr_err
wr_json_decode_lifecycle_request(const char *json, size_t len,
                                 const char *envelope, char **reason,
                                 struct wr_error *err)
{
	struct wr__json_doc d = { 0 };
	char *r = NULL;
	size_t i;
	wr_err rc = WR_OK;

	/* An empty body means "no reason". */
	for (i = 0; json != NULL && i < len && wr__json_is_ws(json[i]); i++)
		;
	if (json == NULL || i == len) {
		*reason = NULL;
		return WR_OK;
	}
	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(wr__json_check_members(d.shape, d.path, LIFECYCLE_MEMBERS, "",
	                           err));
	TRY(wr__json_get_string_dup(d.shape, d.path, "reason", 0, &r, err));
	*reason = r;
done:
	wr__json_doc_close(&d);
	return rc;
}

static const char *const RUNTIME_MEMBERS[] = {
	"runtime_id", "display_name", "backend", "status", "worker_count",
	"active_worker_count", "stopped_worker_count",
	"cancelled_worker_count", "failed_worker_count",
	"deleted_worker_count", "diagnostic_count",
	"limits", "version", "started_at", NULL
};
static const char *const LIMITS_MEMBERS[] = {
	"max_transcript_projection_items", "max_input_bytes", "max_workers",
	NULL
};

wr_err
wr_json_decode_runtime_summary(const char *json, size_t len,
                               const char *envelope,
                               struct wr_runtime_summary *out,
                               struct wr_error *err)
{
	struct wr_runtime_summary s;
	struct wr__json_doc d;
	char f[WR_FIELD_MAX];
	const char *name;
	size_t n;
	json_object *o, *lim;
	int v;
	wr_err rc;

	memset(&s, 0, sizeof(s));
	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	o = d.shape;
	TRY(wr__json_check_members(o, d.path, RUNTIME_MEMBERS, "", err));
	TRY(wr__json_get_id(o, d.path, "runtime_id", s.runtime_id, err));
	TRY(wr__json_get_string(o, d.path, "display_name",
	                        WR__JSON_REQUIRED | WR__JSON_NULLABLE,
	                        WR_DISPLAY_NAME_MAX, &name, &n, err));
	if (name != NULL) {
		s.has_display_name = true;
		memcpy(s.display_name, name, n + 1);
	}
	TRY(wr__json_get_enum(o, d.path, "backend", wr__backend_name, &v, err));
	wr__strlcpy(s.backend, wr__backend_name(v), sizeof(s.backend));
	TRY(wr__json_get_enum(o, d.path, "status", wr__runtime_status_name, &v,
	                      err));
	s.status = (enum wr_runtime_status)v;
	TRY(wr__json_get_count(o, d.path, "worker_count", &s.worker_count,
	                       err));
	TRY(wr__json_get_count(o, d.path, "active_worker_count",
	                       &s.active_worker_count, err));
	TRY(wr__json_get_count(o, d.path, "stopped_worker_count",
	                       &s.stopped_worker_count, err));
	TRY(wr__json_get_count(o, d.path, "cancelled_worker_count",
	                       &s.cancelled_worker_count, err));
	TRY(wr__json_get_count(o, d.path, "failed_worker_count",
	                       &s.failed_worker_count, err));
	TRY(wr__json_get_count(o, d.path, "deleted_worker_count",
	                       &s.deleted_worker_count, err));
	TRY(wr__json_get_count(o, d.path, "diagnostic_count",
	                       &s.diagnostic_count, err));
	TRY(wr__json_get_object(o, d.path, "limits", true, &lim, f, err));
	TRY(wr__json_check_members(lim, f, LIMITS_MEMBERS, "", err));
	TRY(wr__json_get_u32(lim, f, "max_transcript_projection_items",
	                     &s.limits.max_transcript_projection_items, err));
	TRY(wr__json_get_u32(lim, f, "max_input_bytes",
	                     &s.limits.max_input_bytes, err));
	TRY(wr__json_get_u32(lim, f, "max_workers", &s.limits.max_workers,
	                     err));
	TRY(wr__json_get_string_buf(o, d.path, "version", 0, s.version,
	                            sizeof(s.version), err));
	TRY(wr__json_get_time(o, d.path, "started_at", &s.started_at_ms, err));
	*out = s;
done:
	wr__json_doc_close(&d);
	return rc;
}

wr_err
wr_json_decode_worker(const char *json, size_t len, const char *envelope,
                      bool detail, struct wr_worker_info **out,
                      struct wr_error *err)
{
	struct wr_worker_info *w = NULL;
	struct wr__json_doc d;
	wr_err rc;

	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	if ((w = calloc(1, sizeof(*w))) == NULL)
		TRY(wr__oom(err));
	if (detail)
		TRY(wr__json_worker_from_object(d.shape, d.path, w, err));
	else
		TRY(worker_from(d.shape, d.path, false, w, err));
	*out = w;
	w = NULL;
done:
	wr_worker_info_free(w);
	wr__json_doc_close(&d);
	return rc;
}

/* The items of arr (path: its field path) into *l, which owns what it
 * got so far also on failure. */
static wr_err
items_from(json_object *arr, const char *path, struct wr_worker_list *l,
           struct wr_error *err)
{
	char fi[WR_FIELD_MAX];
	size_t n = json_object_array_length(arr);
	json_object *v;
	wr_err rc;

	if (n > 0 && (l->items = calloc(n, sizeof(*l->items))) == NULL)
		return wr__oom(err);
	for (size_t i = 0; i < n; i++) {
		if ((rc = wr__json_get_item(arr, path, i, &v, fi, err)) != WR_OK)
			return rc;
		if ((l->items[i] = calloc(1, sizeof(**l->items))) == NULL)
			return wr__oom(err);
		l->count = i + 1;
		if ((rc = worker_from(v, fi, false, l->items[i], err)) != WR_OK)
			return rc;
	}
	return WR_OK;
}

/* [WorkerSummary...]; the array length is bounded only by the text size. */
wr_err
wr_json_decode_worker_list(const char *json, size_t len,
                           const char *envelope,
                           struct wr_worker_list *out,
                           struct wr_error *err)
{
	struct wr_worker_list l = { 0 };
	struct wr__json_doc d;
	wr_err rc;

	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_array, err));
	TRY(items_from(d.shape, d.path, &l, err));
	*out = l;
	memset(&l, 0, sizeof(l));
done:
	wr_worker_list_free(&l);
	wr__json_doc_close(&d);
	return rc;
}

static const char *const PAGE_LIST_MEMBERS[] = { "workers", "next_after",
	                                         NULL };

wr_err
wr_json_decode_worker_page(const char *json, size_t len,
                           struct wr_worker_list *out, struct wr_error *err)
{
	struct wr_worker_list l = { 0 };
	struct wr__json_doc d;
	json_object *arr;
	const char *next;
	size_t n;
	wr_err rc;

	TRY(wr__json_doc_open(&d, json, len, NULL, json_type_object, err));
	TRY(wr__json_check_members(d.shape, d.path, PAGE_LIST_MEMBERS, "",
	                           err));
	if (!json_object_object_get_ex(d.shape, "workers", &arr))
		TRY(wr__fail(err, WR_EINVALID_INPUT, WR_REASON_MISSING_FIELD,
		             "workers", "workers is required"));
	if (!json_object_is_type(arr, json_type_array))
		TRY(wr__fail(err, WR_EINVALID_INPUT, WR_REASON_WRONG_TYPE,
		             "workers", "workers must be an array"));
	TRY(items_from(arr, "workers", &l, err));
	TRY(wr__json_get_string(d.shape, d.path, "next_after",
	                        WR__JSON_REQUIRED | WR__JSON_NULLABLE,
	                        WR_ID_MAX, &next, &n, err));
	if (next != NULL) {
		if (!wr_id_valid(next))
			TRY(wr__fail(err, WR_EINVALID_INPUT,
			             WR_REASON_INVALID_VALUE, "next_after",
			             "next_after must be a worker id"));
		l.has_next = true;
		memcpy(l.next_after, next, n + 1);
	}
	*out = l;
	memset(&l, 0, sizeof(l));
done:
	wr_worker_list_free(&l);
	wr__json_doc_close(&d);
	return rc;
}

static const char *const ACK_INPUT_MEMBERS[] = {
	"worker_ref", "status", "run_state", "transcript_sequence", "event_id",
	NULL
};

wr_err
wr_json_decode_input_ack(const char *json, size_t len,
                         const char *envelope, struct wr_input_ack *out,
                         struct wr_error *err)
{
	struct wr_input_ack a;
	struct wr__json_doc d;
	int v;
	wr_err rc;

	memset(&a, 0, sizeof(a));
	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(wr__json_check_members(d.shape, d.path, ACK_INPUT_MEMBERS, "",
	                           err));
	TRY(ref_from(d.shape, d.path, "worker_ref", &a.ref, err));
	TRY(wr__json_get_enum(d.shape, d.path, "status", wr__status_name, &v,
	                      err));
	a.status = (enum wr_worker_status)v;
	TRY(wr__json_get_enum(d.shape, d.path, "run_state", wr__run_state_name,
	                      &v, err));
	a.run_state = (enum wr_run_state)v;
	TRY(wr__json_get_count(d.shape, d.path, "transcript_sequence",
	                       &a.transcript_sequence, err));
	TRY(wr__json_get_count(d.shape, d.path, "event_id", &a.event_id, err));
	*out = a;
done:
	wr__json_doc_close(&d);
	return rc;
}

static const char *const ACK_LIFECYCLE_MEMBERS[] = { "worker_ref", "status",
	                                             "event_id", "deleted", NULL };

wr_err
wr_json_decode_lifecycle_ack(const char *json, size_t len,
                             const char *envelope,
                             struct wr_lifecycle_ack *out,
                             struct wr_error *err)
{
	struct wr_lifecycle_ack a;
	struct wr__json_doc d;
	int v;
	wr_err rc;

	memset(&a, 0, sizeof(a));
	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(wr__json_check_members(d.shape, d.path, ACK_LIFECYCLE_MEMBERS, "",
	                           err));
	TRY(ref_from(d.shape, d.path, "worker_ref", &a.ref, err));
	TRY(wr__json_get_enum(d.shape, d.path, "status", wr__status_name, &v,
	                      err));
	a.status = (enum wr_worker_status)v;
	TRY(wr__json_get_count(d.shape, d.path, "event_id", &a.event_id, err));
	if (json_object_object_get_ex(d.shape, "deleted", NULL)) {
		TRY(wr__json_get_bool(d.shape, d.path, "deleted", &a.deleted,
		                      err));
		if (!a.deleted)
			TRY(wr__fail(err, WR_EINVALID_INPUT,
			             WR_REASON_INVALID_VALUE, "deleted",
			             "deleted is present only as true"));
	}
	*out = a;
done:
	wr__json_doc_close(&d);
	return rc;
}

static const char *const PAGE_MEMBERS[] = {
	"worker_ref", "start", "limit", "total_items", "items", "next_start",
	"status", "run_state", "last_event_id", NULL
};
static const char *const ENTRY_MEMBERS[] = {
	"sequence", "worker_ref", "role", "content", "event_id", "created_at",
	NULL
};

/* One TranscriptEntry; its worker_ref must be the page's.  content may be
 * empty (worker output can be) and is bounded only by the text size. */
static wr_err
entry_from(json_object *o, const char *path,
           const struct wr_worker_ref *page_ref,
           struct wr_transcript_entry *e, struct wr_error *err)
{
	struct wr_worker_ref ref;
	char f[WR_FIELD_MAX];
	int role;
	wr_err rc;

	TRY(wr__json_check_members(o, path, ENTRY_MEMBERS, "", err));
	TRY(wr__json_get_count(o, path, "sequence", &e->sequence, err));
	TRY(ref_from(o, path, "worker_ref", &ref, err));
	if (strcmp(ref.runtime_id, page_ref->runtime_id) != 0 ||
	    strcmp(ref.worker_id, page_ref->worker_id) != 0) {
		wr__json_path_key(f, path, "worker_ref");
		TRY(wr__json_bad(err, WR_REASON_INVALID_VALUE, f,
		                 "member '%s' must equal the page's "
		                 "worker_ref", f));
	}
	TRY(wr__json_get_enum(o, path, "role", wr__role_name, &role, err));
	e->role = (enum wr_role)role;
	TRY(wr__json_get_string_dup(o, path, "content",
	                            WR__JSON_REQUIRED | WR__JSON_UNBOUNDED,
	                            &e->content, err));
	TRY(wr__json_get_count(o, path, "event_id", &e->event_id, err));
	TRY(wr__json_get_time(o, path, "created_at", &e->created_at_ms, err));
done:
	return rc;
}

/* items is bounded only by the text size (a page may be as large as the
 * Runtime's max_transcript_projection_items). */
wr_err
wr_json_decode_transcript_page(const char *json, size_t len,
                               const char *envelope,
                               struct wr_transcript_page *out,
                               struct wr_error *err)
{
	struct wr_transcript_page p;
	struct wr__json_doc d;
	char f[WR_FIELD_MAX], fi[WR_FIELD_MAX];
	size_t n;
	json_object *a, *v;
	bool null;
	int st;
	wr_err rc;

	memset(&p, 0, sizeof(p));
	TRY(wr__json_doc_open(&d, json, len, envelope, json_type_object, err));
	TRY(wr__json_check_members(d.shape, d.path, PAGE_MEMBERS, "", err));
	TRY(ref_from(d.shape, d.path, "worker_ref", &p.ref, err));
	TRY(wr__json_get_count(d.shape, d.path, "start", &p.start, err));
	TRY(wr__json_get_u32(d.shape, d.path, "limit", &p.limit, err));
	TRY(wr__json_get_count(d.shape, d.path, "total_items", &p.total_items,
	                       err));
	TRY(wr__json_get_array(d.shape, d.path, "items", true, 0, &a, f, err));
	n = json_object_array_length(a);
	if (n > 0 && (p.items = calloc(n, sizeof(*p.items))) == NULL)
		TRY(wr__oom(err));
	p.count = n;
	for (size_t i = 0; i < n; i++) {
		TRY(wr__json_get_item(a, f, i, &v, fi, err));
		TRY(entry_from(v, fi, &p.ref, &p.items[i], err));
	}
	TRY(wr__json_get_u64(d.shape, d.path, "next_start", true, UINT64_MAX,
	                     &p.next_start, &null, err));
	p.has_next = !null;
	TRY(wr__json_get_enum(d.shape, d.path, "status", wr__status_name, &st,
	                      err));
	p.status = (enum wr_worker_status)st;
	TRY(wr__json_get_enum(d.shape, d.path, "run_state",
	                      wr__run_state_name, &st, err));
	p.run_state = (enum wr_run_state)st;
	TRY(wr__json_get_count(d.shape, d.path, "last_event_id",
	                       &p.last_event_id, err));
	*out = p;
	memset(&p, 0, sizeof(p)); /* handed over */
done:
	wr_transcript_page_clear(&p);
	wr__json_doc_close(&d);
	return rc;
}

static const char *const ERROR_MEMBERS[] = { "code", "message", "reason",
	                                     "field", "worker_id",
	                                     "request_id", NULL };
#define ERROR_REQUEST_ID_MAX 64 /* the Runtime's X-Request-Id bound */

/* {"error": {...}}: code is any code but "ok"; absent optional members
 * become empty strings; over-long strings are too_long, never cut. */
wr_err
wr_json_decode_error(const char *json, size_t len, struct wr_error *out,
                     struct wr_error *err)
{
	struct wr_error e;
	struct wr__json_doc d;
	const char *s;
	size_t n;
	int code;
	wr_err rc;

	memset(&e, 0, sizeof(e));
	TRY(wr__json_doc_open(&d, json, len, "error", json_type_object, err));
	TRY(wr__json_check_members(d.shape, d.path, ERROR_MEMBERS, "", err));
	TRY(wr__json_get_enum(d.shape, d.path, "code", err_code_name, &code,
	                      err));
	e.code = (wr_err)code;
	TRY(wr__json_get_string_buf(d.shape, d.path, "message", 0, e.message,
	                            sizeof(e.message), err));
	TRY(wr__json_get_string(d.shape, d.path, "reason", 0, WR_REASON_MAX,
	                        &s, &n, err));
	if (s != NULL && !wr_reason_parse(s, &e.reason))
		TRY(wr__json_bad(err, WR_REASON_INVALID_VALUE, "error.reason",
		                 "\"%.48s\" is not a reason of WR_REASON_TABLE", s));
	TRY(wr__json_get_string(d.shape, d.path, "field", 0,
	                        sizeof(e.field) - 1, &s, &n, err));
	if (s != NULL)
		memcpy(e.field, s, n + 1);
	TRY(wr__json_get_string(d.shape, d.path, "worker_id", 0,
	                        sizeof(e.worker_id) - 1, &s, &n, err));
	if (s != NULL)
		memcpy(e.worker_id, s, n + 1);
	/* Checked (a string of at most 64 bytes), not kept: struct wr_error
	 * has no place for the HTTP request's id. */
	TRY(wr__json_get_string(d.shape, d.path, "request_id", 0,
	                        ERROR_REQUEST_ID_MAX, &s, &n, err));
	*out = e;
done:
	wr__json_doc_close(&d);
	return rc;
}
