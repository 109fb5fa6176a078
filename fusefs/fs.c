/* fs.c — the FUSE low-level operations of cairnfs.
 *
 * Where a request goes:
 *   lookup/getattr  special inodes (root, namespaces, datasets, links) are
 *                   answered from catalogd's catalog endpoints with ~1 s
 *                   timeouts; entry inodes from the entry LRU or
 *                   /v1/fs/{vid}/{ino}, with timeouts of days.
 *   readdir(plus)   one page of the listing lives in the directory handle;
 *                   the offset given to the kernel is the entry's position
 *                   + 1, so a later call resumes from the page it names.
 *   open/read       the file handle keeps a window of object ids and a few
 *                   open object fds; read replies with fd-backed buffers so
 *                   libfuse can splice object bytes into /dev/fuse without
 *                   copying them through user space. A sequential reader
 *                   has the disk read the next pool objects ahead, or, when
 *                   they are not in the pool, has the next few downloaded
 *                   in parallel (objects.c).
 *   getxattr        user.cairn.tier asks catalogd about a file's objects a
 *                   batch at a time.
 *
 * Nothing here allocates per file of a dataset beyond what one request,
 * one open file or one open directory needs; see inode.h for the tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "error.h"
#include "fs.h"
#include "inode.h"
#include "log.h"
#include "objects.h"
#include "remote.h"

#define MOD "cairnfs"

/* Kernel cache lifetimes, in seconds. Nothing inside a version ever
 * changes, so the kernel may keep it as long as it likes (~12 days). */
#define TTL_VERSION  1e6
/* Root, namespaces, datasets and tags change as people commit and tag. */
#define TTL_CATALOG  1.0
#define LINK_REFRESH_MS 1000

/* What stat(2) reports as the preferred I/O size: the largest read the
 * kernel sends us, so cp and cat ask in steps that fill one request. */
#define IO_BLKSIZE (1u << 20)

/* Chunks a sequential reader has the kernel read ahead of the one it is
 * in: at the default 4 MiB chunk size, 8 MiB of pool reads in flight. */
#define PREFETCH_CHUNKS 2

/* Open object fds a file handle keeps: the chunk being read, the ones
 * read ahead, and room for a read that spans a boundary. */
#define FH_FDS (PREFETCH_CHUNKS + 3)

/* Objects downloaded ahead of a sequential reader whose data is not in the
 * pool: with 4 MiB objects, 16 MiB in flight over as many requests, enough
 * to keep a network link or S3 behind catalogd busy while the reader works
 * through the object it has. objects.c bounds the downloads in flight. */
#define COLD_AHEAD 8

/* Jumps in a row that make a handle a random reader, and the set of cold
 * chunks it has touched (4096 bits, whatever the file's size). */
#define RANDOM_JUMPS 3
#define TOUCH_WORDS 64

#define XATTR_VERSION "user.cairn.version"
#define XATTR_OBJECTS "user.cairn.objects"
#define XATTR_TIER    "user.cairn.tier"

static struct fuse_session *session;
static uid_t owner_uid;
static gid_t owner_gid;
static int64_t mount_time;
static unsigned max_read;

/* ---- Errors and attributes ------------------------------------------- */

/* The one place a CAIRN_E* code becomes an errno. */
static void reply_rc(fuse_req_t req, int rc, const char *what)
{
	int err = cairn_error_to_errno(rc);

	if (rc != CAIRN_ENOTFOUND)
		log_warn(MOD, "%s: %s", what, cairn_error_msg());
	fuse_reply_err(req, err);
}

static void entry_stat(struct stat *st, const struct cfs_entry *e)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = cfs_ino_make(e->vid, e->ino);
	switch (e->type) {
	case CAIRN_FT_DIR:
		st->st_mode = S_IFDIR;
		break;
	case CAIRN_FT_SYMLINK:
		st->st_mode = S_IFLNK;
		break;
	default:
		st->st_mode = S_IFREG;
		break;
	}
	st->st_mode |= e->mode & 07777;
	/* 1 is the "subdirectories unknown" count: a 2 would tell find(1)
	 * that a directory has no subdirectories. */
	st->st_nlink = 1;
	st->st_uid = owner_uid;
	st->st_gid = owner_gid;
	st->st_size = (off_t)e->size;
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
	st->st_blksize = IO_BLKSIZE;
	st->st_mtim.tv_sec = e->mtime;
	st->st_mtim.tv_nsec = e->mtime_ns;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

/* A version's root directory: entry 0 of its vid. */
static void version_stat(struct stat *st, const struct cfs_version *v)
{
	struct cfs_entry e = {
		.vid = v->vid, .ino = 0, .type = CAIRN_FT_DIR, .mode = 0755,
		.mtime = v->time,
	};

	entry_stat(st, &e);
}

static int seq_len(uint64_t seq)
{
	char buf[24];

	return snprintf(buf, sizeof(buf), "%" PRIu64, seq);
}

static void special_stat(struct stat *st, const struct cfs_snode *n)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_nlink = 1;
	st->st_uid = owner_uid;
	st->st_gid = owner_gid;
	st->st_blksize = IO_BLKSIZE;
	if (n->kind == CFS_S_LINK) {
		st->st_mode = S_IFLNK | 0777;
		st->st_size = seq_len(n->target);
	} else {
		st->st_mode = S_IFDIR | 0555;
	}
	st->st_mtim.tv_sec = n->mtime ? n->mtime : mount_time;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static void fill_param(struct fuse_entry_param *p, const struct stat *st, double ttl)
{
	memset(p, 0, sizeof(*p));
	p->ino = st->st_ino;
	p->attr = *st;
	p->attr_timeout = ttl;
	p->entry_timeout = ttl;
}

static void reply_negative(fuse_req_t req, double ttl)
{
	struct fuse_entry_param p;

	/* ino 0 lets the kernel keep the miss for entry_timeout. */
	memset(&p, 0, sizeof(p));
	p.entry_timeout = ttl;
	fuse_reply_entry(req, &p);
}

/* The entry behind an entry inode: LRU first, catalogd on a miss. */
static int get_entry(struct cfs_entry *e, uint64_t ino)
{
	uint32_t vid = cfs_ino_vid(ino), eino = cfs_ino_eino(ino);
	int rc;

	if (cfs_ecache_get(e, vid, eino))
		return 0;
	rc = cfs_remote_entry(e, NULL, vid, eino);
	if (rc == 0)
		cfs_ecache_put(e);
	return rc;
}

/* "123" but not "0123" or "0": how a sequence number is spelled here. */
static bool is_seq(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && s[n] == '\0' && s[0] != '0' && n < 20;
}

/* ---- Links: `latest` and tags --------------------------------------- */

struct tag_find {
	const char *tag;
	uint64_t seq;
};

static int tag_find_fn(void *ctx, const char *tag, uint64_t seq)
{
	struct tag_find *f = ctx;

	if (strcmp(tag, f->tag) == 0) {
		f->seq = seq;
		return 1;
	}
	return 0;
}

/* Where `name` in dataset points now: *seq = 0 when it does not exist. */
static int link_target(uint64_t *seq, const char *dataset, const char *name)
{
	int rc;

	*seq = 0;
	if (strcmp(name, "latest") == 0) {
		struct cfs_dataset d;

		rc = cfs_remote_dataset(&d, dataset);
		if (rc == 0)
			*seq = d.latest;
	} else {
		struct tag_find f = { .tag = name };

		rc = cfs_remote_tags(dataset, tag_find_fn, &f);
		if (rc > 0)
			rc = 0;
		if (rc == 0)
			*seq = f.seq;
	}
	if (rc == CAIRN_ENOTFOUND)
		rc = 0;
	return rc;
}

/* The kernel caches symlink targets (FUSE_CAP_CACHE_SYMLINKS) until told
 * otherwise. Not for use from readlink: the kernel holds the link's page
 * locked while it waits for that reply, and invalidation waits for it. */
static void link_moved(const struct cfs_snode *n)
{
	int r;

	if (!session)
		return;
	r = fuse_lowlevel_notify_inval_inode(session, n->ino, 0, 0);
	if (r && r != -ENOENT)
		log_debug(MOD, "cannot drop the cached target of %s/%s: %s",
		          n->dataset, n->name, strerror(-r));
	else
		log_debug(MOD, "%s/%s now points at %" PRIu64, n->dataset, n->name, n->target);
}

/* Refreshes a link that was last checked more than a second ago. */
static int refresh_link(struct cfs_snode *n, bool notify)
{
	uint64_t seq;
	bool changed;
	int rc;

	if (cfs_now_ms() - n->refreshed_ms < LINK_REFRESH_MS)
		return 0;
	rc = link_target(&seq, n->dataset, n->name);
	if (rc)
		return rc;
	if (seq == 0)
		return cairn_error_set(CAIRN_ENOTFOUND, "%s has no %s any more", n->dataset, n->name);
	rc = cfs_snode_link(n, &changed, n->parent, n->name, n->dataset, seq);
	if (rc == 0 && changed && notify)
		link_moved(n);
	return rc;
}

/* ---- lookup ------------------------------------------------------------ */

static void reply_special(fuse_req_t req, const struct cfs_snode *n)
{
	struct fuse_entry_param p;
	struct stat st;

	special_stat(&st, n);
	fill_param(&p, &st, TTL_CATALOG);
	fuse_reply_entry(req, &p);
}

static void lookup_root(fuse_req_t req, const char *name)
{
	struct cfs_dataset d = { 0 };
	struct cfs_snode n;
	unsigned flags = 0;
	int ns = 0, rc;

	if (cairn_dataset_name_validate(name)) {
		cairn_error_clear();
		reply_negative(req, TTL_CATALOG);
		return;
	}
	rc = cfs_remote_dataset(&d, name);
	if (rc == 0)
		flags |= CFS_DIR_DATASET;
	else if (rc != CAIRN_ENOTFOUND)
		goto fail;
	rc = cfs_remote_namespace_exists(name, &ns);
	if (rc)
		goto fail;
	if (ns)
		flags |= CFS_DIR_NAMESPACE;
	if (!flags) {
		reply_negative(req, TTL_CATALOG);
		return;
	}
	rc = cfs_snode_dir(&n, CFS_ROOT_INO, name, name, flags, d.created);
	if (rc)
		goto fail;
	reply_special(req, &n);
	return;
fail:
	reply_rc(req, rc, "lookup");
}

/* A dataset inside a namespace directory. */
static void lookup_ns_child(fuse_req_t req, const struct cfs_snode *ns, const char *name)
{
	char full[CAIRN_DATASET_NAME_MAX + 2];
	struct cfs_dataset d;
	struct cfs_snode n;
	int rc;

	if ((size_t)snprintf(full, sizeof(full), "%s/%s", ns->dataset, name) >= sizeof(full) ||
	    cairn_dataset_name_validate(full)) {
		cairn_error_clear();
		reply_negative(req, TTL_CATALOG);
		return;
	}
	rc = cfs_remote_dataset(&d, full);
	if (rc == CAIRN_ENOTFOUND) {
		reply_negative(req, TTL_CATALOG);
		return;
	}
	if (rc == 0)
		rc = cfs_snode_dir(&n, ns->ino, name, full, CFS_DIR_DATASET, d.created);
	if (rc) {
		reply_rc(req, rc, "lookup");
		return;
	}
	reply_special(req, &n);
}

/* A name in a dataset directory: a sequence number, `latest` or a tag.
 * Returns false when the name is none of these, to let a namespace of the
 * same name have it. */
static bool lookup_dataset_child(fuse_req_t req, const struct cfs_snode *ds, const char *name)
{
	struct fuse_entry_param p;
	struct stat st;
	int rc;

	if (is_seq(name)) {
		struct cfs_version v;

		rc = cfs_remote_version(&v, ds->dataset, name);
		if (rc == CAIRN_ENOTFOUND)
			return false;
		if (rc) {
			reply_rc(req, rc, "lookup");
			return true;
		}
		version_stat(&st, &v);
		fill_param(&p, &st, TTL_VERSION);
		fuse_reply_entry(req, &p);
		return true;
	}
	if (strcmp(name, "latest") == 0 || cairn_tag_validate(name) == 0) {
		struct cfs_snode n;
		uint64_t seq;
		bool changed;

		rc = link_target(&seq, ds->dataset, name);
		if (rc == 0 && seq == 0)
			return false;
		if (rc == 0)
			rc = cfs_snode_link(&n, &changed, ds->ino, name, ds->dataset, seq);
		if (rc) {
			reply_rc(req, rc, "lookup");
			return true;
		}
		if (changed)
			link_moved(&n);
		reply_special(req, &n);
		return true;
	}
	cairn_error_clear();
	return false;
}

static void lookup_version(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param p;
	struct cfs_entry e;
	struct stat st;
	int rc;

	rc = cfs_remote_lookup(&e, cfs_ino_vid(parent), cfs_ino_eino(parent), name);
	if (rc == CAIRN_ENOTFOUND) {
		/* A version never gains a name: the miss holds as long as a hit. */
		reply_negative(req, TTL_VERSION);
		return;
	}
	if (rc) {
		reply_rc(req, rc, "lookup");
		return;
	}
	cfs_ecache_put(&e);
	entry_stat(&st, &e);
	fill_param(&p, &st, TTL_VERSION);
	fuse_reply_entry(req, &p);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cfs_snode dir;
	int rc;

	if (strlen(name) > CAIRN_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (cfs_ino_is_entry(parent)) {
		lookup_version(req, parent, name);
		return;
	}
	rc = cfs_snode_get(&dir, parent);
	if (rc) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	switch (dir.kind) {
	case CFS_S_ROOT:
		lookup_root(req, name);
		return;
	case CFS_S_DIR:
		if ((dir.flags & CFS_DIR_DATASET) && lookup_dataset_child(req, &dir, name))
			return;
		if (dir.flags & CFS_DIR_NAMESPACE) {
			lookup_ns_child(req, &dir, name);
			return;
		}
		reply_negative(req, TTL_CATALOG);
		return;
	default:
		fuse_reply_err(req, ENOTDIR);
		return;
	}
}

/* ---- getattr, readlink ------------------------------------------------ */

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int rc;

	if (cfs_ino_is_entry(ino)) {
		if (cfs_ino_eino(ino) == 0) {
			struct cfs_version v;

			rc = cfs_vtable_get(&v, cfs_ino_vid(ino));
			if (rc) {
				fuse_reply_err(req, ESTALE);
				return;
			}
			version_stat(&st, &v);
		} else {
			struct cfs_entry e;

			rc = get_entry(&e, ino);
			if (rc) {
				reply_rc(req, rc, "getattr");
				return;
			}
			entry_stat(&st, &e);
		}
		fuse_reply_attr(req, &st, TTL_VERSION);
		return;
	}

	struct cfs_snode n;

	rc = cfs_snode_get(&n, ino);
	if (rc) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (n.kind == CFS_S_LINK) {
		rc = refresh_link(&n, true);
		if (rc) {
			reply_rc(req, rc, "getattr");
			return;
		}
	}
	special_stat(&st, &n);
	fuse_reply_attr(req, &st, TTL_CATALOG);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[24];
	int rc;

	if (cfs_ino_is_entry(ino)) {
		struct cfs_entry e;
		char *target = NULL;

		rc = cfs_remote_entry(&e, &target, cfs_ino_vid(ino), cfs_ino_eino(ino));
		if (rc == 0 && e.type != CAIRN_FT_SYMLINK) {
			fuse_reply_err(req, EINVAL);
			free(target);
			return;
		}
		if (rc) {
			reply_rc(req, rc, "readlink");
			return;
		}
		fuse_reply_readlink(req, target);
		free(target);
		return;
	}

	struct cfs_snode n;

	rc = cfs_snode_get(&n, ino);
	if (rc) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (n.kind != CFS_S_LINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = refresh_link(&n, false);
	if (rc) {
		reply_rc(req, rc, "readlink");
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, n.target);
	fuse_reply_readlink(req, buf);
}

/* ---- Directories -------------------------------------------------------- */

/* One entry of the page a directory handle holds. */
struct dent {
	char *name;
	struct stat st;
	double ttl;
	bool dot;             /* "." or "..": no lookup reference in readdirplus */
};

/* Where the listing of a directory handle is. Each phase is a source of
 * entries; a directory walks its phases in order. */
enum phase {
	PH_DOTS,
	PH_CHILDREN,          /* version directory: /v1/fs/.../children */
	PH_ROOT,              /* root: every dataset, folded into namespaces */
	PH_LINKS,             /* dataset: `latest` and the tags */
	PH_VERSIONS,          /* dataset: its versions, newest first */
	PH_NAMESPACE,         /* namespace: the datasets "ns/..." */
	PH_END,
};

struct dirh {
	pthread_mutex_t mu;
	uint64_t ino;
	bool version;                 /* inside a version */
	struct cfs_snode node;        /* the directory, when special */
	/* The page: entries at positions start .. start + n - 1. */
	uint64_t start;
	struct dent *ents;
	size_t n, cap;
	bool loaded;
	/* Where the next page comes from. */
	enum phase phase;
	char *cursor;                 /* name cursor of the phase, or NULL */
	uint64_t before;              /* PH_VERSIONS cursor */
	char last_ns[CAIRN_NAME_MAX + 1];
};

static void page_clear(struct dirh *dh)
{
	for (size_t i = 0; i < dh->n; i++)
		free(dh->ents[i].name);
	dh->n = 0;
}

static int page_add(struct dirh *dh, const char *name, const struct stat *st, double ttl,
                    bool dot)
{
	struct dent *d;

	if (dh->n == dh->cap) {
		size_t cap = dh->cap ? dh->cap * 2 : 64;
		struct dent *e = realloc(dh->ents, cap * sizeof(*e));

		if (!e)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		dh->ents = e;
		dh->cap = cap;
	}
	d = &dh->ents[dh->n];
	d->name = strdup(name);
	if (!d->name)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	d->st = *st;
	d->ttl = ttl;
	d->dot = dot;
	dh->n++;
	return 0;
}

static int add_child(void *ctx, const char *name, const struct cfs_entry *e)
{
	struct dirh *dh = ctx;
	struct stat st;

	cfs_ecache_put(e);
	entry_stat(&st, e);
	return page_add(dh, name, &st, TTL_VERSION, false);
}

static int add_root_dataset(void *ctx, const char *name, int64_t created)
{
	struct dirh *dh = ctx;
	const char *slash = strchr(name, '/');
	struct cfs_snode n, old;
	struct stat st;
	int rc;

	if (!slash) {
		rc = cfs_snode_dir(&n, CFS_ROOT_INO, name, name, CFS_DIR_DATASET, created);
	} else {
		char ns[CAIRN_NAME_MAX + 1];
		size_t len = (size_t)(slash - name);

		if (len >= sizeof(ns))
			return 0;
		memcpy(ns, name, len);
		ns[len] = '\0';
		/* "ns/..." names are contiguous in the sorted listing. */
		if (strcmp(ns, dh->last_ns) == 0)
			return 0;
		snprintf(dh->last_ns, sizeof(dh->last_ns), "%s", ns);
		/* A dataset named like the namespace sorts before "ns/" and
		 * already stands for both. */
		bool shown = cfs_snode_find(&old, CFS_ROOT_INO, ns) == 0 &&
		             (old.flags & CFS_DIR_DATASET);

		rc = cfs_snode_dir(&n, CFS_ROOT_INO, ns, ns, CFS_DIR_NAMESPACE, 0);
		if (rc || shown)
			return rc;
	}
	if (rc)
		return rc;
	special_stat(&st, &n);
	return page_add(dh, n.name, &st, TTL_CATALOG, false);
}

static int add_ns_dataset(void *ctx, const char *name, int64_t created)
{
	struct dirh *dh = ctx;
	size_t len = strlen(dh->node.dataset);
	struct cfs_snode n;
	struct stat st;
	int rc;

	if (strncmp(name, dh->node.dataset, len) != 0 || name[len] != '/')
		return 1;     /* past the namespace */
	rc = cfs_snode_dir(&n, dh->ino, name + len + 1, name, CFS_DIR_DATASET, created);
	if (rc)
		return rc;
	special_stat(&st, &n);
	return page_add(dh, n.name, &st, TTL_CATALOG, false);
}

static int add_version(void *ctx, const struct cfs_version *v)
{
	struct dirh *dh = ctx;
	char name[24];
	struct stat st;

	snprintf(name, sizeof(name), "%" PRIu64, v->seq);
	version_stat(&st, v);
	return page_add(dh, name, &st, TTL_VERSION, false);
}

static int add_link(struct dirh *dh, const char *name, uint64_t seq)
{
	struct cfs_snode n;
	struct stat st;
	bool changed;
	int rc;

	rc = cfs_snode_link(&n, &changed, dh->ino, name, dh->node.dataset, seq);
	if (rc)
		return rc;
	if (changed)
		link_moved(&n);
	special_stat(&st, &n);
	return page_add(dh, name, &st, TTL_CATALOG, false);
}

static int add_tag(void *ctx, const char *tag, uint64_t seq)
{
	return add_link(ctx, tag, seq);
}

/* The phase after `p` for this directory. */
static enum phase next_phase(const struct dirh *dh, enum phase p)
{
	if (dh->version)
		return p == PH_DOTS ? PH_CHILDREN : PH_END;
	if (dh->node.kind == CFS_S_ROOT)
		return p == PH_DOTS ? PH_ROOT : PH_END;
	switch (p) {
	case PH_DOTS:
		if (dh->node.flags & CFS_DIR_DATASET)
			return PH_LINKS;
		return PH_NAMESPACE;
	case PH_LINKS:
		return PH_VERSIONS;
	case PH_VERSIONS:
		return (dh->node.flags & CFS_DIR_NAMESPACE) ? PH_NAMESPACE : PH_END;
	default:
		return PH_END;
	}
}

static void set_phase(struct dirh *dh, enum phase p)
{
	free(dh->cursor);
	dh->cursor = NULL;
	dh->before = 0;
	dh->phase = p;
	if (p == PH_NAMESPACE) {
		/* Names "ns/..." follow right after "ns/" (see remote.c). */
		if (asprintf(&dh->cursor, "%s/", dh->node.dataset) < 0)
			dh->cursor = NULL;
	}
}

/* Appends what the current phase gives with one request to catalogd. */
static int step(struct dirh *dh)
{
	struct stat st;
	char *next = NULL;
	uint64_t before = 0;
	int rc = 0;

	switch (dh->phase) {
	case PH_DOTS:
		if (dh->version) {
			struct cfs_version v;

			if (cfs_ino_eino(dh->ino) == 0 && cfs_vtable_get(&v, cfs_ino_vid(dh->ino)) == 0) {
				version_stat(&st, &v);
			} else {
				memset(&st, 0, sizeof(st));
				st.st_ino = dh->ino;
				st.st_mode = S_IFDIR | 0555;
			}
		} else {
			special_stat(&st, &dh->node);
		}
		rc = page_add(dh, ".", &st, 0, true);
		if (rc == 0)
			rc = page_add(dh, "..", &st, 0, true);
		set_phase(dh, next_phase(dh, PH_DOTS));
		return rc;
	case PH_CHILDREN:
		rc = cfs_remote_children(cfs_ino_vid(dh->ino), cfs_ino_eino(dh->ino), dh->cursor,
		                         CFS_PAGE_LIMIT, add_child, dh, &next);
		break;
	case PH_ROOT:
		rc = cfs_remote_datasets(dh->cursor, CFS_PAGE_LIMIT, add_root_dataset, dh, &next);
		break;
	case PH_NAMESPACE:
		if (!dh->cursor)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		rc = cfs_remote_datasets(dh->cursor, CFS_PAGE_LIMIT, add_ns_dataset, dh, &next);
		if (rc > 0) {               /* the namespace ended on this page */
			free(next);
			next = NULL;
			rc = 0;
		}
		break;
	case PH_LINKS: {
		struct cfs_dataset d;

		rc = cfs_remote_dataset(&d, dh->node.dataset);
		if (rc == 0 && d.latest)
			rc = add_link(dh, "latest", d.latest);
		if (rc == 0)
			rc = cfs_remote_tags(dh->node.dataset, add_tag, dh);
		if (rc == 0)
			set_phase(dh, next_phase(dh, PH_LINKS));
		return rc;
	}
	case PH_VERSIONS:
		rc = cfs_remote_versions(dh->node.dataset, dh->before, CFS_PAGE_LIMIT,
		                         add_version, dh, &before);
		if (rc == 0 && before) {
			dh->before = before;
			return 0;
		}
		if (rc == 0)
			set_phase(dh, next_phase(dh, PH_VERSIONS));
		return rc;
	case PH_END:
		return 0;
	}
	if (rc) {
		free(next);
		return rc;
	}
	if (next) {
		free(dh->cursor);
		dh->cursor = next;
	} else {
		set_phase(dh, next_phase(dh, dh->phase));
	}
	return 0;
}

/* Replaces the page with the next non-empty one (or none at the end). */
static int next_page(struct dirh *dh)
{
	int rc = 0;

	dh->start += dh->n;
	page_clear(dh);
	while (dh->n == 0 && dh->phase != PH_END && rc == 0)
		rc = step(dh);
	return rc;
}

static int rewind_dir(struct dirh *dh)
{
	page_clear(dh);
	dh->start = 0;
	dh->last_ns[0] = '\0';
	set_phase(dh, PH_DOTS);
	dh->loaded = true;
	return next_page(dh);
}

static void dirh_free(struct dirh *dh)
{
	if (!dh)
		return;
	page_clear(dh);
	free(dh->ents);
	free(dh->cursor);
	pthread_mutex_destroy(&dh->mu);
	free(dh);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *dh = calloc(1, sizeof(*dh));

	if (!dh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&dh->mu, NULL);
	dh->ino = ino;
	if (cfs_ino_is_entry(ino)) {
		dh->version = true;
		/* A version's listing never changes: let the kernel keep it
		 * across opens instead of asking again. */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	} else if (cfs_snode_get(&dh->node, ino) != 0) {
		dirh_free(dh);
		fuse_reply_err(req, ESTALE);
		return;
	} else if (dh->node.kind == CFS_S_LINK) {
		dirh_free(dh);
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->fh = (uintptr_t)dh;
	if (fuse_reply_open(req, fi) != 0)
		dirh_free(dh);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dirh_free((struct dirh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
                       bool plus)
{
	struct dirh *dh = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = NULL;
	size_t used = 0;
	uint64_t pos = off < 0 ? 0 : (uint64_t)off;
	int rc = 0;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&dh->mu);
	/* Offsets are positions + 1 of the last entry returned; one before
	 * this page means a rewind (or a seekdir back): list again. */
	if (!dh->loaded || pos < dh->start)
		rc = rewind_dir(dh);
	while (rc == 0 && pos >= dh->start + dh->n && dh->n > 0)
		rc = next_page(dh);
	while (rc == 0 && dh->n > 0 && pos < dh->start + dh->n) {
		struct dent *d = &dh->ents[pos - dh->start];
		size_t need;

		if (plus) {
			struct fuse_entry_param p;

			fill_param(&p, &d->st, d->ttl);
			if (d->dot)
				p.ino = 0;
			need = fuse_add_direntry_plus(req, buf + used, size - used, d->name,
			                              &p, (off_t)(pos + 1));
		} else {
			need = fuse_add_direntry(req, buf + used, size - used, d->name,
			                         &d->st, (off_t)(pos + 1));
		}
		if (need > size - used)
			break;
		used += need;
		pos++;
		if (pos == dh->start + dh->n)
			rc = next_page(dh);
	}
	pthread_mutex_unlock(&dh->mu);
	/* Entries already placed are worth more than the error: the next
	 * call asks again from where they stop. */
	if (rc && used == 0)
		reply_rc(req, rc, "readdir");
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, true);
}

/* ---- Files ----------------------------------------------------------- */

struct chunkfd {
	uint64_t k;           /* chunk index */
	int fd;               /* -1 when the slot is empty; owned by the slot */
	int refs;             /* reads using fd right now */
	uint64_t used;        /* LRU stamp */
};

struct fileh {
	/* The open file's reference and one per read in progress: the
	 * kernel may send release as soon as a read's reply is out, while
	 * that read still hands its chunk fds back. Last one frees. */
	atomic_int refs;
	pthread_mutex_t mu;
	uint32_t vid, ino;
	uint64_t size, nobjects, chunk_size;
	/* Object ids base .. base + nwin - 1. */
	uint64_t base;
	size_t nwin;
	cairn_oid win[CFS_OBJ_WINDOW];
	struct chunkfd fds[FH_FDS];
	uint64_t clock;
	/* The last chunk a sequential reader reached (see advance()). */
	uint64_t ahead;
	bool started;
	/* The last chunk opened did not come from the pool: read ahead by
	 * downloading, not by asking the disk. */
	bool cold;
	/* Reads in a row that jumped (neither the stream's next chunks nor
	 * its current one): RANDOM_JUMPS of them make a random reader. */
	unsigned jumps;
	/* Cold chunks a random reader has read from their blocks, hashed
	 * into a fixed set: the second read of one queues its download. */
	uint64_t touched[TOUCH_WORDS];
	/* In the open-files list from a successful open until release. */
	struct fileh *prev, *next;
};

/* Every open file, so that handles whose release the kernel never sent
 * (it may drop them when the session ends) are freed by op_destroy. */
static pthread_mutex_t open_files_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fileh *open_files;

static void open_files_add(struct fileh *h)
{
	pthread_mutex_lock(&open_files_mu);
	h->prev = NULL;
	h->next = open_files;
	if (open_files)
		open_files->prev = h;
	open_files = h;
	pthread_mutex_unlock(&open_files_mu);
}

static void open_files_del(struct fileh *h)
{
	pthread_mutex_lock(&open_files_mu);
	if (h->prev)
		h->prev->next = h->next;
	else
		open_files = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	pthread_mutex_unlock(&open_files_mu);
}

static void fileh_free(struct fileh *h)
{
	if (!h)
		return;
	if (atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	for (int i = 0; i < FH_FDS; i++)
		if (h->fds[i].fd >= 0)
			close(h->fds[i].fd);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* Fills the window with ids from `from` (aligned down to the window). */
static int load_window(struct fileh *h, uint64_t k)
{
	uint64_t from = k - k % CFS_OBJ_WINDOW, total = 0, cs = 0;
	size_t n = 0;
	cairn_oid *ids;
	int rc;

	ids = malloc(CFS_OBJ_WINDOW * sizeof(*ids));
	if (!ids)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	/* The lock is not held across the request; whoever installs last
	 * wins, and both windows are right. */
	rc = cfs_remote_objects(ids, &n, &total, &cs, h->vid, h->ino, from, CFS_OBJ_WINDOW);
	if (rc)
		goto out;
	if (total != h->nobjects || (h->chunk_size && cs != h->chunk_size) ||
	    (n == 0 && k < total)) {
		rc = cairn_error_set(CAIRN_ECORRUPT,
		                     "object list of %u/%u changed: %" PRIu64 " ids of %" PRIu64
		                     " bytes, expected %" PRIu64 " of %" PRIu64,
		                     h->vid, h->ino, total, cs, h->nobjects, h->chunk_size);
		goto out;
	}
	pthread_mutex_lock(&h->mu);
	memcpy(h->win, ids, n * sizeof(*ids));
	h->base = from;
	h->nwin = n;
	pthread_mutex_unlock(&h->mu);
out:
	free(ids);
	return rc;
}

static uint64_t chunk_len(const struct fileh *h, uint64_t k)
{
	uint64_t off = k * h->chunk_size;

	return h->size - off < h->chunk_size ? h->size - off : h->chunk_size;
}

/* The slot holding chunk k, or -1. Called with h->mu held. */
static int find_slot(const struct fileh *h, uint64_t k)
{
	for (int i = 0; i < FH_FDS; i++)
		if (h->fds[i].fd >= 0 && h->fds[i].k == k)
			return i;
	return -1;
}

/* A slot no read is using, empty or least recently used; -1 if none.
 * Called with h->mu held. */
static int free_slot(const struct fileh *h)
{
	int victim = -1;

	for (int i = 0; i < FH_FDS; i++) {
		if (h->fds[i].refs != 0)
			continue;
		if (h->fds[i].fd < 0)
			return i;
		if (victim < 0 || h->fds[i].used < h->fds[victim].used)
			victim = i;
	}
	return victim;
}

/* Puts fd (chunk k) in a free slot with `refs` users; returns the slot,
 * or -1 when every slot is busy (fd stays the caller's). h->mu held. */
static int install_slot(struct fileh *h, uint64_t k, int fd, int refs)
{
	int i = free_slot(h);

	if (i < 0)
		return -1;
	if (h->fds[i].fd >= 0)
		close(h->fds[i].fd);
	h->fds[i] = (struct chunkfd){ .k = k, .fd = fd, .refs = refs, .used = ++h->clock };
	return i;
}

/* The id of chunk k from the window; false when it is not there. */
static bool window_oid(struct fileh *h, uint64_t k, cairn_oid *oid)
{
	bool in;

	pthread_mutex_lock(&h->mu);
	in = k >= h->base && k < h->base + h->nwin;
	if (in)
		*oid = h->win[k - h->base];
	pthread_mutex_unlock(&h->mu);
	return in;
}

/* Sequential reading: opens chunk k ahead of need and has the kernel
 * start reading it, so the pool's disk is busy with the next object while
 * this one is served. Only local objects; a download waits for its read. */
static void prefetch_chunk(struct fileh *h, uint64_t k)
{
	cairn_oid oid;
	int fd, slot;

	if (k >= h->nobjects || !window_oid(h, k, &oid))
		return;
	pthread_mutex_lock(&h->mu);
	slot = find_slot(h, k);
	pthread_mutex_unlock(&h->mu);
	if (slot >= 0)
		return;
	if (cfs_object_open_local(&fd, &oid, chunk_len(h, k)) != 0) {
		cairn_error_clear();
		return;
	}
	cfs_object_prefetch(fd, chunk_len(h, k));
	pthread_mutex_lock(&h->mu);
	if (find_slot(h, k) >= 0 || install_slot(h, k, fd, 0) < 0)
		close(fd);
	pthread_mutex_unlock(&h->mu);
}

/* Whether this handle reads at random (h->mu held). */
static bool reads_random(const struct fileh *h)
{
	return h->jumps >= RANDOM_JUMPS;
}

/* Marks chunk k touched; returns whether it was already (h->mu held). */
static bool touch_chunk(struct fileh *h, uint64_t k)
{
	uint64_t bit = (k * 0x9e3779b97f4a7c15ull) >> 52;   /* 12 bits */
	uint64_t mask = 1ull << (bit % 64);
	bool was = (h->touched[bit / 64] & mask) != 0;

	h->touched[bit / 64] |= mask;
	return was;
}

/* How far past the furthest chunk a front-to-back reader has reached a
 * read may land and still be that reader: the kernel's read-ahead (up to
 * READAHEAD_SPAN bytes) sends several reads at once, on several threads,
 * and they reach us out of order. h->mu held. */
#define READAHEAD_SPAN (16u << 20)

static uint64_t stream_span(const struct fileh *h)
{
	return COLD_AHEAD + 2 + READAHEAD_SPAN / h->chunk_size;
}

static bool in_stream(const struct fileh *h, uint64_t k)
{
	return h->started && k > h->ahead && k <= h->ahead + stream_span(h);
}

/* Whether a read of chunk k moves a front-to-back reader on (or starts
 * one at chunk 0): worth reading ahead for. The furthest chunk reached is
 * kept, so reads that arrive out of order do not stop the read-ahead. A
 * handle's first read elsewhere starts the stream without reading ahead:
 * a reader whose first pages were in the page cache already shows that it
 * goes front to back with its next chunk. h->mu held. */
static bool advance(struct fileh *h, uint64_t k)
{
	if (!h->started) {
		h->started = true;
		h->ahead = k;
		return k == 0;
	}
	if (in_stream(h, k)) {
		h->ahead = k;
		h->jumps = 0;
		return true;
	}
	/* Reads behind the furthest chunk by up to the read-ahead span are
	 * the kernel's, out of order; a jump lands further away than that,
	 * either way. */
	if ((k + stream_span(h) < h->ahead || k > h->ahead + stream_span(h)) &&
	    h->jumps < RANDOM_JUMPS)
		h->jumps++;
	return false;
}

/* A sequential reader of objects that are not in the pool: have the
 * next ones downloaded in parallel while chunk k is served. Chunks past
 * the id window wait until the reader gets there. */
static void fetch_ahead(struct fileh *h, uint64_t k)
{
	for (uint64_t j = k + 1; j <= k + COLD_AHEAD && j < h->nobjects; j++) {
		cairn_oid oid;

		if (!window_oid(h, j, &oid))
			break;
		cfs_object_fetch_async(&oid, chunk_len(h, j));
	}
}

/* An fd on chunk k. *slot is the handle's slot holding it (release with
 * put_chunk) or -1 when every slot was busy: then the caller owns *fd. */
static int get_chunk(struct fileh *h, uint64_t k, int *fd, int *slot)
{
	cairn_oid oid;
	bool sequential, cold;
	int nfd = -1, rc, i, src = 0;

	pthread_mutex_lock(&h->mu);
	i = find_slot(h, k);
	if (i >= 0) {
		h->fds[i].refs++;
		h->fds[i].used = ++h->clock;
		*fd = h->fds[i].fd;
		*slot = i;
		sequential = advance(h, k);
		cold = h->cold;
		pthread_mutex_unlock(&h->mu);
		/* Chunk k was itself read ahead; keep as far ahead. */
		if (sequential && cold)
			fetch_ahead(h, k);
		else if (sequential)
			prefetch_chunk(h, k + PREFETCH_CHUNKS);
		return 0;
	}
	pthread_mutex_unlock(&h->mu);

	if (!window_oid(h, k, &oid)) {
		/* The lock is not held across the request; whoever installs
		 * last wins, and both windows are right. */
		rc = load_window(h, k);
		if (rc)
			return rc;
		if (!window_oid(h, k, &oid))
			return cairn_error_set(CAIRN_EIO, "object %" PRIu64 " of %u/%u is not listed",
			                       k, h->vid, h->ino);
	}

	/* Opening may download the object (or wait for the download another
	 * reader or a prefetch started): no lock held meanwhile. */
	rc = cfs_object_open(&nfd, &src, &oid, chunk_len(h, k));
	if (rc)
		return rc;

	pthread_mutex_lock(&h->mu);
	i = find_slot(h, k);
	if (i >= 0) {
		/* Another reader opened it meanwhile: use theirs. */
		close(nfd);
		h->fds[i].refs++;
		h->fds[i].used = ++h->clock;
		*fd = h->fds[i].fd;
		*slot = i;
		pthread_mutex_unlock(&h->mu);
		return 0;
	}
	*slot = install_slot(h, k, nfd, 1);
	*fd = nfd;
	sequential = advance(h, k);
	cold = h->cold = src != CFS_SRC_POOL;
	pthread_mutex_unlock(&h->mu);

	if (sequential && cold) {
		fetch_ahead(h, k);
	} else if (sequential) {
		cfs_object_prefetch(nfd, chunk_len(h, k));
		for (uint64_t j = 1; j <= PREFETCH_CHUNKS; j++)
			prefetch_chunk(h, k + j);
	}
	return 0;
}

/* The first read of an object that is on no disk of this host is served
 * from the blocks that cover it, fetched and checked alone, and only then
 * is the whole object (and the next ones, for a sequential reader) queued
 * for download: a reader opening a cold file waits for one small range,
 * not a whole object sharing the server with its successors. *mem: the
 * bytes (malloc'd, len of them), or NULL when the read should go the
 * usual way (local, already on its way, or no block digests). */
static int read_cold_blocks(struct fileh *h, uint64_t k, uint64_t in_off, size_t len,
                            void **mem)
{
	cairn_oid oid;
	bool sequential, streaming, random, again = false;
	void *buf;
	int rc, slot;

	*mem = NULL;
	pthread_mutex_lock(&h->mu);
	slot = find_slot(h, k);
	/* The chunks just ahead of a sequential reader are being downloaded
	 * whole (fetch_ahead) or soon will be: waiting for them costs less
	 * than fetching their bytes twice, and the kernel's read-ahead asks
	 * for them before the reader needs them. */
	streaming = in_stream(h, k);
	random = reads_random(h) && !streaming;
	pthread_mutex_unlock(&h->mu);
	if (slot >= 0 || streaming || !window_oid(h, k, &oid))
		return 0;
	/* A random reader is served from blocks until the object is local,
	 * even while its download runs: it would wait for a whole object to
	 * read a few KiB. Anyone else only on the object's first read. */
	if (random ? cfs_object_local(&oid, chunk_len(h, k))
	           : !cfs_object_untouched(&oid, chunk_len(h, k)))
		return 0;
	log_debug(MOD, "read %u/%u chunk %" PRIu64 " +%" PRIu64 " (%zu bytes) from its blocks "
	          "(ahead %" PRIu64 ", started %d, random %d)", h->vid, h->ino, k, in_off, len,
	          h->ahead, (int)h->started, (int)random);
	buf = malloc(len);
	if (!buf)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cfs_object_read_blocks(&oid, chunk_len(h, k), in_off, len, buf);
	if (rc) {
		free(buf);
		if (rc != CAIRN_ENOTFOUND)
			return rc;
		cairn_error_clear();
		return 0;
	}
	*mem = buf;
	pthread_mutex_lock(&h->mu);
	sequential = advance(h, k);
	if (random)
		again = touch_chunk(h, k);
	h->cold = true;
	pthread_mutex_unlock(&h->mu);
	/* A random reader's object is worth downloading whole once it was
	 * read twice; a one-off read costs only its blocks. */
	if (!random || again)
		cfs_object_fetch_async(&oid, chunk_len(h, k));
	if (sequential)
		fetch_ahead(h, k);
	return 0;
}

static void put_chunk(struct fileh *h, int fd, int slot)
{
	if (slot < 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&h->mu);
	h->fds[slot].refs--;
	pthread_mutex_unlock(&h->mu);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fileh *h = NULL;
	struct cfs_entry e;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!cfs_ino_is_entry(ino) || cfs_ino_eino(ino) == 0) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	rc = get_entry(&e, ino);
	if (rc)
		goto fail;
	if (e.type != CAIRN_FT_FILE) {
		fuse_reply_err(req, e.type == CAIRN_FT_DIR ? EISDIR : ELOOP);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto fail;
	}
	atomic_init(&h->refs, 1);
	pthread_mutex_init(&h->mu, NULL);
	for (int i = 0; i < FH_FDS; i++)
		h->fds[i].fd = -1;
	h->vid = e.vid;
	h->ino = e.ino;
	h->size = e.size;
	h->nobjects = e.nobjects;
	if (h->nobjects > 0) {
		uint64_t total = 0, cs = 0;
		size_t n = 0;

		rc = cfs_remote_objects(h->win, &n, &total, &cs, h->vid, h->ino, 0, CFS_OBJ_WINDOW);
		if (rc)
			goto fail;
		/* Every id but the last names a full chunk. */
		if (total != h->nobjects || n == 0 ||
		    h->size > cs * total || h->size <= cs * (total - 1)) {
			rc = cairn_error_set(CAIRN_ECORRUPT,
			                     "%u/%u: %" PRIu64 " bytes in %" PRIu64 " chunks of %" PRIu64
			                     " do not add up", h->vid, h->ino, h->size, total, cs);
			goto fail;
		}
		h->chunk_size = cs;
		h->base = 0;
		h->nwin = n;
	} else if (h->size != 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "%u/%u has %" PRIu64 " bytes and no objects",
		                     h->vid, h->ino, h->size);
		goto fail;
	}
	/* Immutable contents: what the page cache holds stays right. */
	fi->keep_cache = 1;
	fi->noflush = 1;
	fi->fh = (uintptr_t)h;
	open_files_add(h);
	if (fuse_reply_open(req, fi) != 0) {
		open_files_del(h);
		fileh_free(h);
	}
	return;
fail:
	fileh_free(h);
	reply_rc(req, rc, "open");
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fileh *h = (struct fileh *)(uintptr_t)fi->fh;

	open_files_del(h);
	fileh_free(h);
	fuse_reply_err(req, 0);
}

/* Buffers a read may need without allocating: a read (at most 1 MiB)
 * spans two chunks at the default chunk size; small chunk sizes take more
 * and get them from the heap. */
#define READ_SPANS 4
/* slots[] mark of a span served from memory (read_cold_blocks). */
#define SLOT_MEM (-2)

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct fileh *h = (struct fileh *)(uintptr_t)fi->fh;
	union {
		struct fuse_bufvec v;
		char room[sizeof(struct fuse_bufvec) + (READ_SPANS - 1) * sizeof(struct fuse_buf)];
	} small;
	struct fuse_bufvec *bv = &small.v;
	int small_fds[READ_SPANS], small_slots[READ_SPANS];
	int *fds = small_fds, *slots = small_slots;
	uint64_t pos = (uint64_t)off, first, last;
	size_t left, n = 0, spans;
	int rc = 0;

	if (off < 0 || pos >= h->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->size - pos)
		size = (size_t)(h->size - pos);
	atomic_fetch_add(&h->refs, 1);
	first = pos / h->chunk_size;
	last = (pos + size - 1) / h->chunk_size;
	spans = (size_t)(last - first + 1);
	if (spans > READ_SPANS) {
		bv = calloc(1, sizeof(*bv) + (spans - 1) * sizeof(struct fuse_buf));
		fds = calloc(spans, sizeof(*fds));
		slots = calloc(spans, sizeof(*slots));
		if (!bv || !fds || !slots) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	} else {
		memset(&small, 0, sizeof(small));
	}

	/* A short reply would tell the kernel the file ends there, so every
	 * byte asked for is covered, one fd-backed buffer per chunk. */
	left = size;
	for (n = 0; left > 0; n++) {
		struct fuse_buf *b = &bv->buf[n];
		uint64_t k = pos / h->chunk_size, in_off = pos % h->chunk_size;
		uint64_t avail = chunk_len(h, k) - in_off;
		size_t len = avail < left ? (size_t)avail : left;

		rc = read_cold_blocks(h, k, in_off, len, &b->mem);
		if (rc)
			goto out;
		if (b->mem) {
			/* Memory, freed below: no fd, no slot. */
			b->size = len;
			b->flags = 0;
			fds[n] = -1;
			slots[n] = SLOT_MEM;
			pos += len;
			left -= len;
			continue;
		}
		rc = get_chunk(h, k, &fds[n], &slots[n]);
		if (rc)
			goto out;
		b->size = len;
		b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		b->fd = fds[n];
		b->pos = (off_t)in_off;
		pos += len;
		left -= len;
	}
	bv->count = n;
	bv->idx = 0;
	bv->off = 0;
	/* With splice, the object's pages go to /dev/fuse without a copy
	 * through our memory; libfuse falls back to pread otherwise. */
	fuse_reply_data(req, bv, FUSE_BUF_SPLICE_MOVE);
out:
	for (size_t i = 0; i < n; i++) {
		if (slots[i] == SLOT_MEM)
			free(bv->buf[i].mem);
		else
			put_chunk(h, fds[i], slots[i]);
	}
	if (rc)
		reply_rc(req, rc, "read");
	if (bv != &small.v)
		free(bv);
	if (fds != small_fds)
		free(fds);
	if (slots != small_slots)
		free(slots);
	fileh_free(h);
}

/* ---- Extended attributes --------------------------------------------- */

static void reply_xattr(fuse_req_t req, const char *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

/* Walks every object id of a file, a window at a time. */
static int foreach_object(const struct cfs_entry *e,
                          int (*fn)(void *ctx, const cairn_oid *oid), void *ctx)
{
	cairn_oid *ids = NULL;
	uint64_t from = 0, total = e->nobjects, cs;
	size_t n;
	int rc = 0;

	if (total == 0)
		return 0;
	ids = malloc(CFS_OBJ_WINDOW * sizeof(*ids));
	if (!ids)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	while (from < total) {
		rc = cfs_remote_objects(ids, &n, &total, &cs, e->vid, e->ino, from, CFS_OBJ_WINDOW);
		if (rc)
			break;
		if (n == 0) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "object list of %u/%u ends early",
			                     e->vid, e->ino);
			break;
		}
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = fn(ctx, &ids[i]);
		if (rc)
			break;
		from += n;
	}
	free(ids);
	return rc;
}

struct idlist {
	char *buf;
	size_t len, cap;
};

static int idlist_add(void *ctx, const cairn_oid *oid)
{
	struct idlist *l = ctx;

	if (l->len + CAIRN_OID_HEXLEN + 2 > l->cap)
		return cairn_error_set(CAIRN_ETOOBIG, "object list longer than announced");
	cairn_oid_fmt(l->buf + l->len, oid);
	l->len += CAIRN_OID_HEXLEN;
	l->buf[l->len++] = '\n';
	return 0;
}

enum { TIER_HOT = 1, TIER_DUAL = 2, TIER_COLD = 4, TIER_OTHER = 8 };

/* The xattr says where a reader finds a file's bytes, so the in-flight
 * states count as the copies a read uses at that moment: migrating is hot
 * (the pool copy; the S3 copy is not verified yet), releasing is dual (the
 * pool copy is still there), recalling is cold (the pool copy is not there
 * yet). */
static int tier_state(void *ctx, const cairn_oid *oid, const char *state)
{
	unsigned *seen = ctx;

	if (strcmp(state, "hot") == 0 || strcmp(state, "migrating") == 0)
		*seen |= TIER_HOT;
	else if (strcmp(state, "dual") == 0 || strcmp(state, "releasing") == 0)
		*seen |= TIER_DUAL;
	else if (strcmp(state, "cold") == 0 || strcmp(state, "recalling") == 0)
		*seen |= TIER_COLD;
	else
		*seen |= TIER_OTHER;
	return 0;
}

/* Ids waiting to be asked about, one request per CFS_INFO_BATCH. */
struct tier_walk {
	cairn_oid ids[CFS_INFO_BATCH];
	size_t n;
	unsigned seen;
};

static int tier_flush(struct tier_walk *w)
{
	int rc;

	rc = cfs_remote_objects_info(w->ids, w->n, tier_state, &w->seen);
	if (rc == CAIRN_ENOTFOUND || rc == CAIRN_EIO) {
		/* A catalogd without the batch endpoint (Step 1 ones answer 404
		 * or drop the connection): one object at a time. If catalogd is
		 * down, this fails the same way and says so. */
		cairn_error_clear();
		rc = 0;
		for (size_t i = 0; i < w->n && rc == 0; i++) {
			char state[32];

			rc = cfs_remote_object_state(state, sizeof(state), &w->ids[i]);
			if (rc == 0)
				rc = tier_state(&w->seen, &w->ids[i], state);
		}
	}
	w->n = 0;
	if (rc)
		return rc;
	/* Two different states already make "mixed": stop asking. */
	return (w->seen & (w->seen - 1)) ? 1 : 0;
}

static int tier_add(void *ctx, const cairn_oid *oid)
{
	struct tier_walk *w = ctx;

	w->ids[w->n++] = *oid;
	return w->n == CFS_INFO_BATCH ? tier_flush(w) : 0;
}

/* user.cairn.objects: every object id of a file, one a line. */
static void xattr_objects(fuse_req_t req, const struct cfs_entry *e, size_t size)
{
	/* 32 hex digits and a newline per id: the length is known without
	 * listing them, and the kernel never asks for more than 64 KiB, so a
	 * longer list is E2BIG to the caller. */
	uint64_t total = e->nobjects * (CAIRN_OID_HEXLEN + 1);
	struct idlist l = { 0 };
	int rc;

	if (size == 0) {
		fuse_reply_xattr(req, (size_t)total);
		return;
	}
	if (total > size) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	l.cap = (size_t)total + 1;
	l.buf = malloc(l.cap);
	if (!l.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = foreach_object(e, idlist_add, &l);
	if (rc == 0 && l.len != total)
		rc = cairn_error_set(CAIRN_ECORRUPT, "object list of %u/%u is short",
		                     e->vid, e->ino);
	if (rc)
		reply_rc(req, rc, "getxattr");
	else
		fuse_reply_buf(req, l.buf, l.len);
	free(l.buf);
}

/* user.cairn.tier: where a file's objects are, as catalogd sees them. */
static void xattr_tier(fuse_req_t req, const struct cfs_entry *e, size_t size)
{
	struct tier_walk *w;
	const char *tier;
	unsigned seen;
	int rc;

	w = calloc(1, sizeof(*w));
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = foreach_object(e, tier_add, w);
	if (rc == 0 && w->n > 0)
		rc = tier_flush(w);
	seen = w->seen;
	free(w);
	if (rc < 0) {
		reply_rc(req, rc, "getxattr");
		return;
	}
	/* An empty file has nothing to fetch from anywhere: hot. */
	if (seen == 0 || seen == TIER_HOT)
		tier = "hot";
	else if (seen == TIER_DUAL)
		tier = "dual";
	else if (seen == TIER_COLD)
		tier = "cold";
	else
		tier = "mixed";
	reply_xattr(req, tier, strlen(tier), size);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cfs_version v;
	struct cfs_entry e;
	char value[CAIRN_DATASET_NAME_MAX + 64];
	bool objects = strcmp(name, XATTR_OBJECTS) == 0, tier = strcmp(name, XATTR_TIER) == 0;
	int rc, len;

	/* Only entries of versions carry cairn's attributes. */
	if (!cfs_ino_is_entry(ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (strcmp(name, XATTR_VERSION) == 0) {
		rc = cfs_vtable_get(&v, cfs_ino_vid(ino));
		if (rc) {
			fuse_reply_err(req, ESTALE);
			return;
		}
		len = snprintf(value, sizeof(value), "%s@%" PRIu64 " %s", v.dataset, v.seq, v.digest);
		reply_xattr(req, value, (size_t)len, size);
		return;
	}
	if ((!objects && !tier) || cfs_ino_eino(ino) == 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	rc = get_entry(&e, ino);
	if (rc) {
		reply_rc(req, rc, "getxattr");
		return;
	}
	if (e.type != CAIRN_FT_FILE)
		fuse_reply_err(req, ENODATA);
	else if (objects)
		xattr_objects(req, &e, size);
	else
		xattr_tier(req, &e, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char file_names[] = XATTR_VERSION "\0" XATTR_OBJECTS "\0" XATTR_TIER;
	static const char other_names[] = XATTR_VERSION;
	struct cfs_entry e;
	int rc;

	if (!cfs_ino_is_entry(ino)) {
		reply_xattr(req, "", 0, size);
		return;
	}
	if (cfs_ino_eino(ino) == 0) {
		reply_xattr(req, other_names, sizeof(other_names), size);
		return;
	}
	rc = get_entry(&e, ino);
	if (rc) {
		reply_rc(req, rc, "listxattr");
		return;
	}
	if (e.type == CAIRN_FT_FILE)
		reply_xattr(req, file_names, sizeof(file_names), size);
	else
		reply_xattr(req, other_names, sizeof(other_names), size);
}

/* ---- statfs, write operations, init ---------------------------------- */

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs out, pst;
	const char *pool = cfs_objects_pool();

	memset(&out, 0, sizeof(out));
	out.f_bsize = 4096;
	out.f_frsize = 4096;
	out.f_namemax = CAIRN_NAME_MAX;
	/* df on the mount shows the pool: what the datasets live on. */
	if (pool && statvfs(pool, &pst) == 0) {
		uint64_t fr = pst.f_frsize ? pst.f_frsize : pst.f_bsize;

		out.f_blocks = (fsblkcnt_t)(pst.f_blocks * fr / 4096);
		out.f_bfree = (fsblkcnt_t)(pst.f_bfree * fr / 4096);
		out.f_bavail = (fsblkcnt_t)(pst.f_bavail * fr / 4096);
		out.f_files = pst.f_files;
		out.f_ffree = pst.f_ffree;
		out.f_favail = pst.f_favail;
	} else {
		/* The pool is on another host: catalogd knows its use. */
		struct cfs_status s;
		uint64_t used;
		int rc = cfs_remote_status(&s);

		if (rc) {
			reply_rc(req, rc, "statfs");
			return;
		}
		used = s.fs_used < s.fs_size ? s.fs_used : s.fs_size;
		out.f_blocks = s.fs_size / 4096;
		out.f_bfree = out.f_bavail = (s.fs_size - used) / 4096;
		out.f_files = s.objects;
	}
	fuse_reply_statfs(req, &out);
}

static void erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) { erofs(req); }
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev) { erofs(req); }
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode) { erofs(req); }
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) { erofs(req); }
static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) { erofs(req); }
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                       const char *name) { erofs(req); }
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags) { erofs(req); }
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                    const char *newname) { erofs(req); }
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                     off_t off, struct fuse_file_info *fi) { erofs(req); }
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) { erofs(req); }
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) { erofs(req); }
static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) { erofs(req); }
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                         off_t length, struct fuse_file_info *fi) { erofs(req); }
static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                               struct fuse_file_info *fi_in, fuse_ino_t ino_out,
                               off_t off_out, struct fuse_file_info *fi_out, size_t len,
                               int flags) { erofs(req); }

static void want(struct fuse_conn_info *conn, unsigned cap, const char *name)
{
	if (conn->capable & cap)
		conn->want |= cap;
	else
		log_info(MOD, "kernel lacks %s", name);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	want(conn, FUSE_CAP_READDIRPLUS, "readdirplus");
	/* Plus every time: the attributes come in the same answer as the
	 * names, so `find` and `ls -l` need no lookup per entry. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	want(conn, FUSE_CAP_SPLICE_WRITE, "splice write");
	want(conn, FUSE_CAP_SPLICE_MOVE, "splice move");
	want(conn, FUSE_CAP_ASYNC_READ, "async read");
	want(conn, FUSE_CAP_PARALLEL_DIROPS, "parallel dirops");
	want(conn, FUSE_CAP_CACHE_SYMLINKS, "symlink caching");
	/* Nothing is written through us, so nothing is spliced in; contents
	 * never change, so mtime checks before reads are wasted. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_AUTO_INVAL_DATA);
	/* max_readahead comes in as the kernel's maximum; it may only be
	 * lowered, so it is left there. More readahead requests in flight
	 * keep several workers reading the pool at once. */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	/* Must equal the max_read mount option (main.c says why it is what
	 * it is); libfuse refuses the session otherwise. */
	conn->max_read = max_read;
	log_info(MOD, "mounted: protocol %u.%u, readahead %u KiB, reads up to %u KiB",
	         conn->proto_major, conn->proto_minor, conn->max_readahead >> 10,
	         conn->max_read >> 10);
}

/* The session is over: no request is in flight, so every handle still
 * listed holds only its open reference. */
static void op_destroy(void *userdata)
{
	struct fileh *h;

	while ((h = open_files) != NULL) {
		open_files_del(h);
		fileh_free(h);
	}
}

const struct fuse_lowlevel_ops cfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.write = op_write,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
};

int cfs_fs_init(const struct cfs_config *cfg)
{
	int rc;

	owner_uid = getuid();
	owner_gid = getgid();
	mount_time = (int64_t)time(NULL);
	max_read = cfg->max_read;
	rc = cfs_ecache_init();
	if (rc == 0)
		rc = cfs_stable_init(mount_time);
	if (rc == 0)
		rc = cfs_objects_init(cfg->pool_path, cfg->cache_dir, cfg->cache_size,
		                      !cfg->no_direct);
	return rc;
}

int cfs_fs_start(void)
{
	int rc;

	rc = cfs_objects_start();
	if (rc == 0)
		rc = cfs_access_start();
	return rc;
}

void cfs_fs_set_session(struct fuse_session *se)
{
	session = se;
}

void cfs_fs_shutdown(void)
{
	session = NULL;
	/* Reports first: they are about objects, not about the cache. */
	cfs_access_stop();
	cfs_objects_shutdown();
	cfs_stable_free();
	cfs_ecache_free();
}
