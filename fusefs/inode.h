/* inode.h — cairnfs's inode numbers and the bounded tables behind them.
 *
 * Two kinds of inode live under one mount:
 *
 *   entry inodes   every path inside a version. The number itself says
 *                  which: (1 << 63) | (vid << 32) | entry_ino, where vid is
 *                  the version's id (< 2^31) and entry_ino the entry's stable
 *                  number inside it (0 = the version's root directory). No
 *                  table maps them, so a mount holds nothing per file it has
 *                  shown; attributes come from a bounded LRU (cfs_ecache_*)
 *                  or from catalogd again.
 *
 *   special inodes the mount root (FUSE_ROOT_ID), namespace directories,
 *                  dataset directories and the `latest`/tag symlinks. They
 *                  are few (datasets + tags), so they sit in a table for the
 *                  life of the mount: a name keeps its number, and a tag that
 *                  moves keeps its inode while its target changes.
 *
 * The version table maps a vid to what the mount knows of that version
 * (dataset, seq, digest, time); it is filled before any inode of the
 * version is handed to the kernel, and is bounded by versions, not files.
 *
 * Every function here is safe to call from any FUSE worker thread.
 */
#ifndef CAIRNFS_INODE_H
#define CAIRNFS_INODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define CFS_INO_ENTRY   (1ULL << 63)
#define CFS_VID_MAX     ((1ULL << 31) - 1)
#define CFS_ROOT_INO    1ULL            /* FUSE_ROOT_ID, without fuse headers */

static inline bool cfs_ino_is_entry(uint64_t ino)
{
	return (ino & CFS_INO_ENTRY) != 0;
}

static inline uint64_t cfs_ino_make(uint32_t vid, uint32_t eino)
{
	return CFS_INO_ENTRY | ((uint64_t)vid << 32) | eino;
}

static inline uint32_t cfs_ino_vid(uint64_t ino)
{
	return (uint32_t)((ino >> 32) & 0x7fffffffu);
}

static inline uint32_t cfs_ino_eino(uint64_t ino)
{
	return (uint32_t)ino;
}

/* ---- Entries of versions -------------------------------------------- */

/* What the mount knows of one entry of a version (names are not kept). */
struct cfs_entry {
	uint32_t vid;
	uint32_t ino;        /* entry number inside the version */
	uint32_t parent;     /* entry number of its directory */
	char type;           /* 'd', 'f' or 'l' (enum cairn_ftype) */
	uint32_t mode;       /* permission bits */
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_ns;
	uint64_t nobjects;
};

/* The LRU holds at most CFS_ECACHE_MAX entries, whatever the dataset size. */
#define CFS_ECACHE_MAX 65536

int cfs_ecache_init(void);
void cfs_ecache_free(void);
/* Copies the cached entry into *out: true on a hit. */
bool cfs_ecache_get(struct cfs_entry *out, uint32_t vid, uint32_t ino);
/* Inserts or refreshes an entry; evicts the least recently used one. */
void cfs_ecache_put(const struct cfs_entry *e);
size_t cfs_ecache_count(void);

/* ---- Versions --------------------------------------------------------- */

struct cfs_version {
	uint32_t vid;
	uint64_t seq;
	int64_t time;
	char digest[CAIRN_OID_HEXLEN + 1];
	char dataset[CAIRN_DATASET_NAME_MAX + 1];
};

/* Records (or refreshes) a version; CAIRN_ENOMEM. */
int cfs_vtable_put(const struct cfs_version *v);
/* Copies what is known of vid; CAIRN_ENOTFOUND when the mount never saw it. */
int cfs_vtable_get(struct cfs_version *out, uint32_t vid);

/* ---- Special inodes --------------------------------------------------- */

enum cfs_skind {
	CFS_S_ROOT = 1,
	CFS_S_DIR  = 2,      /* a namespace and/or a dataset */
	CFS_S_LINK = 3,      /* `latest` or a tag of a dataset */
};

/* Flags of a CFS_S_DIR: a name may be a dataset and a namespace at once
 * ("genomics" and "genomics/runs" may both exist). Flags are only added:
 * catalogd never removes a dataset. */
#define CFS_DIR_DATASET   1u
#define CFS_DIR_NAMESPACE 2u

struct cfs_snode {
	uint64_t ino;
	uint64_t parent;
	int kind;                   /* enum cfs_skind */
	unsigned flags;             /* CFS_DIR_* */
	int64_t mtime;              /* directories: dataset's creation time */
	uint64_t target;            /* links: the seq pointed at */
	uint64_t refreshed_ms;      /* links: when target was last checked */
	char name[CAIRN_NAME_MAX + 1];
	/* dirs: the namespace or dataset name; links: their dataset */
	char dataset[CAIRN_DATASET_NAME_MAX + 1];
};

int cfs_stable_init(int64_t mount_time);
void cfs_stable_free(void);

/* A snapshot of the node numbered ino; CAIRN_ENOTFOUND when none. */
int cfs_snode_get(struct cfs_snode *out, uint64_t ino);

/* Finds or creates the directory `name` under parent: adds flags, sets
 * mtime when non-zero. *out receives a snapshot after the update. */
int cfs_snode_dir(struct cfs_snode *out, uint64_t parent, const char *name,
                  const char *dataset, unsigned flags, int64_t mtime);

/* Finds or creates the link `name` in the dataset directory parent and
 * sets its target. *changed tells whether a known link moved (the kernel's
 * cached copy of it must then be dropped). */
int cfs_snode_link(struct cfs_snode *out, bool *changed, uint64_t parent,
                   const char *name, const char *dataset, uint64_t target);

/* Finds a child of parent by name without creating it. */
int cfs_snode_find(struct cfs_snode *out, uint64_t parent, const char *name);

/* Monotonic milliseconds, for refresh intervals. */
uint64_t cfs_now_ms(void);

#endif
