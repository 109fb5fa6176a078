/* objects.c — pool, local cache, then catalogd: the three places an
 * object's bytes come from, in that order.
 *
 * Pool objects are trusted as they are: catalogd verified them before it
 * gave them their final names, and re-hashing every chunk on every open
 * would halve sequential read speed. Only their size is checked, which is
 * one fstat and catches a truncated file before a reader gets short data.
 * Bytes that cross the network are hashed as they arrive (see objects.h).
 *
 * File descriptors: every fd opened here is either returned to the caller,
 * who owns it from then on, or closed before the function returns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "objects.h"
#include "pool.h"
#include "remote.h"

#define MOD "cairnfs/objects"

static char *pool_dir;     /* NULL when catalogd's pool is not on this host */
static char *cache_dir;

/* mkdir -p, for the cache directory given on the command line. */
static int mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return cairn_error_set(CAIRN_EINVAL, "bad directory '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return cairn_error_errno(errno, "cannot create %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return cairn_error_errno(errno, "cannot create %s", buf);
	return 0;
}

/* Removes what an interrupted download left in tmp/. */
static void clean_tmp(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_debug(MOD, "removed leftover %s/%s", tmp, de->d_name);
	}
	closedir(d);
}

int cfs_objects_init(const char *pool, const char *cache)
{
	char tmp[PATH_MAX];
	struct stat st;
	int rc = 0;

	/* The pool is on this host when its marker file is (see pool.h): a
	 * directory of the same name elsewhere is not catalogd's pool. */
	snprintf(tmp, sizeof(tmp), "%s/POOL", pool ? pool : "");
	if (pool && *pool && stat(tmp, &st) == 0 && S_ISREG(st.st_mode)) {
		pool_dir = strdup(pool);
		if (!pool_dir)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	} else if (pool && *pool) {
		log_info(MOD, "pool %s is not on this host; objects come from catalogd", pool);
	}
	cache_dir = strdup(cache);
	if (!cache_dir)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	/* A cache that cannot be created only matters once an object is
	 * missing from the pool: warn now, fail those reads then. */
	rc = mkdirs(cache_dir, 0700);
	if (rc == 0) {
		snprintf(tmp, sizeof(tmp), "%s/tmp", cache_dir);
		rc = mkdirs(tmp, 0700);
		if (rc == 0)
			clean_tmp(tmp);
	}
	if (rc) {
		log_warn(MOD, "cache directory unusable: %s", cairn_error_msg());
		cairn_error_clear();
	}
	return 0;
}

void cfs_objects_shutdown(void)
{
	free(pool_dir);
	free(cache_dir);
	pool_dir = cache_dir = NULL;
}

const char *cfs_objects_pool(void)
{
	return pool_dir;
}

/* Opens a local copy that must be exactly size bytes long. */
static int open_local(int *out, const char *path, uint64_t size)
{
	struct stat st;
	int fd, rc = 0;

	/* O_NOATIME spares the pool an inode write per chunk; it needs us to
	 * own the file or be root, so fall back without it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CAIRN_ENOTFOUND;
		return cairn_error_errno(errno, "cannot open %s", path);
	}
	if (fstat(fd, &st) < 0) {
		rc = cairn_error_errno(errno, "cannot stat %s", path);
		goto out;
	}
	if ((uint64_t)st.st_size != size) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "%s holds %lld bytes, expected %" PRIu64,
		                     path, (long long)st.st_size, size);
		goto out;
	}
	/* Readers of a chunk go front to back: a larger kernel readahead on
	 * the object file keeps the disk busy while the FUSE reply goes out. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

struct download {
	int fd;                    /* the temporary file, owned by fetch() */
	cairn_hasher *h;
	uint64_t got, want;
	const char *hex;
};

static int download_sink(void *ctx, const void *data, size_t len)
{
	struct download *d = ctx;
	const char *p = data;

	if (len > d->want - d->got)
		return cairn_error_set(CAIRN_ECORRUPT,
		                       "object %s: catalogd sent more than its %" PRIu64 " bytes",
		                       d->hex, d->want);
	cairn_hasher_update(d->h, data, len);
	d->got += len;
	while (len > 0) {
		ssize_t w = write(d->fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return cairn_error_errno(errno, "cannot write the cache copy of %s", d->hex);
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Makes "<cache>/ab" and "<cache>/ab/cd". */
static int cache_dirs(const char *hex)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%.2s", cache_dir, hex);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cairn_error_errno(errno, "cannot create %s", dir);
	snprintf(dir, sizeof(dir), "%s/%.2s/%.2s", cache_dir, hex, hex + 2);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cairn_error_errno(errno, "cannot create %s", dir);
	return 0;
}

/* Downloads the object into the cache and returns an fd on it. */
static int fetch(int *out, const cairn_oid *oid, const char *hex, uint64_t size,
                 const char *final)
{
	char tmp[PATH_MAX] = "";
	struct download d = { .fd = -1, .want = size, .hex = hex };
	cairn_oid got;
	int rc;

	rc = cairn_hasher_new(&d.h);
	if (rc)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s.XXXXXX", cache_dir, hex);
	d.fd = mkostemp(tmp, O_CLOEXEC);
	if (d.fd < 0) {
		rc = cairn_error_errno(errno, "cannot create a file in %s/tmp", cache_dir);
		tmp[0] = '\0';
		goto out;
	}
	rc = cfs_remote_object_get(oid, download_sink, &d);
	if (rc)
		goto out;
	cairn_hasher_digest(d.h, &got);
	if (d.got != size || cairn_oid_cmp(&got, oid) != 0) {
		char ghex[CAIRN_OID_HEXLEN + 1];

		rc = cairn_error_set(CAIRN_ECORRUPT,
		                     "object %s from catalogd fails verification "
		                     "(%" PRIu64 " bytes hashing to %s, expected %" PRIu64 ")",
		                     hex, d.got, cairn_oid_fmt(ghex, &got), size);
		log_error(MOD, "%s", cairn_error_msg());
		goto out;
	}
	/* Durable before it is visible: after a crash the final name holds
	 * the whole verified object or does not exist. */
	if (fdatasync(d.fd) < 0) {
		rc = cairn_error_errno(errno, "cannot sync the cache copy of %s", hex);
		goto out;
	}
	rc = cache_dirs(hex);
	if (rc)
		goto out;
	if (rename(tmp, final) < 0) {
		rc = cairn_error_errno(errno, "cannot rename %s to %s", tmp, final);
		goto out;
	}
	tmp[0] = '\0';
	log_debug(MOD, "cached %s (%" PRIu64 " bytes)", hex, size);
	*out = d.fd;
	d.fd = -1;
out:
	if (d.fd >= 0)
		close(d.fd);
	if (tmp[0] && rc)
		unlink(tmp);
	cairn_hasher_free(d.h);
	return rc;
}

int cfs_object_open_local(int *fd, const cairn_oid *oid, uint64_t size)
{
	char hex[CAIRN_OID_HEXLEN + 1], path[PATH_MAX];
	int rc = CAIRN_ENOTFOUND;

	cairn_oid_fmt(hex, oid);
	if (pool_dir) {
		cairn_object_path_at(path, sizeof(path), pool_dir, oid);
		rc = open_local(fd, path, size);
	}
	if (rc == CAIRN_ENOTFOUND) {
		cairn_object_path_at(path, sizeof(path), cache_dir, oid);
		rc = open_local(fd, path, size);
	}
	return rc;
}

void cfs_object_prefetch(int fd, uint64_t size)
{
	/* WILLNEED queues the reads and returns: the disk works on this
	 * object while the reply for the one before it goes out. */
	posix_fadvise(fd, 0, (off_t)size, POSIX_FADV_WILLNEED);
}

int cfs_object_open(int *fd, const cairn_oid *oid, uint64_t size)
{
	char hex[CAIRN_OID_HEXLEN + 1], path[PATH_MAX];
	int rc;

	cairn_oid_fmt(hex, oid);
	if (pool_dir) {
		cairn_object_path_at(path, sizeof(path), pool_dir, oid);
		rc = open_local(fd, path, size);
		if (rc != CAIRN_ENOTFOUND) {
			if (rc)
				log_error(MOD, "%s", cairn_error_msg());
			return rc;
		}
	}
	cairn_object_path_at(path, sizeof(path), cache_dir, oid);
	rc = open_local(fd, path, size);
	if (rc == 0)
		return 0;
	if (rc == CAIRN_ECORRUPT) {
		/* Only we write here, so a bad copy is damage from outside:
		 * drop it and fetch the object again. */
		log_warn(MOD, "%s; fetching it again", cairn_error_msg());
		unlink(path);
	} else if (rc != CAIRN_ENOTFOUND) {
		return rc;
	}
	return fetch(fd, oid, hex, size, path);
}
