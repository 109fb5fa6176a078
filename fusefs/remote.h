/* remote.h — what cairnfs asks catalogd, as typed calls.
 *
 * Each FUSE worker thread gets its own cairn_client (clients are not
 * thread-safe) the first time it asks something; the client, and the
 * connection it keeps open, goes away with the thread. Every call returns
 * 0 or a CAIRN_E* code with the thread's message set, never an errno: the
 * conversion happens once, in fs.c.
 *
 * Listings are paginated and delivered through a callback one item at a
 * time, so a caller never holds more than one page of the catalog; the
 * cursor for the next page comes back malloc'd (NULL at the end). A
 * callback that returns non-zero stops the listing: that value is returned
 * (a positive one means "enough", not an error) and no cursor is given.
 */
#ifndef CAIRNFS_REMOTE_H
#define CAIRNFS_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "inode.h"
#include "oid.h"

/* Entries a page of children holds; the API caps pages at 10000. */
#define CFS_PAGE_LIMIT 1000
/* Object ids fetched per request and kept by an open file. */
#define CFS_OBJ_WINDOW 1024

/* Seconds any request to catalogd may take (cairnfs --timeout). */
#define CFS_DEFAULT_TIMEOUT 30

/* Where catalogd is; set once before any worker thread runs. */
int cfs_remote_init(const char *addr);
/* Bounds every later request (<= 0: the default); set before the session. */
void cfs_remote_set_timeout(long seconds);
long cfs_remote_timeout(void);
void cfs_remote_shutdown(void);
/* Frees the calling thread's client, e.g. before fork(). */
void cfs_remote_release(void);
/* The calling thread's client (created on first use), set to the request
 * timeout (cfs_remote_set_timeout). */
int cfs_remote_client(cairn_client **out);

struct cfs_status {
	uint64_t chunk_size;
	char pool_path[4096];
	uint64_t fs_size, fs_used;
	uint64_t objects;
};
int cfs_remote_status(struct cfs_status *out);

/* ---- Filesystem view (/v1/fs) ---------------------------------------- */

/* GET /v1/fs/{vid}/{ino}. target (may be NULL) receives a symlink's target,
 * malloc'd, or NULL for other types. */
int cfs_remote_entry(struct cfs_entry *out, char **target, uint32_t vid, uint32_t ino);
/* GET /v1/fs/{vid}/{dir}/lookup?name=. CAIRN_ENOTFOUND when absent. */
int cfs_remote_lookup(struct cfs_entry *out, uint32_t vid, uint32_t dir, const char *name);

typedef int (*cfs_child_fn)(void *ctx, const char *name, const struct cfs_entry *e);
/* One page of a directory's children, sorted by name, after `after`
 * (NULL = from the start). *next gets the cursor or NULL at the end. */
int cfs_remote_children(uint32_t vid, uint32_t dir, const char *after, unsigned limit,
                        cfs_child_fn fn, void *ctx, char **next);

/* Up to `limit` object ids of a file from index `from` into ids[];
 * *n is how many arrived, *total the file's count, *chunk_size its
 * version's chunk size. */
int cfs_remote_objects(cairn_oid *ids, size_t *n, uint64_t *total, uint64_t *chunk_size,
                       uint32_t vid, uint32_t ino, uint64_t from, unsigned limit);

/* ---- Catalog ------------------------------------------------------------ */

struct cfs_dataset {
	int64_t created;
	uint64_t latest;     /* 0 when the dataset has no version yet */
};
/* GET /v1/datasets/{name}; CAIRN_ENOTFOUND when there is none. */
int cfs_remote_dataset(struct cfs_dataset *out, const char *name);

typedef int (*cfs_dataset_fn)(void *ctx, const char *name, int64_t created);
/* One page of datasets sorted by name, after `after` (NULL = first). */
int cfs_remote_datasets(const char *after, unsigned limit, cfs_dataset_fn fn, void *ctx,
                        char **next);
/* Whether some dataset "ns/..." exists. */
int cfs_remote_namespace_exists(const char *ns, int *exists);

/* GET .../-/versions/{ref}?tiers=0 → *out (and records it in the table). */
int cfs_remote_version(struct cfs_version *out, const char *dataset, const char *ref);

typedef int (*cfs_version_fn)(void *ctx, const struct cfs_version *v);
/* One page of versions, newest first, before seq `before` (0 = newest).
 * *next is the seq cursor of the next page, 0 at the end. Each version is
 * recorded in the version table before fn sees it. */
int cfs_remote_versions(const char *dataset, uint64_t before, unsigned limit,
                        cfs_version_fn fn, void *ctx, uint64_t *next);

typedef int (*cfs_tag_fn)(void *ctx, const char *tag, uint64_t seq);
int cfs_remote_tags(const char *dataset, cfs_tag_fn fn, void *ctx);

/* ---- Objects ---------------------------------------------------------- */

/* GET /v1/objects/{id}/info → state ("hot", "dual", "cold", ...). */
int cfs_remote_object_state(char *state, size_t len, const cairn_oid *oid);

/* Ids per POST /v1/objects/info request. */
#define CFS_INFO_BATCH 1000

typedef int (*cfs_state_fn)(void *ctx, const cairn_oid *oid, const char *state);
/* POST /v1/objects/info for up to CFS_INFO_BATCH ids: fn sees each object
 * catalogd describes, with its state name. A catalogd without the endpoint
 * answers CAIRN_ENOTFOUND. */
int cfs_remote_objects_info(const cairn_oid *ids, size_t n, cfs_state_fn fn, void *ctx);

/* POST /v1/objects/accessed: these objects were just read from the pool. */
int cfs_remote_objects_accessed(const cairn_oid *ids, size_t n);

/* GET /v1/objects/{id}, the raw bytes streamed to sink. A cold object is
 * fetched from S3 by catalogd first; the whole request is bounded by the
 * timeout. */
int cfs_remote_object_get(const cairn_oid *oid, cairn_client_sink sink, void *ctx);
/* GET /v1/objects/{id}/url: for an object whose bytes are only in S3, a
 * presigned URL (at most CAIRN_S3_URL_MAX bytes, s3.h, with its NUL) into url and
 * *given true; *given false for an object read through catalogd (it has a
 * pool copy). CAIRN_EPERM when catalogd hands out no URLs. */
int cfs_remote_object_url(char *url, size_t len, bool *given, const cairn_oid *oid);
/* GET of such a URL on the thread's client (cairn_client_fetch). */
int cfs_remote_fetch_url(const char *url, cairn_client_sink sink, void *ctx);
/* Asks catalogd to bring a cold object back to the pool and waits until it
 * is there (POST /v1/objects/{id}/recall): for a client that reads the
 * pool itself. CAIRN_EPERM when the policy does not recall on read. */
int cfs_remote_object_recall(const cairn_oid *oid);

/* GET /v1/objects/{id}/blocks?offset=&length=: the checked blocks that
 * cover the range, after their digests (docs/API.md), streamed to sink. */
int cfs_remote_object_blocks(const cairn_oid *oid, uint64_t off, uint64_t len,
                             cairn_client_sink sink, void *ctx);

#endif
