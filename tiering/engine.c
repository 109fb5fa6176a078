/* engine.c — the engine's threads, queue, scanner, policy, status, jobs.
 *
 * Threads (all started by tier_engine_start, joined by tier_engine_stop):
 *
 *   scanner   wakes every scan_interval and on `tier run` (a policy change
 *             applies from the next pass), and when the access table fills
 *             or a minute has passed, to flush access times, and when a
 *             scrub of the whole catalog is due (scrub_interval after the
 *             last one started, a job like `tier scrub --all`; the time is
 *             kept in the catalog, so restarts do not move it). Each pass: flush access
 *             times, then one pass over the catalog's objects (pages of
 *             SCAN_PAGE, never the whole list in memory) deciding with
 *             tier_decide(). Migrations and forced moves are queued as they
 *             are found; release candidates go to a bounded heap that keeps
 *             the least recently used ones, just enough bytes to bring the
 *             pool under the low watermark, and are queued at the end of
 *             the pass, oldest first. A pass that moved something is
 *             followed by another once the queue drains (a migration can
 *             make a release possible), until a pass finds nothing to do.
 *   workers   `concurrency` of them (more are started when it grows; the
 *             surplus sleeps when it shrinks) perform queued tasks.
 *   pooler    writes what workers (and readers, with recall_on_read)
 *             fetched from S3 back to the pool, a group at a time (move.c).
 *   walkers   one per running recall job: queue the job's COLD objects.
 *
 * The queue is bounded (TIER_QUEUE_MAX): the scanner and walkers wait for
 * room, so memory does not grow with the catalog. An object is in the
 * queue at most once (the `held` table), which is also what keeps two
 * workers off one object before the catalog's compare-and-set does.
 * Queued tasks are not marked in the catalog: only a worker's first
 * transition is, so dropping the queue (stop, suspension) leaves nothing
 * to undo.
 *
 * Suspension: background moves feed an error-rate breaker (throttle.h).
 * When it trips, the engine stops queueing migrations and releases, drops
 * those queued, and says why in its status. A successful `tier run` or a
 * policy change resumes it; so does the scanner, when S3 answers again
 * after failures that were transient (timeouts, connection errors).
 */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "log.h"

#define MOD "tiering"

#define SCAN_PAGE 512
#define RELEASE_HEAP_MAX 65536
#define PLAN_LIMIT_MAX 10000

/* The [tiering] keys a policy document may override, in display order. */
static const char *const policy_keys[] = {
	"high_watermark", "low_watermark", "min_idle", "min_size", "concurrency",
	"bandwidth", "recall_on_read", "verify", "scan_interval", "max_error_rate",
	"scrub_interval", "keep_head",
};
#define NPOLICY_KEYS (sizeof(policy_keys) / sizeof(policy_keys[0]))

/* ---- small helpers ---- */

int64_t tier_now(void)
{
	return (int64_t)time(NULL);
}

int64_t tier_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool tier_stopping(struct tier_engine *e)
{
	return __atomic_load_n(&e->stopping, __ATOMIC_ACQUIRE);
}

void tier_deadline_in(struct timespec *ts, double seconds)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)seconds;
	ts->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int tier_snapshot(struct tier_engine *e, struct tier_policy *pol,
                  struct tier_rule **rules, size_t *nrules)
{
	pthread_mutex_lock(&e->mu);
	*pol = e->pol;
	if (rules != NULL) {
		*rules = NULL;
		*nrules = e->nrules;
		if (e->nrules > 0) {
			*rules = malloc(e->nrules * sizeof(**rules));
			if (*rules == NULL) {
				pthread_mutex_unlock(&e->mu);
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			}
			memcpy(*rules, e->rules, e->nrules * sizeof(**rules));
		}
	}
	pthread_mutex_unlock(&e->mu);
	return 0;
}

void tier_note_error(struct tier_engine *e, const char *op, const cairn_oid *oid,
                     const char *msg)
{
	struct tier_error *er;
	char hex[CAIRN_OID_HEXLEN + 1] = "";

	if (oid != NULL)
		cairn_oid_fmt(hex, oid);
	log_error(MOD, "%s %s: %s", op, oid ? hex : "-", msg);
	pthread_mutex_lock(&e->mu);
	er = &e->errors[e->errhead];
	e->errhead = (e->errhead + 1) % TIER_ERRORS_KEPT;
	if (e->nerrors < TIER_ERRORS_KEPT)
		e->nerrors++;
	er->time = tier_now();
	snprintf(er->op, sizeof(er->op), "%s", op);
	snprintf(er->object, sizeof(er->object), "%s", hex);
	snprintf(er->message, sizeof(er->message), "%s", msg);
	pthread_mutex_unlock(&e->mu);
}

/* With mu held. */
static void resume_locked(struct tier_engine *e, const char *why)
{
	tier_breaker_reset(&e->breaker);
	if (!e->suspended)
		return;
	e->suspended = false;
	e->suspended_reason[0] = '\0';
	log_info(MOD, "tiering resumed: %s", why);
}

void tier_note_outcome(struct tier_engine *e, bool ok, int code)
{
	unsigned fails, attempts;
	int64_t now = tier_now();

	pthread_mutex_lock(&e->mu);
	tier_breaker_record(&e->breaker, now, ok);
	if (!ok && !e->suspended &&
	    tier_breaker_tripped(&e->breaker, now, e->pol.max_error_rate,
	                         TIER_BREAKER_MIN_ATTEMPTS, &fails, &attempts)) {
		const char *last = e->nerrors ?
			e->errors[(e->errhead + TIER_ERRORS_KEPT - 1) % TIER_ERRORS_KEPT].message : "";
		e->suspended = true;
		e->suspend_code = code;
		snprintf(e->suspended_reason, sizeof(e->suspended_reason),
		         "%u of the last %u moves failed (%.0f%% > max_error_rate %g%%); "
		         "last error: %s", fails, attempts,
		         100.0 * fails / attempts, e->pol.max_error_rate, last);
		log_error(MOD, "tiering suspended: %s", e->suspended_reason);
		pthread_cond_broadcast(&e->cv_space);
	}
	pthread_mutex_unlock(&e->mu);
}

void tier_throttle(struct tier_engine *e, uint64_t n, bool wait)
{
	uint64_t ns;

	pthread_mutex_lock(&e->mu);
	ns = tier_bucket_take(&e->bucket, n, tier_now_ns());
	pthread_mutex_unlock(&e->mu);
	/* Sleep in short steps so that stop is not held up by a long debt. */
	while (wait && ns > 0 && !tier_stopping(e)) {
		uint64_t step = ns > 100000000 ? 100000000 : ns;
		struct timespec ts = { (time_t)(step / 1000000000), (long)(step % 1000000000) };
		nanosleep(&ts, NULL);
		ns -= step;
	}
}

struct placement_arg {
	const struct tier_rule *rules;
	size_t nrules;
	struct tier_placement *pl;
};

static int placement_visit(void *arg, const struct tier_version_ref *v)
{
	struct placement_arg *a = arg;

	tier_placement_add(a->pl, a->rules, a->nrules, v);
	return 0;
}

int tier_placement_of(struct tier_engine *e, const cairn_oid *oid,
                      const struct tier_rule *rules, size_t nrules,
                      struct tier_placement *pl)
{
	struct placement_arg a = { rules, nrules, pl };

	tier_placement_init(pl);
	return e->ops->versions(e->ctx, oid, placement_visit, &a);
}

static bool want_placement(struct tier_engine *e, size_t nrules)
{
	return nrules > 0 || e->ops->has_pins(e->ctx);
}

/* ---- the queue ---- */

/* With mu held: appends t, holding its object. */
static void push_locked(struct tier_engine *e, const struct task *t)
{
	e->q[(e->qhead + e->qlen) % TIER_QUEUE_MAX] = *t;
	e->qlen++;
	e->queued[t->op]++;
	if (t->job != NULL)
		t->job->pending++;
	pthread_cond_signal(&e->cv_work);
}

/* Waits for room. Returns 1 when queued, 0 when skipped (the object is
 * already in hand, or the engine is stopping or, for background moves,
 * suspended). */
static int enqueue_wait(struct tier_engine *e, const struct task *t)
{
	bool droppable = t->background && (t->op == OP_MIGRATE || t->op == OP_RELEASE);
	int rc = 0;

	pthread_mutex_lock(&e->mu);
	while (e->qlen == TIER_QUEUE_MAX && !e->stopping && !(droppable && e->suspended))
		pthread_cond_wait(&e->cv_space, &e->mu);
	if (e->stopping || (droppable && e->suspended))
		goto out;
	if (tier_oidtab_add(e->held, &t->oid, t->op) != 0)
		goto out;
	push_locked(e, t);
	rc = 1;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

bool tier_enqueue_nowait(struct tier_engine *e, const struct task *t)
{
	bool ok = false;

	pthread_mutex_lock(&e->mu);
	if (!e->stopping && e->started && e->qlen < TIER_QUEUE_MAX &&
	    tier_oidtab_add(e->held, &t->oid, t->op) == 0) {
		push_locked(e, t);
		ok = true;
	}
	pthread_mutex_unlock(&e->mu);
	return ok;
}

/* ---- jobs ---- */

static const char *const job_kinds[] = { "recall", "scrub" };

/* With mu held: finishes the job when nothing of it is left. */
static void job_maybe_finish_locked(struct job *j)
{
	if (j->feeding || j->pending > 0 || j->state != JOB_RUNNING)
		return;
	j->finished = tier_now();
	pthread_cond_broadcast(&j->e->cv_job);
	if (j->failed > 0) {
		j->state = JOB_FAILED;
		log_error(MOD, "%s of %s failed for %llu objects: %s", job_kinds[j->kind],
		          j->label, (unsigned long long)j->failed, j->message);
		return;
	}
	j->state = JOB_DONE;
	if (j->kind == JOB_RECALL) {
		/* Objects a reader recalled meanwhile were never queued: the
		 * whole version is on the pool now. */
		j->done_objects = j->objects;
		j->done_bytes = j->bytes;
		snprintf(j->message, sizeof(j->message), "recalled");
	} else {
		snprintf(j->message, sizeof(j->message), "%llu objects checked, %llu repaired",
		         (unsigned long long)j->done_objects, (unsigned long long)j->repaired);
	}
	log_info(MOD, "%s of %s done: %llu objects, %llu bytes in %llds (%s)",
	         job_kinds[j->kind], j->label, (unsigned long long)j->done_objects,
	         (unsigned long long)j->done_bytes, (long long)(j->finished - j->started),
	         j->message);
}

void tier_job_task_done_locked(struct job *j, const cairn_oid *oid, bool ok,
                               uint64_t bytes, const char *msg)
{
	j->pending--;
	if (ok) {
		j->done_objects++;
		j->done_bytes += bytes;
	} else {
		j->failed++;
		snprintf(j->message, sizeof(j->message), "%s", msg);
		if (j->nbad < TIER_JOB_BAD_KEPT) {
			struct job_bad *b = &j->bad[j->nbad++];
			cairn_oid_fmt(b->object, oid);
			snprintf(b->message, sizeof(b->message), "%s", msg);
		}
	}
	job_maybe_finish_locked(j);
}

/* A page of the job's objects: its version's, or the whole catalog's. */
static int job_page(struct tier_engine *e, uint64_t vid, const cairn_oid *after,
                    struct tier_object *page, size_t *n)
{
	if (vid == 0)
		return e->ops->scan(e->ctx, after, page, SCAN_PAGE, n);
	return e->ops->version_objects(e->ctx, vid, after, page, SCAN_PAGE, n);
}

/* What a job does with an object in `state`: a recall takes the COLD
 * ones; a scrub checks every object that has a record. */
static bool job_wants(int kind, int state, bool counting)
{
	if (kind == JOB_SCRUB)
		return state >= 0;
	return state == CAIRN_TIER_COLD || (counting && state == CAIRN_TIER_RECALLING);
}

static void *job_walker(void *arg)
{
	struct job *j = arg;
	struct tier_engine *e = j->e;
	struct tier_object *page;
	cairn_oid after;
	bool have_after = false;
	size_t n;
	int rc = 0;

	page = malloc(SCAN_PAGE * sizeof(*page));
	if (page == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	do {
		rc = job_page(e, j->vid, have_after ? &after : NULL, page, &n);
		if (rc != 0)
			break;
		for (size_t i = 0; i < n && !tier_stopping(e); i++) {
			/* A scrub is not a policy move: the breaker does not
			 * count its findings, and a suspension does not stop it. */
			struct task t = { .op = j->kind == JOB_SCRUB ? OP_SCRUB : OP_RECALL,
			                  .oid = page[i].oid, .size = page[i].size, .job = j,
			                  .background = j->kind == JOB_RECALL };
			if (!job_wants(j->kind, page[i].state, false))
				continue;
			enqueue_wait(e, &t);
		}
		if (n > 0) {
			after = page[n - 1].oid;
			have_after = true;
		}
	} while (n == SCAN_PAGE && !tier_stopping(e));
out:
	free(page);
	pthread_mutex_lock(&e->mu);
	if (rc != 0) {
		j->failed++;
		snprintf(j->message, sizeof(j->message), "%s", cairn_error_msg());
	}
	j->feeding = false;
	job_maybe_finish_locked(j);
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* Notes t as the start of the last scrub of the whole catalog, in the
 * catalog too: the schedule survives restarts. A failed write costs only
 * the schedule's memory across a restart; it is logged. */
static void scrub_mark(struct tier_engine *e, int64_t t)
{
	pthread_mutex_lock(&e->mu);
	e->scrub_last = t;
	e->scrub_retry = 0;
	pthread_mutex_unlock(&e->mu);
	if (e->ops->scrub_store(e->ctx, t) != 0) {
		log_warn(MOD, "cannot record the time of the last scrub: %s", cairn_error_msg());
		cairn_error_clear();
	}
}

/* Counts what the job will take (objects, bytes), then starts its walker. */
static int job_start(struct tier_engine *e, int kind, uint64_t vid, const char *label,
                     uint64_t *job, uint64_t *objects, uint64_t *bytes)
{
	struct tier_object *page = NULL;
	struct job *j = NULL;
	cairn_oid after;
	bool have_after = false;
	size_t n, slot;
	int rc = 0;

	*job = *objects = *bytes = 0;
	if (e->s3 == NULL && kind == JOB_RECALL)
		return cairn_error_set(CAIRN_EIO, "no cold tier: [s3] endpoint is not set, "
		                       "so there is nothing to recall from");
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (vid == 0) {
		uint64_t count[CAIRN_TIER_NSTATES], b[CAIRN_TIER_NSTATES];

		e->ops->counts(e->ctx, count, b);
		for (int s = 0; s < CAIRN_TIER_NSTATES; s++) {
			j->objects += count[s];
			j->bytes += b[s];
		}
	} else {
		page = malloc(SCAN_PAGE * sizeof(*page));
		if (page == NULL) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		do {
			rc = job_page(e, vid, have_after ? &after : NULL, page, &n);
			if (rc != 0)
				goto out;
			for (size_t i = 0; i < n; i++) {
				if (job_wants(kind, page[i].state, true)) {
					j->objects++;
					j->bytes += page[i].size;
				}
			}
			if (n > 0) {
				after = page[n - 1].oid;
				have_after = true;
			}
		} while (n == SCAN_PAGE);
	}

	j->e = e;
	j->kind = kind;
	j->vid = vid;
	snprintf(j->label, sizeof(j->label), "%s", label);
	j->started = tier_now();
	j->feeding = true;
	j->state = JOB_RUNNING;
	pthread_mutex_lock(&e->mu);
	if (!e->started || e->stopping) {
		pthread_mutex_unlock(&e->mu);
		rc = cairn_error_set(CAIRN_ERETRY, "the tiering engine is not running");
		goto out;
	}
	slot = (size_t)(e->next_job % TIER_JOBS_KEPT);
	if (e->jobs[slot] != NULL && e->jobs[slot]->state == JOB_RUNNING) {
		pthread_mutex_unlock(&e->mu);
		rc = cairn_error_set(CAIRN_ERETRY, "%d jobs are running already; "
		                     "try again when one is done", TIER_JOBS_KEPT);
		goto out;
	}
	j->id = ++e->next_job;
	if (pthread_create(&j->walker, NULL, job_walker, j) != 0) {
		e->next_job--;
		pthread_mutex_unlock(&e->mu);
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot start a %s job", job_kinds[kind]);
		goto out;
	}
	if (e->jobs[slot] != NULL) {
		/* A finished job: its walker has returned, or is about to. */
		if (!e->jobs[slot]->walker_joined)
			pthread_join(e->jobs[slot]->walker, NULL);
		free(e->jobs[slot]);
		e->jobs[slot] = NULL;
	}
	e->jobs[slot] = j;
	*job = j->id;
	*objects = j->objects;
	*bytes = j->bytes;
	pthread_mutex_unlock(&e->mu);
	log_info(MOD, "%s of %s started (job %llu): %llu objects, %llu bytes",
	         job_kinds[kind], label, (unsigned long long)*job,
	         (unsigned long long)*objects, (unsigned long long)*bytes);
	/* Any scrub of everything counts for the schedule. */
	if (kind == JOB_SCRUB && vid == 0)
		scrub_mark(e, j->started);
	j = NULL;
out:
	free(j);
	free(page);
	return rc;
}

int tier_engine_recall_version(struct tier_engine *e, uint64_t vid, const char *label,
                               uint64_t *job, uint64_t *objects, uint64_t *bytes)
{
	return job_start(e, JOB_RECALL, vid, label, job, objects, bytes);
}

int tier_engine_scrub(struct tier_engine *e, uint64_t vid, const char *label,
                      uint64_t *job, uint64_t *objects, uint64_t *bytes)
{
	return job_start(e, JOB_SCRUB, vid, label, job, objects, bytes);
}

void tier_engine_repair(struct tier_engine *e, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct tier_object o;
	struct task t = { .op = OP_SCRUB, .oid = *oid };

	if (e->ops->get(e->ctx, oid, &o) != 0)
		return;
	t.size = o.size;
	if (tier_enqueue_nowait(e, &t))
		log_info(MOD, "object %s: a check and repair of its copies is queued",
		         cairn_oid_fmt(hex, oid));
}

int tier_engine_job_json(struct tier_engine *e, uint64_t id, unsigned wait_ms, json_t **out)
{
	static const char *const states[] = { "running", "done", "failed" };
	struct timespec until;
	struct job *j;
	int rc = 0;

	*out = NULL;
	tier_deadline_in(&until, wait_ms / 1000.0);
	pthread_mutex_lock(&e->mu);
	j = id > 0 ? e->jobs[(size_t)((id - 1) % TIER_JOBS_KEPT)] : NULL;
	/* A follower waits here for the end rather than polling for it, and
	 * so sees it when it happens. (A job's slot is reused only once it
	 * has ended, so j stays this job's while it runs.) */
	while (wait_ms > 0 && j != NULL && j->id == id && j->state == JOB_RUNNING &&
	       !e->stopping && pthread_cond_timedwait(&e->cv_job, &e->mu, &until) == 0)
		;
	if (j == NULL || j->id != id) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no job %llu (the last %d "
		                     "are kept)", (unsigned long long)id, TIER_JOBS_KEPT);
	} else {
		json_t *bad = json_array();

		for (size_t i = 0; i < j->nbad; i++)
			json_array_append_new(bad, json_pack("{s:s,s:s}", "object", j->bad[i].object,
			                                     "message", j->bad[i].message));
		*out = json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:I,s:I,s:o}",
			"job", (json_int_t)j->id, "kind", job_kinds[j->kind],
			"version", j->label,
			"objects", (json_int_t)j->objects, "bytes", (json_int_t)j->bytes,
			"done_objects", (json_int_t)j->done_objects,
			"done_bytes", (json_int_t)j->done_bytes,
			"failed", (json_int_t)j->failed, "repaired", (json_int_t)j->repaired,
			"state", states[j->state],
			"message", j->message, "started", (json_int_t)j->started,
			"finished", (json_int_t)j->finished, "bad", bad);
		if (*out == NULL)
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* ---- workers ---- */

struct worker_arg {
	struct tier_engine *e;
	unsigned idx;
};

static void perform(struct tier_engine *e, const struct task *t, uint8_t **buf, size_t *cap)
{
	bool repaired = false;
	int rc = 0;

	cairn_error_clear();
	switch (t->op) {
	case OP_MIGRATE:
		rc = tier_migrate(e, t, buf, cap);
		break;
	case OP_RELEASE:
		rc = tier_release(e, &t->oid, buf, cap);
		break;
	case OP_RECALL:
		rc = tier_recall(e, t);
		break;
	case OP_SCRUB:
		rc = tier_scrub(e, t, buf, cap, &repaired);
		break;
	}
	if (rc == TIER_DEFERRED)
		return;         /* the pooler reports it */
	if (t->background)
		tier_note_outcome(e, rc == 0, rc);
	if (t->op == OP_SCRUB) {
		pthread_mutex_lock(&e->mu);
		e->scrub_checked += rc == 0;
		e->scrub_repaired += repaired;
		e->scrub_damaged += rc == CAIRN_ECORRUPT;
		pthread_mutex_unlock(&e->mu);
	}
	if (t->job != NULL) {
		pthread_mutex_lock(&e->mu);
		if (repaired)
			t->job->repaired++;
		tier_job_task_done_locked(t->job, &t->oid, rc == 0, t->size, cairn_error_msg());
		pthread_mutex_unlock(&e->mu);
	}
}

static void *worker_main(void *arg)
{
	struct worker_arg wa = *(struct worker_arg *)arg;
	struct tier_engine *e = wa.e;
	uint8_t *buf = NULL;
	size_t cap = 0;

	free(arg);
	pthread_mutex_lock(&e->mu);
	while (!e->stopping) {
		if (wa.idx >= e->pol.concurrency || e->qlen == 0) {
			pthread_cond_wait(&e->cv_work, &e->mu);
			continue;
		}
		struct task t = e->q[e->qhead];
		e->qhead = (e->qhead + 1) % TIER_QUEUE_MAX;
		e->qlen--;
		e->queued[t.op]--;
		pthread_cond_signal(&e->cv_space);
		if (t.background && e->suspended &&
		    (t.op == OP_MIGRATE || t.op == OP_RELEASE)) {
			tier_oidtab_del(e->held, &t.oid);
			continue;
		}
		e->busy++;
		pthread_mutex_unlock(&e->mu);
		perform(e, &t, &buf, &cap);
		pthread_mutex_lock(&e->mu);
		tier_oidtab_del(e->held, &t.oid);
		e->busy--;
		pthread_cond_broadcast(&e->cv_idle);
	}
	pthread_mutex_unlock(&e->mu);
	free(buf);
	return NULL;
}

/* With mu held: starts workers up to the policy's concurrency. */
static void spawn_workers_locked(struct tier_engine *e)
{
	while (e->nworkers < e->pol.concurrency && e->nworkers < TIER_MAX_WORKERS) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (wa == NULL)
			break;
		wa->e = e;
		wa->idx = e->nworkers;
		if (pthread_create(&e->workers[e->nworkers], NULL, worker_main, wa) != 0) {
			free(wa);
			log_error(MOD, "cannot start tiering worker %u", e->nworkers);
			break;
		}
		e->nworkers++;
	}
	pthread_cond_broadcast(&e->cv_work);
}

/* ---- access times ---- */

void tier_engine_accessed(struct tier_engine *e, const cairn_oid *oid, int64_t t)
{
	bool full;

	pthread_mutex_lock(&e->amu);
	tier_oidtab_put_max(e->access, oid, t);
	full = tier_oidtab_count(e->access) >= tier_oidtab_cap(e->access) * 3 / 4;
	pthread_mutex_unlock(&e->amu);
	if (full) {
		pthread_mutex_lock(&e->mu);
		pthread_cond_signal(&e->cv_scan);
		pthread_mutex_unlock(&e->mu);
	}
}

int tier_engine_flush_access(struct tier_engine *e)
{
	enum { CHUNK = 4096 };
	cairn_oid *oids = malloc(CHUNK * sizeof(*oids));
	int64_t *times = malloc(CHUNK * sizeof(*times));
	size_t n, total = 0;
	int rc = 0;

	if (oids == NULL || times == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		pthread_mutex_lock(&e->amu);
		n = tier_oidtab_drain(e->access, oids, times, CHUNK);
		e->last_flush = tier_now();
		pthread_mutex_unlock(&e->amu);
		if (n == 0)
			break;
		rc = e->ops->touch(e->ctx, oids, times, n);
		if (rc != 0) {
			log_warn(MOD, "access times of %zu objects not recorded: %s", n,
			         cairn_error_msg());
			break;
		}
		total += n;
	}
	if (total > 0)
		log_debug(MOD, "recorded access times of %zu objects", total);
out:
	free(oids);
	free(times);
	return rc;
}

/* ---- the pass: one walk over every object ---- */

/* Pool use as the watermarks see it: bytes of objects on the pool against
 * [pool] capacity when it is set, else the pool filesystem's own use. */
static void pool_pressure(struct tier_engine *e, const struct tier_policy *pol,
                          struct tier_pressure *pr)
{
	uint64_t cap = e->base.pool_capacity, used = 0;

	if (cap > 0) {
		uint64_t count[CAIRN_TIER_NSTATES], bytes[CAIRN_TIER_NSTATES], heads;
		e->ops->counts(e->ctx, count, bytes);
		for (int s = 0; s < CAIRN_TIER_NSTATES; s++)
			if (cairn_tier_in_pool(s))
				used += bytes[s];
		/* The heads released objects keep (an upper bound: small
		 * objects keep none). */
		heads = count[CAIRN_TIER_COLD] * pol->keep_head;
		used += heads < bytes[CAIRN_TIER_COLD] ? heads : bytes[CAIRN_TIER_COLD];
	} else if (cairn_pool_usage(e->pool, &cap, &used) != 0) {
		log_warn(MOD, "pool usage unknown: %s", cairn_error_msg());
		cap = used = 0;
	}
	tier_pressure_compute(pr, cap, used, pol->high_watermark, pol->low_watermark);
}

struct pass {
	bool dry;
	json_t *plan;           /* dry: the plan being built */
	size_t limit;
	size_t planned;         /* items decided (may exceed limit) */
	size_t queued;          /* real: tasks queued */
};

static void plan_add(struct pass *ps, const cairn_oid *oid, uint64_t size, int action,
                     const char *why)
{
	char hex[CAIRN_OID_HEXLEN + 1];

	ps->planned++;
	if (ps->plan == NULL || json_array_size(ps->plan) >= ps->limit)
		return;
	json_array_append_new(ps->plan, json_pack("{s:s,s:I,s:s,s:s}",
		"object", cairn_oid_fmt(hex, oid), "size", (json_int_t)size,
		"action", tier_action_name(action), "reason", why));
}

static void act(struct tier_engine *e, struct pass *ps, int op, const struct tier_object *o,
                bool then_release, const char *why)
{
	static const int action_of[OP_COUNT] = {
		[OP_MIGRATE] = TIER_MIGRATE, [OP_RELEASE] = TIER_RELEASE,
		[OP_RECALL] = TIER_RECALL,
	};
	struct task t = { .op = op, .oid = o->oid, .size = o->size,
	                  .then_release = then_release, .background = true };

	if (ps->dry) {
		plan_add(ps, &o->oid, o->size, action_of[op], why);
		return;
	}
	ps->queued += (size_t)enqueue_wait(e, &t);
}

static int run_pass(struct tier_engine *e, struct pass *ps)
{
	struct tier_policy pol;
	struct tier_rule *rules = NULL;
	struct tier_pressure pr;
	struct tier_object *page = NULL;
	struct tier_lru h = {0};
	cairn_oid after;
	bool have_after = false, placement;
	int64_t now = tier_now();
	size_t nrules, n;
	int rc;

	rc = tier_snapshot(e, &pol, &rules, &nrules);
	if (rc != 0)
		return rc;
	pool_pressure(e, &pol, &pr);
	placement = want_placement(e, nrules);
	page = malloc(SCAN_PAGE * sizeof(*page));
	if (page == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if (pr.over_high) {
		rc = tier_lru_init(&h, RELEASE_HEAP_MAX, pr.release_need);
		if (rc != 0)
			goto out;
	}
	do {
		rc = e->ops->scan(e->ctx, have_after ? &after : NULL, page, SCAN_PAGE, &n);
		if (rc != 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			const struct tier_object *o = &page[i];
			struct tier_facts f = { o->state, o->size, o->last_access };
			struct tier_placement pl;
			struct tier_decision d;

			if (placement && (o->state == CAIRN_TIER_HOT || o->state == CAIRN_TIER_DUAL ||
			                  o->state == CAIRN_TIER_COLD)) {
				rc = tier_placement_of(e, &o->oid, rules, nrules, &pl);
				if (rc != 0)
					goto out;
			}
			tier_decide(&d, &pol, &f, placement ? &pl : NULL, &pr, now);
			switch (d.action) {
			case TIER_MIGRATE:
				act(e, ps, OP_MIGRATE, o, d.then_release, d.why);
				break;
			case TIER_RECALL:
				act(e, ps, OP_RECALL, o, false, d.why);
				break;
			case TIER_RELEASE:
				if (d.forced) {
					act(e, ps, OP_RELEASE, o, false, d.why);
				} else {
					struct tier_candidate c = { o->last_access, o->size,
					                            o->oid };
					tier_lru_offer(&h, &c);
				}
				break;
			default:
				break;
			}
			if (!ps->dry && tier_stopping(e))
				goto out;
		}
		if (n > 0) {
			after = page[n - 1].oid;
			have_after = true;
		}
	} while (n == SCAN_PAGE);

	/* Release candidates, least recently used first. */
	tier_lru_sort(&h);
	for (size_t i = 0; i < h.n && !(!ps->dry && tier_stopping(e)); i++) {
		struct tier_object o = { .oid = h.v[i].oid, .size = h.v[i].size,
		                         .state = CAIRN_TIER_DUAL,
		                         .last_access = h.v[i].last_access };
		struct tier_facts f = { o.state, o.size, o.last_access };
		struct tier_decision d;
		/* The reason again, rather than kept per candidate: only
		 * unpinned objects without a rule get here, so the same call
		 * without a placement says the same thing. */
		if (ps->dry)
			tier_decide(&d, &pol, &f, NULL, &pr, now);
		act(e, ps, OP_RELEASE, &o, false, ps->dry ? d.why : "");
	}
out:
	tier_lru_free(&h);
	free(page);
	free(rules);
	return rc;
}

/* ---- the scanner ---- */

/* While suspended after transient failures: is S3 back? A HEAD of a key
 * that never exists answers "not found" from a healthy server. */
static void probe_s3(struct tier_engine *e)
{
	cairn_oid zero;
	uint64_t size;
	int rc, code;

	pthread_mutex_lock(&e->mu);
	code = e->suspend_code;
	pthread_mutex_unlock(&e->mu);
	if (code != CAIRN_ERETRY && code != CAIRN_EIO)
		return;
	memset(&zero, 0, sizeof(zero));
	rc = cairn_s3_head(e->s3, &zero, &size, NULL);
	if (rc == 0 || rc == CAIRN_ENOTFOUND) {
		pthread_mutex_lock(&e->mu);
		resume_locked(e, "S3 answers again");
		pthread_mutex_unlock(&e->mu);
	}
}

static void scanner_pass(struct tier_engine *e, bool *again)
{
	struct pass ps = { .dry = false };
	uint64_t before, after;
	int64_t t0 = tier_now_ns();
	bool suspended;
	int rc;

	*again = false;
	tier_engine_flush_access(e);
	pthread_mutex_lock(&e->mu);
	suspended = e->suspended;
	if (e->s3 == NULL || suspended)
		e->scanning = false;
	pthread_mutex_unlock(&e->mu);
	if (e->s3 == NULL)
		return;
	if (suspended) {
		probe_s3(e);
		return;
	}
	pthread_mutex_lock(&e->mu);
	before = e->tot_objects[0] + e->tot_objects[1] + e->tot_objects[2];
	e->scanning = true;
	pthread_mutex_unlock(&e->mu);
	rc = run_pass(e, &ps);
	if (rc != 0)
		log_error(MOD, "scan failed: %s", cairn_error_msg());
	/* Wait for the queue to drain before another pass, so that it sees
	 * the states this one's moves produced. */
	pthread_mutex_lock(&e->mu);
	while ((e->qlen > 0 || e->busy > 0) && !e->stopping && ps.queued > 0)
		pthread_cond_wait(&e->cv_idle, &e->mu);
	after = e->tot_objects[0] + e->tot_objects[1] + e->tot_objects[2];
	e->scanning = false;
	e->last_scan = tier_now();
	e->last_scan_secs = (double)(tier_now_ns() - t0) / 1e9;
	pthread_mutex_unlock(&e->mu);
	if (ps.queued > 0)
		log_info(MOD, "pass: %zu moves queued, %llu done", ps.queued,
		         (unsigned long long)(after - before));
	/* Another pass only if this one got something done: a pass whose
	 * moves all failed waits for the next interval. */
	*again = ps.queued > 0 && after > before;
}

/* When the next scheduled scrub is due (mu held): INT64_MAX for never. No
 * scrub recorded yet: due now, which starts the schedule (scrub_due_run). */
static int64_t scrub_due(const struct tier_engine *e)
{
	if (e->pol.scrub_interval == 0)
		return INT64_MAX;
	if (e->scrub_retry > 0)
		return e->scrub_retry;
	if (e->scrub_last == 0)
		return 0;
	return e->scrub_last + (int64_t)e->pol.scrub_interval;
}

static bool scrub_running_locked(const struct tier_engine *e)
{
	for (size_t i = 0; i < TIER_JOBS_KEPT; i++) {
		const struct job *j = e->jobs[i];
		if (j != NULL && j->state == JOB_RUNNING && j->kind == JOB_SCRUB && j->vid == 0)
			return true;
	}
	return false;
}

#define SCRUB_RETRY_S 60

/* The scheduled scrub is due: start it (mu not held). The first time a
 * schedule is seen it only starts counting: a catalog is not read whole
 * the moment scrub_interval is set. One still running (a scrub longer
 * than the interval) is not doubled: the next starts, at most a minute
 * late, once it has ended. */
static void scrub_due_run(struct tier_engine *e, int64_t now)
{
	uint64_t job, objects, bytes;
	bool first, running;
	char every[32];

	pthread_mutex_lock(&e->mu);
	first = e->scrub_last == 0;
	running = scrub_running_locked(e);
	tier_fmt_duration(every, sizeof(every), e->pol.scrub_interval);
	pthread_mutex_unlock(&e->mu);
	if (first) {
		log_info(MOD, "scrubs of the whole catalog scheduled every %s, the first "
		         "one %s from now", every, every);
		scrub_mark(e, now);
		return;
	}
	if (running || tier_engine_scrub(e, 0, "the catalog (scheduled)", &job, &objects,
	                                 &bytes) != 0) {
		if (running)
			log_info(MOD, "a scrub of the whole catalog is due (every %s) while the "
			         "last one is still running; it starts when that one ends", every);
		else
			log_warn(MOD, "the scheduled scrub could not start (trying again in "
			         "%ds): %s", SCRUB_RETRY_S, cairn_error_msg());
		cairn_error_clear();
		pthread_mutex_lock(&e->mu);
		e->scrub_retry = now + SCRUB_RETRY_S;
		pthread_mutex_unlock(&e->mu);
	}
}

static void *scanner_main(void *arg)
{
	struct tier_engine *e = arg;
	bool again = true;      /* the first pass runs at start */

	pthread_mutex_lock(&e->mu);
	while (!e->stopping) {
		if (!again && !e->kick) {
			uint64_t interval = e->pol.scan_interval ? e->pol.scan_interval : 1;
			int64_t now = tier_now();
			int64_t next = e->last_scan + (int64_t)interval;
			int64_t scrub = scrub_due(e);
			int64_t flush;
			bool access_full;

			pthread_mutex_lock(&e->amu);
			flush = e->last_flush + TIER_ACCESS_FLUSH_S;
			access_full = tier_oidtab_count(e->access) >=
			              tier_oidtab_cap(e->access) * 3 / 4;
			pthread_mutex_unlock(&e->amu);
			if (access_full || now >= flush) {
				pthread_mutex_unlock(&e->mu);
				tier_engine_flush_access(e);
				pthread_mutex_lock(&e->mu);
				continue;
			}
			if (now >= scrub) {
				pthread_mutex_unlock(&e->mu);
				scrub_due_run(e, now);
				pthread_mutex_lock(&e->mu);
				continue;
			}
			if (now < next) {
				struct timespec ts;
				int64_t wake = next < flush ? next : flush;

				if (scrub < wake)
					wake = scrub;
				tier_deadline_in(&ts, (double)(wake - now));
				pthread_cond_timedwait(&e->cv_scan, &e->mu, &ts);
				continue;
			}
		}
		e->kick = false;
		pthread_mutex_unlock(&e->mu);
		scanner_pass(e, &again);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* ---- policy ---- */

static bool is_policy_key(const char *k)
{
	for (size_t i = 0; i < NPOLICY_KEYS; i++)
		if (strcmp(k, policy_keys[i]) == 0)
			return true;
	return false;
}

/* 0, or an error that names k and lists the keys there are. */
static int check_policy_key(const char *k)
{
	char list[256];
	size_t n = 0;

	if (is_policy_key(k))
		return 0;
	for (size_t i = 0; i < NPOLICY_KEYS; i++)
		n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s%s",
		                      i ? ", " : "", policy_keys[i]);
	return cairn_error_set(CAIRN_EINVAL, "'%.64s' is not a tiering policy key (%s)",
	                       k, list);
}

/* base + overrides → eff, validated like the config file. */
static int apply_overrides(struct cairn_config *eff, const struct cairn_config *base,
                           const json_t *overrides)
{
	const char *k;
	json_t *v;
	int rc;

	*eff = *base;
	json_object_foreach((json_t *)overrides, k, v) {
		rc = cairn_config_set(eff, "tiering", k, json_string_value(v));
		if (rc != 0)
			return rc;
	}
	/* What one key cannot check alone (low_watermark above high), as
	 * for the file. */
	return cairn_config_finish(eff);
}

static json_t *rules_json(const struct tier_rule *rules, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char m[TIER_RULE_TEXT_MAX];
		tier_rule_match_text(&rules[i], m, sizeof(m));
		json_array_append_new(a, json_pack("{s:s,s:s}", "match", m, "action",
		                                   tier_rule_action_name(rules[i].action)));
	}
	return a;
}

/* The persisted document: {"overrides": {K: V}, "rules": [{match, action}]}. */
static int store_policy(struct tier_engine *e, const json_t *overrides,
                        const struct tier_rule *rules, size_t nrules,
                        const char *actor, const char *what)
{
	json_t *doc = json_pack("{s:O,s:o}", "overrides", overrides, "rules",
	                        rules_json(rules, nrules));
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc;

	json_decref(doc);
	if (text == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "cannot encode the tiering policy");
	rc = e->ops->policy_store(e->ctx, text, actor, what);
	free(text);
	return rc;
}

/* With mu held: the new effective policy takes over. */
static void install_locked(struct tier_engine *e, const struct cairn_config *eff)
{
	e->eff = *eff;
	tier_policy_from_config(&e->pol, eff);
	tier_bucket_set_rate(&e->bucket, e->pol.bandwidth, tier_now_ns());
	if (e->started && !e->stopping)
		spawn_workers_locked(e);
	/* The scanner recomputes when to wake (scan_interval may have
	 * changed); the new policy applies from its next pass, or from the
	 * next `tier run`, so that a dry run right after a change shows what
	 * that change will do. */
	pthread_cond_signal(&e->cv_scan);
}

static int load_policy(struct tier_engine *e)
{
	json_t *doc = NULL, *ov, *rules;
	json_error_t jerr;
	char *text = NULL;
	struct cairn_config eff;
	size_t i;
	json_t *r;
	int rc;

	e->overrides = json_object();
	rc = e->ops->policy_load(e->ctx, &text);
	if (rc != 0 || text == NULL)
		return rc;
	doc = json_loads(text, 0, &jerr);
	free(text);
	if (doc == NULL)
		return cairn_error_set(CAIRN_ECORRUPT, "the stored tiering policy is "
		                       "unreadable: %s", jerr.text);
	ov = json_object_get(doc, "overrides");
	if (json_is_object(ov)) {
		const char *k;
		json_t *v;
		/* Key by key: an override this config no longer accepts is
		 * reported and skipped rather than keeping catalogd from
		 * starting. */
		eff = e->base;
		json_object_foreach(ov, k, v) {
			if (!is_policy_key(k) || !json_is_string(v)) {
				log_warn(MOD, "stored policy override %s ignored: not a policy "
				         "key with a string value", k);
				continue;
			}
			if (cairn_config_set(&eff, "tiering", k, json_string_value(v)) != 0) {
				log_warn(MOD, "stored policy override %s ignored: %s", k,
				         cairn_error_msg());
				continue;
			}
			json_object_set(e->overrides, k, v);
		}
		/* The watermarks are checked together, as the file's are. */
		if (apply_overrides(&eff, &e->base, e->overrides) != 0) {
			log_warn(MOD, "stored watermark overrides ignored: %s", cairn_error_msg());
			json_object_del(e->overrides, "high_watermark");
			json_object_del(e->overrides, "low_watermark");
		}
	}
	rules = json_object_get(doc, "rules");
	if (json_is_array(rules) && json_array_size(rules) > 0) {
		e->rules = calloc(json_array_size(rules), sizeof(*e->rules));
		if (e->rules == NULL) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		json_array_foreach(rules, i, r) {
			if (tier_rule_parse(&e->rules[e->nrules],
			                    json_string_value(json_object_get(r, "match")),
			                    json_string_value(json_object_get(r, "action"))) != 0) {
				log_warn(MOD, "stored tiering rule %zu ignored: %s", i,
				         cairn_error_msg());
				continue;
			}
			e->nrules++;
		}
	}
	rc = apply_overrides(&eff, &e->base, e->overrides);
	if (rc == 0) {
		e->eff = eff;
		tier_policy_from_config(&e->pol, &eff);
	}
out:
	json_decref(doc);
	return rc;
}

int tier_engine_policy_json(struct tier_engine *e, json_t **out)
{
	json_t *eff = json_object();
	char buf[64];

	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < NPOLICY_KEYS; i++) {
		if (cairn_config_get(&e->eff, policy_keys[i], buf, sizeof(buf)) == 0)
			json_object_set_new(eff, policy_keys[i], json_string(buf));
	}
	*out = json_pack("{s:o,s:O,s:o}", "effective", eff, "overrides", e->overrides,
	                 "rules", rules_json(e->rules, e->nrules));
	pthread_mutex_unlock(&e->mu);
	if (*out == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

void tier_engine_policy_get(struct tier_engine *e, struct tier_policy *out)
{
	tier_snapshot(e, out, NULL, NULL);
}

/* A value as the config file would spell it. */
static int value_text(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else if (json_is_null(v))
		buf[0] = '\0';
	else
		return -1;
	return 0;
}

int tier_engine_policy_set(struct tier_engine *e, const json_t *set, const char *actor)
{
	struct cairn_config eff;
	struct tier_rule *rules = NULL;
	json_t *ov = NULL;
	char what[1024] = "policy set";
	size_t wl = strlen(what), nrules;
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(set) || json_object_size(set) == 0)
		return cairn_error_set(CAIRN_EINVAL, "the body must be {\"set\": {KEY: "
		                       "VALUE, ...}} with at least one key");
	pthread_mutex_lock(&e->pmu);
	pthread_mutex_lock(&e->mu);
	ov = json_deep_copy(e->overrides);
	nrules = e->nrules;
	rules = nrules ? malloc(nrules * sizeof(*rules)) : NULL;
	if (rules != NULL)
		memcpy(rules, e->rules, nrules * sizeof(*rules));
	pthread_mutex_unlock(&e->mu);
	if (ov == NULL || (nrules && rules == NULL)) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	json_object_foreach((json_t *)set, k, v) {
		char text[256];
		rc = check_policy_key(k);
		if (rc != 0)
			goto out;
		if (value_text(v, text, sizeof(text)) != 0) {
			rc = cairn_error_set(CAIRN_EINVAL, "the value of %s must be a string",
			                     k);
			goto out;
		}
		if (text[0] == '\0')
			json_object_del(ov, k);
		else
			json_object_set_new(ov, k, json_string(text));
		wl += (size_t)snprintf(what + wl, wl < sizeof(what) ? sizeof(what) - wl : 0,
		                       " %s=%s", k, text[0] ? text : "(default)");
		if (wl >= sizeof(what))
			wl = sizeof(what) - 1;
	}
	rc = apply_overrides(&eff, &e->base, ov);
	if (rc != 0)
		goto out;
	rc = store_policy(e, ov, rules, nrules, actor, what);
	if (rc != 0)
		goto out;
	pthread_mutex_lock(&e->mu);
	json_decref(e->overrides);
	e->overrides = ov;
	ov = NULL;
	install_locked(e, &eff);
	resume_locked(e, "the policy changed");
	pthread_mutex_unlock(&e->mu);
	log_info(MOD, "%s: %s", actor, what);
out:
	pthread_mutex_unlock(&e->pmu);
	json_decref(ov);
	free(rules);
	return rc;
}

/* Replaces e's rules with rules[0..n) after persisting them. */
static int set_rules(struct tier_engine *e, struct tier_rule *rules, size_t n,
                     const char *actor, const char *what)
{
	json_t *ov;
	int rc;

	pthread_mutex_lock(&e->mu);
	ov = json_deep_copy(e->overrides);
	pthread_mutex_unlock(&e->mu);
	if (ov == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = store_policy(e, ov, rules, n, actor, what);
	json_decref(ov);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&e->mu);
	free(e->rules);
	e->rules = rules;
	e->nrules = n;
	resume_locked(e, "the rules changed");
	pthread_cond_signal(&e->cv_scan);
	pthread_mutex_unlock(&e->mu);
	log_info(MOD, "%s: %s", actor, what);
	return 0;
}

int tier_engine_rule_add(struct tier_engine *e, const char *match, const char *action,
                         const char *actor)
{
	struct tier_rule r, *rules = NULL;
	char what[TIER_RULE_TEXT_MAX + 64];
	size_t n, i;
	int rc;

	rc = tier_rule_parse(&r, match, action);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&e->pmu);
	pthread_mutex_lock(&e->mu);
	n = e->nrules;
	rules = malloc((n + 1) * sizeof(*rules));
	if (rules != NULL && n > 0)
		memcpy(rules, e->rules, n * sizeof(*rules));
	pthread_mutex_unlock(&e->mu);
	if (rules == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	/* One rule per match: adding again changes its action. */
	for (i = 0; i < n; i++)
		if (rules[i].kind == r.kind && strcmp(rules[i].value, r.value) == 0)
			break;
	if (i == n && n >= TIER_RULES_MAX) {
		rc = cairn_error_set(CAIRN_ETOOBIG, "at most %d tiering rules",
		                     TIER_RULES_MAX);
		goto out;
	}
	rules[i] = r;
	snprintf(what, sizeof(what), "rule %s %s", match, action);
	rc = set_rules(e, rules, i == n ? n + 1 : n, actor, what);
	if (rc == 0)
		rules = NULL;
out:
	pthread_mutex_unlock(&e->pmu);
	free(rules);
	return rc;
}

int tier_engine_rule_del(struct tier_engine *e, const char *match, const char *actor)
{
	struct tier_rule *rules = NULL;
	char what[TIER_RULE_TEXT_MAX + 64], m[TIER_RULE_TEXT_MAX];
	size_t n, i, k = 0;
	bool found = false;
	int rc;

	pthread_mutex_lock(&e->pmu);
	pthread_mutex_lock(&e->mu);
	n = e->nrules;
	rules = malloc((n ? n : 1) * sizeof(*rules));
	if (rules != NULL)
		for (i = 0; i < n; i++) {
			tier_rule_match_text(&e->rules[i], m, sizeof(m));
			if (match != NULL && strcmp(m, match) == 0)
				found = true;
			else
				rules[k++] = e->rules[i];
		}
	pthread_mutex_unlock(&e->mu);
	if (rules == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if (!found) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no tiering rule matches '%.64s'",
		                     match ? match : "");
		goto out;
	}
	snprintf(what, sizeof(what), "rule %s removed", match);
	rc = set_rules(e, rules, k, actor, what);
	if (rc == 0)
		rules = NULL;
out:
	pthread_mutex_unlock(&e->pmu);
	free(rules);
	return rc;
}

/* ---- run, explain, status ---- */

int tier_engine_run(struct tier_engine *e, bool dry_run, size_t limit, json_t **plan,
                    bool *started)
{
	struct pass ps = { .dry = true };
	int rc;

	*plan = NULL;
	*started = false;
	if (e->s3 == NULL)
		return cairn_error_set(CAIRN_EINVAL, "no cold tier: [s3] endpoint is not "
		                       "set, so nothing can move");
	if (limit == 0 || limit > PLAN_LIMIT_MAX)
		limit = limit == 0 ? 1000 : PLAN_LIMIT_MAX;
	ps.plan = json_array();
	ps.limit = limit;
	rc = run_pass(e, &ps);
	if (rc != 0) {
		json_decref(ps.plan);
		return rc;
	}
	*plan = ps.plan;
	if (!dry_run && e->s3 != NULL) {
		pthread_mutex_lock(&e->mu);
		resume_locked(e, "tier run");
		e->kick = true;
		*started = e->started && !e->stopping;
		pthread_cond_signal(&e->cv_scan);
		pthread_mutex_unlock(&e->mu);
	}
	return 0;
}

int tier_engine_explain(struct tier_engine *e, const cairn_oid *oid, json_t **out)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct tier_policy pol;
	struct tier_rule *rules = NULL;
	struct tier_pressure pr;
	struct tier_placement pl;
	struct tier_decision d;
	struct tier_object o;
	size_t nrules;
	int rc;

	*out = NULL;
	cairn_oid_fmt(hex, oid);
	rc = e->ops->get(e->ctx, oid, &o);
	if (rc == CAIRN_ENOTFOUND) {
		*out = json_pack("{s:s,s:n,s:s,s:n,s:b,s:n,s:s,s:s}", "id", hex,
		                 "size", "state", "missing", "last_access", "pinned", 0,
		                 "rule", "decision", "keep", "why",
		                 "the catalog has no record of this object (fsck calls "
		                 "it dangling)");
		return 0;
	}
	if (rc != 0)
		return rc;
	rc = tier_snapshot(e, &pol, &rules, &nrules);
	if (rc != 0)
		return rc;
	rc = tier_placement_of(e, oid, rules, nrules, &pl);
	if (rc != 0)
		goto out;
	pool_pressure(e, &pol, &pr);
	struct tier_facts f = { o.state, o.size, o.last_access };
	tier_decide(&d, &pol, &f, &pl, &pr, tier_now());
	if (e->s3 == NULL && (d.action == TIER_MIGRATE || d.action == TIER_RELEASE ||
	                      d.action == TIER_RECALL)) {
		char why[TIER_WHY_MAX];
		snprintf(why, sizeof(why), "no cold tier ([s3] endpoint is not set); "
		         "otherwise: %s %.300s", tier_action_name(d.action), d.why);
		snprintf(d.why, sizeof(d.why), "%s", why);
		d.action = TIER_KEEP;
	}
	*out = json_pack("{s:s,s:I,s:s,s:I,s:b,s:s?,s:s?,s:s,s:s,s:s?,s:I,s:s?,s:i}",
		"id", hex, "size", (json_int_t)o.size,
		"state", cairn_tier_state_name(o.state) ? cairn_tier_state_name(o.state) : "unknown",
		"last_access", (json_int_t)o.last_access,
		"pinned", pl.pinned,
		"pinned_by", pl.pinned ? pl.pinned_by : NULL,
		"rule", pl.rule_action != TIER_RULE_NONE ? pl.rule : NULL,
		"decision", tier_action_name(d.action), "why", d.why,
		"rule_action", pl.rule_action != TIER_RULE_NONE ?
		               tier_rule_action_name(pl.rule_action) : NULL,
		"s3_verified", (json_int_t)o.s3.verified,
		"s3_verify", o.s3.verified == 0 ? NULL :
		             o.s3.verify == CAIRN_VERIFY_READBACK ? "readback" : "checksum",
		"versions", (int)pl.versions);
	if (*out == NULL)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	else
		json_object_set_new(*out, "head",
		                    json_integer((json_int_t)cairn_pool_head_size(e->pool, oid)));
out:
	free(rules);
	return rc;
}

static json_t *tot_json(uint64_t objects, uint64_t bytes)
{
	return json_pack("{s:I,s:I}", "objects", (json_int_t)objects, "bytes", (json_int_t)bytes);
}

int tier_engine_status(struct tier_engine *e, json_t **out)
{
	uint64_t count[CAIRN_TIER_NSTATES], bytes[CAIRN_TIER_NSTATES];
	struct tier_pressure pr;
	struct tier_policy pol;
	json_t *states = json_object(), *errors = json_array(), *s3 = json_null(), *o;
	int64_t now = tier_now();
	size_t running_jobs = 0;

	tier_snapshot(e, &pol, NULL, NULL);
	e->ops->counts(e->ctx, count, bytes);
	pool_pressure(e, &pol, &pr);
	for (int s = 0; s < CAIRN_TIER_NSTATES; s++)
		json_object_set_new(states, cairn_tier_state_name(s), tot_json(count[s], bytes[s]));
	if (e->s3 != NULL) {
		json_decref(s3);
		s3 = json_pack("{s:s,s:s}", "endpoint", e->base.s3_endpoint,
		               "bucket", e->base.s3_bucket);
	}
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < e->nerrors; i++) {
		/* newest first */
		const struct tier_error *er =
			&e->errors[(e->errhead + TIER_ERRORS_KEPT - 1 - i) % TIER_ERRORS_KEPT];
		json_array_append_new(errors, json_pack("{s:I,s:s,s:s,s:s}",
			"time", (json_int_t)er->time, "op", er->op, "object", er->object,
			"message", er->message));
	}
	for (size_t i = 0; i < TIER_JOBS_KEPT; i++)
		running_jobs += e->jobs[i] != NULL && e->jobs[i]->state == JOB_RUNNING;
	const char *reason = e->suspended ? e->suspended_reason :
	                     e->s3 == NULL ? "no cold tier: [s3] endpoint is not set" : NULL;
	o = json_pack("{s:{s:s,s:I,s:I,s:f,s:f,s:f,s:I},s:o,"
	              "s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:i},s:{s:o,s:o,s:o},"
	              "s:b,s:b,s:s?,s:o,s:o,s:I,s:f,s:I,s:b}",
		"pool", "path", cairn_pool_path(e->pool),
		        "capacity", (json_int_t)pr.capacity, "used", (json_int_t)pr.used,
		        "high_watermark", pol.high_watermark, "low_watermark", pol.low_watermark,
		        "used_pct", pr.used_pct, "release_need", (json_int_t)pr.release_need,
		"states", states,
		"queue", "migrate", (json_int_t)e->queued[OP_MIGRATE],
		         "release", (json_int_t)e->queued[OP_RELEASE],
		         "recall", (json_int_t)e->queued[OP_RECALL],
		         "busy", (json_int_t)e->busy,
		"throughput", "migrate_bps", (json_int_t)tier_rate_bps(&e->rate_migrate, now),
		              "recall_bps", (json_int_t)tier_rate_bps(&e->rate_recall, now),
		              "window_s", TIER_RATE_WINDOW,
		"totals", "migrated", tot_json(e->tot_objects[TOT_MIGRATED], e->tot_bytes[TOT_MIGRATED]),
		          "released", tot_json(e->tot_objects[TOT_RELEASED], e->tot_bytes[TOT_RELEASED]),
		          "recalled", tot_json(e->tot_objects[TOT_RECALLED], e->tot_bytes[TOT_RECALLED]),
		"enabled", e->s3 != NULL,
		"suspended", e->suspended || e->s3 == NULL,
		"suspended_reason", reason,
		"errors", errors,
		"s3", s3,
		"last_scan", (json_int_t)e->last_scan,
		"last_scan_seconds", e->last_scan_secs,
		"jobs_running", (json_int_t)running_jobs,
		"scanning", e->scanning);
	if (o != NULL) {
		json_object_set_new(json_object_get(o, "queue"), "scrub",
		                    json_integer((json_int_t)e->queued[OP_SCRUB]));
		int64_t due = scrub_due(e);
		char every[32];

		tier_fmt_duration(every, sizeof(every), pol.scrub_interval);
		json_object_set_new(o, "scrub", json_pack("{s:I,s:I,s:I,s:I,s:s,s:I,s:I}",
			"checked", (json_int_t)e->scrub_checked,
			"repaired", (json_int_t)e->scrub_repaired,
			"damaged", (json_int_t)e->scrub_damaged,
			"interval", (json_int_t)pol.scrub_interval,
			"every", every,
			"last_all", (json_int_t)e->scrub_last,
			"next", (json_int_t)(due == INT64_MAX ? 0 : due)));
		json_object_set_new(o, "urls", json_pack("{s:I,s:I}",
			"ttl", (json_int_t)e->base.s3_presign_ttl,
			"signed", (json_int_t)e->urls_signed));
	}
	pthread_mutex_unlock(&e->mu);
	*out = o;
	if (o == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "cannot build the tiering status");
	return 0;
}

/* ---- life cycle ---- */

int tier_engine_new(struct tier_engine **out, const struct tier_engine_params *p)
{
	struct tier_engine *e;
	int rc;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	e->base = *p->cfg;
	e->eff = *p->cfg;
	e->pool = p->pool;
	e->s3 = p->s3;
	e->ops = p->ops;
	e->ctx = p->ctx;
	pthread_mutex_init(&e->pmu, NULL);
	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->amu, NULL);
	pthread_cond_init(&e->cv_work, NULL);
	pthread_cond_init(&e->cv_space, NULL);
	pthread_cond_init(&e->cv_idle, NULL);
	pthread_cond_init(&e->cv_scan, NULL);
	pthread_cond_init(&e->cv_flight, NULL);
	pthread_cond_init(&e->cv_job, NULL);
	pthread_mutex_init(&e->pmq, NULL);
	pthread_cond_init(&e->cv_pq_items, NULL);
	pthread_cond_init(&e->cv_pq_space, NULL);
	tier_policy_from_config(&e->pol, p->cfg);
	tier_breaker_init(&e->breaker, TIER_BREAKER_WINDOW_S);
	tier_rate_init(&e->rate_migrate);
	tier_rate_init(&e->rate_recall);
	e->last_flush = tier_now();
	e->q = calloc(TIER_QUEUE_MAX, sizeof(*e->q));
	if (e->q == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	rc = tier_oidtab_new(&e->held, TIER_QUEUE_MAX + TIER_MAX_WORKERS);
	if (rc == 0)
		rc = tier_oidtab_new(&e->access, TIER_ACCESS_MAX);
	if (rc == 0)
		rc = load_policy(e);
	if (rc == 0)
		rc = e->ops->scrub_load(e->ctx, &e->scrub_last);
	if (rc != 0)
		goto fail;
	tier_bucket_init(&e->bucket, e->pol.bandwidth, tier_now_ns());
	*out = e;
	return 0;
fail:
	tier_engine_free(e);
	return rc;
}

int tier_engine_recover(struct tier_engine *e)
{
	return tier_recover(e);
}

int tier_engine_start(struct tier_engine *e)
{
	int rc = 0;

	if (e->s3 != NULL) {
		/* The quickstart and tests point at a fresh server; a real
		 * deployment's bucket exists and this is a no-op. */
		if (cairn_s3_ensure_bucket(e->s3) != 0)
			log_warn(MOD, "bucket %s: %s", e->base.s3_bucket, cairn_error_msg());
	}
	pthread_mutex_lock(&e->mu);
	e->started = true;
	/* The first pass starts at once: until it is over, status says a
	 * pass is under way (tests wait for "settled" on this). */
	e->scanning = e->s3 != NULL;
	if (pthread_create(&e->scanner, NULL, scanner_main, e) != 0) {
		rc = cairn_error_set(CAIRN_ENOMEM, "cannot start the tiering scanner");
		goto out;
	}
	e->scanner_started = true;
	if (e->s3 != NULL) {
		if (pthread_create(&e->pooler, NULL, tier_pooler_main, e) != 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "cannot start the tiering pooler");
			goto out;
		}
		e->pooler_started = true;
	}
	spawn_workers_locked(e);
	log_info(MOD, "tiering %s: %u workers, scan every %llus, verify %s%s%s",
	         e->s3 ? "on" : "off (no [s3] endpoint)", e->pol.concurrency,
	         (unsigned long long)e->pol.scan_interval,
	         e->pol.verify == CAIRN_VERIFY_READBACK ? "readback" : "checksum",
	         e->s3 ? ", bucket " : "", e->s3 ? e->base.s3_bucket : "");
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

void tier_engine_stop(struct tier_engine *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	if (!e->started || e->stopping) {
		pthread_mutex_unlock(&e->mu);
		return;
	}
	__atomic_store_n(&e->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&e->cv_work);
	pthread_cond_broadcast(&e->cv_space);
	pthread_cond_broadcast(&e->cv_idle);
	pthread_cond_broadcast(&e->cv_scan);
	pthread_mutex_unlock(&e->mu);

	if (e->scanner_started)
		pthread_join(e->scanner, NULL);
	for (unsigned i = 0; i < e->nworkers; i++)
		pthread_join(e->workers[i], NULL);
	for (size_t i = 0; i < TIER_JOBS_KEPT; i++) {
		if (e->jobs[i] != NULL && !e->jobs[i]->walker_joined) {
			pthread_join(e->jobs[i]->walker, NULL);
			e->jobs[i]->walker_joined = true;
		}
	}
	/* What is still queued was never marked in the catalog: dropping it
	 * leaves nothing to undo. */
	pthread_mutex_lock(&e->mu);
	while (e->qlen > 0) {
		struct task t = e->q[e->qhead];
		e->qhead = (e->qhead + 1) % TIER_QUEUE_MAX;
		e->qlen--;
		e->queued[t.op]--;
		tier_oidtab_del(e->held, &t.oid);
		if (t.job != NULL)
			tier_job_task_done_locked(t.job, &t.oid, false, 0, "stopped");
	}
	pthread_mutex_unlock(&e->mu);
	tier_pooler_stop(e);
	tier_engine_flush_access(e);
	log_info(MOD, "tiering stopped");
}

void tier_engine_free(struct tier_engine *e)
{
	if (e == NULL)
		return;
	tier_engine_stop(e);
	for (size_t i = 0; i < TIER_JOBS_KEPT; i++)
		free(e->jobs[i]);
	json_decref(e->overrides);
	free(e->rules);
	free(e->q);
	tier_oidtab_free(e->held);
	tier_oidtab_free(e->access);
	pthread_cond_destroy(&e->cv_work);
	pthread_cond_destroy(&e->cv_space);
	pthread_cond_destroy(&e->cv_idle);
	pthread_cond_destroy(&e->cv_scan);
	pthread_cond_destroy(&e->cv_flight);
	pthread_cond_destroy(&e->cv_job);
	pthread_cond_destroy(&e->cv_pq_items);
	pthread_cond_destroy(&e->cv_pq_space);
	pthread_mutex_destroy(&e->pmq);
	pthread_mutex_destroy(&e->amu);
	pthread_mutex_destroy(&e->mu);
	pthread_mutex_destroy(&e->pmu);
	free(e);
}

bool tier_engine_enabled(const struct tier_engine *e)
{
	return e->s3 != NULL;
}

/* Whether a read brings a COLD object back to the pool. */
static bool recalls_on_read(struct tier_engine *e)
{
	struct tier_policy pol;

	if (e->s3 == NULL)
		return false;
	tier_snapshot(e, &pol, NULL, NULL);
	return pol.recall_on_read;
}

void tier_prefetch_object(struct tier_engine *e, const struct tier_object *o)
{
	struct task t = { .op = OP_RECALL, .oid = o->oid, .size = o->size };

	if (o->state == CAIRN_TIER_COLD && recalls_on_read(e))
		tier_enqueue_nowait(e, &t);
}

void tier_engine_prefetch(struct tier_engine *e, const cairn_oid *oid)
{
	struct tier_object o;

	/* The policy first: without recall_on_read, no catalog read. */
	if (recalls_on_read(e) && e->ops->get(e->ctx, oid, &o) == 0)
		tier_prefetch_object(e, &o);
}
