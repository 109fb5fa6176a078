/* manifest.h — a version's manifest: entries, their order, their digest.
 *
 * A manifest is the list of every path of a version with type, mode, size,
 * mtime, symlink target and object ids. It travels as NDJSON (see
 * docs/API.md, "Commit"), one entry a line, in canonical order: depth-first
 * pre-order with the names of one directory sorted bytewise, which is the
 * order cairn_path_cmp() defines. The version's permanent id is the XXH3-128
 * of the canonical binary encoding of its entries in that order
 * (cairn_manifest_digest_*), so the same tree always has the same digest.
 *
 * Format version CAIRN_MANIFEST_FORMAT is hashed in first; bump it, and
 * note why below, whenever the encoding changes.
 *   1 (2026-11): path NUL type mode:u32le size:u64le mtime_s:i64le
 *                mtime_ns:u32le target NUL nobj:u64le oid[16]*nobj
 */
#ifndef CAIRN_MANIFEST_H
#define CAIRN_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "oid.h"

#define CAIRN_MANIFEST_FORMAT 1
#define CAIRN_NAME_MAX 255      /* bytes in one path component */
#define CAIRN_PATH_MAX 4096     /* bytes in a whole path */
#define CAIRN_DATASET_NAME_MAX 128
#define CAIRN_TAG_MAX 64

enum cairn_ftype {
	CAIRN_FT_DIR     = 'd',
	CAIRN_FT_FILE    = 'f',
	CAIRN_FT_SYMLINK = 'l',
};

struct cairn_entry {
	const char *path;        /* relative, '/'-separated; "" is the root */
	char type;               /* enum cairn_ftype */
	uint32_t mode;           /* permission bits only (07777) */
	uint64_t size;           /* bytes; symlink: strlen(target); dir: 0 */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *target;      /* symlink target, else NULL */
	uint64_t nobjects;       /* total object ids of a file (its chunks) */
};

/* A path inside a version: relative, non-empty components separated by
 * single '/', no "." or "..", no NUL or control bytes (0x01-0x1f, 0x7f),
 * components <= CAIRN_NAME_MAX bytes, whole <= CAIRN_PATH_MAX.
 * CAIRN_EINVAL with a message that names the problem. "" (root) is valid
 * only when allow_root. */
int cairn_path_validate(const char *path, int allow_root);

/* A symlink target that stays inside the version when resolved from the
 * link's directory (link_path is the link's own path). Absolute targets are
 * refused. CAIRN_EINVAL otherwise. */
int cairn_symlink_validate(const char *link_path, const char *target);

/* Canonical order: component-wise bytewise compare ('/' sorts below every
 * other byte), i.e. depth-first pre-order with sorted siblings. */
int cairn_path_cmp(const char *a, const char *b);

/* Dataset names: [a-z0-9][a-z0-9._-]* with an optional "namespace/" prefix
 * of the same form, <= CAIRN_DATASET_NAME_MAX bytes in all. */
int cairn_dataset_name_validate(const char *name);
/* Tag names: [a-z0-9][a-z0-9._-]*, <= CAIRN_TAG_MAX, not all digits, not
 * "latest". */
int cairn_tag_validate(const char *tag);

/* Splits "NAME@V" (V optional) at the last '@'. *name and *ver are malloc'd
 * (ver NULL when absent); the caller frees both. Validates NAME. */
int cairn_ref_parse(const char *ref, char **name, char **ver);

/* Streaming manifest digest. _add hashes an entry's header (including its
 * total nobjects); its object ids follow through _add_objects, in order,
 * in as many calls as convenient (an entry's ids may span several lines). */
typedef struct cairn_manifest_digest cairn_manifest_digest;
int cairn_manifest_digest_new(cairn_manifest_digest **out);
void cairn_manifest_digest_add(cairn_manifest_digest *d, const struct cairn_entry *e);
void cairn_manifest_digest_add_objects(cairn_manifest_digest *d,
                                       const cairn_oid *objects, size_t n);
void cairn_manifest_digest_final(cairn_manifest_digest *d, cairn_oid *out);
void cairn_manifest_digest_free(cairn_manifest_digest *d);

#endif
