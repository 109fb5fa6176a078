/* tree.c — a version's files: entry, files, content, and the fs view.
 *
 * Everything here is a point get or a short bounded scan, because cairnfs
 * calls it for every lookup and readdir it does not have cached yet:
 *   by name     entries CF   vid|parent|name          one get per component
 *   by ino      inodes CF    vid|ino → parent, path   then one entries get
 *   children    entries CF   scan of vid|ino|...      limit+1 keys
 *   object ids  inline in the entry, else chunks CF   one get per 1024 ids
 * Versions are immutable, so none of these answers ever changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "error.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

#define MOD "catalogd/tree"

#define TREE_ENTRY_OIDS 1024    /* ids the entry endpoint lists */

/* An entry found in a version, with the value it points into. */
struct found {
	struct db_val val;
	struct kv_entry e;
	uint32_t parent;
	char path[CAIRN_PATH_MAX + 1];
	const char *name;       /* into path */
};

static void found_free(struct found *f)
{
	db_val_free(&f->val);
}

/* The root is never sent in a commit, so it has no record: it is a
 * directory, mode 0755, dated by the version. */
static void root_entry(struct found *f, const struct kv_vid *v)
{
	memset(f, 0, sizeof(*f));
	f->e.type = 'd';
	f->e.mode = 0755;
	f->e.ino = 0;
	f->e.mtime = v->time;
	f->path[0] = '\0';
	f->name = f->path;
}

static json_t *entry_view(const struct found *f)
{
	char type[2] = { f->e.type, '\0' };
	json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:s,s:I,s:I,s:I,s:I}",
		"path", f->path, "name", f->name,
		"ino", (json_int_t)f->e.ino, "parent", (json_int_t)f->parent,
		"type", type, "mode", (json_int_t)f->e.mode,
		"size", (json_int_t)f->e.size, "mtime", (json_int_t)f->e.mtime,
		"mtime_ns", (json_int_t)f->e.mtime_ns);

	if (o == NULL)
		return NULL;
	if (f->e.type == 'f')
		json_object_set_new(o, "nobjects", json_integer((json_int_t)f->e.nobjects));
	if (f->e.type == 'l')
		json_object_set_new(o, "target", json_stringn(f->e.target, f->e.target_len));
	return o;
}

/* Reads the child `name` of directory `parent` into f (dir_path is the
 * parent's path). */
static int get_child(struct catalog *c, uint64_t vid, uint32_t parent,
                     const char *dir_path, const char *name, size_t name_len,
                     struct found *f)
{
	uint8_t key[12 + CAIRN_NAME_MAX];
	size_t dlen = strlen(dir_path);
	int rc;

	memset(f, 0, sizeof(*f));
	if (name_len == 0 || name_len > CAIRN_NAME_MAX ||
	    dlen + 1 + name_len > CAIRN_PATH_MAX)
		return cairn_error_set(CAIRN_ENOTFOUND, "no such entry");
	rc = db_get(c->db, CF_ENTRIES, key, kv_entry_key(key, vid, parent, name, name_len),
	            &f->val);
	if (rc != 0)
		return rc;
	if (kv_entry_dec(&f->e, f->val.data, f->val.len) != 0) {
		db_val_free(&f->val);
		return cairn_error_set(CAIRN_ECORRUPT, "an entry of version %llu is "
		                       "unreadable", (unsigned long long)vid);
	}
	f->parent = parent;
	if (dlen > 0) {
		memcpy(f->path, dir_path, dlen);
		f->path[dlen] = '/';
		dlen++;
	}
	memcpy(f->path + dlen, name, name_len);
	f->path[dlen + name_len] = '\0';
	f->name = f->path + dlen;
	return 0;
}

/* Walks path from the root of version vid. "" and "/" are the root. */
static int lookup_path(struct catalog *c, const struct kv_vid *v, uint64_t vid,
                       const char *path, struct found *out)
{
	char norm[CAIRN_PATH_MAX + 1];
	size_t len;
	int rc;

	if (path == NULL)
		path = "";
	if (*path == '/')
		path++;
	len = strlen(path);
	if (len > CAIRN_PATH_MAX)
		return cairn_error_set(CAIRN_EINVAL, "path is longer than %d bytes",
		                       CAIRN_PATH_MAX);
	memcpy(norm, path, len + 1);
	if (len > 0 && norm[len - 1] == '/')
		norm[--len] = '\0';
	if (len == 0) {
		root_entry(out, v);
		return 0;
	}
	rc = cairn_path_validate(norm, 0);
	if (rc != 0)
		return rc;

	struct found cur;
	root_entry(&cur, v);
	for (const char *p = norm;;) {
		size_t n = strcspn(p, "/");
		char dir[CAIRN_PATH_MAX + 1];

		if (cur.e.type != 'd') {
			rc = cairn_error_set(CAIRN_ENOTFOUND, "'%s' is not a directory",
			                     cur.path);
			found_free(&cur);
			return rc;
		}
		memcpy(dir, cur.path, strlen(cur.path) + 1);
		uint32_t parent = cur.e.ino;
		found_free(&cur);
		rc = get_child(c, vid, parent, dir, p, n, &cur);
		if (rc == CAIRN_ENOTFOUND)
			return cairn_error_set(CAIRN_ENOTFOUND, "no '%.*s' in this version",
			                       (int)(p - norm + n), norm);
		if (rc != 0)
			return rc;
		p += n;
		if (*p == '\0')
			break;
		p++;
	}
	*out = cur;
	out->name = out->path + (cur.name - cur.path);
	return 0;
}

/* The entry numbered ino of version vid. */
static int lookup_ino(struct catalog *c, const struct kv_vid *v, uint64_t vid,
                      uint32_t ino, struct found *out)
{
	struct db_val iv;
	uint8_t key[12];
	char path[CAIRN_PATH_MAX + 1], dir[CAIRN_PATH_MAX + 1];
	const char *name;
	size_t plen;
	uint32_t parent;
	int rc;

	if (ino == 0) {
		root_entry(out, v);
		return 0;
	}
	rc = db_get(c->db, CF_INODES, key, kv_ino_key(key, vid, ino), &iv);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "version %llu has no entry %u",
		                       (unsigned long long)vid, ino);
	if (rc != 0)
		return rc;
	if (iv.len < 6 || (uint8_t)iv.data[0] != KV_FMT_V1 ||
	    iv.len - 5 > CAIRN_PATH_MAX) {
		db_val_free(&iv);
		return cairn_error_set(CAIRN_ECORRUPT, "entry %u of version %llu is "
		                       "unreadable", ino, (unsigned long long)vid);
	}
	parent = kv_get32((const uint8_t *)iv.data + 1);
	plen = iv.len - 5;
	memcpy(path, iv.data + 5, plen);
	path[plen] = '\0';
	db_val_free(&iv);
	name = strrchr(path, '/');
	if (name != NULL) {
		memcpy(dir, path, (size_t)(name - path));
		dir[name - path] = '\0';
		name++;
	} else {
		dir[0] = '\0';
		name = path;
	}
	rc = get_child(c, vid, parent, dir, name, strlen(name), out);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ECORRUPT, "entry %u of version %llu has an "
		                       "inode record but no entry", ino,
		                       (unsigned long long)vid);
	return rc;
}

/* Appends ids [from, from+max) of file f (clamped to its nobjects). Ids
 * come inline from the entry for small files, else from consecutive chunks
 * keys (KV_GROUP_OIDS each): one short scan for any range. */
static int list_oids(struct catalog *c, uint64_t vid, const struct found *f,
                     uint64_t from, size_t max, json_t *arr)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct db_iter *it = NULL;
	uint8_t lo[16], hi[16];
	uint64_t k;
	size_t added = 0;
	int rc;

	if (f->e.type != 'f' || from >= f->e.nobjects)
		return 0;
	if (f->e.oids != NULL) {
		for (k = from; k < f->e.nobjects && added < max; k++, added++) {
			cairn_oid o;
			memcpy(o.b, f->e.oids + 16 * k, 16);
			json_array_append_new(arr, json_string(cairn_oid_fmt(hex, &o)));
		}
		return 0;
	}
	kv_chunk_key(lo, vid, f->e.ino, (uint32_t)(from / KV_GROUP_OIDS));
	kv_chunk_key(hi, vid, f->e.ino, UINT32_MAX);
	rc = db_iter_new(&it, c->db, CF_CHUNKS, lo, 16, hi, 16);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it) && added < max; db_iter_next(it)) {
		size_t klen, vlen;
		const char *key = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		uint64_t base;

		if (klen != 16 || vlen < 1 || (uint8_t)v[0] != KV_FMT_V1 ||
		    (vlen - 1) % 16 != 0) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "object ids of '%s' are "
			                     "unreadable", f->path);
			goto out;
		}
		base = (uint64_t)kv_get32((const uint8_t *)key + 12) * KV_GROUP_OIDS;
		for (size_t i = 0; i < (vlen - 1) / 16 && added < max; i++) {
			cairn_oid o;
			if (base + i < from)
				continue;
			memcpy(o.b, v + 1 + 16 * i, 16);
			json_array_append_new(arr, json_string(cairn_oid_fmt(hex, &o)));
			added++;
		}
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	return rc;
}

/* The compact listing cairnfs asks for (docs/API.md, "Filesystem view"):
 * the same entries as the JSON one, without the cost of building and
 * parsing an object per entry, which dominates a cold `find`. */
struct binbuf {
	uint8_t *p;
	size_t len, cap;
};

static int bin_put(struct binbuf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;       /* data may be NULL (an entry without a tail) */
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64 * 1024;
		uint8_t *q;

		while (cap < b->len + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (q == NULL)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int bin_u16(struct binbuf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	return bin_put(b, x, 2);
}

static int bin_u32(struct binbuf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return bin_put(b, x, 4);
}

static int bin_u64(struct binbuf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return bin_put(b, x, 8);
}

/* One record: ino u32 | type u8 | mode u32 | size u64 | mtime i64 |
 * mtime_ns u32 | nobjects u64 | name_len u16 | name | target_len u16 |
 * target, integers little-endian. */
static int bin_entry(struct binbuf *b, const struct found *f)
{
	uint8_t type = (uint8_t)f->e.type;
	size_t nlen = strlen(f->name);
	size_t tlen = f->e.type == 'l' ? f->e.target_len : 0;
	int rc = 0;

	rc = rc ? rc : bin_u32(b, f->e.ino);
	rc = rc ? rc : bin_put(b, &type, 1);
	rc = rc ? rc : bin_u32(b, f->e.mode);
	rc = rc ? rc : bin_u64(b, f->e.size);
	rc = rc ? rc : bin_u64(b, (uint64_t)f->e.mtime);
	rc = rc ? rc : bin_u32(b, f->e.mtime_ns);
	rc = rc ? rc : bin_u64(b, f->e.nobjects);
	rc = rc ? rc : bin_u16(b, (uint16_t)nlen);
	rc = rc ? rc : bin_put(b, f->name, nlen);
	rc = rc ? rc : bin_u16(b, (uint16_t)tlen);
	rc = rc ? rc : bin_put(b, f->e.target, tlen);
	return rc;
}

/* {"entries": [...], "next": NAME|null} for the children of directory d;
 * or, when bin is non-NULL, the entries as compact records appended to
 * bin (*entries is then an empty array). */
static int list_children(struct catalog *c, uint64_t vid, const struct found *d,
                         const char *after, size_t limit, json_t **entries,
                         json_t **next, struct binbuf *bin)
{
	struct db_iter *it = NULL;
	uint8_t lo[12 + CAIRN_NAME_MAX], hi[12];
	size_t hlen, count = 0, dlen = strlen(d->path);
	char last[CAIRN_NAME_MAX + 1] = "";
	int rc;

	*entries = json_array();
	*next = json_null();
	kv_ino_key(lo, vid, d->e.ino);
	if (d->e.ino == UINT32_MAX)
		hlen = kv_u64_key(hi, vid + 1);
	else
		hlen = kv_ino_key(hi, vid, d->e.ino + 1);
	rc = db_iter_new(&it, c->db, CF_ENTRIES, lo, 12, hi, hlen);
	if (rc != 0)
		return rc;
	if (after != NULL && *after != '\0' && strlen(after) <= CAIRN_NAME_MAX)
		db_iter_seek(it, lo, kv_entry_key(lo, vid, d->e.ino, after, strlen(after)));
	else
		db_iter_seek_first(it);
	for (; db_iter_valid(it); db_iter_next(it)) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		struct found f;

		if (klen <= 12 || klen - 12 > CAIRN_NAME_MAX ||
		    dlen + 1 + (klen - 12) > CAIRN_PATH_MAX)
			continue;
		if (after != NULL && klen - 12 == strlen(after) &&
		    memcmp(k + 12, after, klen - 12) == 0)
			continue;
		if (count == limit) {
			json_decref(*next);
			*next = json_string(last);
			break;
		}
		memset(&f, 0, sizeof(f));
		if (kv_entry_dec(&f.e, v, vlen) != 0) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "an entry of '%s' is unreadable",
			                     d->path);
			goto out;
		}
		f.parent = d->e.ino;
		size_t off = 0;
		if (dlen > 0) {
			memcpy(f.path, d->path, dlen);
			f.path[dlen] = '/';
			off = dlen + 1;
		}
		memcpy(f.path + off, k + 12, klen - 12);
		f.path[off + klen - 12] = '\0';
		f.name = f.path + off;
		memcpy(last, f.name, klen - 12 + 1);
		if (bin != NULL) {
			rc = bin_entry(bin, &f);
			if (rc != 0)
				goto out;
			count++;
			continue;
		}
		json_t *view = entry_view(&f);
		if (view == NULL) {
			/* A name that is not UTF-8 cannot be in a version (commits
			 * arrive as JSON), so this is damage. */
			rc = cairn_error_set(CAIRN_ECORRUPT, "an entry name in '%s' is "
			                     "unreadable", d->path);
			goto out;
		}
		json_array_append_new(*entries, view);
		count++;
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	if (rc != 0) {
		json_decref(*entries);
		json_decref(*next);
		*entries = *next = NULL;
	}
	return rc;
}

static void version_vid(const struct cat_version *v, struct kv_vid *kv)
{
	kv->dsid = v->dsid;
	kv->seq = v->seq;
	kv->chunk_size = v->chunk_size;
	kv->time = v->time;
}

/* ---- /v1/datasets/{name}/-/versions/{v}/... ---- */

void tree_entry(struct catalog *c, struct http_req *r, const struct cat_version *v)
{
	struct kv_vid kv;
	struct found f;
	json_t *view, *oids;
	int rc;

	version_vid(v, &kv);
	rc = lookup_path(c, &kv, v->vid, http_query(r, "path"), &f);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	view = entry_view(&f);
	if (f.e.type == 'f') {
		oids = json_array();
		rc = list_oids(c, v->vid, &f, 0, TREE_ENTRY_OIDS, oids);
		json_object_set_new(view, "objects", oids);
	}
	found_free(&f);
	if (rc != 0) {
		json_decref(view);
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, view);
}

void tree_files(struct catalog *c, struct http_req *r, const struct cat_version *v)
{
	struct kv_vid kv;
	struct found d;
	json_t *entries = NULL, *next = NULL;
	size_t limit;
	int rc;

	rc = api_limit(r, &limit);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	version_vid(v, &kv);
	rc = lookup_path(c, &kv, v->vid, http_query(r, "path"), &d);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (d.e.type == 'd') {
		rc = list_children(c, v->vid, &d, http_query(r, "after"), limit,
		                   &entries, &next, NULL);
	} else {
		entries = json_array();
		json_array_append_new(entries, entry_view(&d));
		next = json_null();
	}
	if (rc != 0) {
		found_free(&d);
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, json_pack("{s:s,s:o,s:o}", "path", d.path,
	                                    "entries", entries, "next", next));
	found_free(&d);
}

/* offset/length query arguments; length absent = to the end. */
static int range_args(struct http_req *r, uint64_t *offset, uint64_t *length)
{
	int rc;

	*offset = 0;
	*length = UINT64_MAX;
	if ((rc = api_query_u64(r, "offset", offset)) != 0 ||
	    (rc = api_query_u64(r, "length", length)) != 0)
		return rc;
	return 0;
}

void tree_content(struct catalog *c, struct http_req *r, const struct cat_version *v)
{
	struct objsrc src;
	struct kv_vid kv;
	struct found f;
	uint64_t offset, length;
	int rc;

	rc = range_args(r, &offset, &length);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	version_vid(v, &kv);
	rc = lookup_path(c, &kv, v->vid, http_query(r, "path"), &f);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (f.e.type != 'f') {
		cairn_error_set(CAIRN_EINVAL, "'%s' is not a regular file", f.path);
		found_free(&f);
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	memset(&src, 0, sizeof(src));
	src.vid = v->vid;
	src.ino = f.e.ino;
	src.nobjects = f.e.nobjects;
	src.size = f.e.size;
	src.chunk_size = v->chunk_size;
	if (f.e.oids != NULL)
		memcpy(src.inl, f.e.oids, 16 * f.e.nobjects);
	found_free(&f);
	objects_serve(c, r, &src, offset, length);
}

int tree_file_oids(struct catalog *c, const struct cat_version *v, const char *path,
                   uint64_t from, size_t max, cairn_oid *out, size_t *n,
                   uint64_t *nobjects, char *path_out)
{
	struct kv_vid kv;
	struct found f;
	json_t *arr;
	size_t i;
	json_t *x;
	int rc;

	*n = 0;
	*nobjects = 0;
	version_vid(v, &kv);
	rc = lookup_path(c, &kv, v->vid, path, &f);
	if (rc != 0)
		return rc;
	snprintf(path_out, CAIRN_PATH_MAX + 1, "%s", f.path);
	if (f.e.type != 'f') {
		rc = cairn_error_set(CAIRN_EINVAL, "'%s' is not a regular file", f.path);
		found_free(&f);
		return rc;
	}
	*nobjects = f.e.nobjects;
	arr = json_array();
	rc = list_oids(c, v->vid, &f, from, max, arr);
	found_free(&f);
	json_array_foreach(arr, i, x) {
		if (rc == 0 && cairn_oid_parse(&out[*n], json_string_value(x)) == 0)
			(*n)++;
	}
	json_decref(arr);
	return rc;
}

/* ---- /v1/fs/{vid}/{ino}[/sub] ---- */

void tree_fs(struct catalog *c, struct http_req *r, const char *vids,
             const char *inos, const char *sub)
{
	struct kv_vid kv;
	struct found f;
	uint64_t vid, ino;
	json_t *out = NULL;
	int rc;

	if (util_parse_u64(vids, &vid) != 0 || util_parse_u64(inos, &ino) != 0 ||
	    ino > UINT32_MAX) {
		cairn_error_set(CAIRN_EINVAL, "bad fs path %s: want /v1/fs/<vid>/<ino>",
		                http_path(r));
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	if (sub != NULL && strcmp(sub, "lookup") != 0 && strcmp(sub, "children") != 0 &&
	    strcmp(sub, "objects") != 0) {
		cairn_error_set(CAIRN_ENOTFOUND, "no such endpoint: %s", http_path(r));
		http_respond_current_error(r, CAIRN_ENOTFOUND);
		return;
	}
	/* Only published versions: a staged vid has entries but no vids key,
	 * and a client must never see a version that may still vanish. */
	rc = catalog_vid_get(c, vid, &kv);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	rc = lookup_ino(c, &kv, vid, (uint32_t)ino, &f);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}

	if (sub == NULL) {
		out = entry_view(&f);
	} else if (strcmp(sub, "lookup") == 0) {
		const char *name = http_query(r, "name");
		struct found child;
		if (name == NULL || *name == '\0' || strchr(name, '/') != NULL ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			rc = cairn_error_set(CAIRN_EINVAL, "lookup needs name=<one path "
			                     "component>");
		} else if (f.e.type != 'd') {
			rc = cairn_error_set(CAIRN_EINVAL, "entry %llu is not a directory",
			                     (unsigned long long)ino);
		} else {
			rc = get_child(c, vid, f.e.ino, f.path, name, strlen(name), &child);
			if (rc == CAIRN_ENOTFOUND)
				cairn_error_set(CAIRN_ENOTFOUND, "no '%s' in directory %llu",
				                name, (unsigned long long)ino);
			if (rc == 0) {
				out = entry_view(&child);
				found_free(&child);
			}
		}
	} else if (strcmp(sub, "children") == 0) {
		json_t *entries, *next;
		size_t limit;
		rc = api_limit(r, &limit);
		if (rc == 0 && f.e.type != 'd')
			rc = cairn_error_set(CAIRN_EINVAL, "entry %llu is not a directory",
			                     (unsigned long long)ino);
		const char *fmt = http_query(r, "format");
		struct binbuf bin = { 0 };
		bool binary = fmt != NULL && strcmp(fmt, "binary") == 0;

		if (rc == 0 && fmt != NULL && !binary)
			rc = cairn_error_set(CAIRN_EINVAL, "unknown format '%s'", fmt);
		if (rc == 0)
			rc = list_children(c, vid, &f, http_query(r, "after"), limit,
			                   &entries, &next, binary ? &bin : NULL);
		if (rc == 0 && binary) {
			struct binbuf head = { 0 };
			const char *nx = json_string_value(next);

			rc = bin_put(&head, "CFE1", 4);
			if (rc == 0)
				rc = bin_u16(&head, nx ? (uint16_t)strlen(nx) : 0xffff);
			if (rc == 0 && nx)
				rc = bin_put(&head, nx, strlen(nx));
			/* magic, the cursor (length 0xffff: none), the records */
			if (rc == 0 && bin.len > 0)
				rc = bin_put(&head, bin.p, bin.len);
			json_decref(entries);
			json_decref(next);
			free(bin.p);
			if (rc == 0) {
				found_free(&f);
				http_respond_buffer(r, 200, "application/x-cairn-entries",
				                    head.p, head.len);
				return;
			}
			free(head.p);
		} else if (rc == 0) {
			out = json_pack("{s:o,s:o}", "entries", entries, "next", next);
		} else {
			free(bin.p);
		}
	} else {
		uint64_t from = 0;
		size_t limit;
		json_t *oids = json_array();
		if ((rc = api_query_u64(r, "from", &from)) == 0 &&
		    (rc = api_limit(r, &limit)) == 0) {
			if (f.e.type != 'f')
				rc = cairn_error_set(CAIRN_EINVAL, "entry %llu is not a regular "
				                     "file", (unsigned long long)ino);
			else
				rc = list_oids(c, vid, &f, from, limit, oids);
		}
		if (rc == 0)
			out = json_pack("{s:O,s:I,s:I}", "objects", oids,
			                "nobjects", (json_int_t)f.e.nobjects,
			                "chunk_size", (json_int_t)kv.chunk_size);
		json_decref(oids);
	}
	found_free(&f);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (out == NULL) {
		http_respond_error(r, CAIRN_ECORRUPT, "an entry of this version cannot "
		                   "be shown");
		return;
	}
	http_respond_json(r, 200, out);
}
