/* engine.h — the tiering engine: moves objects between the pool and S3.
 *
 * A library that catalogd runs on its own threads: one scanner that wakes
 * every scan_interval (or when kicked by `cairn tier run`), decides for
 * every object with tier_decide() (policy.h), and queues moves; a pool of
 * `concurrency` workers that perform them (migrate, release, recall) under
 * a bandwidth limit; and an error-rate breaker that suspends background
 * moves when too many fail. Reads of objects that are only in S3 come in
 * through tier_engine_fetch_view(): one S3 GET per object however many readers
 * ask at once, checked against the object's digest before anyone gets a
 * byte.
 *
 * The engine knows nothing of datasets, versions or RocksDB. It speaks to
 * the catalog through struct tier_catalog_ops, which catalogd implements
 * in one glue file; to the pool through lib/pool.h and to S3 through
 * lib/s3.h. Every state change is ops->transition(): a durable
 * compare-and-set that the catalog checks with cairn_tier_transition_ok().
 *
 * Life cycle: tier_engine_new() → tier_engine_recover() (before anything
 * reads the catalog's object states: rolls every in-flight state back or
 * forward, invariant 4 in tiering.c) → tier_engine_start() →
 * ... → tier_engine_stop() → tier_engine_free(). Without an S3 store the
 * engine still runs (it records access times and recovers states) but
 * moves nothing, and says so in its status.
 *
 * Every function returns 0 or a CAIRN_E* code with the thread's message set.
 */
#ifndef CAIRN_TIER_ENGINE_H
#define CAIRN_TIER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "oid.h"
#include "policy.h"
#include "pool.h"
#include "s3.h"
#include "tiering.h"

/* ---- what the catalog records about an object ---- */

#define TIER_ETAG_MAX 80

/* How the S3 copy was verified: recorded with the state that claims it. */
struct tier_s3_facts {
	int64_t verified;               /* when; 0 = no verified S3 copy */
	int verify;                     /* enum cairn_verify used */
	bool has_md5;
	uint8_t md5[16];                /* computed by cairn while sending */
	char etag[TIER_ETAG_MAX];       /* the server's ETag, unquoted */
	/* The digest of each block (lib/oid.h), from the bytes sent; recorded
	 * with the move to DUAL. nblocks 0: none (one block or less). */
	uint32_t nblocks;
	uint8_t block_log2;
	const uint64_t *blocks;         /* not owned */
};

struct tier_object {
	cairn_oid oid;
	int state;                      /* enum cairn_tier_state; -1 = no record */
	uint64_t size;
	int64_t created;
	int64_t last_access;
	struct tier_s3_facts s3;
};

/* ---- the catalog, as the engine sees it ----
 * Implemented by catalogd (catalogd/tierops.c). Every callback may be
 * called from any engine thread at once. */
struct tier_catalog_ops {
	/* Up to max objects with ids after *after (NULL: from the first),
	 * in id order; *n < max only at the end. */
	int (*scan)(void *ctx, const cairn_oid *after, struct tier_object *out,
	            size_t max, size_t *n);
	/* One object; CAIRN_ENOTFOUND when the catalog has no record. */
	int (*get)(void *ctx, const cairn_oid *oid, struct tier_object *out);
	/* Durably moves oid from `from` to `to` if and only if it is in
	 * `from` now (CAIRN_ERETRY otherwise: someone else moved it), and
	 * the move is legal (cairn_tier_transition_ok; CAIRN_EINVAL if not).
	 * facts, when not NULL, replace the recorded S3 facts (entering DUAL
	 * from MIGRATING); NULL keeps them. Returns once the change is on
	 * stable storage. */
	int (*transition)(void *ctx, const cairn_oid *oid, int from, int to,
	                  const struct tier_s3_facts *facts);
	/* transition() of many objects in one durable batch (recalls are
	 * written to the pool in groups). rcs[i]: 0 when oids[i] moved,
	 * CAIRN_ERETRY when it was not in `from` (or is named twice), else
	 * the refusal. Returns non-zero only when the batch itself failed, and
	 * then nothing moved. */
	int (*transition_many)(void *ctx, const cairn_oid *oids, size_t n, int from,
	                       int to, int *rcs);
	/* Up to max objects in an in-flight state (MIGRATING, RELEASING,
	 * RECALLING), from an index: no scan of every object. */
	int (*in_flight)(void *ctx, struct tier_object *out, size_t max, size_t *n);
	/* Calls fn for each published version that holds oid (fn's non-zero
	 * return stops and is returned). */
	int (*versions)(void *ctx, const cairn_oid *oid,
	                int (*fn)(void *arg, const struct tier_version_ref *v), void *arg);
	/* Whether any version is pinned (placement is skipped when no pin
	 * and no rule can apply). */
	bool (*has_pins)(void *ctx);
	/* Up to max distinct objects of version vid after *after (NULL: from
	 * the first), with their records (state -1 when an object has none). */
	int (*version_objects)(void *ctx, uint64_t vid, const cairn_oid *after,
	                       struct tier_object *out, size_t max, size_t *n);
	/* Raises the recorded last access of each object to times[i] (never
	 * lowers it). Not synced: access times are hints. */
	int (*touch)(void *ctx, const cairn_oid *oids, const int64_t *times, size_t n);
	/* Objects and bytes per state, exact (kept with every state change). */
	void (*counts)(void *ctx, uint64_t count[CAIRN_TIER_NSTATES],
	               uint64_t bytes[CAIRN_TIER_NSTATES]);
	/* The persisted policy document (NULL when none was ever stored);
	 * the caller frees it. */
	int (*policy_load)(void *ctx, char **json);
	/* Persists the policy document, with an audit record of actor and
	 * what changed (a short sentence). */
	int (*policy_store)(void *ctx, const char *json, const char *actor,
	                    const char *what);
	/* When the last scrub of the whole catalog started (scheduled or
	 * not): 0 when none is recorded. scrub_store records it durably. */
	int (*scrub_load)(void *ctx, int64_t *started);
	int (*scrub_store)(void *ctx, int64_t started);
};

struct tier_engine_params {
	const struct cairn_config *cfg;   /* the file's config: copied */
	cairn_pool *pool;                 /* not owned */
	cairn_s3 *s3;                     /* not owned; NULL = no cold tier */
	const struct tier_catalog_ops *ops;
	void *ctx;
};

struct tier_engine;

/* Loads the persisted policy; starts no thread. */
int tier_engine_new(struct tier_engine **out, const struct tier_engine_params *p);
/* Invariant 4: every object found MIGRATING goes back to HOT, RELEASING
 * to DUAL (pool copy intact) or COLD, RECALLING to DUAL (pool copy
 * complete and verified) or COLD. Call before start and before serving. */
int tier_engine_recover(struct tier_engine *e);
int tier_engine_start(struct tier_engine *e);
/* Stops the threads: moves in progress finish their current step and end
 * in a state that recovery handles; queued ones are dropped (they were
 * never marked). Flushes access times. Idempotent. */
void tier_engine_stop(struct tier_engine *e);
void tier_engine_free(struct tier_engine *e);

/* Whether there is a cold tier (an S3 store) at all. */
bool tier_engine_enabled(const struct tier_engine *e);
/* A copy of the effective policy. */
void tier_engine_policy_get(struct tier_engine *e, struct tier_policy *out);

/* ---- admin ---- */

/* GET /v1/tier/status (docs/API.md). */
int tier_engine_status(struct tier_engine *e, json_t **out);
/* {"effective", "overrides", "rules"} (catalogd adds "pins"). */
int tier_engine_policy_json(struct tier_engine *e, json_t **out);
/* Applies {K: V} over the overrides ([tiering] keys only; a null or ""
 * value removes an override), validated like the config file, persisted,
 * effective at once. Resumes a suspended engine. */
int tier_engine_policy_set(struct tier_engine *e, const json_t *set, const char *actor);
int tier_engine_rule_add(struct tier_engine *e, const char *match, const char *action,
                         const char *actor);
/* CAIRN_ENOTFOUND when no rule has this match. */
int tier_engine_rule_del(struct tier_engine *e, const char *match, const char *actor);
/* The plan (what would move and why, at most limit items) from the same
 * pass the scanner runs. Not a dry run: also resumes a suspended engine
 * and wakes the scanner; *started tells whether a pass will run. */
int tier_engine_run(struct tier_engine *e, bool dry_run, size_t limit, json_t **plan,
                    bool *started);
/* One object for `tier explain`: {"id", "size", "state", "last_access",
 * "pinned", "rule", "decision", "why"}. */
int tier_engine_explain(struct tier_engine *e, const cairn_oid *oid, json_t **out);

/* Recalls every COLD object of version vid (label names it in status and
 * logs) in the background; *objects and *bytes count what will be
 * recalled. */
int tier_engine_recall_version(struct tier_engine *e, uint64_t vid, const char *label,
                               uint64_t *job, uint64_t *objects, uint64_t *bytes);
/* A scrub of version vid (0: of every object in the catalog): each copy of
 * each object is read and checked against its digest, and a damaged or
 * missing copy is replaced from a good one (a job, like a recall). */
int tier_engine_scrub(struct tier_engine *e, uint64_t vid, const char *label,
                      uint64_t *job, uint64_t *objects, uint64_t *bytes);
/* Queues a check and repair of one object (a reader found a damaged copy);
 * does nothing when the queue is full or the object is already in hand. */
void tier_engine_repair(struct tier_engine *e, const cairn_oid *oid);
/* GET /v1/tier/jobs/{id}; CAIRN_ENOTFOUND for an unknown or forgotten job.
 * wait_ms > 0: a running job is answered when it ends or after wait_ms. */
int tier_engine_job_json(struct tier_engine *e, uint64_t job, unsigned wait_ms,
                         json_t **out);

/* ---- reads ---- */

/* Brings a COLD object back to the pool (one S3 GET however many ask, as
 * for tier_engine_fetch_view) and returns once the pool copy is durable and the
 * object DUAL: for a reader on this host that reads the pool itself.
 * CAIRN_EPERM when it will not be in the pool: recall_on_read is off,
 * there is no cold tier, or the pool write failed (full); the reader
 * should fetch the bytes instead. 0 at once for an object that is in the
 * pool already; other errors are the S3 read's. */
int tier_engine_recall_wait(struct tier_engine *e, const cairn_oid *oid);

/* The object's bytes (size of them, its recorded size) from S3, verified
 * against oid, as a read-only view of the fetched buffer: no copy, however
 * many readers share it. CAIRN_ECORRUPT if S3 holds something else (never
 * returned to the caller), CAIRN_ERETRY if S3 is unreachable past its
 * timeout, CAIRN_EIO without a cold tier. Concurrent callers for one object
 * share one GET. With recall_on_read, a COLD object is then written back to
 * the pool (DUAL) in the background. Release the view with
 * tier_view_release. */
struct tier_view;
int tier_engine_fetch_view(struct tier_engine *e, const cairn_oid *oid, uint64_t size,
                           struct tier_view **out);
const void *tier_view_bytes(const struct tier_view *v);
void tier_view_release(struct tier_view *v);
/* Fills buf with bytes [off, off + len) of the object's S3 copy, checked
 * block by block: off is a multiple of 2^log2, len whole blocks (the last
 * one may be short, at the object's end) and digests[i] the digest of
 * block i of the range (cairn_block_digests). Errors as tier_engine_fetch_view;
 * a range GET each time (no single flight), nothing written to the pool. */
int tier_engine_fetch_blocks(struct tier_engine *e, const cairn_oid *oid, uint64_t off,
                             void *buf, size_t len, unsigned log2,
                             const uint64_t *digests);
/* A presigned URL from which a reader fetches a COLD object's bytes from
 * S3 itself (cairn_s3_presign, valid for [s3] presign_ttl, with the host
 * [s3] public_endpoint when set), so that catalogd is not on the data path.
 * Given only for objects whose bytes are only in S3 (COLD, RECALLING,
 * RELEASING); for the others `given` is false and the reader reads through
 * catalogd. The reader must check the bytes against the object's digest:
 * the S3 server's word is not enough. The object is noted as accessed and,
 * under recall_on_read, a COLD one is queued for recall as a read through
 * catalogd would. CAIRN_EPERM when no URLs are given (no cold tier, or
 * presign_ttl = 0); CAIRN_ENOTFOUND for an object the catalog does not
 * record. The URL is a credential for that object: never log it. */
struct tier_url {
	bool given;                     /* url and expires are set */
	int state;                      /* enum cairn_tier_state */
	uint64_t size;
	int64_t expires;                /* seconds since the epoch */
	char url[CAIRN_S3_URL_MAX];
};
int tier_engine_presign(struct tier_engine *e, const cairn_oid *oid, struct tier_url *out);

/* Queues a background recall of a COLD object a reader is likely to want
 * next (sequential reads); drops it when the queue is busy. */
void tier_engine_prefetch(struct tier_engine *e, const cairn_oid *oid);
/* Notes that an object was read at time t (coalesced in memory, written
 * to the catalog at most about once a minute per object). */
void tier_engine_accessed(struct tier_engine *e, const cairn_oid *oid, int64_t t);
/* Writes the noted access times to the catalog now. */
int tier_engine_flush_access(struct tier_engine *e);

#endif
