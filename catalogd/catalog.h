/* catalog.h — the catalog: its store, its pool, and the rules of changing it.
 *
 * Every change a client can see goes through catalog_publish(): the change's
 * keys, the catalog-wide counters and one audit record go into a single
 * RocksDB batch committed with sync, under the catalog lock. The lock is what
 * makes the audit chain's order the commit order, and what makes the
 * read-modify-write steps of a change (a dataset's next sequence number, the
 * counters) safe against concurrent requests. Hold it only around the final
 * step of a change: reads and staging happen outside it.
 *
 * Versions are built in two steps: catalog_stage_begin() allocates a vid and
 * durably marks it as staging; the commit writes the version's entries under
 * that vid without the lock; the publishing batch deletes the marker. A vid
 * whose marker is still there at startup belonged to a commit cut off by a
 * crash: catalog_open() removes its keys (catalog_stage_abort()).
 */
#ifndef CATALOGD_CATALOG_H
#define CATALOGD_CATALOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "db.h"
#include "keys.h"
#include "manifest.h"
#include "oid.h"
#include "pool.h"
#include "tiering.h"

struct tier_engine;

/* Objects and bytes per tier state (the meta CF's tier/counts). */
struct obj_counts {
	uint64_t count[CAIRN_TIER_NSTATES];
	uint64_t bytes[CAIRN_TIER_NSTATES];
};

struct cat_counters {
	uint64_t next_vid;
	uint64_t next_dsid;
	uint64_t datasets;
	uint64_t versions;
	uint64_t objects;
	uint64_t object_bytes;
};

struct catalog {
	const struct cairn_config *cfg;     /* not owned; outlives the catalog */
	struct db *db;
	cairn_pool *pool;
	uint32_t chunk_size;

	pthread_mutex_t lock;
	/* Under lock: */
	struct cat_counters n;
	uint64_t objects_gen;               /* bumped when objects are recorded */
	uint64_t audit_seq;                 /* last record; 0 = none */
	cairn_oid audit_hash;               /* its hash; zeros before the first */
	int64_t audit_time;
	cairn_hasher *hasher;

	/* Object records change outside catalog changes (tiering moves them,
	 * reads touch them): every read-modify-write of an objects-CF value,
	 * and the per-state counts kept with them, happens under objlock
	 * (catalogd/tierops.c). Order: lock, then objlock. */
	pthread_mutex_t objlock;
	struct obj_counts tier_n;                   /* under objlock */
	uint64_t npins;                             /* under objlock */

	/* The tiering engine (started by main after the catalog opens; NULL
	 * before). Not owned. */
	struct tier_engine *tier;
};

/* Opens the RocksDB catalog under cfg->state_dir/catalog and the pool, loads
 * the counters and the audit chain's head, and removes what interrupted
 * commits left staged. */
int catalog_open(struct catalog **out, const struct cairn_config *cfg);
void catalog_close(struct catalog *c);

void catalog_lock(struct catalog *c);
void catalog_unlock(struct catalog *c);
/* A copy of the counters (takes the lock). */
void catalog_counters(struct catalog *c, struct cat_counters *out);

/* With the lock held: adds the audit record {actor, action, target, detail}
 * and the counters n (NULL: unchanged) to b and commits it with sync. The
 * in-memory chain head and counters move only when the commit succeeded.
 * detail is stolen (NULL: {}). */
int catalog_publish(struct catalog *c, struct db_batch *b,
                    const struct cat_counters *n, const char *actor,
                    const char *action, const char *target, json_t *detail);

/* Allocates a vid and durably records it as staging. */
int catalog_stage_begin(struct catalog *c, uint64_t *vid);
/* Removes every staged key of vid and its marker (sync). Idempotent. */
int catalog_stage_abort(struct catalog *c, uint64_t vid);

/* ---- JSON records (KV_FMT_JSON) ---- */

int catalog_get_json(struct catalog *c, int cf, const void *key, size_t klen,
                     json_t **out);
/* Does not steal rec. */
int catalog_put_json(struct db_batch *b, int cf, const void *key, size_t klen,
                     const json_t *rec);

/* ---- lookups; each sets a message naming what was not found ---- */

struct cat_dataset {
	uint64_t id;
	char name[CAIRN_DATASET_NAME_MAX + 1];
	json_t *rec;            /* the stored record; owned */
};

int catalog_dataset_get(struct catalog *c, const char *name, struct cat_dataset *out);
void catalog_dataset_free(struct cat_dataset *ds);
/* The name of dataset dsid, into buf (CAIRN_DATASET_NAME_MAX + 1 bytes). */
int catalog_dataset_name(struct catalog *c, uint64_t dsid, char *buf);
/* The dataset's latest sequence number, 0 before its first version. */
uint64_t catalog_dataset_latest(const struct cat_dataset *ds);

/* A published version, resolved. */
struct cat_version {
	uint64_t dsid;
	uint64_t seq;
	uint64_t vid;
	uint32_t chunk_size;
	int64_t time;
	json_t *rec;            /* the stored record; owned */
};

/* Resolves a version reference of docs/API.md (sequence, "latest", tag,
 * digest prefix) to a sequence number. */
int catalog_resolve(struct catalog *c, const struct cat_dataset *ds,
                    const char *ref, uint64_t *seq);
/* Loads version seq of ds (CAIRN_ENOTFOUND if there is none). */
int catalog_version_get(struct catalog *c, const struct cat_dataset *ds,
                        uint64_t seq, struct cat_version *out);
/* resolve + get. */
int catalog_version_ref(struct catalog *c, const struct cat_dataset *ds,
                        const char *ref, struct cat_version *out);
void catalog_version_free(struct cat_version *v);

/* The published version vid (the vids CF). */
int catalog_vid_get(struct catalog *c, uint64_t vid, struct kv_vid *out);

/* The catalog's record of an object. */
int catalog_object_get(struct catalog *c, const cairn_oid *oid, struct kv_object *out);

#endif
