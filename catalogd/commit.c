/* commit.c — the streaming commit (see commit.h for the contract).
 *
 * Life of a commit
 *   header line    parsed and checked; derived_from references resolved;
 *                  a vid allocated and marked staging (synced) — from here
 *                  on, a crash leaves keys that the next start removes.
 *   entry lines    validated one by one and written under the vid into a
 *                  batch committed without sync every COMMIT_BATCH_KEYS
 *                  keys: the final batch's sync covers them all, since they
 *                  share one write-ahead log.
 *   end of body    the version's distinct objects are counted from its
 *                  vobjs keys; then, under the catalog lock, the version
 *                  gets its seq and is published with its audit record.
 *   any failure    catalog_stage_abort(): range deletes of the vid's keys.
 *
 * Canonical order is checked with a stack of the open directories (the
 * chain from the root to the last directory seen) and, per directory, the
 * last child name: an entry's parent must be on the stack, and its name must
 * sort after that parent's previous child. Popping a directory closes it for
 * good: nothing can be added to it later, because re-entering it would need
 * its name to appear again in its parent. Memory is O(depth).
 */
#include "commit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "error.h"
#include "fault.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

#define MOD "catalogd/commit"

#define COMMIT_LINE_MAX (1u << 20)
#define COMMIT_LINE_OIDS 1024           /* object ids one line may carry */
#define COMMIT_BATCH_KEYS 4096
#define COMMIT_BATCH_BYTES (8u << 20)
#define COMMIT_DERIVED_MAX 256
#define COMMIT_TEXT_MAX (64u * 1024)
#define COMMIT_MIN_CHUNK (64u * 1024)

struct dirframe {
	uint32_t ino;
	uint32_t path_len;              /* its path is commit.path[0..path_len) */
	uint32_t last_len;              /* 0: no child yet */
	char last[CAIRN_NAME_MAX + 1];
};

/* The file whose object ids are arriving. */
struct open_file {
	bool open;
	struct kv_entry e;
	uint32_t parent;
	char name[CAIRN_NAME_MAX + 1];
	size_t name_len;
	char path[CAIRN_PATH_MAX + 1];
	uint64_t have;                  /* ids received so far */
	size_t group_n;                 /* ids in group[] */
	/* A chunks-CF value being filled: format byte, then up to
	 * KV_GROUP_OIDS ids (the inline ids of a small file, too). */
	uint8_t group[1 + KV_GROUP_OIDS * CAIRN_OID_LEN];
};

struct commit {
	struct catalog *c;
	uint64_t dsid;
	char dsname[CAIRN_DATASET_NAME_MAX + 1];
	char actor[128];
	uint64_t started;

	uint64_t vid;
	bool staged;                    /* the staging marker is written */
	bool settled;                   /* published, or its keys removed */
	bool header_done;
	uint64_t lineno;

	char *line;                     /* a line split across body pieces */
	size_t line_len, line_cap;

	/* header */
	json_t *message, *meta, *transform, *derived;
	uint64_t inputs[COMMIT_DERIVED_MAX];
	size_t ninputs;
	uint32_t chunk_size;

	/* canonical order */
	struct dirframe *stack;
	size_t depth, stack_cap;
	char path[CAIRN_PATH_MAX + 1];  /* the top directory's path */
	uint64_t next_ino;

	struct open_file f;
	cairn_oid oids[COMMIT_LINE_OIDS];

	uint64_t files, dirs, symlinks, bytes;
	cairn_manifest_digest *md;
	struct db_batch *b;
	uint8_t val[KV_ENTRY_FIXED + CAIRN_PATH_MAX + 1];
};

static void commit_free(struct commit *cm)
{
	if (cm == NULL)
		return;
	free(cm->line);
	json_decref(cm->message);
	json_decref(cm->meta);
	json_decref(cm->transform);
	json_decref(cm->derived);
	free(cm->stack);
	cairn_manifest_digest_free(cm->md);
	db_batch_free(cm->b);
	free(cm);
}

/* Removes the staged keys, once. */
static void commit_settle_failed(struct commit *cm, const char *why)
{
	if (cm->settled)
		return;
	cm->settled = true;
	if (!cm->staged)
		return;
	/* The batch may hold keys of the vid; they must not land after the
	 * range deletes. */
	db_batch_clear(cm->b);
	if (catalog_stage_abort(cm->c, cm->vid) != 0)
		log_error(MOD, "commit to %s: %s (staged version %llu is removed at "
		          "the next start)", cm->dsname, cairn_error_msg(),
		          (unsigned long long)cm->vid);
	else
		log_info(MOD, "commit to %s by %s %s; staged version %llu removed",
		         cm->dsname, cm->actor, why, (unsigned long long)cm->vid);
}

/* Commits the staged keys gathered so far once the batch is big enough.
 * Without sync: only the publishing batch needs to be durable, and its
 * sync makes every earlier write of the log durable with it. */
static int flush(struct commit *cm, bool force)
{
	int rc;

	if (!force && db_batch_count(cm->b) < COMMIT_BATCH_KEYS &&
	    db_batch_bytes(cm->b) < COMMIT_BATCH_BYTES)
		return 0;
	if (db_batch_count(cm->b) == 0)
		return 0;
	rc = db_batch_commit(cm->b, false);
	if (rc != 0)
		return rc;
	db_batch_clear(cm->b);
	cairn_crash_point("commit.batch");
	return 0;
}

/* ---- the header ---- */

static int resolve_input(struct commit *cm, const char *ref)
{
	struct catalog *c = cm->c;
	struct cat_dataset ds = {0};
	struct cat_version v = {0};
	char *name = NULL, *ver = NULL;
	int rc;

	rc = cairn_ref_parse(ref, &name, &ver);
	if (rc != 0)
		goto out;
	rc = catalog_dataset_get(c, name, &ds);
	if (rc != 0)
		goto out;
	rc = catalog_version_ref(c, &ds, ver ? ver : "latest", &v);
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < cm->ninputs; i++)
		if (cm->inputs[i] == v.vid)
			goto out;       /* named twice: one edge */
	cm->inputs[cm->ninputs++] = v.vid;
	json_array_append_new(cm->derived, json_pack("{s:s,s:I,s:O}",
		"dataset", ds.name, "seq", (json_int_t)v.seq,
		"digest", json_object_get(v.rec, "digest")));
out:
	if (rc != 0)
		cairn_error_prefix(rc, "derived_from '%s'", ref);
	catalog_version_free(&v);
	catalog_dataset_free(&ds);
	free(name);
	free(ver);
	return rc;
}

static int commit_header(struct commit *cm, json_t *h)
{
	json_t *v;
	int rc;

	if (!json_is_object(h) || json_object_get(h, "path") != NULL)
		return cairn_error_set(CAIRN_EINVAL, "the first line must be the "
		                       "commit's header ({\"message\": ..., \"chunk_size\": ...})");
	v = json_object_get(h, "message");
	if (v != NULL && !json_is_null(v) &&
	    (!json_is_string(v) || json_string_length(v) > COMMIT_TEXT_MAX))
		return cairn_error_set(CAIRN_EINVAL, "message must be a string of at "
		                       "most %u bytes", COMMIT_TEXT_MAX);
	cm->message = json_string(json_is_string(v) ? json_string_value(v) : "");

	cm->chunk_size = cm->c->chunk_size;
	v = json_object_get(h, "chunk_size");
	if (v != NULL && !json_is_null(v)) {
		json_int_t cs = json_integer_value(v);
		if (!json_is_integer(v) || cs < COMMIT_MIN_CHUNK ||
		    cs > (json_int_t)cm->c->chunk_size || (cs & (cs - 1)) != 0)
			return cairn_error_set(CAIRN_EINVAL, "chunk_size must be a power "
			                       "of two from %u to %u (the pool's chunk_size)",
			                       COMMIT_MIN_CHUNK, cm->c->chunk_size);
		cm->chunk_size = (uint32_t)cs;
	}

	v = json_object_get(h, "meta");
	if (v == NULL || json_is_null(v)) {
		cm->meta = json_object();
	} else {
		const char *k;
		json_t *x;
		if (!json_is_object(v))
			return cairn_error_set(CAIRN_EINVAL, "meta must be an object of strings");
		json_object_foreach(v, k, x)
			if (!json_is_string(x) || *k == '\0')
				return cairn_error_set(CAIRN_EINVAL, "meta must map names to "
				                       "strings ('%s' does not)", k);
		cm->meta = json_incref(v);
	}

	v = json_object_get(h, "transform");
	if (v != NULL && !json_is_null(v) && !json_is_string(v) && !json_is_object(v))
		return cairn_error_set(CAIRN_EINVAL, "transform must be a string "
		                       "(free text or JSON)");
	cm->transform = v ? json_incref(v) : json_null();

	cm->derived = json_array();
	v = json_object_get(h, "derived_from");
	if (v != NULL && !json_is_null(v)) {
		size_t i;
		json_t *x;
		if (!json_is_array(v) || json_array_size(v) > COMMIT_DERIVED_MAX)
			return cairn_error_set(CAIRN_EINVAL, "derived_from must be an array "
			                       "of at most %d \"dataset@version\" strings",
			                       COMMIT_DERIVED_MAX);
		json_array_foreach(v, i, x) {
			if (!json_is_string(x))
				return cairn_error_set(CAIRN_EINVAL, "derived_from must hold "
				                       "\"dataset@version\" strings");
			rc = resolve_input(cm, json_string_value(x));
			if (rc != 0)
				return rc;
		}
	}

	rc = catalog_stage_begin(cm->c, &cm->vid);
	if (rc != 0)
		return rc;
	cm->staged = true;
	cm->header_done = true;
	log_debug(MOD, "commit to %s by %s staged as version %llu", cm->dsname,
	          cm->actor, (unsigned long long)cm->vid);
	return 0;
}

/* ---- entries ---- */

static void put_entry(struct commit *cm, uint32_t parent, const char *name,
                      size_t name_len, const char *path, const struct kv_entry *e,
                      const void *tail, size_t tail_len)
{
	uint8_t key[12 + CAIRN_NAME_MAX];
	uint8_t ikey[12];
	size_t plen = strlen(path);
	size_t n = kv_entry_enc(cm->val, e);

	if (tail_len)
		memcpy(cm->val + n, tail, tail_len);
	db_batch_put(cm->b, CF_ENTRIES, key, kv_entry_key(key, cm->vid, parent, name, name_len),
	             cm->val, n + tail_len);
	/* The inode record reuses the value buffer: fmt | parent | path. */
	cm->val[0] = KV_FMT_V1;
	kv_put32(cm->val + 1, parent);
	memcpy(cm->val + 5, path, plen);
	db_batch_put(cm->b, CF_INODES, ikey, kv_ino_key(ikey, cm->vid, e->ino),
	             cm->val, 5 + plen);
}

/* Writes the ids gathered in f->group as one chunks-CF key. */
static void put_group(struct commit *cm)
{
	struct open_file *f = &cm->f;
	uint8_t key[16];
	uint32_t group;

	if (f->group_n == 0)
		return;
	group = (uint32_t)((f->have - 1) / KV_GROUP_OIDS);
	f->group[0] = KV_FMT_V1;
	db_batch_put(cm->b, CF_CHUNKS, key, kv_chunk_key(key, cm->vid, f->e.ino, group),
	             f->group, 1 + f->group_n * CAIRN_OID_LEN);
	f->group_n = 0;
}

/* The file's last id arrived: write its entry (ids inline when few). The
 * entry is written last so that an entry in the catalog always has all of
 * its ids; nothing reads a staged vid anyway, but it keeps the rule simple. */
static int close_file(struct commit *cm)
{
	struct open_file *f = &cm->f;

	if (f->e.nobjects <= KV_INLINE_OIDS) {
		put_entry(cm, f->parent, f->name, f->name_len, f->path, &f->e,
		          f->group + 1, f->group_n * CAIRN_OID_LEN);
		f->group_n = 0;
	} else {
		put_group(cm);
		put_entry(cm, f->parent, f->name, f->name_len, f->path, &f->e, NULL, 0);
	}
	f->open = false;
	return flush(cm, false);
}

static int add_objects(struct commit *cm, json_t *arr)
{
	struct catalog *c = cm->c;
	struct open_file *f = &cm->f;
	size_t n, i;
	json_t *x;
	int rc;

	if (!json_is_array(arr))
		return cairn_error_set(CAIRN_EINVAL, "objects of '%s' must be an array "
		                       "of ids", f->path);
	n = json_array_size(arr);
	if (n > COMMIT_LINE_OIDS)
		return cairn_error_set(CAIRN_EINVAL, "a line carries at most %d object "
		                       "ids ('%s' has %zu)", COMMIT_LINE_OIDS, f->path, n);
	if (n > f->e.nobjects - f->have)
		return cairn_error_set(CAIRN_EINVAL, "'%s' has more object ids than its "
		                       "nobjects (%llu)", f->path,
		                       (unsigned long long)f->e.nobjects);
	json_array_foreach(arr, i, x) {
		const char *hex = json_string_value(x);
		uint64_t k = f->have + i;
		uint64_t expect = k + 1 < f->e.nobjects ? cm->chunk_size
		                  : f->e.size - k * (uint64_t)cm->chunk_size;
		struct kv_object o;
		char h[CAIRN_OID_HEXLEN + 1];

		if (hex == NULL || cairn_oid_parse(&cm->oids[i], hex) != 0)
			return cairn_error_set(CAIRN_EINVAL, "object %llu of '%s' is not an "
			                       "object id", (unsigned long long)k, f->path);
		rc = catalog_object_get(c, &cm->oids[i], &o);
		if (rc == CAIRN_ENOTFOUND)
			return cairn_error_set(CAIRN_ENOTFOUND, "object %s of '%s' is not "
			                       "stored", cairn_oid_fmt(h, &cm->oids[i]), f->path);
		if (rc != 0)
			return rc;
		if (o.size != expect)
			return cairn_error_set(CAIRN_EINVAL, "object %s of '%s' has size "
			                       "%llu, expected %llu", cairn_oid_fmt(h, &cm->oids[i]),
			                       f->path, (unsigned long long)o.size,
			                       (unsigned long long)expect);
	}
	cairn_manifest_digest_add_objects(cm->md, cm->oids, n);
	for (i = 0; i < n; i++) {
		uint8_t key[24], val[9];
		uint64_t k = f->have;
		uint64_t size = k + 1 < f->e.nobjects ? cm->chunk_size
		                : f->e.size - k * (uint64_t)cm->chunk_size;

		val[0] = KV_FMT_V1;
		kv_put64(val + 1, size);
		db_batch_put(cm->b, CF_VOBJS, key, kv_vobj_key(key, cm->vid, cm->oids[i].b),
		             val, sizeof(val));
		/* The reverse (object → versions), for tiering's pins and
		 * rules; an aborted commit removes it with the vobjs key. */
		db_batch_put(cm->b, CF_OBJREFS, key, kv_objref_key(key, cm->oids[i].b, cm->vid),
		             val, 1);
		memcpy(f->group + 1 + f->group_n * CAIRN_OID_LEN, cm->oids[i].b,
		       CAIRN_OID_LEN);
		f->group_n++;
		f->have++;
		if (f->group_n == KV_GROUP_OIDS && f->e.nobjects > KV_INLINE_OIDS) {
			put_group(cm);
			rc = flush(cm, false);
			if (rc != 0)
				return rc;
		}
	}
	if (f->have == f->e.nobjects)
		return close_file(cm);
	return 0;
}

static int get_int(json_t *o, const char *key, const char *path, bool required,
                   json_int_t min, json_int_t max, json_int_t *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		if (required)
			return cairn_error_set(CAIRN_EINVAL, "entry '%s' has no %s", path, key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return cairn_error_set(CAIRN_EINVAL, "entry '%s' has a bad %s", path, key);
	*out = json_integer_value(v);
	return 0;
}

/* Places path in canonical order; sets *parent to its directory's ino.
 * Names are compared with memcmp: canonical order is bytewise, whatever
 * the locale or encoding. */
static int check_order(struct commit *cm, const char *path, const char *name,
                       size_t name_len, uint32_t *parent)
{
	size_t dlen = name == path ? 0 : (size_t)(name - path) - 1;
	struct dirframe *top;

	/* Leave directories until the entry's own is on top. */
	for (;;) {
		top = &cm->stack[cm->depth - 1];
		if (top->path_len == dlen && memcmp(cm->path, path, dlen) == 0)
			break;
		if (cm->depth == 1 || top->path_len < dlen)
			return cairn_error_set(CAIRN_EINVAL, "entry '%s' comes before its "
			                       "directory '%.*s' or out of order", path,
			                       (int)dlen, path);
		cm->depth--;
	}
	if (top->last_len > 0) {
		size_t m = name_len < top->last_len ? name_len : top->last_len;
		int cmp = memcmp(name, top->last, m);
		if (cmp < 0 || (cmp == 0 && name_len <= top->last_len))
			return cairn_error_set(CAIRN_EINVAL, "entry '%s' is out of order or "
			                       "a duplicate: it comes after '%.*s%s%.*s'",
			                       path, (int)dlen, path, dlen ? "/" : "",
			                       (int)top->last_len, top->last);
	}
	memcpy(top->last, name, name_len);
	top->last_len = (uint32_t)name_len;
	*parent = top->ino;
	return 0;
}

static int push_dir(struct commit *cm, const char *path, size_t plen, uint32_t ino)
{
	if (cm->depth == cm->stack_cap) {
		size_t cap = cm->stack_cap * 2;
		struct dirframe *s = realloc(cm->stack, cap * sizeof(*s));
		if (s == NULL)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		cm->stack = s;
		cm->stack_cap = cap;
	}
	memcpy(cm->path, path, plen);
	cm->stack[cm->depth].ino = ino;
	cm->stack[cm->depth].path_len = (uint32_t)plen;
	cm->stack[cm->depth].last_len = 0;
	cm->depth++;
	return 0;
}

static int commit_entry(struct commit *cm, json_t *o)
{
	struct open_file *f = &cm->f;
	const char *path, *type, *name, *target = NULL;
	json_int_t mode = 0, mtime = 0, mtime_ns = 0, size = 0, nobj = 0;
	struct cairn_entry me;
	struct kv_entry e;
	size_t plen, name_len;
	uint32_t parent = 0;
	json_t *objs;
	int rc;

	if (!json_is_object(o))
		return cairn_error_set(CAIRN_EINVAL, "each line must be a JSON object");
	path = json_string_value(json_object_get(o, "path"));
	objs = json_object_get(o, "objects");
	if (f->open) {
		if (path != NULL || objs == NULL)
			return cairn_error_set(CAIRN_EINVAL, "'%s' declares %llu objects but "
			                       "only %llu were sent", f->path,
			                       (unsigned long long)f->e.nobjects,
			                       (unsigned long long)f->have);
		return add_objects(cm, objs);
	}
	if (path == NULL)
		return cairn_error_set(CAIRN_EINVAL, objs ? "object ids without a file "
		                       "that needs them" : "entry has no \"path\"");
	rc = cairn_path_validate(path, 0);
	if (rc != 0)
		return rc;
	plen = strlen(path);
	name = strrchr(path, '/');
	name = name ? name + 1 : path;
	name_len = plen - (size_t)(name - path);

	type = json_string_value(json_object_get(o, "type"));
	if (type == NULL || strlen(type) != 1 || strchr("fdl", type[0]) == NULL)
		return cairn_error_set(CAIRN_EINVAL, "entry '%s' has a bad type (want "
		                       "\"f\", \"d\" or \"l\")", path);
	if ((rc = get_int(o, "mode", path, true, 0, 0177777, &mode)) != 0 ||
	    (rc = get_int(o, "mtime", path, false, INT64_MIN, INT64_MAX, &mtime)) != 0 ||
	    (rc = get_int(o, "mtime_ns", path, false, 0, 999999999, &mtime_ns)) != 0)
		return rc;

	rc = check_order(cm, path, name, name_len, &parent);
	if (rc != 0)
		return rc;
	if (cm->next_ino > UINT32_MAX)
		return cairn_error_set(CAIRN_ETOOBIG, "a version holds at most %u entries",
		                       UINT32_MAX);

	memset(&e, 0, sizeof(e));
	e.type = type[0];
	e.mode = (uint32_t)mode & 07777;
	e.ino = (uint32_t)cm->next_ino++;
	e.mtime = mtime;
	e.mtime_ns = (uint32_t)mtime_ns;

	switch (e.type) {
	case 'd':
		if ((rc = get_int(o, "size", path, false, 0, 0, &size)) != 0)
			return rc;
		if (objs != NULL)
			return cairn_error_set(CAIRN_EINVAL, "directory '%s' has objects", path);
		break;
	case 'l':
		target = json_string_value(json_object_get(o, "target"));
		if (target == NULL)
			return cairn_error_set(CAIRN_EINVAL, "symlink '%s' has no target", path);
		rc = cairn_symlink_validate(path, target);
		if (rc != 0)
			return rc;
		e.size = strlen(target);
		if ((rc = get_int(o, "size", path, false, (json_int_t)e.size,
		                  (json_int_t)e.size, &size)) != 0)
			return rc;
		if (objs != NULL)
			return cairn_error_set(CAIRN_EINVAL, "symlink '%s' has objects", path);
		break;
	case 'f':
		if ((rc = get_int(o, "size", path, true, 0, INT64_MAX, &size)) != 0 ||
		    (rc = get_int(o, "nobjects", path, true, 0, INT64_MAX, &nobj)) != 0)
			return rc;
		e.size = (uint64_t)size;
		e.nobjects = (e.size + cm->chunk_size - 1) / cm->chunk_size;
		if ((uint64_t)nobj != e.nobjects)
			return cairn_error_set(CAIRN_EINVAL, "file '%s' of %llu bytes must "
			                       "have %llu objects of %u bytes, not %lld", path,
			                       (unsigned long long)e.size,
			                       (unsigned long long)e.nobjects, cm->chunk_size,
			                       (long long)nobj);
		break;
	}

	me.path = path;
	me.type = e.type;
	me.mode = e.mode;
	me.size = e.size;
	me.mtime_sec = e.mtime;
	me.mtime_nsec = e.mtime_ns;
	me.target = target;
	me.nobjects = e.nobjects;
	cairn_manifest_digest_add(cm->md, &me);

	switch (e.type) {
	case 'd':
		cm->dirs++;
		put_entry(cm, parent, name, name_len, path, &e, NULL, 0);
		rc = push_dir(cm, path, plen, e.ino);
		if (rc != 0)
			return rc;
		return flush(cm, false);
	case 'l':
		cm->symlinks++;
		put_entry(cm, parent, name, name_len, path, &e, target, e.size);
		return flush(cm, false);
	}
	cm->files++;
	cm->bytes += e.size;
	if (e.nobjects == 0) {
		if (objs != NULL && json_array_size(objs) > 0)
			return cairn_error_set(CAIRN_EINVAL, "empty file '%s' has objects", path);
		put_entry(cm, parent, name, name_len, path, &e, NULL, 0);
		return flush(cm, false);
	}
	f->open = true;
	f->e = e;
	f->parent = parent;
	memcpy(f->name, name, name_len);
	f->name_len = name_len;
	memcpy(f->path, path, plen + 1);
	f->have = 0;
	f->group_n = 0;
	if (objs == NULL)
		return 0;
	return add_objects(cm, objs);
}

static int commit_line(struct commit *cm, const char *p, size_t n)
{
	json_error_t jerr;
	json_t *o;
	int rc;

	cm->lineno++;
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0;
	/* A duplicated key in a line is refused rather than resolved: the
	 * client meant one of the two values, and guessing would hash the
	 * wrong manifest. */
	o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return cairn_error_set(CAIRN_EINVAL, "line %llu is not valid JSON: %s",
		                       (unsigned long long)cm->lineno, jerr.text);
	if (!cm->header_done)
		rc = commit_header(cm, o);
	else
		rc = commit_entry(cm, o);
	json_decref(o);
	if (rc != 0)
		cairn_error_prefix(rc, "line %llu", (unsigned long long)cm->lineno);
	return rc;
}

/* ---- body callbacks ---- */

static int line_append(struct commit *cm, const char *p, size_t n)
{
	if (n > COMMIT_LINE_MAX - cm->line_len)
		return cairn_error_set(CAIRN_ETOOBIG, "line %llu is longer than %u bytes",
		                       (unsigned long long)cm->lineno + 1, COMMIT_LINE_MAX);
	if (cm->line_len + n > cm->line_cap) {
		size_t cap = cm->line_cap ? cm->line_cap : 64 * 1024;
		while (cap < cm->line_len + n)
			cap *= 2;
		if (cap > COMMIT_LINE_MAX)
			cap = COMMIT_LINE_MAX;
		char *l = realloc(cm->line, cap);
		if (l == NULL)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		cm->line = l;
		cm->line_cap = cap;
	}
	memcpy(cm->line + cm->line_len, p, n);
	cm->line_len += n;
	return 0;
}

static int commit_data(void *bctx, struct http_req *r, const char *data, size_t len)
{
	struct commit *cm = bctx;
	int rc = 0;

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (nl != NULL && cm->line_len == 0) {
			/* The common case: a whole line inside this piece. */
			rc = commit_line(cm, data, n);
		} else {
			rc = line_append(cm, data, n);
			if (rc == 0 && nl != NULL) {
				rc = commit_line(cm, cm->line, cm->line_len);
				cm->line_len = 0;
			}
		}
		if (rc != 0)
			break;
		if (nl == NULL)
			break;
		data += n + 1;
		len -= n + 1;
	}
	if (rc != 0) {
		/* Drop the staged keys now rather than after the client has
		 * finished sending a body nobody will read. */
		int keep = rc;
		char *msg = strdup(cairn_error_msg());
		commit_settle_failed(cm, "failed");
		cairn_error_set(keep, "%s", msg ? msg : "commit failed");
		free(msg);
	}
	return rc;
}

/* Counts the version's distinct objects and their bytes: its vobjs keys,
 * whose values carry each object's size. A scan, not a get per object. */
static int count_objects(struct commit *cm, uint64_t *count, uint64_t *bytes)
{
	struct db_iter *it = NULL;
	uint8_t lo[8], hi[8];
	int rc;

	*count = *bytes = 0;
	kv_put64(lo, cm->vid);
	kv_put64(hi, cm->vid + 1);
	rc = db_iter_new(&it, cm->c->db, CF_VOBJS, lo, 8, hi, 8);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t vlen;
		const char *v = db_iter_value(it, &vlen);

		if (vlen != 9 || (uint8_t)v[0] != KV_FMT_V1) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "a staged object record of "
			                     "version %llu is unreadable",
			                     (unsigned long long)cm->vid);
			goto out;
		}
		(*count)++;
		*bytes += kv_get64((const uint8_t *)v + 1);
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	return rc;
}

/* The final step: under the lock, the version gets its seq and becomes
 * visible together with its audit record. */
static int publish(struct commit *cm, uint64_t *seq_out, json_t **rec_out,
                   uint64_t nobjects, uint64_t object_bytes, const cairn_oid *digest)
{
	struct catalog *c = cm->c;
	struct cat_dataset ds = {0};
	struct cat_counters n;
	char hex[CAIRN_OID_HEXLEN + 1], target[CAIRN_DATASET_NAME_MAX + 24];
	uint8_t key[32], vval[KV_VID_LEN];
	uint8_t fmt = KV_FMT_V1;
	struct kv_vid kv;
	json_t *rec = NULL;
	int64_t now = util_now();
	uint64_t seq;
	int rc;

	cairn_oid_fmt(hex, digest);
	catalog_lock(c);
	rc = catalog_dataset_get(c, cm->dsname, &ds);
	if (rc != 0)
		goto out;
	seq = catalog_dataset_latest(&ds) + 1;
	rec = json_pack("{s:I,s:s,s:I,s:o,s:s,s:O,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
	                "s:O,s:O,s:O}",
	                "seq", (json_int_t)seq, "digest", hex, "vid", (json_int_t)cm->vid,
	                "parent", seq > 1 ? json_integer((json_int_t)(seq - 1)) : json_null(),
	                "author", cm->actor, "message", cm->message,
	                "time", (json_int_t)now, "chunk_size", (json_int_t)cm->chunk_size,
	                "files", (json_int_t)cm->files, "dirs", (json_int_t)cm->dirs,
	                "symlinks", (json_int_t)cm->symlinks, "bytes", (json_int_t)cm->bytes,
	                "objects", (json_int_t)nobjects,
	                "object_bytes", (json_int_t)object_bytes,
	                "meta", cm->meta, "transform", cm->transform,
	                "derived_from", cm->derived);
	if (rec == NULL) {
		rc = cairn_error_set(CAIRN_EINVAL, "the version record cannot be encoded");
		goto out;
	}
	rc = catalog_put_json(cm->b, CF_VERSIONS, key, kv_u64u64_key(key, cm->dsid, seq), rec);
	if (rc != 0)
		goto out;
	kv.dsid = cm->dsid;
	kv.seq = seq;
	kv.chunk_size = cm->chunk_size;
	kv.time = now;
	kv_vid_enc(vval, &kv);
	db_batch_put(cm->b, CF_VIDS, key, kv_u64_key(key, cm->vid), vval, sizeof(vval));
	db_batch_put(cm->b, CF_DIGESTS, key, kv_digest_key(key, cm->dsid, digest->b, seq),
	             &fmt, 1);
	for (size_t i = 0; i < cm->ninputs; i++) {
		db_batch_put(cm->b, CF_LINEAGE_UP, key,
		             kv_u64u64_key(key, cm->vid, cm->inputs[i]), &fmt, 1);
		db_batch_put(cm->b, CF_LINEAGE_DOWN, key,
		             kv_u64u64_key(key, cm->inputs[i], cm->vid), &fmt, 1);
	}
	json_object_set_new(ds.rec, "latest", json_integer((json_int_t)seq));
	rc = catalog_put_json(cm->b, CF_DATASETS, cm->dsname, strlen(cm->dsname), ds.rec);
	if (rc != 0)
		goto out;
	db_batch_del(cm->b, CF_META, key, kv_staging_key(key, cm->vid));
	n = c->n;
	n.versions++;
	snprintf(target, sizeof(target), "%s@%llu", cm->dsname, (unsigned long long)seq);
	cairn_crash_point("commit.publish");
	rc = catalog_publish(c, cm->b, &n, cm->actor, "version.commit", target,
	                     json_pack("{s:s,s:I,s:I,s:I,s:I}", "digest", hex,
	                               "vid", (json_int_t)cm->vid,
	                               "files", (json_int_t)cm->files,
	                               "bytes", (json_int_t)cm->bytes,
	                               "objects", (json_int_t)nobjects));
	if (rc != 0)
		goto out;
	cm->settled = true;
	*seq_out = seq;
	*rec_out = rec;
	rec = NULL;
out:
	catalog_unlock(c);
	catalog_dataset_free(&ds);
	json_decref(rec);
	return rc;
}

static void commit_end(void *bctx, struct http_req *r)
{
	struct commit *cm = bctx;
	struct cat_dataset ds = {0};
	struct cat_version v = {0};
	uint64_t nobjects = 0, object_bytes = 0, seq = 0;
	json_t *view = NULL;
	cairn_oid digest;
	int rc;

	if (cm->line_len > 0) {
		rc = commit_line(cm, cm->line, cm->line_len);
		cm->line_len = 0;
		if (rc != 0)
			goto out;
	}
	if (!cm->header_done) {
		rc = cairn_error_set(CAIRN_EINVAL, "the commit body is empty: it starts "
		                     "with a header line");
		goto out;
	}
	if (cm->f.open) {
		rc = cairn_error_set(CAIRN_EINVAL, "the body ends before all objects of "
		                     "'%s' were sent (%llu of %llu)", cm->f.path,
		                     (unsigned long long)cm->f.have,
		                     (unsigned long long)cm->f.e.nobjects);
		goto out;
	}
	rc = flush(cm, true);
	if (rc != 0)
		goto out;
	rc = count_objects(cm, &nobjects, &object_bytes);
	if (rc != 0)
		goto out;
	cairn_manifest_digest_final(cm->md, &digest);
	rc = publish(cm, &seq, &v.rec, nobjects, object_bytes, &digest);
	if (rc != 0)
		goto out;
	log_info(MOD, "%s committed %s@%llu: %llu files, %llu bytes, %llu objects in "
	         "%llds", cm->actor, cm->dsname, (unsigned long long)seq,
	         (unsigned long long)cm->files, (unsigned long long)cm->bytes,
	         (unsigned long long)nobjects, (long long)(util_now() - (int64_t)cm->started));
	v.dsid = cm->dsid;
	v.seq = seq;
	v.vid = cm->vid;
	v.chunk_size = cm->chunk_size;
	ds.id = cm->dsid;
	memcpy(ds.name, cm->dsname, sizeof(ds.name));
	/* Without tiers: they would cost a lookup per object, and right
	 * after a commit they say nothing new (GET the version for them). */
	rc = api_version_view(&view, cm->c, &ds, &v, false);
	if (rc != 0) {
		/* Published; only the answer failed. */
		http_respond_current_error(r, rc);
		goto done;
	}
	http_respond_json(r, 201, view);
	goto done;
out:
	{
		char *msg = strdup(cairn_error_msg());
		commit_settle_failed(cm, "failed");
		http_respond_error(r, rc, msg ? msg : cairn_error_name(rc));
		free(msg);
	}
done:
	catalog_version_free(&v);
}

static void commit_done(void *bctx, bool finished)
{
	struct commit *cm = bctx;

	if (!cm->settled)
		commit_settle_failed(cm, "was cut off");
	commit_free(cm);
}

static const struct http_body_ops commit_ops = {
	.data = commit_data,
	.end = commit_end,
	.done = commit_done,
};

void commit_start(struct catalog *c, struct http_req *r, const struct cat_dataset *ds)
{
	struct commit *cm;
	int rc;

	cm = calloc(1, sizeof(*cm));
	if (cm == NULL) {
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	cm->c = c;
	cm->dsid = ds->id;
	memcpy(cm->dsname, ds->name, sizeof(cm->dsname));
	api_actor(r, cm->actor, sizeof(cm->actor));
	cm->started = (uint64_t)util_now();
	cm->next_ino = 1;
	cm->stack_cap = 16;
	cm->stack = calloc(cm->stack_cap, sizeof(*cm->stack));
	if (cm->stack == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	/* The root: ino 0, path "". */
	cm->depth = 1;
	if ((rc = cairn_manifest_digest_new(&cm->md)) != 0 ||
	    (rc = db_batch_new(&cm->b, c->db)) != 0)
		goto fail;
	http_body(r, &commit_ops, cm);
	return;
fail:
	http_respond_current_error(r, rc);
	commit_free(cm);
}
