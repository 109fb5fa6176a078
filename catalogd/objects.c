/* objects.c — objects in and out: upload, missing, read, info; fsck.
 *
 * Upload (POST /v1/objects) streams frames straight into pool batches as
 * the body arrives: nothing of an object is buffered beyond what MHD hands
 * us. An object the catalog already records is read past (its bytes still
 * have to be consumed) and counted as present. Only when the whole body is
 * in and every frame checked are the batches committed (objects durable
 * under their names) and then recorded in one synced catalog batch — the
 * order that makes "recorded" imply "on the pool". A failure before that
 * frees the batches: nothing of the request is kept. (A crash between the
 * two commits, or a full pool while committing the second of several
 * batches, leaves named pool files the catalog does not know, which is
 * harmless: a later upload of the same objects records them.)
 *
 * Reads verify each object whole against its id before sending a byte of
 * it, with one chunk_size buffer per response. An object whose pool copy
 * is gone (COLD, or released under the reader) or damaged, and that has a
 * verified S3 copy, is fetched through the tiering engine instead
 * (tier_engine_fetch_view: one GET however many readers, digest checked); a
 * damaged pool copy is logged and never served. Every object served is
 * noted for its access time (coalesced by the engine), and a file read
 * from S3 has its next objects recalled ahead of the reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "blockwire.h"
#include "engine.h"
#include "error.h"
#include "fault.h"
#include "log.h"
#include "tiering.h"
#include "tierops.h"
#include "util.h"

#define MOD "catalogd/objects"

#define UPLOAD_MAX_BYTES (256ull << 20)
/* Frames one upload may carry: bounds the bookkeeping (and the open files
 * of the pool batches) of one request. */
#define UPLOAD_MAX_FRAMES 65536
#define FRAME_HDR (CAIRN_OID_LEN + 8)
#define MISSING_MAX_IDS 10000
#define MISSING_BODY_MAX (4u << 20)
#define FSCK_LIST_MAX 10000
#define INFO_MAX_IDS 10000
#define PREFETCH_OBJECTS 4      /* objects recalled ahead of a cold reader */

/* ---- streamed reads ---- */

struct objread {
	struct catalog *c;
	struct objsrc src;
	uint64_t start, end;            /* the byte range of src to send */
	uint64_t cur;                   /* index of the object in buf */
	bool loaded;
	uint8_t *buf;                   /* a pool copy is read into this */
	struct tier_view *view;         /* an S3 copy is read from the flight */
	const uint8_t *data;            /* object cur: buf or the view's bytes */
	size_t buf_len;
	uint32_t group;                 /* ids cached from the chunks CF */
	bool group_ok;
	size_t group_n;
	uint8_t gbuf[KV_GROUP_OIDS * CAIRN_OID_LEN];
};

static void objread_free(void *ctx)
{
	struct objread *o = ctx;

	tier_view_release(o->view);
	free(o->buf);
	free(o);
}

static int objread_oid(struct objread *o, uint64_t k, cairn_oid *out)
{
	struct db_val v;
	uint8_t key[16];
	uint32_t group = (uint32_t)(k / KV_GROUP_OIDS);
	int rc;

	if (o->src.nobjects <= KV_INLINE_OIDS) {
		*out = o->src.inl[k];
		return 0;
	}
	if (!o->group_ok || o->group != group) {
		rc = db_get(o->c->db, CF_CHUNKS, key,
		            kv_chunk_key(key, o->src.vid, o->src.ino, group), &v);
		if (rc != 0)
			return cairn_error_set(rc == CAIRN_ENOTFOUND ? CAIRN_ECORRUPT : rc,
			                       "object ids %u... of entry %u of version %llu "
			                       "are missing", group * KV_GROUP_OIDS,
			                       o->src.ino, (unsigned long long)o->src.vid);
		if (v.len < 1 || (uint8_t)v.data[0] != KV_FMT_V1 || (v.len - 1) % 16 != 0 ||
		    v.len - 1 > sizeof(o->gbuf)) {
			db_val_free(&v);
			return cairn_error_set(CAIRN_ECORRUPT, "object ids of entry %u of "
			                       "version %llu are unreadable", o->src.ino,
			                       (unsigned long long)o->src.vid);
		}
		memcpy(o->gbuf, v.data + 1, v.len - 1);
		o->group_n = (v.len - 1) / 16;
		o->group = group;
		o->group_ok = true;
		db_val_free(&v);
	}
	if (k - (uint64_t)group * KV_GROUP_OIDS >= o->group_n)
		return cairn_error_set(CAIRN_ECORRUPT, "object id %llu of entry %u of "
		                       "version %llu is missing", (unsigned long long)k,
		                       o->src.ino, (unsigned long long)o->src.vid);
	memcpy(out->b, o->gbuf + 16 * (k - (uint64_t)group * KV_GROUP_OIDS), 16);
	return 0;
}

/* The pool copy could not be served (absent or damaged): the S3 copy, if
 * the catalog records a verified one. */
static int objread_cold(struct objread *o, const cairn_oid *oid, uint64_t expect,
                        int pool_rc, const char *hex)
{
	struct kv_object rec;
	int rc;

	rc = catalog_object_get(o->c, oid, &rec);
	if (rc != 0)
		return rc;
	if (!cairn_tier_in_s3(rec.state) || rec.verified == 0) {
		if (pool_rc == CAIRN_ENOTFOUND)
			return cairn_error_set(CAIRN_ENOTFOUND, "object %s is not in the pool",
			                       hex);
		return cairn_error_set(CAIRN_ECORRUPT, "object %s in the pool is damaged "
		                       "and has no other copy", hex);
	}
	if (rec.size != expect)
		return cairn_error_set(CAIRN_ECORRUPT, "object %s is recorded with %llu "
		                       "bytes, %llu expected", hex,
		                       (unsigned long long)rec.size, (unsigned long long)expect);
	if (o->c->tier == NULL)
		return cairn_error_set(CAIRN_ERETRY, "object %s is in the cold tier and "
		                       "tiering is not running", hex);
	if (pool_rc == CAIRN_ECORRUPT) {
		log_error(MOD, "object %s: pool copy damaged; serving its S3 copy", hex);
		if (rec.state == CAIRN_TIER_DUAL)
			tier_engine_repair(o->c->tier, oid);
	}
	return tier_engine_fetch_view(o->c->tier, oid, expect, &o->view);
}

/* A sequential reader of a file whose object k came from S3 will want the
 * next ones: recall them in the background. */
static void objread_prefetch(struct objread *o, uint64_t k)
{
	for (uint64_t j = k + 1; j < o->src.nobjects && j <= k + PREFETCH_OBJECTS; j++) {
		cairn_oid next;
		if (objread_oid(o, j, &next) != 0)
			return;
		tier_engine_prefetch(o->c->tier, &next);
	}
}

/* Reads object k whole into buf and checks it against its id. Whole,
 * because a digest can only be checked over all of an object's bytes, and
 * a byte must not leave before its object is checked. */
static int objread_load(struct objread *o, uint64_t k)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	uint64_t cs = o->src.chunk_size;
	uint64_t expect = k + 1 < o->src.nobjects ? cs : o->src.size - k * cs;
	cairn_oid oid, got;
	size_t nread = 0;
	int rc;

	o->loaded = false;
	tier_view_release(o->view);
	o->view = NULL;
	rc = objread_oid(o, k, &oid);
	if (rc != 0)
		return rc;
	cairn_oid_fmt(hex, &oid);
	rc = cairn_store_get_range(cairn_pool_store(o->c->pool), &oid, 0, o->buf,
	                           (size_t)expect, &nread);
	if (rc == 0) {
		cairn_oid_hash(&got, o->buf, nread);
		if (nread != expect || cairn_oid_cmp(&got, &oid) != 0) {
			log_error(MOD, "object %s in the pool does not match its id (%zu "
			          "bytes read, %llu expected); not serving it", hex, nread,
			          (unsigned long long)expect);
			rc = CAIRN_ECORRUPT;
		}
	}
	if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT) {
		rc = objread_cold(o, &oid, expect, rc, hex);
		if (rc != 0)
			return rc;
		nread = (size_t)expect;
		if (o->src.nobjects > 1)
			objread_prefetch(o, k);
	}
	if (rc != 0)
		return rc;
	if (o->c->tier != NULL)
		tier_engine_accessed(o->c->tier, &oid, util_now());
	o->cur = k;
	o->data = o->view != NULL ? tier_view_bytes(o->view) : o->buf;
	o->buf_len = nread;
	o->loaded = true;
	return 0;
}

static ssize_t objread_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
	struct objread *o = ctx;
	uint64_t off = o->start + pos, k, in;
	size_t n;

	if (off >= o->end)
		return 0;
	k = off / o->src.chunk_size;
	if (!o->loaded || o->cur != k) {
		if (objread_load(o, k) != 0) {
			log_error(MOD, "read aborted: %s", cairn_error_msg());
			return -1;
		}
	}
	in = off - k * o->src.chunk_size;
	n = o->buf_len - (size_t)in;
	if (n > max)
		n = max;
	if (n > o->end - off)
		n = (size_t)(o->end - off);
	memcpy(buf, o->data + in, n);
	return (ssize_t)n;
}

void objects_serve(struct catalog *c, struct http_req *r, const struct objsrc *src,
                   uint64_t offset, uint64_t length)
{
	struct objread *o;
	size_t bufsize;
	int rc;

	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	o->c = c;
	o->src = *src;
	if (o->src.chunk_size == 0)
		o->src.chunk_size = 1;
	o->start = offset < src->size ? offset : src->size;
	o->end = length > src->size - o->start ? src->size : o->start + length;
	bufsize = src->nobjects > 1 ? o->src.chunk_size : (size_t)src->size;
	o->buf = malloc(bufsize ? bufsize : 1);
	if (o->buf == NULL) {
		objread_free(o);
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	/* The first object is checked before the status line goes out, so
	 * that a missing or damaged object is an error, not a cut body. */
	if (o->end > o->start) {
		rc = objread_load(o, o->start / o->src.chunk_size);
		if (rc != 0) {
			objread_free(o);
			http_respond_current_error(r, rc);
			return;
		}
		/* The whole range is in the object just checked (every read of
		 * one object, cairnfs's case): sent from the buffer as it is. */
		if (o->end <= o->cur * o->src.chunk_size + o->buf_len) {
			size_t in = (size_t)(o->start - o->cur * o->src.chunk_size);

			http_respond_view(r, 200, "application/octet-stream", o->data + in,
			                  (size_t)(o->end - o->start), objread_free, o);
			return;
		}
	}
	http_respond_stream(r, 200, "application/octet-stream", o->end - o->start,
	                    objread_read, o, objread_free);
}

/* ---- GET /v1/objects/{id}[/info] ---- */

static int parse_id(const char *id, cairn_oid *oid)
{
	if (cairn_oid_parse(oid, id) != 0)
		return cairn_error_set(CAIRN_EINVAL, "invalid object id '%.64s': want 32 "
		                       "hex digits", id);
	return 0;
}

/* Any state: a COLD object is recalled by objects_serve (docs/API.md). */
void objects_get(struct catalog *c, struct http_req *r, const char *id)
{
	struct objsrc src;
	struct kv_object o;
	cairn_oid oid;
	uint64_t offset = 0, length = UINT64_MAX;
	int rc;

	if ((rc = parse_id(id, &oid)) != 0 ||
	    (rc = api_query_u64(r, "offset", &offset)) != 0 ||
	    (rc = api_query_u64(r, "length", &length)) != 0 ||
	    (rc = catalog_object_get(c, &oid, &o)) != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	memset(&src, 0, sizeof(src));
	src.nobjects = 1;
	src.size = o.size;
	src.chunk_size = o.size > UINT32_MAX ? UINT32_MAX : (uint32_t)o.size;
	src.inl[0] = oid;
	objects_serve(c, r, &src, offset, length);
}

/* ---- POST /v1/objects/{id}/recall ---- */

/* For a reader on this host that reads the pool itself: the object back in
 * the pool (DUAL), 204 once its copy there is durable. 403 when the policy
 * does not bring objects back on read: the reader fetches the bytes. */
void objects_recall(struct catalog *c, struct http_req *r, const char *id)
{
	cairn_oid oid;
	int rc;

	if ((rc = parse_id(id, &oid)) != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (c->tier == NULL)
		rc = cairn_error_set(CAIRN_EPERM, "tiering is not running");
	else
		rc = tier_engine_recall_wait(c->tier, &oid);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	tier_engine_accessed(c->tier, &oid, util_now());
	http_respond_empty(r, 204);
}

/* ---- GET /v1/objects/{id}/url ---- */

void objects_url(struct catalog *c, struct http_req *r, const char *id)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct tier_url *u;
	cairn_oid oid;
	int rc;

	if ((rc = parse_id(id, &oid)) != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	u = malloc(sizeof(*u));
	if (u == NULL) {
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	if (c->tier == NULL)
		rc = cairn_error_set(CAIRN_EPERM, "tiering is not running");
	else
		rc = tier_engine_presign(c->tier, &oid, u);
	if (rc != 0) {
		free(u);
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, json_pack("{s:s,s:I,s:s,s:s?,s:o}",
		"id", cairn_oid_fmt(hex, &oid), "size", (json_int_t)u->size,
		"state", cairn_tier_state_name(u->state),
		"url", u->given ? u->url : NULL,
		"expires", u->given ? json_integer((json_int_t)u->expires) : json_null()));
	explicit_bzero(u->url, sizeof(u->url));
	free(u);
}

/* ---- GET /v1/objects/{id}/blocks ---- */

#define BLOCKS_MAX_BYTES (16u << 20)

/* The object's block digests (keys.h, blocks CF): *n of them, malloc'd. */
static int blocks_get(struct catalog *c, const cairn_oid *oid, uint64_t size,
                      unsigned *log2, uint64_t **out, uint64_t *n)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct db_val v;
	int rc;

	cairn_oid_fmt(hex, oid);
	rc = db_get(c->db, CF_BLOCKS, oid->b, CAIRN_OID_LEN, &v);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "object %s has no block digests; "
		                       "read it whole", hex);
	if (rc != 0)
		return rc;
	if (v.len < 2 || (uint8_t)v.data[0] != KV_FMT_V1 || (uint8_t)v.data[1] < 9 ||
	    (uint8_t)v.data[1] > 30 ||
	    (v.len - 2) / 8 != cairn_block_count(size, (uint8_t)v.data[1]) || (v.len - 2) % 8) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ECORRUPT, "the block digests of %s are unreadable",
		                       hex);
	}
	*log2 = (uint8_t)v.data[1];
	*n = (v.len - 2) / 8;
	*out = malloc((size_t)*n * 8);
	if (*out == NULL) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	for (uint64_t i = 0; i < *n; i++)
		(*out)[i] = kv_get64((const uint8_t *)v.data + 2 + 8 * i);
	db_val_free(&v);
	return 0;
}

/* Blocks [a, a + len) of the pool copy, each checked; CAIRN_ENOTFOUND or
 * CAIRN_ECORRUPT send the reader to S3. */
static int blocks_from_pool(struct catalog *c, const cairn_oid *oid, uint64_t a,
                            uint8_t *buf, size_t len, unsigned log2, const uint64_t *d)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	size_t nread = 0;
	int rc;

	rc = cairn_store_get_range(cairn_pool_store(c->pool), oid, a, buf, len, &nread);
	if (rc != 0)
		return rc;
	if (nread != len || cairn_block_mismatch(buf, len, log2, d) >= 0) {
		log_error(MOD, "object %s in the pool does not match its block digests at "
		          "%llu; not serving it", cairn_oid_fmt(hex, oid), (unsigned long long)a);
		return CAIRN_ECORRUPT;
	}
	return 0;
}

/* The same from the head the pool keeps of a released object (pool.h):
 * CAIRN_ENOTFOUND when it has none or it does not cover them. A head that
 * fails its digests goes (it is only a cache); the reader goes to S3. */
static int blocks_from_head(struct catalog *c, const cairn_oid *oid, uint64_t a,
                            uint8_t *buf, size_t len, unsigned log2, const uint64_t *d)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	size_t nread = 0;
	int rc;

	rc = cairn_pool_head_read(c->pool, oid, a, buf, len, &nread);
	if (rc == 0 && nread < len)
		rc = CAIRN_ENOTFOUND;
	if (rc != 0) {
		cairn_error_clear();
		return CAIRN_ENOTFOUND;
	}
	if (cairn_block_mismatch(buf, len, log2, d) >= 0) {
		log_warn(MOD, "the head of object %s kept in the pool does not match its block "
		          "digests; dropped", cairn_oid_fmt(hex, oid));
		cairn_pool_head_drop(c->pool, oid);
		cairn_error_clear();
		return CAIRN_ENOTFOUND;
	}
	return 0;
}

/* The blocks that cover [offset, offset + length) of one object, each
 * checked against its digest, after a header that gives the digests so
 * that the client checks them again (docs/API.md). From the pool when it
 * holds the object, or the head it keeps of a released one, else one range
 * GET of the S3 copy: what a reader waits for when it opens a cold file is
 * that range, not the object. */
void objects_blocks(struct catalog *c, struct http_req *r, const char *id)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	uint64_t offset = 0, length = UINT64_MAX, *d = NULL, n = 0, first, last, a, b;
	struct kv_object o;
	uint8_t *out = NULL;
	unsigned log2 = 0;
	cairn_oid oid;
	size_t len;
	int rc;

	if ((rc = parse_id(id, &oid)) != 0 ||
	    (rc = api_query_u64(r, "offset", &offset)) != 0 ||
	    (rc = api_query_u64(r, "length", &length)) != 0 ||
	    (rc = catalog_object_get(c, &oid, &o)) != 0)
		goto fail;
	cairn_oid_fmt(hex, &oid);
	if (offset >= o.size || length == 0) {
		rc = cairn_error_set(CAIRN_EINVAL, "range %llu+%llu is outside object %s "
		                     "(%llu bytes)", (unsigned long long)offset,
		                     (unsigned long long)length, hex, (unsigned long long)o.size);
		goto fail;
	}
	if (length > BLOCKS_MAX_BYTES)
		length = BLOCKS_MAX_BYTES;
	rc = blocks_get(c, &oid, o.size, &log2, &d, &n);
	if (rc != 0)
		goto fail;
	first = offset >> log2;
	last = ((length > o.size - offset ? o.size : offset + length) - 1) >> log2;
	a = first << log2;
	b = (last + 1) << log2;
	if (b > o.size)
		b = o.size;
	len = (size_t)(b - a);
	out = malloc(cairn_blockwire_head_len(last - first + 1) + len);
	if (out == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	{
		uint8_t *data = out + cairn_blockwire_put(out, log2, (uint32_t)first,
		                                          (uint32_t)(last - first + 1), d + first);

		rc = blocks_from_pool(c, &oid, a, data, len, log2, d + first);
		if (rc == CAIRN_ENOTFOUND && cairn_tier_s3_only(o.state) &&
		    blocks_from_head(c, &oid, a, data, len, log2, d + first) == 0)
			rc = 0;
		if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT) {
			if (!cairn_tier_in_s3(o.state) || o.verified == 0)
				rc = rc == CAIRN_ENOTFOUND ?
				     cairn_error_set(rc, "object %s is not in the pool", hex) :
				     cairn_error_set(rc, "object %s in the pool is damaged and "
				                     "has no other copy", hex);
			else if (c->tier == NULL)
				rc = cairn_error_set(CAIRN_ERETRY, "object %s is in the cold tier "
				                     "and tiering is not running", hex);
			else
				rc = tier_engine_fetch_blocks(c->tier, &oid, a, data, len, log2,
				                              d + first);
			if (rc == 0 && o.state == CAIRN_TIER_DUAL && c->tier != NULL)
				tier_engine_repair(c->tier, &oid);
		}
		if (rc != 0)
			goto fail;
		len += (size_t)(data - out);
	}
	free(d);
	if (c->tier != NULL)
		tier_engine_accessed(c->tier, &oid, util_now());
	http_respond_view(r, 200, "application/octet-stream", out, len, free, out);
	return;
fail:
	free(d);
	free(out);
	http_respond_current_error(r, rc);
}

void objects_info(struct catalog *c, struct http_req *r, const char *id)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct kv_object o;
	cairn_oid oid;
	uint64_t size;
	const char *state;
	int rc;

	if ((rc = parse_id(id, &oid)) != 0 || (rc = catalog_object_get(c, &oid, &o)) != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	state = cairn_tier_state_name(o.state);
	/* "pool" is what the pool holds now, not what the state promises:
	 * the difference is what fsck reports. */
	http_respond_json(r, 200, json_pack("{s:s,s:I,s:s,s:b,s:I,s:I,s:I}",
		"id", cairn_oid_fmt(hex, &oid), "size", (json_int_t)o.size,
		"state", state ? state : "unknown",
		"pool", cairn_pool_has(c->pool, &oid, &size) == 0,
		"created", (json_int_t)o.created,
		"last_access", (json_int_t)o.last_access,
		"s3_verified", (json_int_t)o.verified));
}

/* ---- POST /v1/objects/info, POST /v1/objects/accessed ---- */

/* The body's "ids" (info, accessed, missing): an array of at most max
 * object ids. */
static int body_ids(const json_t *body, size_t max, size_t *n)
{
	json_t *ids = json_object_get(body, "ids");

	if (!json_is_array(ids) || json_array_size(ids) > max)
		return cairn_error_set(CAIRN_EINVAL, "the body must be {\"ids\": [...]} "
		                       "with at most %zu ids", max);
	*n = json_array_size(ids);
	return 0;
}

static int body_id(const json_t *body, size_t i, cairn_oid *oid)
{
	const char *s = json_string_value(json_array_get(json_object_get(body, "ids"), i));

	if (s == NULL || cairn_oid_parse(oid, s) != 0)
		return cairn_error_set(CAIRN_EINVAL, "ids[%zu] is not an object id", i);
	return 0;
}

static void info_body(void *ctx, struct http_req *r, json_t *body)
{
	struct catalog *c = ctx;
	char hex[CAIRN_OID_HEXLEN + 1];
	json_t *list = json_array();
	size_t n = 0;
	int rc;

	rc = body_ids(body, INFO_MAX_IDS, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct kv_object o;
		cairn_oid oid;
		uint64_t size;

		rc = body_id(body, i, &oid);
		if (rc != 0)
			break;
		rc = catalog_object_get(c, &oid, &o);
		if (rc == CAIRN_ENOTFOUND) {
			/* Unknown ids are answered, not refused: the caller asked
			 * about many at once. */
			json_array_append_new(list, json_pack("{s:s,s:n,s:s,s:b}",
				"id", cairn_oid_fmt(hex, &oid), "size", "state", "missing",
				"pool", 0));
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		json_array_append_new(list, json_pack("{s:s,s:I,s:s,s:b}",
			"id", cairn_oid_fmt(hex, &oid), "size", (json_int_t)o.size,
			"state", cairn_tier_state_name(o.state) ? cairn_tier_state_name(o.state)
			                                        : "unknown",
			"pool", cairn_pool_has(c->pool, &oid, &size) == 0));
	}
	if (rc != 0) {
		json_decref(list);
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, json_pack("{s:o}", "objects", list));
}

void objects_info_batch(struct catalog *c, struct http_req *r)
{
	http_body_json(r, MISSING_BODY_MAX, info_body, c, NULL);
}

static void accessed_body(void *ctx, struct http_req *r, json_t *body)
{
	struct catalog *c = ctx;
	int64_t now = util_now();
	size_t n = 0;
	int rc;

	rc = body_ids(body, INFO_MAX_IDS, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		cairn_oid oid;
		rc = body_id(body, i, &oid);
		if (rc == 0 && c->tier != NULL)
			tier_engine_accessed(c->tier, &oid, now);
	}
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_empty(r, 204);
}

void objects_accessed(struct catalog *c, struct http_req *r)
{
	http_body_json(r, MISSING_BODY_MAX, accessed_body, c, NULL);
}

/* ---- POST /v1/objects/missing ---- */

static void missing_body(void *ctx, struct http_req *r, json_t *body)
{
	struct catalog *c = ctx;
	char hex[CAIRN_OID_HEXLEN + 1];
	json_t *missing = json_array();
	size_t n = 0;
	int rc;

	rc = body_ids(body, MISSING_MAX_IDS, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct db_val v;
		cairn_oid oid;

		rc = body_id(body, i, &oid);
		if (rc != 0)
			break;
		rc = db_get(c->db, CF_OBJECTS, oid.b, CAIRN_OID_LEN, &v);
		if (rc == 0) {
			db_val_free(&v);
			continue;
		}
		if (rc != CAIRN_ENOTFOUND)
			break;
		rc = 0;
		json_array_append_new(missing, json_string(cairn_oid_fmt(hex, &oid)));
	}
	if (rc != 0) {
		json_decref(missing);
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, json_pack("{s:o}", "missing", missing));
}

void objects_missing(struct catalog *c, struct http_req *r)
{
	http_body_json(r, MISSING_BODY_MAX, missing_body, c, NULL);
}

/* ---- POST /v1/objects ---- */

struct upload {
	struct catalog *c;
	char actor[128];
	cairn_pool_batch **batches;     /* filled one after the other */
	size_t nbatches, cap;
	uint8_t hdr[FRAME_HDR];
	size_t hdr_have;
	bool in_frame, skipping;
	cairn_oid cur;
	uint64_t remaining;
	uint64_t total, frames, present;
	uint64_t gen;                   /* c->objects_gen before the first check */
};

struct staged_obj {
	cairn_oid oid;
	uint64_t size;
};

static int cmp_staged(const void *a, const void *b)
{
	return cairn_oid_cmp(&((const struct staged_obj *)a)->oid,
	                     &((const struct staged_obj *)b)->oid);
}

static void upload_free(struct upload *u)
{
	for (size_t i = 0; i < u->nbatches; i++)
		cairn_pool_batch_free(u->batches[i]);
	free(u->batches);
	free(u);
}

/* Begins the staged object in the current batch, opening a new batch when
 * the current one is full. */
static int stage_begin(struct upload *u, uint64_t len)
{
	int rc = CAIRN_ETOOBIG;

	if (u->nbatches > 0)
		rc = cairn_pool_batch_begin(u->batches[u->nbatches - 1], &u->cur, len);
	if (rc != CAIRN_ETOOBIG)
		return rc;
	if (u->nbatches == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 4;
		cairn_pool_batch **v = realloc(u->batches, cap * sizeof(*v));
		if (v == NULL)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		u->batches = v;
		u->cap = cap;
	}
	rc = cairn_pool_batch_new(u->c->pool, &u->batches[u->nbatches]);
	if (rc != 0)
		return rc;
	u->nbatches++;
	return cairn_pool_batch_begin(u->batches[u->nbatches - 1], &u->cur, len);
}

static int frame_end(struct upload *u)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	int rc;

	u->in_frame = false;
	if (u->skipping)
		return 0;
	rc = cairn_pool_batch_end(u->batches[u->nbatches - 1]);
	if (rc == CAIRN_ECORRUPT)
		return cairn_error_set(CAIRN_ECORRUPT, "object %s does not match its id "
		                       "(frame %llu); nothing of this upload was kept",
		                       cairn_oid_fmt(hex, &u->cur),
		                       (unsigned long long)u->frames);
	return rc;
}

/* A frame's header is complete: decide whether its bytes are stored or
 * read past. An object recorded in the catalog is on the pool (or in S3)
 * already, and clients check /v1/objects/missing first, so this is the
 * rare case; it still costs the client nothing but bandwidth. */
static int frame_begin(struct upload *u)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	uint64_t len = kv_get64(u->hdr + CAIRN_OID_LEN);
	struct db_val v;
	int rc;

	u->hdr_have = 0;
	memcpy(u->cur.b, u->hdr, CAIRN_OID_LEN);
	if (++u->frames > UPLOAD_MAX_FRAMES)
		return cairn_error_set(CAIRN_ETOOBIG, "an upload carries at most %d "
		                       "objects", UPLOAD_MAX_FRAMES);
	if (len > u->c->chunk_size)
		return cairn_error_set(CAIRN_ETOOBIG, "object %s is %llu bytes; objects "
		                       "are at most chunk_size (%u bytes)",
		                       cairn_oid_fmt(hex, &u->cur), (unsigned long long)len,
		                       u->c->chunk_size);
	u->in_frame = true;
	u->remaining = len;
	rc = db_get(u->c->db, CF_OBJECTS, u->cur.b, CAIRN_OID_LEN, &v);
	if (rc == 0) {
		db_val_free(&v);
		u->skipping = true;
		u->present++;
	} else if (rc == CAIRN_ENOTFOUND) {
		u->skipping = false;
		rc = stage_begin(u, len);
		if (rc != 0)
			return rc;
	} else {
		return rc;
	}
	if (len == 0)
		return frame_end(u);
	return 0;
}

static int upload_data(void *bctx, struct http_req *r, const char *data, size_t len)
{
	struct upload *u = bctx;
	int rc;

	if (len > UPLOAD_MAX_BYTES - u->total)
		return cairn_error_set(CAIRN_ETOOBIG, "an upload is at most %llu bytes",
		                       UPLOAD_MAX_BYTES);
	u->total += len;
	while (len > 0) {
		if (!u->in_frame) {
			size_t n = FRAME_HDR - u->hdr_have;
			if (n > len)
				n = len;
			memcpy(u->hdr + u->hdr_have, data, n);
			u->hdr_have += n;
			data += n;
			len -= n;
			if (u->hdr_have == FRAME_HDR && (rc = frame_begin(u)) != 0)
				return rc;
			continue;
		}
		size_t n = len < u->remaining ? len : (size_t)u->remaining;
		if (!u->skipping) {
			rc = cairn_pool_batch_write(u->batches[u->nbatches - 1], data, n);
			if (rc != 0)
				return rc;
		}
		data += n;
		len -= n;
		u->remaining -= n;
		if (u->remaining == 0 && (rc = frame_end(u)) != 0)
			return rc;
	}
	return 0;
}

/* Records the committed objects under the lock; objects another request
 * recorded meanwhile count as present. */
static int upload_record(struct upload *u, struct staged_obj *objs, size_t n,
                         uint64_t *stored, uint64_t *bytes)
{
	struct catalog *c = u->c;
	struct db_batch *b = NULL;
	struct cat_counters cn;
	struct obj_counts tn;
	int64_t now = util_now();
	int rc;

	*stored = *bytes = 0;
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	catalog_lock(c);
	/* The frames were checked against the catalog as they came in; only
	 * if another upload recorded objects since then can that answer
	 * have changed, and only then is it asked again. */
	bool recheck = c->objects_gen != u->gen;
	for (size_t i = 0; i < n; i++) {
		struct kv_object o = { .state = CAIRN_TIER_HOT, .size = objs[i].size,
		                       .created = now, .last_access = now };
		uint8_t val[KV_OBJECT_MAX];
		struct db_val v;

		if (i > 0 && cairn_oid_cmp(&objs[i].oid, &objs[i - 1].oid) == 0) {
			u->present++;
			continue;
		}
		if (recheck) {
			rc = db_get(c->db, CF_OBJECTS, objs[i].oid.b, CAIRN_OID_LEN, &v);
			if (rc == 0) {
				db_val_free(&v);
				u->present++;
				continue;
			}
			if (rc != CAIRN_ENOTFOUND)
				goto out;
			rc = 0;
		}
		db_batch_put(b, CF_OBJECTS, objs[i].oid.b, CAIRN_OID_LEN, val,
		             kv_object_enc(val, &o));
		(*stored)++;
		*bytes += objs[i].size;
	}
	if (*stored == 0)
		goto out;
	cn = c->n;
	cn.objects += *stored;
	cn.object_bytes += *bytes;
	/* New objects are HOT: their count moves in the same batch. */
	pthread_mutex_lock(&c->objlock);
	tn = c->tier_n;
	tn.count[CAIRN_TIER_HOT] += *stored;
	tn.bytes[CAIRN_TIER_HOT] += *bytes;
	tierops_counts_put(b, &tn);
	rc = catalog_publish(c, b, &cn, u->actor, "objects.store", "pool",
	                     json_pack("{s:I,s:I}", "stored", (json_int_t)*stored,
	                               "bytes", (json_int_t)*bytes));
	if (rc == 0) {
		c->tier_n = tn;
		c->objects_gen++;
	}
	pthread_mutex_unlock(&c->objlock);
out:
	catalog_unlock(c);
	db_batch_free(b);
	return rc;
}

static void upload_end(void *bctx, struct http_req *r)
{
	struct upload *u = bctx;
	struct staged_obj *objs = NULL;
	uint64_t stored = 0, bytes = 0;
	size_t n = 0, k = 0;
	int rc;

	if (u->in_frame || u->hdr_have > 0) {
		rc = cairn_error_set(CAIRN_EINVAL, "the body ends inside frame %llu",
		                     (unsigned long long)u->frames + (u->in_frame ? 0 : 1));
		goto out;
	}
	for (size_t i = 0; i < u->nbatches; i++)
		n += cairn_pool_batch_count(u->batches[i]);
	if (n > 0) {
		objs = malloc(n * sizeof(*objs));
		if (objs == NULL) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < u->nbatches; i++) {
		rc = cairn_pool_batch_commit(u->batches[i]);
		if (rc != 0)
			goto out;
		for (size_t j = 0; j < cairn_pool_batch_count(u->batches[i]); j++) {
			objs[k].oid = *cairn_pool_batch_oid(u->batches[i], j, &objs[k].size);
			k++;
		}
	}
	cairn_crash_point("objects.pooled");
	if (n > 1)
		qsort(objs, n, sizeof(*objs), cmp_staged);
	rc = upload_record(u, objs, n, &stored, &bytes);
out:
	free(objs);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (stored > 0)
		log_debug(MOD, "%s stored %llu objects (%llu bytes), %llu present",
		          u->actor, (unsigned long long)stored, (unsigned long long)bytes,
		          (unsigned long long)u->present);
	http_respond_json(r, 200, json_pack("{s:I,s:I,s:I}", "stored", (json_int_t)stored,
	                                    "present", (json_int_t)u->present,
	                                    "bytes", (json_int_t)bytes));
}

static void upload_done(void *bctx, bool finished)
{
	/* Uncommitted batch files are unlinked here, whatever happened. */
	upload_free(bctx);
}

static const struct http_body_ops upload_ops = {
	.data = upload_data,
	.end = upload_end,
	.done = upload_done,
};

void objects_upload(struct catalog *c, struct http_req *r)
{
	struct upload *u = calloc(1, sizeof(*u));

	if (u == NULL) {
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	u->c = c;
	api_actor(r, u->actor, sizeof(u->actor));
	catalog_lock(c);
	u->gen = c->objects_gen;
	catalog_unlock(c);
	http_body(r, &upload_ops, u);
}

/* ---- POST /v1/admin/fsck ---- */

struct fsck {
	struct catalog *c;
	uint64_t objects, bytes, dangling, refs, nbad, nmissing;
	uint64_t heads, heads_dropped;
	json_t *bad, *missing;
};

static void fsck_note(json_t *list, uint64_t *count, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1];

	if (*count < FSCK_LIST_MAX)
		json_array_append_new(list, json_string(cairn_oid_fmt(hex, oid)));
	(*count)++;
}

/* Every recorded object whose state says it is on the pool: read and
 * checked against its id and recorded size. Objects only in S3 are the
 * tiering engine's to scrub. fsck only reports; it repairs nothing, since
 * the right repair (re-upload, recall from S3) needs a person or tiering. */
static int fsck_objects(struct fsck *f)
{
	struct db_iter *it = NULL;
	int rc;

	rc = db_iter_new(&it, f->c->db, CF_OBJECTS, NULL, 0, NULL, 0);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		struct kv_object o;
		cairn_oid oid;
		uint64_t size = 0;

		if (klen != CAIRN_OID_LEN)
			continue;
		memcpy(oid.b, k, CAIRN_OID_LEN);
		f->objects++;
		if (kv_object_dec(&o, v, vlen) != 0) {
			fsck_note(f->bad, &f->nbad, &oid);
			continue;
		}
		if (!cairn_tier_in_pool(o.state))
			continue;
		rc = cairn_pool_verify(f->c->pool, &oid, &size);
		if (rc == 0 && size != o.size)
			rc = CAIRN_ECORRUPT;
		if (rc == CAIRN_ECORRUPT) {
			char hex[CAIRN_OID_HEXLEN + 1];
			log_error(MOD, "fsck: object %s is damaged", cairn_oid_fmt(hex, &oid));
			fsck_note(f->bad, &f->nbad, &oid);
		} else if (rc == CAIRN_ENOTFOUND) {
			char hex[CAIRN_OID_HEXLEN + 1];
			log_error(MOD, "fsck: object %s is missing from the pool",
			          cairn_oid_fmt(hex, &oid));
			fsck_note(f->missing, &f->nmissing, &oid);
		} else if (rc != 0) {
			goto out;
		} else {
			f->bytes += size;
		}
		rc = 0;
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	return rc;
}

/* A head (pool.h) is kept for an object whose pool copy is released. One
 * of any other object — one whose drop failed (the engine drops heads
 * wherever an object turns HOT or DUAL), or of an object gone from the
 * catalog — is a cache entry nobody will use: dropped. Heads are never
 * trusted, so dropping one is never a repair; a release racing with this
 * costs the object its head (a first read then waits for S3), nothing
 * else. */
static int fsck_head(void *ctx, const cairn_oid *oid, uint64_t size)
{
	struct fsck *f = ctx;
	struct kv_object o;
	int rc;

	(void)size;
	rc = catalog_object_get(f->c, oid, &o);
	if (rc != 0 && rc != CAIRN_ENOTFOUND)
		return rc;
	if (rc == 0 && cairn_tier_s3_only(o.state)) {
		f->heads++;
		return 0;
	}
	cairn_error_clear();
	rc = cairn_pool_head_drop(f->c->pool, oid);
	if (rc == 0)
		f->heads_dropped++;
	return rc;
}

/* Every object a version references: recorded, and on the pool when its
 * state says so. */
static int fsck_refs(struct fsck *f)
{
	struct db_iter *it = NULL;
	int rc;

	rc = db_iter_new(&it, f->c->db, CF_VOBJS, NULL, 0, NULL, 0);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t klen;
		const char *k = db_iter_key(it, &klen);
		struct db_val v;
		struct kv_object o;
		cairn_oid oid;
		uint64_t size;

		if (klen != 24)
			continue;
		f->refs++;
		memcpy(oid.b, k + 8, CAIRN_OID_LEN);
		rc = db_get(f->c->db, CF_OBJECTS, oid.b, CAIRN_OID_LEN, &v);
		if (rc == CAIRN_ENOTFOUND) {
			f->dangling++;
			continue;
		}
		if (rc != 0)
			goto out;
		rc = kv_object_dec(&o, v.data, v.len);
		db_val_free(&v);
		if (rc != 0 || (cairn_tier_in_pool(o.state) &&
		                cairn_pool_has(f->c->pool, &oid, &size) != 0))
			f->dangling++;
		rc = 0;
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	return rc;
}

void objects_fsck(struct catalog *c, struct http_req *r)
{
	struct fsck f = { .c = c };
	int64_t t0 = util_now();
	int rc;

	f.bad = json_array();
	f.missing = json_array();
	log_info(MOD, "fsck started");
	rc = fsck_objects(&f);
	if (rc == 0)
		rc = fsck_refs(&f);
	if (rc == 0)
		rc = cairn_pool_foreach_head(c->pool, fsck_head, &f);
	if (rc != 0) {
		json_decref(f.bad);
		json_decref(f.missing);
		http_respond_current_error(r, rc);
		return;
	}
	log_info(MOD, "fsck: %llu objects (%llu bytes) read in %llds: %llu damaged, "
	         "%llu missing; %llu references, %llu dangling; %llu heads, %llu "
	         "dropped",
	         (unsigned long long)f.objects, (unsigned long long)f.bytes,
	         (long long)(util_now() - t0), (unsigned long long)f.nbad,
	         (unsigned long long)f.nmissing, (unsigned long long)f.refs,
	         (unsigned long long)f.dangling, (unsigned long long)f.heads,
	         (unsigned long long)f.heads_dropped);
	http_respond_json(r, 200, json_pack("{s:I,s:o,s:o,s:I,s:I,s:I,s:b,s:I,s:I}",
		"objects", (json_int_t)f.objects, "bad", f.bad, "missing", f.missing,
		"dangling", (json_int_t)f.dangling, "references", (json_int_t)f.refs,
		"bytes", (json_int_t)f.bytes,
		"truncated", f.nbad > FSCK_LIST_MAX || f.nmissing > FSCK_LIST_MAX,
		"heads", (json_int_t)f.heads, "heads_dropped", (json_int_t)f.heads_dropped));
}
