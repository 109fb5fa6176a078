/* api.h — catalogd's v1 HTTP/JSON API (docs/API.md), the handlers.
 *
 * Where a request goes, in reading order:
 *   api.c      api_handle(): routing; status, datasets, versions, tags, audit
 *   commit.c   POST .../versions: the streaming commit (commit.h)
 *   tree.c     a version's files: entry, files, content, and the fs view
 *   objects.c  object upload, missing, read, info; fsck
 * Every handler validates its input with lib/manifest.h's validators and
 * answers CAIRN_EINVAL with a message that names the bad input. Every change
 * goes through catalog_publish() (catalog.h), so it and its audit record
 * land in one batch.
 */
#ifndef CATALOGD_API_H
#define CATALOGD_API_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "catalog.h"
#include "http.h"

/* The http_handler; ctx is the struct catalog. */
void api_handle(void *ctx, struct http_req *r);

/* ---- shared by the handlers ---- */

/* The actor of a request (the peer's user name or "uid:N"). */
void api_actor(const struct http_req *r, char *buf, size_t len);

/* limit=N: default 1000, at most 10000. CAIRN_EINVAL otherwise. */
int api_limit(const struct http_req *r, size_t *out);
/* A query argument that must be a u64 when present (*out untouched when absent). */
int api_query_u64(const struct http_req *r, const char *key, uint64_t *out);

/* The version as docs/API.md shows it, built from its stored record; tiers
 * walks the version's objects. */
int api_version_view(json_t **out, struct catalog *c, const struct cat_dataset *ds,
                     const struct cat_version *v, bool tiers);

/* ---- tree.c ---- */

void tree_entry(struct catalog *c, struct http_req *r, const struct cat_version *v);
void tree_files(struct catalog *c, struct http_req *r, const struct cat_version *v);
void tree_content(struct catalog *c, struct http_req *r, const struct cat_version *v);
/* Ids [from, from+max) of the regular file at path of v into out; *n how
 * many, *nobjects the file's total; path_out (CAIRN_PATH_MAX + 1 bytes)
 * its normalized path. CAIRN_EINVAL if path is not a regular file. */
int tree_file_oids(struct catalog *c, const struct cat_version *v, const char *path,
                   uint64_t from, size_t max, cairn_oid *out, size_t *n,
                   uint64_t *nobjects, char *path_out);
/* /v1/fs/{vid}/{ino}[/sub] */
void tree_fs(struct catalog *c, struct http_req *r, const char *vid,
             const char *ino, const char *sub);

/* ---- tierapi.c: /v1/tier/..., and pin, recall, explain of a version ---- */

void tierapi_route(struct catalog *c, struct http_req *r, char **seg, int n);
/* sub is "pin", "recall" or "explain". */
void tierapi_version(struct catalog *c, struct http_req *r, const struct cat_dataset *ds,
                     const struct cat_version *v, const char *sub);

/* ---- objects.c ---- */

void objects_upload(struct catalog *c, struct http_req *r);
void objects_missing(struct catalog *c, struct http_req *r);
void objects_get(struct catalog *c, struct http_req *r, const char *id);
void objects_info(struct catalog *c, struct http_req *r, const char *id);
void objects_blocks(struct catalog *c, struct http_req *r, const char *id);
void objects_recall(struct catalog *c, struct http_req *r, const char *id);
/* GET /v1/objects/{id}/url: a presigned S3 URL for a COLD object's bytes
 * (tier_engine_presign), url null for an object with a pool copy. */
void objects_url(struct catalog *c, struct http_req *r, const char *id);
/* POST /v1/objects/info and /v1/objects/accessed. */
void objects_info_batch(struct catalog *c, struct http_req *r);
void objects_accessed(struct catalog *c, struct http_req *r);
void objects_fsck(struct catalog *c, struct http_req *r);

/* Where the object ids of a streamed read come from: one object, or the
 * k-th id of a version's file (inline ids, else the chunks CF). */
struct objsrc {
	uint64_t vid;
	uint32_t ino;
	uint64_t nobjects;
	uint64_t size;          /* bytes in all */
	uint32_t chunk_size;
	cairn_oid inl[KV_INLINE_OIDS];  /* used when nobjects <= KV_INLINE_OIDS */
};

/* Answers with bytes [offset, offset+length) of src (clamped to its size),
 * streamed object by object, each verified against its id before a byte of
 * it goes out. The first object is read before the response starts, so a
 * missing or damaged first object is a proper error response; a later one
 * aborts the stream. */
void objects_serve(struct catalog *c, struct http_req *r, const struct objsrc *src,
                   uint64_t offset, uint64_t length);

#endif
