/* pool.c — the chunk store on the pool directory (see pool.h for layout and
 * durability contract).
 *
 * Writing a batch
 *   begin/write/end   the object's bytes go to an anonymous file made with
 *                     open(O_TMPFILE) in tmp/, hashed as they arrive; end
 *                     checks size and digest. The fd is kept: an anonymous
 *                     file has no name to find it by later.
 *   commit            syncfs()  — every staged byte is on stable storage;
 *                     linkat("/proc/self/fd/N") to ab/cd/<hex> for each;
 *                     syncfs()  — the names are too.
 *                     A batch of at most SMALL_BATCH anonymous files (a
 *                     recall) is made durable file by file instead:
 *                     fdatasync() each, link it, fsync() it (its link
 *                     count) and the directories that name it. syncfs()
 *                     waits for everything dirty on the file system, not
 *                     only for the batch; for a file or two that costs more
 *                     than their own syncs.
 * A crash before the link leaves nothing at all (anonymous files vanish);
 * a crash after it leaves complete objects the catalog may not know yet,
 * which is harmless: they are named by their content.
 *
 * Filesystems without O_TMPFILE, and batches that already hold FD_BUDGET
 * open files, use named files in tmp/ instead (closed once written, renamed
 * at commit); tmp/ is emptied at every open, so their leftovers never
 * become visible either.
 *
 * Each staged file descriptor is owned by its batch entry and closed at
 * commit or free. The pool's directory fds are owned by the pool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "error.h"
#include "fault.h"
#include "log.h"
#include "pool.h"

#define POOL_MARKER "cairn-pool 1\n"
#define POOL_FORMAT 1

/* Anonymous files one batch keeps open; past this it uses named files,
 * so that concurrent batches stay well inside the process's fd limit. */
#define FD_BUDGET 64
#define SMALL_BATCH 4           /* objects committed file by file (top of file) */
#define VERIFY_PIECE (1u << 20)

struct cairn_pool {
	cairn_store store;      /* first: the vtable functions cast back */
	char *path;
	int dirfd;              /* the pool directory */
	int tmpfd;              /* its tmp/ */
	atomic_int tmpfile_ok;  /* 1 until O_TMPFILE proves unsupported */
	atomic_ulong seq;       /* names of named temp files */
};

struct staged {
	cairn_oid oid;
	uint64_t size;
	int fd;                 /* open anonymous file, or -1 */
	char *tmpname;          /* name under tmp/, or NULL when anonymous */
	int committed;
};

struct cairn_pool_batch {
	cairn_pool *p;
	struct staged *v;
	size_t n, cap;
	size_t open_fds;
	cairn_hasher *h;
	/* the object being streamed in */
	int active;
	int checked;            /* its bytes were checked by the caller */
	struct staged cur;
	uint64_t written;
};

static void rel_path(char *buf, size_t len, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1];

	cairn_oid_fmt(hex, oid);
	snprintf(buf, len, "%.2s/%.2s/%s", hex, hex + 2, hex);
}

void cairn_object_path_at(char *buf, size_t buflen, const char *base,
                          const cairn_oid *oid)
{
	char rel[3 + 3 + CAIRN_OID_HEXLEN + 1];

	rel_path(rel, sizeof(rel), oid);
	snprintf(buf, buflen, "%s/%s", base, rel);
}

void cairn_pool_object_path(const cairn_pool *p, const cairn_oid *oid,
                            char *buf, size_t buflen)
{
	cairn_object_path_at(buf, buflen, p->path, oid);
}

const char *cairn_pool_path(const cairn_pool *p)
{
	return p->path;
}

cairn_store *cairn_pool_store(cairn_pool *p)
{
	return &p->store;
}

/* ---- opening ---------------------------------------------------------- */

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return cairn_error_set(CAIRN_EINVAL, "bad pool path '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *s = buf + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return cairn_error_errno(errno, "cannot create directory '%s'", buf);
		*s = c;
		if (!c)
			break;
	}
	return 0;
}

/* Whether the directory holds anything but lost+found (the root of a
 * freshly made filesystem is a fine place for a pool). */
static int dir_is_empty(int dirfd, const char *path, int *empty)
{
	DIR *d;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(errno, "cannot read directory '%s'", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cairn_error_errno(errno, "cannot read directory '%s'", path);
	}
	*empty = 1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "lost+found"))
			continue;
		*empty = 0;
		break;
	}
	closedir(d);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Writes POOL through a temporary name, so a crash never leaves a torn
 * marker that would make the next open refuse the directory. */
static int write_marker(cairn_pool *p)
{
	int fd, rc = 0;

	fd = openat(p->dirfd, "POOL.new", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cairn_error_errno(errno, "cannot create the marker of pool '%s'", p->path);
	if (write_all(fd, POOL_MARKER, strlen(POOL_MARKER)) < 0 || fsync(fd) < 0) {
		rc = cairn_error_errno(errno, "cannot write the marker of pool '%s'", p->path);
		goto out;
	}
	if (renameat(p->dirfd, "POOL.new", p->dirfd, "POOL") < 0 || fsync(p->dirfd) < 0) {
		rc = cairn_error_errno(errno, "cannot write the marker of pool '%s'", p->path);
		goto out;
	}
out:
	close(fd);
	if (rc)
		unlinkat(p->dirfd, "POOL.new", 0);
	return rc;
}

static int check_marker(cairn_pool *p, int *present)
{
	char buf[64];
	ssize_t n;
	int fd, version;

	fd = openat(p->dirfd, "POOL", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			*present = 0;
			return 0;
		}
		return cairn_error_errno(errno, "cannot read the marker of pool '%s'", p->path);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return cairn_error_errno(errno, "cannot read the marker of pool '%s'", p->path);
	buf[n] = '\0';
	if (sscanf(buf, "cairn-pool %d", &version) != 1)
		return cairn_error_set(CAIRN_EINVAL,
		                       "'%s' is not a cairn pool (its POOL file is not a pool marker)",
		                       p->path);
	if (version != POOL_FORMAT)
		return cairn_error_set(CAIRN_EINVAL,
		                       "pool '%s' has format %d; this cairn reads format %d",
		                       p->path, version, POOL_FORMAT);
	*present = 1;
	return 0;
}

/* Removes everything in tmp/: named temp files of an earlier run that did
 * not commit. Anonymous ones never outlive their process. */
static int clean_tmp(cairn_pool *p)
{
	DIR *d;
	struct dirent *de;
	int fd, removed = 0;

	fd = openat(p->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(errno, "cannot read '%s/tmp'", p->path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cairn_error_errno(errno, "cannot read '%s/tmp'", p->path);
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(p->tmpfd, de->d_name, 0) == 0)
			removed++;
		else
			log_warn("pool", "cannot remove '%s/tmp/%s': %s", p->path,
			         de->d_name, strerror(errno));
	}
	closedir(d);
	if (removed)
		log_info("pool", "removed %d unfinished object%s from %s/tmp", removed,
		         removed == 1 ? "" : "s", p->path);
	return 0;
}

static const struct cairn_store_ops pool_ops;

int cairn_pool_open(cairn_pool **out, const char *path)
{
	cairn_pool *p;
	int rc, present = 0, empty = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	p->store.ops = &pool_ops;
	p->dirfd = p->tmpfd = -1;
	atomic_init(&p->tmpfile_ok, 1);
	atomic_init(&p->seq, 0);
	p->path = strdup(path ? path : "");
	if (!p->path) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	/* "pool/" and "pool" are the same pool; keep messages tidy. */
	for (size_t n = strlen(p->path); n > 1 && p->path[n - 1] == '/'; n--)
		p->path[n - 1] = '\0';

	rc = mkdir_p(p->path);
	if (rc)
		goto out;
	p->dirfd = open(p->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		rc = cairn_error_errno(errno, "cannot open pool '%s'", p->path);
		goto out;
	}
	/* tmp/ is emptied below: a second process on the same pool would
	 * delete the first one's objects in flight. The lock lives as long as
	 * dirfd, and dies with the process however it ends. */
	if (flock(p->dirfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			rc = cairn_error_set(CAIRN_ERETRY, "pool %s is in use by another process",
			                     p->path);
		else
			rc = cairn_error_errno(errno, "cannot lock pool %s", p->path);
		goto out;
	}
	rc = check_marker(p, &present);
	if (rc)
		goto out;
	if (!present) {
		/* A leftover POOL.new is ours from an interrupted first open. */
		unlinkat(p->dirfd, "POOL.new", 0);
		rc = dir_is_empty(p->dirfd, p->path, &empty);
		if (rc)
			goto out;
		if (!empty) {
			rc = cairn_error_set(CAIRN_EINVAL,
			                     "'%s' is not a cairn pool: it is not empty and has no "
			                     "POOL marker", p->path);
			goto out;
		}
		rc = write_marker(p);
		if (rc)
			goto out;
		log_info("pool", "created pool %s", p->path);
	}
	if (mkdirat(p->dirfd, "tmp", 0700) < 0 && errno != EEXIST) {
		rc = cairn_error_errno(errno, "cannot create '%s/tmp'", p->path);
		goto out;
	}
	p->tmpfd = openat(p->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->tmpfd < 0) {
		rc = cairn_error_errno(errno, "cannot open '%s/tmp'", p->path);
		goto out;
	}
	rc = clean_tmp(p);
	if (rc)
		goto out;
	*out = p;
	p = NULL;
out:
	cairn_pool_close(p);
	return rc;
}

void cairn_pool_close(cairn_pool *p)
{
	if (!p)
		return;
	if (p->dirfd >= 0)
		close(p->dirfd);
	if (p->tmpfd >= 0)
		close(p->tmpfd);
	free(p->path);
	free(p);
}

/* ---- reading ---------------------------------------------------------- */

int cairn_pool_has(cairn_pool *p, const cairn_oid *oid, uint64_t *size)
{
	char rel[64], hex[CAIRN_OID_HEXLEN + 1];
	struct stat st;

	rel_path(rel, sizeof(rel), oid);
	if (fstatat(p->dirfd, rel, &st, 0) < 0)
		return cairn_error_errno(errno, "object %s is not in pool %s",
		                         cairn_oid_fmt(hex, oid), p->path);
	if (!S_ISREG(st.st_mode))
		return cairn_error_set(CAIRN_ECORRUPT, "pool %s: '%s' is not a file",
		                       p->path, rel);
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

int cairn_pool_open_object(cairn_pool *p, const cairn_oid *oid, int *fd)
{
	char rel[64], hex[CAIRN_OID_HEXLEN + 1];
	int f;

	rel_path(rel, sizeof(rel), oid);
	f = openat(p->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return cairn_error_errno(errno, "cannot open object %s in pool %s",
		                         cairn_oid_fmt(hex, oid), p->path);
	*fd = f;
	return 0;
}

int cairn_pool_verify(cairn_pool *p, const cairn_oid *oid, uint64_t *size)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_hasher *h = NULL;
	cairn_oid got;
	uint64_t total = 0;
	char *buf = NULL;
	int fd = -1, rc;

	rc = cairn_pool_open_object(p, oid, &fd);
	if (rc)
		goto out;
	rc = cairn_hasher_new(&h);
	if (rc)
		goto out;
	/* One fixed piece at a time: verifying costs the same memory for a
	 * 4 KiB object as for a 64 MiB one. */
	buf = malloc(VERIFY_PIECE);
	if (!buf) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, VERIFY_PIECE);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = cairn_error_errno(errno, "cannot read object %s in pool %s",
			                       cairn_oid_fmt(hex, oid), p->path);
			goto out;
		}
		if (n == 0)
			break;
		cairn_hasher_update(h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	cairn_hasher_digest(h, &got);
	if (cairn_oid_cmp(&got, oid) != 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT,
		                     "object %s in pool %s: content does not match its id",
		                     cairn_oid_fmt(hex, oid), p->path);
		goto out;
	}
	if (size)
		*size = total;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	cairn_hasher_free(h);
	return rc;
}

/* Removes the pool file rel (what: "object", "the head of"); absent is 0. */
static int unlink_file(cairn_pool *p, const char *rel, const char *what,
                       const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1];

	if (unlinkat(p->dirfd, rel, 0) < 0 && errno != ENOENT)
		return cairn_error_errno(errno, "cannot remove %s %s from pool %s", what,
		                         cairn_oid_fmt(hex, oid), p->path);
	return 0;
}

int cairn_pool_unlink(cairn_pool *p, const cairn_oid *oid)
{
	char rel[64];

	rel_path(rel, sizeof(rel), oid);
	return unlink_file(p, rel, "object", oid);
}

int cairn_pool_usage(cairn_pool *p, uint64_t *capacity, uint64_t *used)
{
	struct statvfs sv;

	if (fstatvfs(p->dirfd, &sv) < 0)
		return cairn_error_errno(errno, "cannot stat the filesystem of pool %s", p->path);
	if (capacity)
		*capacity = (uint64_t)sv.f_blocks * sv.f_frsize;
	if (used)
		*used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	return 0;
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/* Opens a subdirectory of dirfd as a stream; NULL with *rc set on error,
 * NULL with *rc 0 when it vanished meanwhile. */
static DIR *open_sub(cairn_pool *p, int dirfd, const char *name, int *rc)
{
	DIR *d;
	int fd;

	*rc = 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			*rc = cairn_error_errno(errno, "cannot read pool %s", p->path);
		return NULL;
	}
	d = fdopendir(fd);
	if (!d) {
		*rc = cairn_error_errno(errno, "cannot read pool %s", p->path);
		close(fd);
	}
	return d;
}

/* The object layout under top (a directory of the pool; absent is
 * empty): three nested directory streams at a time, whatever the pool's
 * size. */
static int foreach_in(cairn_pool *p, const char *top,
                      int (*fn)(void *ctx, const cairn_oid *oid, uint64_t size), void *ctx)
{
	DIR *d1 = NULL, *d2 = NULL, *d3 = NULL;
	struct dirent *e1, *e2, *e3;
	int rc = 0;

	d1 = open_sub(p, p->dirfd, top, &rc);
	if (!d1)
		goto out;
	while ((e1 = readdir(d1))) {
		if (!is_hex(e1->d_name, 2))
			continue;
		d2 = open_sub(p, dirfd(d1), e1->d_name, &rc);
		if (!d2) {
			if (rc)
				goto out;
			continue;
		}
		while ((e2 = readdir(d2))) {
			if (!is_hex(e2->d_name, 2))
				continue;
			d3 = open_sub(p, dirfd(d2), e2->d_name, &rc);
			if (!d3) {
				if (rc)
					goto out;
				continue;
			}
			while ((e3 = readdir(d3))) {
				const char *n = e3->d_name;
				struct stat st;
				cairn_oid oid;

				if (!is_hex(n, CAIRN_OID_HEXLEN) ||
				    strncmp(n, e1->d_name, 2) || strncmp(n + 2, e2->d_name, 2))
					continue;
				if (cairn_oid_parse(&oid, n))
					continue;
				/* Unlinked while we walked: not an object any more. */
				if (fstatat(dirfd(d3), n, &st, 0) < 0 || !S_ISREG(st.st_mode))
					continue;
				rc = fn(ctx, &oid, (uint64_t)st.st_size);
				if (rc)
					goto out;
			}
			closedir(d3);
			d3 = NULL;
		}
		closedir(d2);
		d2 = NULL;
	}
out:
	if (d3)
		closedir(d3);
	if (d2)
		closedir(d2);
	if (d1)
		closedir(d1);
	return rc;
}

int cairn_pool_foreach(cairn_pool *p,
                       int (*fn)(void *ctx, const cairn_oid *oid, uint64_t size),
                       void *ctx)
{
	return foreach_in(p, ".", fn, ctx);
}

int cairn_pool_foreach_head(cairn_pool *p,
                            int (*fn)(void *ctx, const cairn_oid *oid, uint64_t size),
                            void *ctx)
{
	return foreach_in(p, "heads", fn, ctx);
}

/* ---- batches ---------------------------------------------------------- */

int cairn_pool_batch_new(cairn_pool *p, cairn_pool_batch **out)
{
	cairn_pool_batch *b;
	int rc;

	b = calloc(1, sizeof(*b));
	if (!b)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	b->p = p;
	b->cur.fd = -1;
	rc = cairn_hasher_new(&b->h);
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

static void staged_drop(cairn_pool_batch *b, struct staged *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
		if (!s->tmpname)
			b->open_fds--;
	}
	if (s->tmpname) {
		unlinkat(b->p->tmpfd, s->tmpname, 0);
		free(s->tmpname);
		s->tmpname = NULL;
	}
}

static void drop_current(cairn_pool_batch *b)
{
	if (!b->active)
		return;
	staged_drop(b, &b->cur);
	b->active = 0;
}

static int open_staging(cairn_pool_batch *b, struct staged *s)
{
	cairn_pool *p = b->p;
	char hex[CAIRN_OID_HEXLEN + 1], name[CAIRN_OID_HEXLEN + 48];
	int fd;

	cairn_oid_fmt(hex, &s->oid);
	if (b->open_fds < FD_BUDGET && atomic_load(&p->tmpfile_ok)) {
		fd = openat(p->tmpfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
		if (fd >= 0) {
			s->fd = fd;
			b->open_fds++;
			return 0;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return cairn_error_errno(errno, "cannot create a file in %s/tmp for object %s",
			                         p->path, hex);
		log_info("pool", "%s does not support O_TMPFILE; using named temporary files",
		         p->path);
		atomic_store(&p->tmpfile_ok, 0);
	}
	snprintf(name, sizeof(name), "%s.%ld.%lu", hex, (long)getpid(),
	         atomic_fetch_add(&p->seq, 1));
	fd = openat(p->tmpfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
	if (fd < 0)
		return cairn_error_errno(errno, "cannot create %s/tmp/%s", p->path, name);
	s->tmpname = strdup(name);
	if (!s->tmpname) {
		close(fd);
		unlinkat(p->tmpfd, name, 0);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	s->fd = fd;
	return 0;
}

static int space_error(cairn_pool_batch *b, int err, const char *what)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	int rc;

	cairn_oid_fmt(hex, &b->cur.oid);
	if (err == ENOSPC || err == EDQUOT)
		rc = cairn_error_set(CAIRN_ENOSPC, "pool %s is full (%s object %s)",
		                     b->p->path, what, hex);
	else
		rc = cairn_error_errno(err, "pool %s: %s object %s", b->p->path, what, hex);
	drop_current(b);
	return rc;
}

int cairn_pool_batch_begin(cairn_pool_batch *b, const cairn_oid *oid, uint64_t size)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	int rc;

	if (b->active)
		return cairn_error_set(CAIRN_EINVAL, "pool batch: object %s begun before the "
		                       "previous one ended", cairn_oid_fmt(hex, oid));
	if (b->n >= CAIRN_POOL_BATCH_MAX)
		return cairn_error_set(CAIRN_ETOOBIG, "pool batch: more than %d objects",
		                       CAIRN_POOL_BATCH_MAX);
	if (size > (uint64_t)INT64_MAX)
		return cairn_error_set(CAIRN_EINVAL, "object %s: bad size %llu",
		                       cairn_oid_fmt(hex, oid), (unsigned long long)size);
	memset(&b->cur, 0, sizeof(b->cur));
	b->cur.oid = *oid;
	b->cur.size = size;
	b->cur.fd = -1;
	b->written = 0;
	rc = open_staging(b, &b->cur);
	if (rc)
		return rc;
	b->active = 1;
	/* Reserving the space up front turns a full pool into one clean
	 * error here instead of a short write halfway through. */
	if (size > 0 && fallocate(b->cur.fd, 0, 0, (off_t)size) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS)
		return space_error(b, errno, "reserving space for");
	cairn_hasher_reset(b->h);
	return 0;
}

int cairn_pool_batch_write(cairn_pool_batch *b, const void *data, size_t len)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	int rc;

	if (!b->active)
		return cairn_error_set(CAIRN_EINVAL, "pool batch: write without an object begun");
	if (len > b->cur.size - b->written) {
		rc = cairn_error_set(CAIRN_EINVAL, "object %s: more than the announced %llu bytes",
		                     cairn_oid_fmt(hex, &b->cur.oid),
		                     (unsigned long long)b->cur.size);
		drop_current(b);
		return rc;
	}
	if (write_all(b->cur.fd, data, len) < 0)
		return space_error(b, errno, "writing");
	if (!b->checked)
		cairn_hasher_update(b->h, data, len);
	b->written += len;
	return 0;
}

static int push(cairn_pool_batch *b, const struct staged *s)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct staged *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = *s;
	return 0;
}

int cairn_pool_batch_end(cairn_pool_batch *b)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid got;
	int rc;

	if (!b->active)
		return cairn_error_set(CAIRN_EINVAL, "pool batch: end without an object begun");
	cairn_oid_fmt(hex, &b->cur.oid);
	if (b->written != b->cur.size) {
		rc = cairn_error_set(CAIRN_EINVAL, "object %s: got %llu bytes of the announced %llu",
		                     hex, (unsigned long long)b->written,
		                     (unsigned long long)b->cur.size);
		goto fail;
	}
	if (!b->checked)
		cairn_hasher_digest(b->h, &got);
	if (!b->checked && cairn_oid_cmp(&got, &b->cur.oid) != 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "object %s: content does not match its id", hex);
		goto fail;
	}
	/* A named file is found again by its name: free its descriptor now. */
	if (b->cur.tmpname) {
		if (close(b->cur.fd) < 0) {
			b->cur.fd = -1;
			rc = space_error(b, errno, "writing");
			return rc;
		}
		b->cur.fd = -1;
	}
	rc = push(b, &b->cur);
	if (rc)
		goto fail;
	b->active = 0;
	return 0;
fail:
	drop_current(b);
	return rc;
}

/* Writes the bulk of a checked object, len rounded down to DIO_ALIGN,
 * straight to the disk (O_DIRECT): bytes that are only being stored cost
 * no copy into the page cache and no writeback work, which on a busy host
 * is most of a recall's CPU. Returns how many bytes it wrote: 0 when the
 * buffer or the file system does not allow it (the caller writes them
 * all the usual way), or -1 on a write error (the object was dropped). */
#define DIO_ALIGN 4096u
#define DIO_MIN (64u << 10)

static ssize_t write_direct(cairn_pool_batch *b, const void *data, size_t len)
{
	size_t bulk = len & ~(size_t)(DIO_ALIGN - 1);
	int fd = b->cur.fd, fl, err;

	if (bulk < DIO_MIN || ((uintptr_t)data & (DIO_ALIGN - 1)) != 0 || b->written != 0)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
		return 0;
	err = write_all(fd, data, bulk) < 0 ? errno : 0;
	fcntl(fd, F_SETFL, fl);
	if (err == EINVAL && lseek(fd, 0, SEEK_CUR) == 0)
		return 0;       /* direct writes refused here: nothing written */
	if (err) {
		space_error(b, err, "writing");
		return -1;
	}
	b->written += bulk;
	return (ssize_t)bulk;
}

static int batch_add(cairn_pool_batch *b, const cairn_oid *oid, const void *data,
                     size_t len, int checked)
{
	ssize_t done = 0;
	int rc;

	rc = cairn_pool_batch_begin(b, oid, len);
	if (rc)
		return rc;
	b->checked = checked;
	if (checked)
		done = write_direct(b, data, len);
	if (done < 0) {
		rc = cairn_error_code();
	} else {
		rc = cairn_pool_batch_write(b, (const char *)data + done, len - (size_t)done);
		if (rc == 0)
			rc = cairn_pool_batch_end(b);
	}
	b->checked = 0;
	return rc;      /* on failure, the object was dropped */
}

int cairn_pool_batch_add(cairn_pool_batch *b, const cairn_oid *oid,
                         const void *data, size_t len)
{
	return batch_add(b, oid, data, len, 0);
}

int cairn_pool_batch_add_checked(cairn_pool_batch *b, const cairn_oid *oid,
                                 const void *data, size_t len)
{
	return batch_add(b, oid, data, len, 1);
}

size_t cairn_pool_batch_count(const cairn_pool_batch *b)
{
	return b->n;
}

const cairn_oid *cairn_pool_batch_oid(const cairn_pool_batch *b, size_t i, uint64_t *size)
{
	if (i >= b->n)
		return NULL;
	if (size)
		*size = b->v[i].size;
	return &b->v[i].oid;
}

/* Links one staged object to its final name, creating ab/ and ab/cd/ when
 * this is their first object. An existing name holds the same bytes (names
 * are digests), so EEXIST is success. */
static int link_final(cairn_pool *p, struct staged *s, bool *made_dirs)
{
	char rel[64], proc[64];
	int r;

	*made_dirs = false;
	rel_path(rel, sizeof(rel), &s->oid);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (s->tmpname) {
			r = renameat(p->tmpfd, s->tmpname, p->dirfd, rel);
		} else {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->fd);
			r = linkat(AT_FDCWD, proc, p->dirfd, rel, AT_SYMLINK_FOLLOW);
		}
		if (r == 0 || errno == EEXIST)
			return 0;
		if (errno != ENOENT || attempt > 0)
			break;
		/* rel is "ab/cd/<hex>": make "ab" then "ab/cd". */
		rel[2] = '\0';
		if (mkdirat(p->dirfd, rel, 0755) < 0 && errno != EEXIST)
			break;
		rel[2] = '/';
		rel[5] = '\0';
		if (mkdirat(p->dirfd, rel, 0755) < 0 && errno != EEXIST)
			break;
		rel[5] = '/';
		*made_dirs = true;
	}
	if (errno == ENOSPC || errno == EDQUOT)
		return cairn_error_set(CAIRN_ENOSPC, "pool %s is full (naming %s)", p->path, rel);
	return cairn_error_errno(errno, "pool %s: cannot name %s", p->path, rel);
}

/* fsync() of the pool directory rel ("" for the top): it names what was
 * linked or made in it. */
static int sync_dir(cairn_pool *p, const char *rel)
{
	int fd = *rel ? openat(p->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : p->dirfd;
	int rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = cairn_error_errno(errno, "pool %s: cannot sync %s", p->path,
		                       *rel ? rel : "its top directory");
	if (fd >= 0 && fd != p->dirfd)
		close(fd);
	return rc;
}

/* After s was linked in a small batch (top of file): its link count and
 * the directories that name it on stable storage. made: link_final made
 * ab/ or ab/cd/ for it. */
static int sync_name(cairn_pool *p, const struct staged *s, bool made)
{
	char dir[64];
	int rc;

	if (fsync(s->fd) < 0)
		return cairn_error_errno(errno, "pool %s: cannot sync", p->path);
	rel_path(dir, sizeof(dir), &s->oid);
	dir[5] = '\0';                          /* "ab/cd" */
	rc = sync_dir(p, dir);
	if (rc == 0 && made) {
		dir[2] = '\0';
		rc = sync_dir(p, dir);
		if (rc == 0)
			rc = sync_dir(p, "");
	}
	return rc;
}

int cairn_pool_batch_commit(cairn_pool_batch *b)
{
	cairn_pool *p = b->p;
	size_t pending = 0, anonymous = 0;
	bool small;
	int rc = 0;

	if (b->active)
		return cairn_error_set(CAIRN_EINVAL, "pool batch: commit with an object "
		                       "not yet ended");
	for (size_t i = 0; i < b->n; i++) {
		pending += !b->v[i].committed;
		anonymous += !b->v[i].committed && !b->v[i].tmpname;
	}
	if (pending == 0)
		return 0;

	/* The bytes. */
	small = pending <= SMALL_BATCH && anonymous == pending;
	for (size_t i = 0; small && i < b->n; i++) {
		if (!b->v[i].committed && fdatasync(b->v[i].fd) < 0)
			return cairn_error_errno(errno, "pool %s: cannot sync", p->path);
	}
	if (!small && syncfs(p->dirfd) < 0)
		return cairn_error_errno(errno, "pool %s: cannot sync", p->path);
	cairn_crash_point("pool.synced");
	/* The names. */
	for (size_t i = 0; i < b->n; i++) {
		struct staged *s = &b->v[i];
		bool made;

		if (s->committed)
			continue;
		rc = link_final(p, s, &made);
		if (rc == 0 && small)
			rc = sync_name(p, s, made);
		if (rc)
			return rc;
		if (s->tmpname) {
			free(s->tmpname);    /* renamed: nothing left to clean */
			s->tmpname = NULL;
		}
	}
	cairn_crash_point("pool.linked");
	if (!small && syncfs(p->dirfd) < 0)
		return cairn_error_errno(errno, "pool %s: cannot sync", p->path);
	for (size_t i = 0; i < b->n; i++) {
		struct staged *s = &b->v[i];

		if (s->committed)
			continue;
		staged_drop(b, s);
		s->committed = 1;
	}
	return 0;
}

void cairn_pool_batch_free(cairn_pool_batch *b)
{
	if (!b)
		return;
	drop_current(b);
	for (size_t i = 0; i < b->n; i++)
		if (!b->v[i].committed)
			staged_drop(b, &b->v[i]);
	free(b->v);
	cairn_hasher_free(b->h);
	free(b);
}

/* ---- the pool as a store ---------------------------------------------- */

static int store_put(cairn_store *s, const cairn_oid *oid, const void *data, size_t len)
{
	cairn_pool *p = (cairn_pool *)s;
	cairn_pool_batch *b = NULL;
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid got;
	uint64_t size;
	int rc;

	/* Check the bytes before looking: a present object is no excuse for
	 * accepting a wrong one. */
	cairn_oid_hash(&got, data, len);
	if (cairn_oid_cmp(&got, oid) != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "object %s: content does not match its id",
		                       cairn_oid_fmt(hex, oid));
	if (cairn_pool_has(p, oid, &size) == 0 && size == len)
		return 0;
	rc = cairn_pool_batch_new(p, &b);
	if (rc)
		goto out;
	rc = cairn_pool_batch_add(b, oid, data, len);
	if (rc)
		goto out;
	rc = cairn_pool_batch_commit(b);
out:
	cairn_pool_batch_free(b);
	return rc;
}

/* Up to len bytes at off of the pool file rel (what: "object", "the head
 * of") into buf; *nread < len only at its end. CAIRN_ENOTFOUND when absent. */
static int read_file_at(cairn_pool *p, const char *rel, const char *what,
                        const cairn_oid *oid, uint64_t off, void *buf, size_t len,
                        size_t *nread)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	size_t got = 0;
	int fd, rc = 0;

	*nread = 0;
	fd = openat(p->dirfd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(errno, "cannot open %s %s in pool %s", what,
		                         cairn_oid_fmt(hex, oid), p->path);
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = cairn_error_errno(errno, "cannot read %s %s in pool %s", what,
			                       cairn_oid_fmt(hex, oid), p->path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*nread = got;
out:
	close(fd);
	return rc;
}

static int store_get_range(cairn_store *s, const cairn_oid *oid, uint64_t off,
                           void *buf, size_t len, size_t *nread)
{
	char rel[64];

	rel_path(rel, sizeof(rel), oid);
	return read_file_at((cairn_pool *)s, rel, "object", oid, off, buf, len, nread);
}

/* ---- heads ------------------------------------------------------------ */

/* "heads/ab/cd/<hex>": the object layout, one level down. */
static void head_path(char *buf, size_t len, const cairn_oid *oid)
{
	char rel[3 + 3 + CAIRN_OID_HEXLEN + 1];

	rel_path(rel, sizeof(rel), oid);
	snprintf(buf, len, "heads/%s", rel);
}

int cairn_pool_head_keep(cairn_pool *p, const cairn_oid *oid, size_t len)
{
	char rel[64], tmp[64], hex[CAIRN_OID_HEXLEN + 1];
	char *buf = NULL;
	size_t n = 0;
	int fd = -1, rc;

	cairn_oid_fmt(hex, oid);
	buf = malloc(len ? len : 1);
	if (!buf)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rel_path(rel, sizeof(rel), oid);
	rc = read_file_at(p, rel, "object", oid, 0, buf, len, &n);
	if (rc)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.head.%lu", hex, atomic_fetch_add(&p->seq, 1));
	fd = openat(p->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = cairn_error_errno(errno, "cannot create a head in %s/tmp", p->path);
		goto out;
	}
	if (write_all(fd, buf, n) < 0) {
		rc = cairn_error_errno(errno, "cannot write the head of %s in %s/tmp", hex, p->path);
		goto out;
	}
	head_path(rel, sizeof(rel), oid);
	for (size_t cut = 5; cut <= 11; cut += 3) {     /* heads, heads/ab, heads/ab/cd */
		char c = rel[cut];

		rel[cut] = '\0';
		if (mkdirat(p->dirfd, rel, 0755) < 0 && errno != EEXIST) {
			rc = cairn_error_errno(errno, "cannot create %s/%s", p->path, rel);
			goto out;
		}
		rel[cut] = c;
	}
	/* No sync: a head is a cache that is checked before it is served. */
	if (renameat(p->tmpfd, tmp, p->dirfd, rel) < 0) {
		rc = cairn_error_errno(errno, "cannot keep the head of %s in %s", hex, p->path);
		goto out;
	}
	tmp[0] = '\0';
out:
	if (fd >= 0) {
		close(fd);
		if (tmp[0])
			unlinkat(p->tmpfd, tmp, 0);
	}
	free(buf);
	return rc;
}

int cairn_pool_head_read(cairn_pool *p, const cairn_oid *oid, uint64_t off, void *buf,
                         size_t len, size_t *nread)
{
	char rel[64];

	head_path(rel, sizeof(rel), oid);
	return read_file_at(p, rel, "the head of", oid, off, buf, len, nread);
}

uint64_t cairn_pool_head_size(cairn_pool *p, const cairn_oid *oid)
{
	char rel[64];
	struct stat st;

	head_path(rel, sizeof(rel), oid);
	if (fstatat(p->dirfd, rel, &st, 0) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return (uint64_t)st.st_size;
}

int cairn_pool_head_drop(cairn_pool *p, const cairn_oid *oid)
{
	char rel[64];

	head_path(rel, sizeof(rel), oid);
	return unlink_file(p, rel, "the head of", oid);
}

static int store_head(cairn_store *s, const cairn_oid *oid, uint64_t *size)
{
	return cairn_pool_has((cairn_pool *)s, oid, size);
}

static int store_del(cairn_store *s, const cairn_oid *oid)
{
	return cairn_pool_unlink((cairn_pool *)s, oid);
}

/* The store belongs to the pool: cairn_pool_close releases it. */
static void store_free(cairn_store *s)
{
}

static const struct cairn_store_ops pool_ops = {
	.name = "pool",
	.put = store_put,
	.get_range = store_get_range,
	.head = store_head,
	.del = store_del,
	.free = store_free,
};
