/* tierapi.c — the tiering endpoints (docs/API.md, "Tiering"): status,
 * policy, rules, run, jobs; and a version's pin, recall and explain.
 *
 * Each handler is a thin layer over tiering/engine.h (what to do, and why)
 * and tierops.h (pins, which live in the catalog). Admin changes are
 * audited where they are persisted: the policy and rules by the engine's
 * policy_store, pins by tierops_pin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "engine.h"
#include "error.h"
#include "log.h"
#include "manifest.h"
#include "tierops.h"
#include "util.h"

#define MOD "catalogd/tier"

#define TIER_BODY_MAX (1u << 20)
#define EXPLAIN_MAX 10000       /* objects of one file explained */

static int method_is(const struct http_req *r, const char *m)
{
	return strcmp(http_method(r), m) == 0;
}

static void bad_method(struct http_req *r)
{
	cairn_error_set(CAIRN_EINVAL, "method %s is not allowed on %s", http_method(r),
	                http_path(r));
	http_respond_current_error(r, CAIRN_EINVAL);
}

static int engine_of(struct catalog *c)
{
	if (c->tier == NULL)
		return cairn_error_set(CAIRN_ERETRY, "the tiering engine is not running");
	return 0;
}

/* ---- status, policy, rules ---- */

static void status(struct catalog *c, struct http_req *r)
{
	json_t *out = NULL;
	int rc = engine_of(c);

	if (rc == 0)
		rc = tier_engine_status(c->tier, &out);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, out);
}

static int policy_view(struct catalog *c, json_t **out)
{
	json_t *pins = NULL;
	int rc;

	rc = tier_engine_policy_json(c->tier, out);
	if (rc != 0)
		return rc;
	rc = tierops_pins_json(c, &pins);
	if (rc != 0) {
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	json_object_set_new(*out, "pins", pins);
	return 0;
}

static void respond_policy(struct catalog *c, struct http_req *r)
{
	json_t *out = NULL;
	int rc = policy_view(c, &out);

	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, out);
}

static void policy_put_body(void *ctx, struct http_req *r, json_t *body)
{
	struct catalog *c = ctx;
	char actor[128];
	int rc;

	api_actor(r, actor, sizeof(actor));
	rc = tier_engine_policy_set(c->tier, json_object_get(body, "set"), actor);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	respond_policy(c, r);
}

static void rule_post_body(void *ctx, struct http_req *r, json_t *body)
{
	struct catalog *c = ctx;
	char actor[128];
	int rc;

	api_actor(r, actor, sizeof(actor));
	rc = tier_engine_rule_add(c->tier, json_string_value(json_object_get(body, "match")),
	                          json_string_value(json_object_get(body, "action")), actor);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	respond_policy(c, r);
}

static void rule_delete(struct catalog *c, struct http_req *r)
{
	const char *match = http_query(r, "match");
	char actor[128];
	int rc;

	if (match == NULL || *match == '\0') {
		cairn_error_set(CAIRN_EINVAL, "which rule? DELETE /v1/tier/rules?match="
		                "dataset:NAME or tag:TAG");
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	api_actor(r, actor, sizeof(actor));
	rc = tier_engine_rule_del(c->tier, match, actor);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_empty(r, 204);
}

/* ---- run, jobs ---- */

/* The longest a GET of a job may wait for it to end. */
#define JOB_WAIT_MAX_MS 30000

static void start_job(struct catalog *c, struct http_req *r, bool scrub, uint64_t vid,
                      const char *label);

static void run_body(void *ctx, struct http_req *r, json_t *body)
{
	struct catalog *c = ctx;
	json_t *dry = json_object_get(body, "dry_run");
	json_t *lim = json_object_get(body, "limit");
	json_t *plan = NULL;
	bool started = false;
	json_int_t limit = 1000;
	int rc;

	if (body != NULL && !json_is_object(body)) {
		cairn_error_set(CAIRN_EINVAL, "the body must be {\"dry_run\": bool, "
		                "\"limit\": N}");
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	if ((dry != NULL && !json_is_boolean(dry)) ||
	    (lim != NULL && (!json_is_integer(lim) || json_integer_value(lim) < 1))) {
		cairn_error_set(CAIRN_EINVAL, "dry_run must be true or false and limit a "
		                "positive integer");
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	if (lim != NULL)
		limit = json_integer_value(lim);
	rc = tier_engine_run(c->tier, json_is_true(dry), (size_t)limit, &plan, &started);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (!json_is_true(dry)) {
		char actor[128];
		api_actor(r, actor, sizeof(actor));
		log_info(MOD, "%s started a tiering pass (%zu moves planned)", actor,
		         json_array_size(plan));
	}
	http_respond_json(r, 200, json_pack("{s:o,s:b,s:b}", "plan", plan,
	                                    "started", started,
	                                    "enabled", tier_engine_enabled(c->tier)));
}

static void job_get(struct catalog *c, struct http_req *r, const char *id)
{
	const char *w = http_query(r, "wait");
	uint64_t job, wait_ms = 0;
	json_t *out = NULL;
	int rc;

	if (util_parse_u64(id, &job) != 0) {
		cairn_error_set(CAIRN_EINVAL, "job ids are numbers, not '%.32s'", id);
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	if (w != NULL && (util_parse_u64(w, &wait_ms) != 0 || wait_ms > JOB_WAIT_MAX_MS)) {
		cairn_error_set(CAIRN_EINVAL, "wait is in milliseconds, at most %d", JOB_WAIT_MAX_MS);
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	rc = tier_engine_job_json(c->tier, job, (unsigned)wait_ms, &out);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, out);
}

void tierapi_route(struct catalog *c, struct http_req *r, char **seg, int n)
{
	int rc = engine_of(c);

	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (n == 2 && strcmp(seg[1], "status") == 0) {
		if (method_is(r, "GET"))
			status(c, r);
		else
			bad_method(r);
		return;
	}
	if (n == 2 && strcmp(seg[1], "policy") == 0) {
		if (method_is(r, "GET"))
			respond_policy(c, r);
		else if (method_is(r, "PUT"))
			http_body_json(r, TIER_BODY_MAX, policy_put_body, c, NULL);
		else
			bad_method(r);
		return;
	}
	if (n == 2 && strcmp(seg[1], "rules") == 0) {
		if (method_is(r, "POST"))
			http_body_json(r, TIER_BODY_MAX, rule_post_body, c, NULL);
		else if (method_is(r, "DELETE"))
			rule_delete(c, r);
		else
			bad_method(r);
		return;
	}
	if (n == 2 && strcmp(seg[1], "run") == 0) {
		if (method_is(r, "POST"))
			http_body_json(r, TIER_BODY_MAX, run_body, c, NULL);
		else
			bad_method(r);
		return;
	}
	if (n == 3 && strcmp(seg[1], "jobs") == 0) {
		if (method_is(r, "GET"))
			job_get(c, r, seg[2]);
		else
			bad_method(r);
		return;
	}
	if (n == 2 && strcmp(seg[1], "scrub") == 0) {
		if (method_is(r, "POST"))
			start_job(c, r, true, 0, "every object");
		else
			bad_method(r);
		return;
	}
	cairn_error_set(CAIRN_ENOTFOUND, "no such endpoint: %s", http_path(r));
	http_respond_current_error(r, CAIRN_ENOTFOUND);
}

/* ---- a version: pin, recall, explain ---- */

static void pin(struct catalog *c, struct http_req *r, const struct cat_dataset *ds,
                const struct cat_version *v, bool on)
{
	char actor[128];
	int rc;

	api_actor(r, actor, sizeof(actor));
	rc = tierops_pin(c, ds, v->seq, on, actor);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_empty(r, 204);
}

/* A recall or a scrub job over version vid (a scrub may take vid 0: every
 * object); 202 with the job's id and what it takes on. */
static void start_job(struct catalog *c, struct http_req *r, bool scrub, uint64_t vid,
                      const char *label)
{
	char actor[128];
	uint64_t job, objects, bytes;
	int rc;

	rc = scrub ? tier_engine_scrub(c->tier, vid, label, &job, &objects, &bytes)
	           : tier_engine_recall_version(c->tier, vid, label, &job, &objects, &bytes);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	api_actor(r, actor, sizeof(actor));
	log_info(MOD, "%s asked to %s %s (job %llu)", actor, scrub ? "scrub" : "recall",
	         label, (unsigned long long)job);
	http_respond_json(r, 202, json_pack("{s:I,s:I,s:I}", "job", (json_int_t)job,
	                                    "objects", (json_int_t)objects,
	                                    "bytes", (json_int_t)bytes));
}

static void explain(struct catalog *c, struct http_req *r, const struct cat_dataset *ds,
                    const struct cat_version *v)
{
	char path[CAIRN_PATH_MAX + 1], label[CAIRN_DATASET_NAME_MAX + 24];
	cairn_oid *oids = NULL;
	json_t *list = NULL, *x;
	uint64_t nobjects = 0;
	size_t n = 0;
	int rc;

	oids = malloc(EXPLAIN_MAX * sizeof(*oids));
	if (oids == NULL) {
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	rc = tree_file_oids(c, v, http_query(r, "path"), 0, EXPLAIN_MAX, oids, &n,
	                    &nobjects, path);
	if (rc != 0)
		goto out;
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		rc = tier_engine_explain(c->tier, &oids[i], &x);
		if (rc != 0)
			goto out;
		json_array_append_new(list, x);
	}
	snprintf(label, sizeof(label), "%s@%llu", ds->name, (unsigned long long)v->seq);
	http_respond_json(r, 200, json_pack("{s:s,s:s,s:O,s:I,s:b}", "version", label,
	                                    "path", path, "objects", list,
	                                    "nobjects", (json_int_t)nobjects,
	                                    "truncated", nobjects > n));
out:
	if (rc != 0)
		http_respond_current_error(r, rc);
	json_decref(list);
	free(oids);
}

void tierapi_version(struct catalog *c, struct http_req *r, const struct cat_dataset *ds,
                     const struct cat_version *v, const char *sub)
{
	int rc = engine_of(c);

	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (strcmp(sub, "pin") == 0) {
		if (method_is(r, "POST"))
			pin(c, r, ds, v, true);
		else if (method_is(r, "DELETE"))
			pin(c, r, ds, v, false);
		else
			bad_method(r);
	} else if (strcmp(sub, "recall") == 0 || strcmp(sub, "scrub") == 0) {
		char label[CAIRN_DATASET_NAME_MAX + 24];

		snprintf(label, sizeof(label), "%s@%llu", ds->name, (unsigned long long)v->seq);
		if (method_is(r, "POST"))
			start_job(c, r, sub[0] == 's', v->vid, label);
		else
			bad_method(r);
	} else if (method_is(r, "GET")) {
		explain(c, r, ds, v);
	} else {
		bad_method(r);
	}
}
