/* engine_int.h — the engine's private state, shared by engine.c (threads,
 * queue, scanner, policy, status, jobs) and move.c (the moves themselves,
 * single-flight fetches, crash recovery). Not for use outside tiering/.
 *
 * Locking: one mutex, mu, guards everything below except the access table
 * (amu: reads note accesses often and must not wait behind the scanner)
 * and policy writes (pmu: held across validate + persist + swap so two
 * concurrent `policy set`s cannot lose each other's keys), and the
 * pooler's queue (pmq). Order: pmu, then mu, then amu (the scanner looks
 * at the access table with mu held); pmq is never held with another. No
 * S3 call, pool I/O or catalog write is ever made with mu held.
 */
#ifndef CAIRN_TIER_ENGINE_INT_H
#define CAIRN_TIER_ENGINE_INT_H

#include <pthread.h>

#include "access.h"
#include "engine.h"
#include "throttle.h"

#define TIER_MAX_WORKERS 256
#define TIER_QUEUE_MAX 4096
#define TIER_ERRORS_KEPT 20
#define TIER_JOBS_KEPT 64
#define TIER_FLIGHT_BUCKETS 64
#define TIER_ACCESS_MAX 65536
#define TIER_ACCESS_FLUSH_S 60          /* coalescing period of access times */
#define TIER_BREAKER_WINDOW_S 300
#define TIER_BREAKER_MIN_ATTEMPTS 10

enum task_op {
	OP_MIGRATE = 0,
	OP_RELEASE = 1,
	OP_RECALL = 2,          /* fetch from S3, then the pooler writes it */
	OP_SCRUB = 3,           /* check every copy, repair from a good one */
	OP_COUNT
};

struct flight;
struct job;

struct task {
	int op;
	cairn_oid oid;
	uint64_t size;
	bool then_release;      /* OP_MIGRATE of an archive_now object */
	bool background;        /* a policy move: counts for the breaker, and
	                         * is dropped while suspended */
	struct job *job;        /* OP_RECALL of a recall job */
};

/* One S3 GET shared by every reader of an object (single flight). It stays
 * findable while its bytes are being written to the pool, so readers that
 * arrive meanwhile get them without another GET. */
struct flight {
	cairn_oid oid;
	uint64_t size;
	int refs;
	bool done;
	bool in_table;
	int rc;
	char msg[256];
	uint8_t *buf;
	struct flight *next;
};

enum job_state { JOB_RUNNING = 0, JOB_DONE = 1, JOB_FAILED = 2 };
enum job_kind { JOB_RECALL = 0, JOB_SCRUB = 1 };

#define TIER_JOB_BAD_KEPT 32    /* objects a job names among its failures */

struct job_bad {
	char object[CAIRN_OID_HEXLEN + 1];
	char message[256];
};

struct job {
	uint64_t id;
	int kind;
	char label[256];
	uint64_t vid;           /* 0: every object of the catalog (a scrub) */
	uint64_t objects, bytes;
	uint64_t done_objects, done_bytes, failed;
	uint64_t repaired;      /* a scrub: objects given back a good copy */
	struct job_bad bad[TIER_JOB_BAD_KEPT];
	size_t nbad;
	unsigned pending;       /* tasks queued or running */
	bool feeding;           /* the walker is still queueing */
	int state;
	char message[256];
	int64_t started, finished;
	pthread_t walker;
	bool walker_joined;
	struct tier_engine *e;
};

/* Recalled objects are written to the pool by one thread, the pooler, in
 * groups: a pool batch costs two syncs whatever it holds, and a group's
 * state changes are one catalog batch each, so workers keep fetching from
 * S3 while the pooler makes the previous objects durable (move.c). The
 * queue holds fetched objects in memory: it is short. */
#define TIER_POOLQ_MAX 16

struct pool_item {
	struct flight *flight;  /* holds a reference */
	struct job *job;
	bool background;
	int rc;
	char msg[256];
};

struct tier_error {
	int64_t time;
	char op[16];
	char object[CAIRN_OID_HEXLEN + 1];
	char message[256];
};

struct tier_engine {
	struct cairn_config base;       /* the file's config */
	cairn_pool *pool;
	cairn_s3 *s3;
	const struct tier_catalog_ops *ops;
	void *ctx;

	pthread_mutex_t pmu;
	pthread_mutex_t mu;
	pthread_cond_t cv_work;         /* a task was queued, or workers change */
	pthread_cond_t cv_space;        /* the queue has room */
	pthread_cond_t cv_idle;         /* a task finished */
	pthread_cond_t cv_scan;         /* wake the scanner */
	pthread_cond_t cv_flight;       /* a flight landed */
	pthread_cond_t cv_job;          /* a job ended */

	/* Under mu: */
	struct cairn_config eff;        /* base + overrides */
	struct tier_policy pol;
	json_t *overrides;              /* {K: V} */
	struct tier_rule *rules;
	size_t nrules;

	struct task *q;                 /* ring of TIER_QUEUE_MAX */
	size_t qhead, qlen;
	size_t queued[OP_COUNT];
	size_t busy;                    /* tasks being performed */
	struct tier_oidtab *held;       /* objects queued or being moved */

	pthread_t scanner;
	bool scanner_started;
	pthread_t workers[TIER_MAX_WORKERS];
	unsigned nworkers;
	bool started, stopping, kick;

	bool suspended;
	char suspended_reason[512];
	int suspend_code;
	struct tier_breaker breaker;
	struct tier_bucket bucket;
	struct tier_rate rate_migrate, rate_recall;
	uint64_t tot_objects[3], tot_bytes[3];  /* migrated, released, recalled */
	uint64_t scrub_checked, scrub_repaired, scrub_damaged;  /* objects */
	uint64_t urls_signed;           /* tier_engine_presign */
	int64_t scrub_last;             /* start of the last scrub of all (0: none) */
	int64_t scrub_retry;            /* a scheduled scrub that could not start:
	                                 * not before this */
	struct tier_error errors[TIER_ERRORS_KEPT];
	size_t nerrors, errhead;
	int64_t last_scan;
	double last_scan_secs;
	bool scanning;                  /* a pass (and its moves) is under way */

	struct flight *flights[TIER_FLIGHT_BUCKETS];

	/* The pooler (under pmq, its own lock: it is never held with mu). */
	pthread_mutex_t pmq;
	pthread_cond_t cv_pq_items, cv_pq_space;
	struct pool_item pq[TIER_POOLQ_MAX];
	size_t pq_head, pq_len;
	bool pq_stopping;
	pthread_t pooler;
	bool pooler_started;

	struct job *jobs[TIER_JOBS_KEPT];
	uint64_t next_job;

	/* Under amu: */
	pthread_mutex_t amu;
	struct tier_oidtab *access;
	int64_t last_flush;
};

enum { TOT_MIGRATED = 0, TOT_RELEASED = 1, TOT_RECALLED = 2 };

/* ---- engine.c, for move.c ---- */

int64_t tier_now(void);
int64_t tier_now_ns(void);
/* *ts = now + seconds on CLOCK_REALTIME, for pthread_cond_timedwait. */
void tier_deadline_in(struct timespec *ts, double seconds);
bool tier_stopping(struct tier_engine *e);
/* Copies of the policy and rules (the caller frees *rules). */
int tier_snapshot(struct tier_engine *e, struct tier_policy *pol,
                  struct tier_rule **rules, size_t *nrules);
/* Logs the failure and keeps it for status. */
void tier_note_error(struct tier_engine *e, const char *op, const cairn_oid *oid,
                     const char *msg);
/* Feeds the breaker (background moves only) and suspends when it trips. */
void tier_note_outcome(struct tier_engine *e, bool ok, int code);
/* Waits for the bandwidth budget of n bytes (or only spends it, wait =
 * false, for reads a person is waiting on). */
void tier_throttle(struct tier_engine *e, uint64_t n, bool wait);
/* The placement of oid over the versions holding it (rules and pins). */
int tier_placement_of(struct tier_engine *e, const cairn_oid *oid,
                      const struct tier_rule *rules, size_t nrules,
                      struct tier_placement *pl);
/* Queues a task without waiting: false when the queue is full or oid is
 * already in hand. */
bool tier_enqueue_nowait(struct tier_engine *e, const struct task *t);

/* ---- move.c ---- */

/* The moves; buf/cap is the worker's buffer (grown as needed). Each
 * returns 0 when done or nothing was left to do, else the failure;
 * tier_recall returns TIER_DEFERRED when it handed the object to the
 * pooler, which then reports the outcome (breaker, job) itself. */
#define TIER_DEFERRED 1
int tier_migrate(struct tier_engine *e, const struct task *t, uint8_t **buf, size_t *cap);
int tier_release(struct tier_engine *e, const cairn_oid *oid, uint8_t **buf, size_t *cap);
int tier_recall(struct tier_engine *e, const struct task *t);
/* Checks each copy of t->oid against its digest and replaces a damaged or
 * missing one from a good one; *repaired says whether it did. Returns
 * CAIRN_ECORRUPT when no good copy is left. */
int tier_scrub(struct tier_engine *e, const struct task *t, uint8_t **buf, size_t *cap,
               bool *repaired);
int tier_recover(struct tier_engine *e);
/* The pooler thread, and how it is stopped (after the workers: it
 * finishes what they handed it). */
void *tier_pooler_main(void *arg);
void tier_pooler_stop(struct tier_engine *e);
/* With mu held: a job's task on oid ended; msg: why, when it failed. */
void tier_job_task_done_locked(struct job *j, const cairn_oid *oid, bool ok,
                               uint64_t bytes, const char *msg);

void tier_flight_put(struct tier_engine *e, struct flight *f);
/* tier_engine_prefetch for an object whose record the caller has. */
void tier_prefetch_object(struct tier_engine *e, const struct tier_object *o);
/* Removes f from the table (so the next reader fetches anew). */
void tier_flight_unlink(struct tier_engine *e, struct flight *f);

#endif
