/* objects.h — where cairnfs finds the bytes of an object.
 *
 * In order: the pool directory, when it is on this host (read in place,
 * never written); the local cache directory; for an object whose bytes are
 * only in S3, S3 itself, with a URL catalogd signs for that object (GET
 * /v1/objects/{id}/url), so that catalogd is not on the data path;
 * catalogd, which sends the object's bytes (GET /v1/objects/{id}), fetching
 * a cold object from S3 first. A direct read that fails (S3 unreachable
 * from here, the URL refused, bytes that fail their digest) is tried again
 * through catalogd, which logs and counts what it finds, unless it timed
 * out: a read never waits twice its timeout. A download goes to a temporary file in the cache directory and is
 * checked against the object's digest and size before any reader gets a
 * descriptor on it; a mismatch is CAIRN_ECORRUPT and a log line naming the
 * object, and those bytes are never served. Only then is the file made
 * durable and renamed to its final name: a file under a final name in the
 * cache always holds verified bytes.
 *
 * One download per object at a time (single flight): readers that want an
 * object already on its way wait for that download and share its result.
 * A small pool of workers fetches objects ahead of a sequential reader
 * (cfs_object_fetch_async). Every download is bounded by the request
 * timeout (cfs_remote_set_timeout); past it the read fails with CAIRN_EIO.
 *
 * The cache directory is laid out like the pool (ab/cd/<32 hex>, tmp/) and
 * kept under its size limit by a background thread that evicts the least
 * recently used objects (by access time, which a cache hit refreshes).
 */
#ifndef CAIRNFS_OBJECTS_H
#define CAIRNFS_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "oid.h"

/* Where an opened object came from. */
enum cfs_source {
	CFS_SRC_POOL = 1,     /* catalogd's pool, on this host */
	CFS_SRC_CACHE = 2,    /* the local cache, downloaded earlier */
	CFS_SRC_REMOTE = 3,   /* downloaded just now (or joined a download) */
};

/* Default bound of the cache directory, bytes (cairnfs --cache-size). */
#define CFS_DEFAULT_CACHE_SIZE (10ULL << 30)

/* pool may be NULL or absent (a pool on another host); cache_dir is
 * created if missing. Leftover temporary files of an earlier run go.
 * cache_size bounds the cache directory (0: the default). direct: cold
 * objects are downloaded straight from S3 with the URLs catalogd signs,
 * when it hands them out (cairnfs --no-direct turns it off). */
int cfs_objects_init(const char *pool, const char *cache_dir, uint64_t cache_size,
                     bool direct);
/* Starts the prefetch workers and the cache evictor; call after the
 * process has daemonized (threads do not survive fork). */
int cfs_objects_start(void);
/* Stops the threads (waiting for downloads in progress) and frees. */
void cfs_objects_shutdown(void);
const char *cfs_objects_pool(void);

/* Opens the object's bytes read-only; the caller owns *fd and closes it.
 * size is the object's length as the manifest implies it: a file of
 * another size is not served. src (may be NULL) says where it came from.
 * Objects opened from the pool are reported to catalogd as accessed. */
int cfs_object_open(int *fd, int *src, const cairn_oid *oid, uint64_t size);

/* Like cfs_object_open but never downloads: CAIRN_ENOTFOUND when the
 * object is neither in the pool nor in the cache. For read-ahead, which
 * must not stall the read that triggers it. */
int cfs_object_open_local(int *fd, const cairn_oid *oid, uint64_t size);

/* Starts reading the whole object into the page cache, without waiting. */
void cfs_object_prefetch(int fd, uint64_t size);

/* Queues a download of the object into the cache, for a sequential reader
 * about to need it. Never waits: a full queue, an object already queued or
 * on its way, or workers not running make it a no-op. */
void cfs_object_fetch_async(const cairn_oid *oid, uint64_t size);

/* True when the object is neither in the pool nor in the cache, nor
 * queued or on its way: a read of it is the first, and can be served
 * with cfs_object_read_blocks before the download is queued. */
bool cfs_object_untouched(const cairn_oid *oid, uint64_t size);
/* True when the pool or the cache holds the object (checked sizes aside:
 * opening it checks). */
bool cfs_object_local(const cairn_oid *oid, uint64_t size);

/* Bytes [off, off + len) of the object (size bytes) into buf: only the
 * blocks that cover them are fetched from catalogd, and each is checked
 * against its digest before a byte is copied. CAIRN_ENOTFOUND when the
 * object has no block digests (read it whole instead); CAIRN_ECORRUPT for
 * bytes that fail their digest (never copied). */
int cfs_object_read_blocks(const cairn_oid *oid, uint64_t size, uint64_t off, size_t len,
                           void *buf);

#endif
