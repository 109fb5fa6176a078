/* pool.h — the chunk store on the NVMe pool directory.
 *
 * Layout under the pool path:
 *   ab/cd/<32 hex>   one immutable object, named by its digest
 *   heads/ab/cd/<hex> the first bytes of an object whose copy here was
 *                    released (tiering's keep_head); a cache, see below
 *   tmp/             objects being written; emptied at open (leftovers of a
 *                    crash are never visible under a final name)
 *   POOL             a small file that marks the directory as a cairn pool
 *                    ("cairn-pool 1\n"); open refuses a non-empty directory
 *                    without it.
 *
 * Durability: an object appears under its final name only after its bytes
 * are on stable storage, and a batch's commit returns only after the names
 * are too. Batches amortise the syncs: write every object of the batch to
 * tmp/, syncfs(), rename them all, syncfs() again (git's "batch" fsync).
 * A pool is safe to use from several threads; a batch belongs to one.
 * One process opens a pool at a time (an exclusive flock on the directory;
 * a second open gets CAIRN_ERETRY), so nobody empties tmp/ under a writer.
 * Readers such as cairnfs read object files directly without opening it.
 */
#ifndef CAIRN_POOL_H
#define CAIRN_POOL_H

#include <stddef.h>
#include <stdint.h>
#include "oid.h"
#include "store.h"

typedef struct cairn_pool cairn_pool;

/* Opens (creating if needed) the pool at path and removes tmp/ leftovers. */
int cairn_pool_open(cairn_pool **out, const char *path);
void cairn_pool_close(cairn_pool *p);
const char *cairn_pool_path(const cairn_pool *p);

/* The pool as a generic store (owned by the pool; do not free). */
cairn_store *cairn_pool_store(cairn_pool *p);

/* The object layout "<base>/ab/cd/<hex>", under any base directory: the
 * pool, or a compute node's cache that mirrors it (PATH_MAX is enough). */
void cairn_object_path_at(char *buf, size_t buflen, const char *base,
                          const cairn_oid *oid);
/* Writes "<pool>/ab/cd/<hex>" into buf (PATH_MAX is always enough). */
void cairn_pool_object_path(const cairn_pool *p, const cairn_oid *oid,
                            char *buf, size_t buflen);

/* Size of a present object; CAIRN_ENOTFOUND when absent. */
int cairn_pool_has(cairn_pool *p, const cairn_oid *oid, uint64_t *size);
/* Opens the object read-only; the caller owns *fd and closes it. */
int cairn_pool_open_object(cairn_pool *p, const cairn_oid *oid, int *fd);
/* Reads the whole object and checks its digest: CAIRN_ECORRUPT on mismatch. */
int cairn_pool_verify(cairn_pool *p, const cairn_oid *oid, uint64_t *size);
/* Removes the object (absent is 0). Callers enforce the tiering invariant. */
int cairn_pool_unlink(cairn_pool *p, const cairn_oid *oid);

/* Heads: the first bytes of an object kept when its pool copy is
 * released, so that a first read of a cold file does not wait for S3. A
 * head is a cache: written without a sync and never trusted — whoever
 * serves it checks it against the object's block digests first, so a
 * torn or damaged head is a miss — and dropped when the object is back.
 * _keep copies the first len bytes (fewer for a shorter object) of the
 * object's pool copy, which must be there; _read is as a store's
 * get_range (CAIRN_ENOTFOUND: no head); _drop of an absent head is 0. */
int cairn_pool_head_keep(cairn_pool *p, const cairn_oid *oid, size_t len);
int cairn_pool_head_read(cairn_pool *p, const cairn_oid *oid, uint64_t off, void *buf,
                         size_t len, size_t *nread);
int cairn_pool_head_drop(cairn_pool *p, const cairn_oid *oid);
/* The length of the object's head; 0 when it has none. */
uint64_t cairn_pool_head_size(cairn_pool *p, const cairn_oid *oid);

/* Filesystem capacity and use of the pool (statvfs), in bytes. */
int cairn_pool_usage(cairn_pool *p, uint64_t *capacity, uint64_t *used);

/* Calls fn for every object file under the pool (not tmp/); stops early
 * and returns fn's value when it is non-zero. */
int cairn_pool_foreach(cairn_pool *p,
                       int (*fn)(void *ctx, const cairn_oid *oid, uint64_t size),
                       void *ctx);
/* The same for every head (size: the head's length). */
int cairn_pool_foreach_head(cairn_pool *p,
                            int (*fn)(void *ctx, const cairn_oid *oid, uint64_t size),
                            void *ctx);

/* A batch of objects written together and made durable by one commit.
 * Objects are streamed in: begin(oid, size), write()..., end(); end checks
 * that exactly size bytes arrived and that they hash to oid
 * (CAIRN_ECORRUPT / CAIRN_EINVAL otherwise; the object is dropped, the batch
 * stays usable). CAIRN_ENOSPC when the pool is full: nothing partial
 * remains visible. _free unlinks whatever was not committed. A batch holds
 * at most CAIRN_POOL_BATCH_MAX objects; begin returns CAIRN_ETOOBIG past
 * that, and the caller commits and starts a new batch. */
#define CAIRN_POOL_BATCH_MAX 4096
typedef struct cairn_pool_batch cairn_pool_batch;
int cairn_pool_batch_new(cairn_pool *p, cairn_pool_batch **out);
int cairn_pool_batch_begin(cairn_pool_batch *b, const cairn_oid *oid, uint64_t size);
int cairn_pool_batch_write(cairn_pool_batch *b, const void *data, size_t len);
int cairn_pool_batch_end(cairn_pool_batch *b);
/* begin + write + end in one call. */
int cairn_pool_batch_add(cairn_pool_batch *b, const cairn_oid *oid,
                         const void *data, size_t len);
/* The same, for bytes the caller has just hashed to oid itself (a recall
 * checks every object it fetches): not hashed a second time. */
int cairn_pool_batch_add_checked(cairn_pool_batch *b, const cairn_oid *oid,
                                 const void *data, size_t len);
/* Number of objects staged (ended successfully) and the i-th one. */
size_t cairn_pool_batch_count(const cairn_pool_batch *b);
const cairn_oid *cairn_pool_batch_oid(const cairn_pool_batch *b, size_t i, uint64_t *size);
/* Makes every staged object durable under its final name. */
int cairn_pool_batch_commit(cairn_pool_batch *b);
void cairn_pool_batch_free(cairn_pool_batch *b);

#endif
