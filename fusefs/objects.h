/* objects.h — where cairnfs finds the bytes of an object.
 *
 * In order: the pool directory, when it is on this host (read in place,
 * never written); the local cache directory; catalogd, which sends the
 * object's bytes (GET /v1/objects/{id}). A download goes to a temporary file
 * in the cache directory, is checked against the object's digest and size,
 * made durable and only then renamed to its final name: a file under a
 * final name in the cache always holds verified bytes, and nothing
 * unverified is ever handed to a reader. A mismatch is CAIRN_ECORRUPT and a
 * log line naming the object.
 *
 * The cache directory is laid out like the pool (ab/cd/<32 hex>, tmp/).
 */
#ifndef CAIRNFS_OBJECTS_H
#define CAIRNFS_OBJECTS_H

#include <stdint.h>

#include "oid.h"

/* pool may be NULL or absent (a pool on another host); cache_dir is
 * created if missing. Leftover temporary files of an earlier run go. */
int cfs_objects_init(const char *pool, const char *cache_dir);
void cfs_objects_shutdown(void);
const char *cfs_objects_pool(void);

/* Opens the object's bytes read-only; the caller owns *fd and closes it.
 * size is the object's length as the manifest implies it: a file of
 * another size is not served (CAIRN_ECORRUPT). */
int cfs_object_open(int *fd, const cairn_oid *oid, uint64_t size);

/* Like cfs_object_open but never downloads: CAIRN_ENOTFOUND when the
 * object is neither in the pool nor in the cache. For read-ahead, which
 * must not stall the read that triggers it. */
int cfs_object_open_local(int *fd, const cairn_oid *oid, uint64_t size);

/* Starts reading the whole object into the page cache, without waiting. */
void cfs_object_prefetch(int fd, uint64_t size);

#endif
