/* fs.h — the cairnfs filesystem: libfuse low-level operations over
 * catalogd's filesystem view.
 *
 * Mount layout (docs/API.md, DESIGN.md):
 *   MNT/<dataset>/<seq>/...            a version, read-only
 *   MNT/<dataset>/latest -> <seq>      and one symlink per tag
 *   MNT/<namespace>/<name>/...         for datasets named "namespace/name"
 *
 * Versions are immutable, so whatever lies inside one is handed to the
 * kernel with very long timeouts and cached readdir; the levels above
 * (root, namespaces, datasets, tags) are re-asked after about a second so
 * new versions and moved tags show without a remount.
 *
 * CAIRN_E* codes become errno values in one place, when fs.c replies.
 * FUSE_USE_VERSION comes from the build (fusefs/CMakeLists.txt).
 */
#ifndef CAIRNFS_FS_H
#define CAIRNFS_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

struct cfs_config {
	const char *cache_dir;     /* compute-node cache of fetched objects */
	const char *pool_path;     /* from GET /v1/status */
	unsigned max_read;         /* the mount's max_read option, bytes */
	uint64_t cache_size;       /* bound of cache_dir, bytes (0: the default) */
	bool no_direct;            /* cold objects always through catalogd */
};

/* The operations table passed to fuse_session_new(). */
extern const struct fuse_lowlevel_ops cfs_ops;

/* Prepares the tables and object sources; call once before the session
 * is created, after cfs_remote_init(). CAIRN_E* on failure. */
int cfs_fs_init(const struct cfs_config *cfg);
/* Starts the background threads (prefetch, cache eviction, access
 * reports); after the process has daemonized, before the session loop. */
int cfs_fs_start(void);
/* The session, for the kernel notifications a moved tag needs. */
void cfs_fs_set_session(struct fuse_session *se);
/* Releases what cfs_fs_init set up; after the session loop has ended. */
void cfs_fs_shutdown(void);

#endif
