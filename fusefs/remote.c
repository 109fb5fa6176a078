/* remote.c — cairnfs's calls to catalogd's API (docs/API.md), one client
 * per thread.
 *
 * The JSON of each answer is read here and nowhere else in cairnfs: fields
 * are checked for type and range as they are copied into plain structs, so
 * a malformed answer becomes CAIRN_ECORRUPT at this boundary instead of a
 * wrong inode number further in.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "remote.h"

#define MOD "cairnfs/remote"

/* Every request to catalogd, metadata or an object's bytes, ends within
 * this many seconds (cairnfs --timeout): a read of a cold object while S3
 * is unreachable then fails with EIO instead of hanging a FUSE worker. */
static long req_timeout = CFS_DEFAULT_TIMEOUT;

static char *remote_addr;
static pthread_key_t client_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void client_destroy(void *p)
{
	cairn_client_free(p);
}

static void key_init(void)
{
	pthread_key_create(&client_key, client_destroy);
}

int cfs_remote_init(const char *addr)
{
	pthread_once(&key_once, key_init);
	free(remote_addr);
	remote_addr = addr ? strdup(addr) : NULL;
	if (addr && !remote_addr)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

void cfs_remote_release(void)
{
	cairn_client *c;

	pthread_once(&key_once, key_init);
	c = pthread_getspecific(client_key);
	if (c) {
		pthread_setspecific(client_key, NULL);
		cairn_client_free(c);
	}
}

void cfs_remote_shutdown(void)
{
	/* Worker threads free theirs as they exit; this is the caller's. */
	cfs_remote_release();
	free(remote_addr);
	remote_addr = NULL;
}

void cfs_remote_set_timeout(long seconds)
{
	req_timeout = seconds > 0 ? seconds : CFS_DEFAULT_TIMEOUT;
}

long cfs_remote_timeout(void)
{
	return req_timeout;
}

int cfs_remote_client(cairn_client **out)
{
	cairn_client *c;
	int rc;

	*out = NULL;
	pthread_once(&key_once, key_init);
	c = pthread_getspecific(client_key);
	if (!c) {
		rc = cairn_client_new(&c, remote_addr);
		if (rc)
			return rc;
		if (pthread_setspecific(client_key, c) != 0) {
			cairn_client_free(c);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
	}
	cairn_client_set_timeout(c, req_timeout);
	*out = c;
	return 0;
}

/* GET path, the body streamed to sink, under the request timeout. */
static int download(const char *path, cairn_client_sink sink, void *ctx)
{
	cairn_client *c;
	int rc;

	rc = cfs_remote_client(&c);
	if (rc)
		return rc;
	return cairn_client_download(c, path, sink, ctx);
}

static int get_json(const char *path, json_t **out)
{
	cairn_client *c;
	int rc;

	rc = cfs_remote_client(&c);
	if (rc)
		return rc;
	rc = cairn_client_json(c, "GET", path, NULL, out);
	if (rc == 0 && !*out)
		rc = cairn_error_set(CAIRN_ECORRUPT, "empty answer from catalogd to GET %s", path);
	if (rc)
		log_debug(MOD, "GET %s: %s", path, cairn_error_msg());
	return rc;
}

/* GET of something below a dataset: its path (cairn_dataset_path), then
 * what fmt formats, e.g. "/-/tags". */
__attribute__((format(printf, 3, 4)))
static int get_dataset_json(json_t **out, const char *dataset, const char *fmt, ...)
{
	char path[768];
	va_list ap;
	size_t n;
	int rc;

	rc = cairn_dataset_path(path, sizeof(path), dataset);
	if (rc)
		return rc;
	n = strlen(path);
	va_start(ap, fmt);
	vsnprintf(path + n, sizeof(path) - n, fmt, ap);
	va_end(ap);
	return get_json(path, out);
}

/* POST path {"ids": [hex...]}; *out (may be NULL) gets the answer. */
static int post_ids(const char *path, const cairn_oid *ids, size_t n, json_t **out)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	json_t *body = NULL, *arr;
	cairn_client *c;
	size_t i;
	int rc;

	rc = cfs_remote_client(&c);
	if (rc)
		return rc;
	arr = json_array();
	body = json_pack("{s:o}", "ids", arr);
	if (!body) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (json_array_append_new(arr, json_string(cairn_oid_fmt(hex, &ids[i]))) < 0) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = cairn_client_json(c, "POST", path, body, out);
	if (rc)
		log_debug(MOD, "POST %s (%zu ids): %s", path, n, cairn_error_msg());
out:
	json_decref(body);
	return rc;
}

static int bad(const char *what, const char *field)
{
	return cairn_error_set(CAIRN_ECORRUPT, "bad answer from catalogd: %s without a valid '%s'",
	                       what, field);
}

/* An integer field within [min, max]. */
static int get_int(json_t *obj, const char *field, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(obj, field);
	json_int_t x;

	if (!json_is_integer(v))
		return -1;
	x = json_integer_value(v);
	if (x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

/* An optional integer field: absent or null gives def. */
static int get_int_opt(json_t *obj, const char *field, int64_t min, int64_t max,
                       int64_t def, int64_t *out)
{
	json_t *v = json_object_get(obj, field);

	/* Absent, null or bad, the default stands. */
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	return get_int(obj, field, min, max, out);
}

static int parse_entry(struct cfs_entry *e, json_t *j, uint32_t vid)
{
	const char *type;
	int64_t ino, parent, mode, size, mtime, mtime_ns, nobj;

	if (!json_is_object(j))
		return bad("entry", "{}");
	if (get_int(j, "ino", 0, UINT32_MAX, &ino))
		return bad("entry", "ino");
	if (get_int_opt(j, "parent", 0, UINT32_MAX, 0, &parent))
		return bad("entry", "parent");
	type = json_string_value(json_object_get(j, "type"));
	if (!type || strlen(type) != 1 || !strchr("dfl", type[0]))
		return bad("entry", "type");
	if (get_int(j, "mode", 0, 07777, &mode))
		return bad("entry", "mode");
	if (get_int_opt(j, "size", 0, INT64_MAX, 0, &size))
		return bad("entry", "size");
	if (get_int_opt(j, "mtime", INT64_MIN, INT64_MAX, 0, &mtime))
		return bad("entry", "mtime");
	if (get_int_opt(j, "mtime_ns", 0, 999999999, 0, &mtime_ns))
		return bad("entry", "mtime_ns");
	if (get_int_opt(j, "nobjects", 0, INT64_MAX, 0, &nobj))
		return bad("entry", "nobjects");

	memset(e, 0, sizeof(*e));
	e->vid = vid;
	e->ino = (uint32_t)ino;
	e->parent = (uint32_t)parent;
	e->type = type[0];
	e->mode = (uint32_t)mode;
	e->size = (uint64_t)size;
	e->mtime = mtime;
	e->mtime_ns = (uint32_t)mtime_ns;
	e->nobjects = (uint64_t)nobj;
	return 0;
}

int cfs_remote_status(struct cfs_status *out)
{
	json_t *j = NULL, *pool, *objs;
	const char *path;
	int64_t cs, size = 0, used = 0, count = 0;
	int rc;

	rc = get_json("/v1/status", &j);
	if (rc)
		goto out;
	memset(out, 0, sizeof(*out));
	if (get_int(j, "chunk_size", 1, INT64_MAX, &cs)) {
		rc = bad("status", "chunk_size");
		goto out;
	}
	pool = json_object_get(j, "pool");
	path = json_string_value(json_object_get(pool, "path"));
	if (!path || strlen(path) >= sizeof(out->pool_path)) {
		rc = bad("status", "pool.path");
		goto out;
	}
	get_int_opt(pool, "fs_size", 0, INT64_MAX, 0, &size);
	get_int_opt(pool, "fs_used", 0, INT64_MAX, 0, &used);
	objs = json_object_get(j, "objects");
	get_int_opt(objs, "count", 0, INT64_MAX, 0, &count);
	out->chunk_size = (uint64_t)cs;
	snprintf(out->pool_path, sizeof(out->pool_path), "%s", path);
	out->fs_size = (uint64_t)size;
	out->fs_used = (uint64_t)used;
	out->objects = (uint64_t)count;
out:
	json_decref(j);
	return rc;
}

int cfs_remote_entry(struct cfs_entry *out, char **target, uint32_t vid, uint32_t ino)
{
	char path[64];
	json_t *j = NULL;
	int rc;

	if (target)
		*target = NULL;
	snprintf(path, sizeof(path), "/v1/fs/%u/%u", vid, ino);
	rc = get_json(path, &j);
	if (rc)
		goto out;
	rc = parse_entry(out, j, vid);
	if (rc)
		goto out;
	if (target && out->type == CAIRN_FT_SYMLINK) {
		const char *t = json_string_value(json_object_get(j, "target"));

		if (!t) {
			rc = bad("symlink entry", "target");
			goto out;
		}
		*target = strdup(t);
		if (!*target)
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
out:
	json_decref(j);
	return rc;
}

int cfs_remote_lookup(struct cfs_entry *out, uint32_t vid, uint32_t dir, const char *name)
{
	char path[64 + 3 * CAIRN_NAME_MAX];
	char *esc = cairn_url_escape(name);
	json_t *j = NULL;
	int rc;

	if (!esc)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "/v1/fs/%u/%u/lookup?name=%s", vid, dir, esc);
	free(esc);
	rc = get_json(path, &j);
	if (rc)
		goto out;
	rc = parse_entry(out, j, vid);
out:
	json_decref(j);
	return rc;
}

/* "next": a string cursor, or null at the end. */
static int take_cursor(json_t *j, char **next)
{
	json_t *n = json_object_get(j, "next");

	*next = NULL;
	if (!n || json_is_null(n))
		return 0;
	if (!json_is_string(n))
		return bad("listing", "next");
	*next = strdup(json_string_value(n));
	if (!*next)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

/* What a listing's item decoder hands each item to: the caller's callback
 * (one of the cfs_*_fn types of remote.h) and its context. */
struct walk {
	union {
		cfs_dataset_fn dataset;
		cfs_version_fn version;
		cfs_tag_fn tag;
		cfs_state_fn state;
	} fn;
	void *ctx;
	const char *dataset;    /* versions: the dataset they belong to */
};

/* Decodes one item of a listing and passes it on; non-zero stops the walk. */
typedef int (*item_fn)(struct walk *w, json_t *item);

/* Every item of one page of a listing, in order: the array `key` of the
 * answer j, each element through item. `what` names the listing in the
 * error when the array is missing; the cursor, if any, is the caller's. */
static int walk_page(json_t *j, const char *what, const char *key, item_fn item,
                     struct walk *w)
{
	json_t *arr = json_object_get(j, key), *it;
	size_t i;
	int rc;

	if (!json_is_array(arr))
		return bad(what, key);
	json_array_foreach(arr, i, it) {
		rc = item(w, it);
		if (rc)
			return rc;
	}
	return 0;
}

/* A page of children arrives in the compact binary form (docs/API.md,
 * "Filesystem view"): a cold `find` spends most of its time on the
 * listings, and JSON objects per entry cost more than the entries. */
struct page {
	uint8_t *p;
	size_t len, cap;
};

#define PAGE_MAX ((size_t)64 << 20)

static int page_sink(void *ctx, const void *data, size_t n)
{
	struct page *pg = ctx;

	if (pg->len + n > PAGE_MAX)
		return cairn_error_set(CAIRN_ETOOBIG, "directory page over %zu bytes", PAGE_MAX);
	if (pg->len + n > pg->cap) {
		size_t cap = pg->cap ? pg->cap : 64 * 1024;
		uint8_t *q;

		while (cap < pg->len + n)
			cap *= 2;
		q = realloc(pg->p, cap);
		if (!q)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		pg->p = q;
		pg->cap = cap;
	}
	memcpy(pg->p + pg->len, data, n);
	pg->len += n;
	return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int cfs_remote_children(uint32_t vid, uint32_t dir, const char *after, unsigned limit,
                        cfs_child_fn fn, void *ctx, char **next)
{
	char *path = NULL, *esc = NULL, name[CAIRN_NAME_MAX + 1];
	struct page pg = { 0 };
	size_t off, len;
	int rc;

	*next = NULL;
	if (after) {
		esc = cairn_url_escape(after);
		if (!esc)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (asprintf(&path, "/v1/fs/%u/%u/children?format=binary&limit=%u%s%s", vid, dir,
	             limit, esc ? "&after=" : "", esc ? esc : "") < 0) {
		path = NULL;
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	rc = download(path, page_sink, &pg);
	if (rc) {
		log_debug(MOD, "GET %s: %s", path, cairn_error_msg());
		goto out;
	}
	if (pg.len < 6 || memcmp(pg.p, "CFE1", 4) != 0) {
		rc = bad("children", "format");
		goto out;
	}
	len = (size_t)le(pg.p + 4, 2);
	off = 6;
	if (len != 0xffff) {
		if (len == 0 || len > CAIRN_NAME_MAX || off + len > pg.len) {
			rc = bad("children", "next");
			goto out;
		}
		*next = strndup((const char *)pg.p + off, len);
		if (!*next) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		off += len;
	}
	while (off < pg.len) {
		/* ino 4, type 1, mode 4, size 8, mtime 8, mtime_ns 4, nobjects 8 */
		const size_t fixed = 4 + 1 + 4 + 8 + 8 + 4 + 8;
		const uint8_t *q = pg.p + off;
		struct cfs_entry e;
		size_t nlen, tlen;

		if (off + fixed + 2 > pg.len) {
			rc = bad("child entry", "record");
			goto out;
		}
		memset(&e, 0, sizeof(e));
		e.vid = vid;
		e.parent = dir;
		e.ino = (uint32_t)le(q, 4);
		e.type = (char)q[4];
		e.mode = (uint32_t)le(q + 5, 4);
		e.size = le(q + 9, 8);
		e.mtime = (int64_t)le(q + 17, 8);
		e.mtime_ns = (uint32_t)le(q + 25, 4);
		e.nobjects = le(q + 29, 8);
		nlen = (size_t)le(q + fixed, 2);
		off += fixed + 2;
		if (nlen == 0 || nlen > CAIRN_NAME_MAX || off + nlen + 2 > pg.len ||
		    !strchr("dfl", e.type) || e.type == 0 || e.mode > 07777 ||
		    e.mtime_ns > 999999999 || e.size > INT64_MAX) {
			rc = bad("child entry", "record");
			goto out;
		}
		memcpy(name, pg.p + off, nlen);
		name[nlen] = '\0';
		off += nlen;
		tlen = (size_t)le(pg.p + off, 2);
		off += 2 + tlen;
		if (off > pg.len || memchr(name, '/', nlen) || memchr(name, '\0', nlen)) {
			rc = bad("child entry", "name");
			goto out;
		}
		rc = fn(ctx, name, &e);
		if (rc)
			goto out;
	}
out:
	if (rc) {
		free(*next);
		*next = NULL;
	}
	free(pg.p);
	free(path);
	free(esc);
	return rc;
}

int cfs_remote_objects(cairn_oid *ids, size_t *n, uint64_t *total, uint64_t *chunk_size,
                       uint32_t vid, uint32_t ino, uint64_t from, unsigned limit)
{
	char path[128];
	json_t *j = NULL, *arr, *it;
	int64_t t, cs;
	size_t i;
	int rc;

	*n = 0;
	snprintf(path, sizeof(path), "/v1/fs/%u/%u/objects?from=%" PRIu64 "&limit=%u",
	         vid, ino, from, limit);
	rc = get_json(path, &j);
	if (rc)
		goto out;
	arr = json_object_get(j, "objects");
	if (!json_is_array(arr) || json_array_size(arr) > limit) {
		rc = bad("objects", "objects");
		goto out;
	}
	if (get_int(j, "nobjects", 0, INT64_MAX, &t)) {
		rc = bad("objects", "nobjects");
		goto out;
	}
	if (get_int(j, "chunk_size", 1, INT64_MAX, &cs)) {
		rc = bad("objects", "chunk_size");
		goto out;
	}
	json_array_foreach(arr, i, it) {
		const char *hex = json_string_value(it);

		if (!hex || cairn_oid_parse(&ids[i], hex)) {
			rc = bad("objects", "objects[]");
			goto out;
		}
	}
	*n = json_array_size(arr);
	*total = (uint64_t)t;
	*chunk_size = (uint64_t)cs;
out:
	json_decref(j);
	return rc;
}

int cfs_remote_dataset(struct cfs_dataset *out, const char *name)
{
	char path[512];
	json_t *j = NULL;
	int64_t created, latest;
	int rc;

	rc = cairn_dataset_path(path, sizeof(path), name);
	if (rc)
		return rc;
	rc = get_json(path, &j);
	if (rc)
		goto out;
	if (get_int_opt(j, "created", INT64_MIN, INT64_MAX, 0, &created) ||
	    get_int_opt(j, "latest", 0, INT64_MAX, 0, &latest)) {
		rc = bad("dataset", "created/latest");
		goto out;
	}
	out->created = created;
	out->latest = (uint64_t)latest;
out:
	json_decref(j);
	return rc;
}

static int datasets_page(const char *after, unsigned limit, json_t **out)
{
	char *path = NULL, *esc = NULL;
	int rc;

	if (after) {
		esc = cairn_url_escape(after);
		if (!esc)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	if (asprintf(&path, "/v1/datasets?limit=%u%s%s", limit,
	             esc ? "&after=" : "", esc ? esc : "") < 0) {
		free(esc);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	rc = get_json(path, out);
	free(path);
	free(esc);
	return rc;
}

static int dataset_item(struct walk *w, json_t *it)
{
	const char *name = json_string_value(json_object_get(it, "name"));
	int64_t created;

	if (!name || cairn_dataset_name_validate(name))
		return bad("datasets", "name");
	get_int_opt(it, "created", INT64_MIN, INT64_MAX, 0, &created);
	return w->fn.dataset(w->ctx, name, created);
}

int cfs_remote_datasets(const char *after, unsigned limit, cfs_dataset_fn fn, void *ctx,
                        char **next)
{
	struct walk w = { .fn.dataset = fn, .ctx = ctx };
	json_t *j = NULL;
	int rc;

	*next = NULL;
	rc = datasets_page(after, limit, &j);
	if (rc)
		goto out;
	rc = walk_page(j, "datasets", "datasets", dataset_item, &w);
	if (rc)
		goto out;
	rc = take_cursor(j, next);
out:
	json_decref(j);
	return rc;
}

int cfs_remote_namespace_exists(const char *ns, int *exists)
{
	char after[CAIRN_DATASET_NAME_MAX + 2];
	json_t *j = NULL, *first;
	const char *name;
	size_t n = strlen(ns);
	int rc;

	/* Names are sorted bytewise and '/' sorts below every character a
	 * name may hold, so "ns/..." names, if any, come right after "ns/". */
	*exists = 0;
	if (n + 1 >= sizeof(after))
		return 0;
	snprintf(after, sizeof(after), "%s/", ns);
	rc = datasets_page(after, 1, &j);
	if (rc)
		goto out;
	first = json_array_get(json_object_get(j, "datasets"), 0);
	name = json_string_value(json_object_get(first, "name"));
	*exists = name && strncmp(name, after, n + 1) == 0;
out:
	json_decref(j);
	return rc;
}

static int parse_version(struct cfs_version *v, json_t *j, const char *dataset)
{
	const char *digest = json_string_value(json_object_get(j, "digest"));
	int64_t seq, vid, t;

	if (get_int(j, "seq", 1, INT64_MAX, &seq))
		return bad("version", "seq");
	if (get_int(j, "vid", 0, (int64_t)CFS_VID_MAX, &vid))
		return bad("version", "vid");
	if (!digest || strlen(digest) != CAIRN_OID_HEXLEN)
		return bad("version", "digest");
	get_int_opt(j, "time", INT64_MIN, INT64_MAX, 0, &t);
	memset(v, 0, sizeof(*v));
	v->vid = (uint32_t)vid;
	v->seq = (uint64_t)seq;
	v->time = t;
	memcpy(v->digest, digest, CAIRN_OID_HEXLEN);
	snprintf(v->dataset, sizeof(v->dataset), "%s", dataset);
	return 0;
}

int cfs_remote_version(struct cfs_version *out, const char *dataset, const char *ref)
{
	char *esc = cairn_url_escape(ref);
	json_t *j = NULL;
	int rc;

	if (!esc)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = get_dataset_json(&j, dataset, "/-/versions/%s?tiers=0", esc);
	if (rc)
		goto out;
	rc = parse_version(out, j, dataset);
	if (rc)
		goto out;
	rc = cfs_vtable_put(out);
out:
	free(esc);
	json_decref(j);
	return rc;
}

/* Each version goes into the table before the caller sees it. */
static int version_item(struct walk *w, json_t *it)
{
	struct cfs_version v;
	int rc;

	rc = parse_version(&v, it, w->dataset);
	if (rc)
		return rc;
	rc = cfs_vtable_put(&v);
	if (rc)
		return rc;
	return w->fn.version(w->ctx, &v);
}

int cfs_remote_versions(const char *dataset, uint64_t before, unsigned limit,
                        cfs_version_fn fn, void *ctx, uint64_t *next)
{
	struct walk w = { .fn.version = fn, .ctx = ctx, .dataset = dataset };
	json_t *j = NULL, *nx;
	int rc;

	*next = 0;
	if (before)
		rc = get_dataset_json(&j, dataset, "/-/versions?limit=%u&before=%" PRIu64, limit,
		                      before);
	else
		rc = get_dataset_json(&j, dataset, "/-/versions?limit=%u", limit);
	if (rc)
		goto out;
	rc = walk_page(j, "versions", "versions", version_item, &w);
	if (rc)
		goto out;
	nx = json_object_get(j, "next");
	if (json_is_integer(nx) && json_integer_value(nx) > 0)
		*next = (uint64_t)json_integer_value(nx);
	else if (nx && !json_is_null(nx))
		rc = bad("versions", "next");
out:
	json_decref(j);
	return rc;
}

static int tag_item(struct walk *w, json_t *it)
{
	const char *tag = json_string_value(json_object_get(it, "tag"));
	int64_t seq;

	if (!tag || cairn_tag_validate(tag) || get_int(it, "seq", 1, INT64_MAX, &seq))
		return bad("tags", "tag/seq");
	return w->fn.tag(w->ctx, tag, (uint64_t)seq);
}

int cfs_remote_tags(const char *dataset, cfs_tag_fn fn, void *ctx)
{
	struct walk w = { .fn.tag = fn, .ctx = ctx };
	json_t *j = NULL;
	int rc;

	rc = get_dataset_json(&j, dataset, "/-/tags");
	if (rc)
		goto out;
	rc = walk_page(j, "tags", "tags", tag_item, &w);
out:
	json_decref(j);
	return rc;
}

int cfs_remote_object_state(char *state, size_t len, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1], path[96];
	json_t *j = NULL;
	const char *s;
	int rc;

	snprintf(path, sizeof(path), "/v1/objects/%s/info", cairn_oid_fmt(hex, oid));
	rc = get_json(path, &j);
	if (rc)
		goto out;
	s = json_string_value(json_object_get(j, "state"));
	if (!s) {
		rc = bad("object info", "state");
		goto out;
	}
	snprintf(state, len, "%s", s);
out:
	json_decref(j);
	return rc;
}

int cfs_remote_object_get(const cairn_oid *oid, cairn_client_sink sink, void *ctx)
{
	char hex[CAIRN_OID_HEXLEN + 1], path[96];

	snprintf(path, sizeof(path), "/v1/objects/%s", cairn_oid_fmt(hex, oid));
	return download(path, sink, ctx);
}

int cfs_remote_object_url(char *url, size_t len, bool *given, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1], path[96];
	const char *u;
	cairn_client *c;
	json_t *res = NULL;
	int rc;

	*given = false;
	rc = cfs_remote_client(&c);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/v1/objects/%s/url", cairn_oid_fmt(hex, oid));
	rc = cairn_client_json(c, "GET", path, NULL, &res);
	if (rc)
		return rc;
	u = json_string_value(json_object_get(res, "url"));
	if (u != NULL && strlen(u) >= len)
		rc = cairn_error_set(CAIRN_ETOOBIG, "the URL catalogd gave for object %s is "
		                     "longer than %zu bytes", hex, len - 1);
	else if (u != NULL && !json_is_integer(json_object_get(res, "expires")))
		rc = bad("object url", "expires");
	else if (u != NULL) {
		memcpy(url, u, strlen(u) + 1);
		*given = true;
	}
	json_decref(res);
	return rc;
}

int cfs_remote_fetch_url(const char *url, cairn_client_sink sink, void *ctx)
{
	cairn_client *c;
	int rc;

	rc = cfs_remote_client(&c);
	if (rc)
		return rc;
	return cairn_client_fetch(c, url, sink, ctx);
}

int cfs_remote_object_recall(const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1], path[96];
	cairn_client *c;
	int rc;

	rc = cfs_remote_client(&c);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/v1/objects/%s/recall", cairn_oid_fmt(hex, oid));
	return cairn_client_json(c, "POST", path, NULL, NULL);
}

int cfs_remote_object_blocks(const cairn_oid *oid, uint64_t off, uint64_t len,
                             cairn_client_sink sink, void *ctx)
{
	char hex[CAIRN_OID_HEXLEN + 1], path[160];

	snprintf(path, sizeof(path), "/v1/objects/%s/blocks?offset=%" PRIu64 "&length=%" PRIu64,
	         cairn_oid_fmt(hex, oid), off, len);
	return download(path, sink, ctx);
}

static int state_item(struct walk *w, json_t *it)
{
	const char *hex = json_string_value(json_object_get(it, "id"));
	const char *state = json_string_value(json_object_get(it, "state"));
	cairn_oid oid;

	if (!hex || cairn_oid_parse(&oid, hex))
		return bad("object info", "id");
	if (!state)
		return bad("object info", "state");
	return w->fn.state(w->ctx, &oid, state);
}

int cfs_remote_objects_info(const cairn_oid *ids, size_t n, cfs_state_fn fn, void *ctx)
{
	struct walk w = { .fn.state = fn, .ctx = ctx };
	json_t *j = NULL;
	int rc;

	if (n == 0)
		return 0;
	if (n > CFS_INFO_BATCH)
		return cairn_error_set(CAIRN_EINVAL, "%zu ids in one info request", n);
	rc = post_ids("/v1/objects/info", ids, n, &j);
	if (rc)
		goto out;
	rc = walk_page(j, "object info", "objects", state_item, &w);
out:
	json_decref(j);
	return rc;
}

int cfs_remote_objects_accessed(const cairn_oid *ids, size_t n)
{
	if (n == 0)
		return 0;
	return post_ids("/v1/objects/accessed", ids, n, NULL);
}
