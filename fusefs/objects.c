/* objects.c — pool, local cache, then catalogd: the three places an
 * object's bytes come from, in that order.
 *
 * Pool objects are trusted as they are: catalogd verified them before it
 * gave them their final names, and re-hashing every chunk on every open
 * would halve sequential read speed. Only their size is checked, which is
 * one fstat and catches a truncated file before a reader gets short data;
 * a pool copy of the wrong size is passed over and the object is asked of
 * catalogd, which checks its digest and may have an S3 copy to fall back
 * on. Bytes that cross the network are hashed as they arrive (see
 * objects.h).
 *
 * Downloads (single flight). A struct flight stands for one download in
 * progress; readers of the same object find it in the `flights` list and
 * wait on its condition variable instead of starting a second request.
 * The downloader publishes the verified file's descriptor as soon as the
 * digest matches and hands the file to the keeper, which makes it durable
 * and renames it into the cache while the readers already read: time to
 * first byte of a cold file is one object's transfer and hash, not that
 * plus an fsync. The flight stays listed until the rename is done, so
 * nobody who comes in between starts the download again.
 *
 * Threads: FUSE workers download what they need themselves; PREFETCH_WORKERS
 * threads download what a sequential reader will need next (a bounded
 * queue feeds them); one keeper thread makes verified files durable and
 * gives them their final names (see "Keeper"); one evictor thread keeps the
 * cache under its limit.
 *
 * File descriptors: every fd opened here is either returned to the caller,
 * who owns it from then on, owned by a flight (closed with its last
 * reference), or closed before the function returns.
 */
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "blockwire.h"
#include "error.h"
#include "log.h"
#include "objects.h"
#include "pool.h"
#include "remote.h"
#include "s3.h"         /* CAIRN_S3_URL_MAX */

#define MOD "cairnfs/objects"

/* Downloads running ahead of sequential readers, and how many may wait. */
#define PREFETCH_WORKERS 8
#define PREFETCH_QUEUE 64
/* A waiter gives up this long after the download's own timeout would have
 * ended it: a guard, not the bound users see. */
#define WAIT_GRACE 5
/* A failed download is the answer to every read of that object for this
 * long: the kernel retries a failed read page by page, and each retry
 * would otherwise wait out the same failure again (S3 unreachable), or
 * fetch the same damaged bytes again. */
#define FAIL_REMEMBER_MS 1000
/* A cache hit refreshes the file's access time (the eviction order) when
 * it is older than this, so hot objects cost no inode write per open. */
#define ATIME_SLACK 60
/* The evictor looks at the cache this often even when nobody told it to,
 * and frees down to EVICT_LOW_PCT of the limit once it is over. */
#define EVICT_INTERVAL 30
#define EVICT_LOW_PCT 90
/* Oldest files remembered per walk of the cache: bounds the evictor's
 * memory whatever the number of cached objects. */
#define EVICT_BATCH 1024

/* After catalogd says it hands out no URLs, cold objects go through it
 * for this long before it is asked again. */
#define DIRECT_REFUSED_S 60

static char *pool_dir;     /* NULL when catalogd's pool is not on this host */
static bool direct;        /* cold objects straight from S3 (--no-direct) */
static char *cache_dir;
static uint64_t cache_limit;

/* ---- Directories ------------------------------------------------------- */

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

/* ---- Cache accounting and eviction ------------------------------------- */

/* Bytes under final names in the cache, as far as this process knows: set
 * by each walk of the evictor, raised by each download in between. */
static atomic_uint_fast64_t cache_used;
/* Bytes added by downloads since start, so a walk can tell what landed
 * while it ran. */
static atomic_uint_fast64_t cache_added;

static pthread_mutex_t evict_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t evict_cv = PTHREAD_COND_INITIALIZER;
static bool evict_stop, evict_wanted, evict_running;
static pthread_t evict_thread;

static void cache_account(uint64_t bytes)
{
	atomic_fetch_add(&cache_added, bytes);
	if (atomic_fetch_add(&cache_used, bytes) + bytes > cache_limit) {
		pthread_mutex_lock(&evict_mu);
		evict_wanted = true;
		pthread_cond_signal(&evict_cv);
		pthread_mutex_unlock(&evict_mu);
	}
}

struct victim {
	int64_t key;          /* last use, ns: max(atime, mtime) */
	uint64_t size;
	cairn_oid oid;
};

/* A max-heap on key holding the oldest files seen so far. */
struct vheap {
	struct victim v[EVICT_BATCH];
	size_t n;
};

static void vheap_swap(struct victim *a, struct victim *b)
{
	struct victim t = *a;

	*a = *b;
	*b = t;
}

static void vheap_offer(struct vheap *h, const struct victim *v)
{
	size_t i;

	if (h->n < EVICT_BATCH) {
		i = h->n++;
		h->v[i] = *v;
		while (i > 0 && h->v[(i - 1) / 2].key < h->v[i].key) {
			vheap_swap(&h->v[(i - 1) / 2], &h->v[i]);
			i = (i - 1) / 2;
		}
		return;
	}
	if (v->key >= h->v[0].key)
		return;
	h->v[0] = *v;
	i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->v[l].key > h->v[m].key)
			m = l;
		if (r < h->n && h->v[r].key > h->v[m].key)
			m = r;
		if (m == i)
			break;
		vheap_swap(&h->v[i], &h->v[m]);
		i = m;
	}
}

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static bool is_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* Walks <cache>/ab/cd/<hex>: the total size of the objects there, and the
 * oldest EVICT_BATCH of them in h. */
static uint64_t cache_walk(struct vheap *h)
{
	char path[PATH_MAX];
	struct dirent *a, *b, *f;
	uint64_t total = 0;
	DIR *da, *db, *dc;

	h->n = 0;
	da = opendir(cache_dir);
	if (!da)
		return 0;
	while ((a = readdir(da)) != NULL) {
		if (!is_hex(a->d_name, 2))
			continue;
		snprintf(path, sizeof(path), "%s/%s", cache_dir, a->d_name);
		db = opendir(path);
		if (!db)
			continue;
		while ((b = readdir(db)) != NULL) {
			if (!is_hex(b->d_name, 2))
				continue;
			snprintf(path, sizeof(path), "%s/%s/%s", cache_dir, a->d_name, b->d_name);
			dc = opendir(path);
			if (!dc)
				continue;
			while ((f = readdir(dc)) != NULL) {
				struct victim v;
				struct stat st;
				int64_t at, mt;

				if (!is_hex(f->d_name, CAIRN_OID_HEXLEN) ||
				    cairn_oid_parse(&v.oid, f->d_name) != 0 ||
				    fstatat(dirfd(dc), f->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
				    !S_ISREG(st.st_mode))
					continue;
				at = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
				mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
				v.key = at > mt ? at : mt;
				v.size = (uint64_t)st.st_size;
				total += v.size;
				vheap_offer(h, &v);
			}
			closedir(dc);
		}
		closedir(db);
	}
	closedir(da);
	return total;
}

/* Evicts least recently used objects until the cache is at most
 * EVICT_LOW_PCT of its limit. Files held open by readers stay readable
 * through their descriptors; only the name goes. */
static void cache_evict(struct vheap *h)
{
	uint64_t low = cache_limit / 100 * EVICT_LOW_PCT, total, added0, freed = 0;
	unsigned long nfreed = 0;

	for (;;) {
		bool saw_all;

		added0 = atomic_load(&cache_added);
		total = cache_walk(h);
		saw_all = h->n < EVICT_BATCH;
		if (total > cache_limit || (freed > 0 && total > low)) {
			qsort(h->v, h->n, sizeof(h->v[0]), victim_cmp);
			for (size_t i = 0; i < h->n && total > low; i++) {
				char path[PATH_MAX];

				cairn_object_path_at(path, sizeof(path), cache_dir, &h->v[i].oid);
				if (unlink(path) == 0) {
					total -= h->v[i].size;
					freed += h->v[i].size;
					nfreed++;
				}
			}
		}
		/* Downloads that landed during the walk may or may not have
		 * been seen; counting them again errs towards evicting early. */
		atomic_store(&cache_used, total + (atomic_load(&cache_added) - added0));
		if (total <= low || saw_all || h->n == 0)
			break;
		/* Still over: another walk finds the next oldest batch. */
		if (freed == 0)
			break;
	}
	if (nfreed)
		log_info(MOD, "cache over its limit: evicted %lu objects (%" PRIu64 " bytes), "
		         "%" PRIu64 " bytes left", nfreed, freed, total);
}

static void *evictor(void *arg)
{
	struct vheap *h = malloc(sizeof(*h));

	if (!h) {
		log_error(MOD, "cache evictor: out of memory; the cache is not bounded");
		return NULL;
	}
	/* The first walk learns how much an earlier run left. */
	cache_evict(h);
	pthread_mutex_lock(&evict_mu);
	while (!evict_stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += EVICT_INTERVAL;
		while (!evict_stop && !evict_wanted &&
		       pthread_cond_timedwait(&evict_cv, &evict_mu, &until) != ETIMEDOUT)
			;
		if (evict_stop)
			break;
		evict_wanted = false;
		if (atomic_load(&cache_used) <= cache_limit)
			continue;
		pthread_mutex_unlock(&evict_mu);
		cache_evict(h);
		pthread_mutex_lock(&evict_mu);
	}
	pthread_mutex_unlock(&evict_mu);
	free(h);
	return NULL;
}

/* ---- Local copies ------------------------------------------------------ */

/* Opens a local copy that must be exactly size bytes long. touch: refresh
 * its access time (cache copies, for eviction order). */
static int open_local(int *out, const char *path, uint64_t size, bool touch)
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
	if (touch && st.st_atim.tv_sec + ATIME_SLACK < time(NULL)) {
		const struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};

		futimens(fd, ts);
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

/* The pool copy, if the pool is here and holds the object. */
static int open_pool(int *fd, const cairn_oid *oid, uint64_t size)
{
	char path[PATH_MAX];
	int rc;

	if (!pool_dir)
		return CAIRN_ENOTFOUND;
	cairn_object_path_at(path, sizeof(path), pool_dir, oid);
	rc = open_local(fd, path, size, false);
	if (rc == 0)
		cfs_access_note(oid);
	return rc;
}

/* ---- Downloads --------------------------------------------------------- */

/* Bytes arriving are gathered and written to the cache file this many at
 * a time: each write() into the file system costs about as much for a few
 * KiB as for a MiB, and the network hands them over in small pieces. */
#define WRITE_BATCH ((size_t)1 << 20)

struct download {
	int fd;                    /* the temporary file, owned by download() */
	cairn_hasher *h;
	uint64_t got, want;
	const char *hex;
	char *pend;                /* arrived, not yet written: npend of cap */
	size_t npend, cap;         /* cap: WRITE_BATCH, less for a small object */
};

/* Writes what is pending to the file. */
static int download_flush(struct download *d)
{
	const char *p = d->pend;
	size_t len = d->npend;

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
	d->npend = 0;
	return 0;
}

static int download_sink(void *ctx, const void *data, size_t len)
{
	struct download *d = ctx;
	const char *p = data;

	if (len > d->want - d->got)
		return cairn_error_set(CAIRN_ECORRUPT, "more than the object's %" PRIu64
		                       " bytes arrived", d->want);
	cairn_hasher_update(d->h, data, len);
	d->got += len;
	while (len > 0) {
		size_t n = d->cap - d->npend < len ? d->cap - d->npend : len;
		int rc;

		memcpy(d->pend + d->npend, p, n);
		d->npend += n;
		p += n;
		len -= n;
		if (d->npend == d->cap && (rc = download_flush(d)) != 0)
			return rc;
	}
	return 0;
}

/* Starts the download over: nothing written, nothing hashed. */
static int download_restart(struct download *d)
{
	d->npend = 0;
	if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0)
		return cairn_error_errno(errno, "cannot empty the cache copy of %s", d->hex);
	cairn_hasher_reset(d->h);
	d->got = 0;
	return 0;
}

/* What a reader sees of a fetch that failed with rc (the thread's message
 * says why): an I/O error, whatever stopped it, or out of memory. */
static int fetch_failed(int rc, const char *hex)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", cairn_error_msg());
	return cairn_error_set(rc == CAIRN_ENOMEM ? rc : CAIRN_EIO, "cannot fetch object %s: %s",
	                       hex, msg);
}

/* Whether what the sink got is the object: all of it, and its digest.
 * Writes out what is pending first: 0 means the file holds it all. */
static int download_check(struct download *d, const cairn_oid *oid, const char *from)
{
	char ghex[CAIRN_OID_HEXLEN + 1];
	cairn_oid got;
	int rc = download_flush(d);

	if (rc)
		return rc;
	cairn_hasher_digest(d->h, &got);
	if (d->got == d->want && cairn_oid_cmp(&got, oid) == 0)
		return 0;
	return cairn_error_set(CAIRN_ECORRUPT, "%s sent %" PRIu64 " bytes hashing to %s, "
	                       "not the %" PRIu64 " bytes of the object", from, d->got,
	                       cairn_oid_fmt(ghex, &got), d->want);
}

/* The object straight from S3, with the URL catalogd signs for it. 0 when
 * the file holds the verified object; CAIRN_ENOTFOUND (the file emptied
 * again) when it is to be read through catalogd instead: catalogd hands
 * out no URL for it (it has a pool copy, or URLs are off), or the direct
 * read failed. CAIRN_EIO when the direct read timed out: going through
 * catalogd would make the reader wait twice as long. */
static int download_direct(struct download *d, const cairn_oid *oid)
{
	static _Atomic int64_t refused_until;
	char url[CAIRN_S3_URL_MAX];
	bool given = false;
	int rc;

	if (!direct || (int64_t)time(NULL) < atomic_load(&refused_until))
		return CAIRN_ENOTFOUND;
	rc = cfs_remote_object_url(url, sizeof(url), &given, oid);
	if (rc == CAIRN_EPERM) {
		int64_t now = (int64_t)time(NULL);

		/* Said once per refusal, however many threads meet it. */
		if (atomic_exchange(&refused_until, now + DIRECT_REFUSED_S) <= now)
			log_info(MOD, "cold objects come through catalogd: %s", cairn_error_msg());
	} else if (rc != 0) {
		/* An older catalogd, or one that cannot answer: the read
		 * through it says what is wrong, if anything is. */
		log_debug(MOD, "object %s: no URL (%s)", d->hex, cairn_error_msg());
	}
	if (rc != 0 || !given) {
		cairn_error_clear();
		return CAIRN_ENOTFOUND;
	}
	rc = cfs_remote_fetch_url(url, download_sink, d);
	explicit_bzero(url, sizeof(url));
	if (rc == 0)
		rc = download_check(d, oid, "S3");
	if (rc == 0)
		return 0;
	if (rc == CAIRN_ERETRY) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", cairn_error_msg());
		return cairn_error_set(CAIRN_EIO, "cannot fetch object %s from S3: %s", d->hex,
		                       msg);
	}
	/* Damaged bytes, an expired or refused URL, an S3 endpoint this host
	 * cannot reach, S3 busy (catalogd retries with backoff): catalogd
	 * tries too, and logs and counts what it finds where an admin
	 * looks. */
	if (rc == CAIRN_ECORRUPT)
		log_error(MOD, "object %s: %s; not served, asking catalogd", d->hex,
		          cairn_error_msg());
	else
		log_warn(MOD, "object %s: direct read from S3 failed (%s); reading it through "
		         "catalogd", d->hex, cairn_error_msg());
	cairn_error_clear();
	rc = download_restart(d);
	return rc ? rc : CAIRN_ENOTFOUND;
}

/* Downloads the object into a new file in <cache>/tmp and checks it.
 * On success *fd is open on verified bytes and tmp names the file. */
static int download(int *fd, char *tmp, size_t tmplen, const cairn_oid *oid,
                    const char *hex, uint64_t size)
{
	struct download d = { .fd = -1, .want = size, .hex = hex };
	int rc;

	tmp[0] = '\0';
	d.cap = size < WRITE_BATCH ? (size_t)size + 1 : WRITE_BATCH;   /* never 0 */
	d.pend = malloc(d.cap);
	if (!d.pend) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	rc = cairn_hasher_new(&d.h);
	if (rc)
		goto out;
	snprintf(tmp, tmplen, "%s/tmp/%s.XXXXXX", cache_dir, hex);
	d.fd = mkostemp(tmp, O_CLOEXEC);
	if (d.fd < 0) {
		rc = cairn_error_errno(errno, "cannot create a file in %s/tmp", cache_dir);
		tmp[0] = '\0';
		goto out;
	}
	rc = download_direct(&d, oid);
	if (rc == CAIRN_ENOTFOUND) {
		rc = cfs_remote_object_get(oid, download_sink, &d);
		if (rc == 0)
			rc = download_check(&d, oid, "catalogd");
		if (rc == CAIRN_ECORRUPT) {
			/* catalogd refused bytes that fail their digest (422),
			 * or sent others: never served. */
			log_error(MOD, "object %s: %s", hex, cairn_error_msg());
		} else if (rc) {
			/* Whatever stopped it: catalogd or S3 unreachable, a
			 * timeout, the object gone. */
			rc = fetch_failed(rc, hex);
		}
	}
	if (rc)
		goto out;
	*fd = d.fd;
	d.fd = -1;
out:
	if (d.fd >= 0)
		close(d.fd);
	if (rc && tmp[0]) {
		unlink(tmp);
		tmp[0] = '\0';
	}
	cairn_hasher_free(d.h);
	free(d.pend);
	return rc;
}

/* Durable before it is visible: after a crash the final name holds the
 * whole verified object or does not exist. Failing here costs only the
 * cache copy; the readers already have their descriptors. */
static void keep(int fd, const char *tmp, const cairn_oid *oid, const char *hex,
                 uint64_t size)
{
	char final[PATH_MAX];
	int r;

	if (fdatasync(fd) < 0) {
		log_warn(MOD, "cannot sync the cache copy of %s: %s", hex, strerror(errno));
		goto drop;
	}
	cairn_object_path_at(final, sizeof(final), cache_dir, oid);
	/* The directories are made when the first object in them comes. */
	r = rename(tmp, final);
	if (r < 0 && errno == ENOENT) {
		if (cache_dirs(hex) != 0) {
			log_warn(MOD, "%s", cairn_error_msg());
			cairn_error_clear();
			goto drop;
		}
		r = rename(tmp, final);
	}
	if (r < 0) {
		log_warn(MOD, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
		goto drop;
	}
	cache_account(size);
	log_debug(MOD, "cached %s (%" PRIu64 " bytes)", hex, size);
	return;
drop:
	unlink(tmp);
}

struct flight {
	cairn_oid oid;
	bool done;            /* the download ended; rc and fd are set */
	bool listed;          /* in `flights`: newcomers join it */
	int64_t until_ms;     /* a failed one stays listed until then */
	int rc;
	char msg[512];        /* the error, for waiters on other threads */
	int fd;               /* verified bytes; owned here, closed with the last ref */
	int refs;             /* the downloader and each waiter */
	pthread_cond_t cv;
	struct flight *next;
};

static pthread_mutex_t flights_mu = PTHREAD_MUTEX_INITIALIZER;
static struct flight *flights;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flight_put(struct flight *f);

/* A flight just taken out of `flights`: freed unless someone still holds
 * it (the last flight_put frees it then); flights_mu held. */
static void flight_delisted(struct flight *f)
{
	f->listed = false;
	f->refs++;
	flight_put(f);
}

/* flights_mu held. Failures remembered past their time go on the way. */
static struct flight *flight_find(const cairn_oid *oid)
{
	int64_t now = mono_ms();

	for (struct flight **p = &flights; *p;) {
		struct flight *f = *p;

		if (f->until_ms != 0 && now >= f->until_ms) {
			*p = f->next;
			flight_delisted(f);
			continue;
		}
		if (cairn_oid_cmp(&f->oid, oid) == 0)
			return f;
		p = &f->next;
	}
	return NULL;
}

/* flights_mu held. */
static void flight_unlist(struct flight *f)
{
	for (struct flight **p = &flights; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	f->listed = false;
}

/* Drops a reference; flights_mu held. */
static void flight_put(struct flight *f)
{
	if (--f->refs > 0 || f->listed)
		return;
	if (f->fd >= 0)
		close(f->fd);
	pthread_cond_destroy(&f->cv);
	free(f);
}

/* A descriptor of our own on the flight's file; flights_mu held. */
static int flight_result(int *fd, struct flight *f)
{
	if (f->rc)
		return cairn_error_set(f->rc, "%s", f->msg);
	*fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		return cairn_error_errno(errno, "cannot duplicate a descriptor");
	return 0;
}

/* Waits for someone else's download of the object; flights_mu held. */
static int flight_wait(int *fd, struct flight *f)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += cfs_remote_timeout() + WAIT_GRACE;
	f->refs++;
	while (!f->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&f->cv, &flights_mu, &until);
	if (f->done) {
		rc = flight_result(fd, f);
	} else {
		char hex[CAIRN_OID_HEXLEN + 1];

		rc = cairn_error_set(CAIRN_EIO, "timed out waiting for object %s",
		                     cairn_oid_fmt(hex, &f->oid));
	}
	flight_put(f);
	return rc;
}

/* With the pool on this host and recall_on_read on, catalogd writes a cold
 * object back to the pool anyway: waiting for that and reading the pool
 * copy beats downloading a second copy of the same bytes into the cache.
 * CAIRN_ENOTFOUND when the caller should download instead: catalogd will
 * not put it in the pool (recall_on_read off, the pool full; a refusal
 * remembered for a while, so that a mount under recall_on_read=no does not
 * ask for every object), or it was released again. Any other failure is
 * the read's (S3 unreachable, a damaged S3 copy): a download would meet it
 * too. */
#define RECALL_REFUSED_S 10

static int fetch_pooled(int *fd, const cairn_oid *oid, const char *hex, uint64_t size)
{
	static _Atomic int64_t refused_until;
	int rc;

	if (!pool_dir || (int64_t)time(NULL) < atomic_load(&refused_until))
		return CAIRN_ENOTFOUND;
	rc = cfs_remote_object_recall(oid);
	if (rc == 0) {
		rc = open_pool(fd, oid, size);
		if (rc == 0)
			return 0;
	} else if (rc == CAIRN_EPERM) {
		atomic_store(&refused_until, (int64_t)time(NULL) + RECALL_REFUSED_S);
	} else {
		log_error(MOD, "object %s: %s", hex, cairn_error_msg());
		return fetch_failed(rc, hex);
	}
	log_debug(MOD, "object %s: not read from the pool (%s); downloading it", hex,
	          cairn_error_msg());
	cairn_error_clear();
	return CAIRN_ENOTFOUND;
}

static bool keep_later(struct flight *f, const char *tmp, uint64_t size);
static void flight_end(struct flight *f);

/* The object into the cache, once however many ask at the same time. */
static int fetch(int *out, const cairn_oid *oid, uint64_t size)
{
	char hex[CAIRN_OID_HEXLEN + 1], tmp[PATH_MAX];
	struct flight *f;
	int rc, fd = -1;

	cairn_oid_fmt(hex, oid);
	pthread_mutex_lock(&flights_mu);
	f = flight_find(oid);
	if (f) {
		rc = flight_wait(out, f);
		pthread_mutex_unlock(&flights_mu);
		return rc;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&flights_mu);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	f->oid = *oid;
	f->fd = -1;
	f->refs = 1;
	f->listed = true;
	pthread_cond_init(&f->cv, NULL);
	f->next = flights;
	flights = f;
	pthread_mutex_unlock(&flights_mu);

	tmp[0] = '\0';
	rc = fetch_pooled(&fd, oid, hex, size);
	if (rc == CAIRN_ENOTFOUND)
		rc = download(&fd, tmp, sizeof(tmp), oid, hex, size);

	/* Publish: waiters read from here on. */
	pthread_mutex_lock(&flights_mu);
	f->done = true;
	f->rc = rc;
	if (rc)
		snprintf(f->msg, sizeof(f->msg), "%s", cairn_error_msg());
	f->fd = fd;
	pthread_cond_broadcast(&f->cv);
	if (rc == 0)
		rc = flight_result(out, f);
	pthread_mutex_unlock(&flights_mu);

	if (fd >= 0 && tmp[0]) {
		if (keep_later(f, tmp, size))
			return rc;
		keep(fd, tmp, oid, hex, size);
	}
	flight_end(f);
	return rc;
}

/* The downloader's last word on its flight: a failure stays listed for a
 * while, anything else makes way for the cache file or the next try. */
static void flight_end(struct flight *f)
{
	pthread_mutex_lock(&flights_mu);
	if (f->rc != 0 && f->rc != CAIRN_ENOMEM)
		f->until_ms = mono_ms() + FAIL_REMEMBER_MS;
	else
		flight_unlist(f);
	flight_put(f);
	pthread_mutex_unlock(&flights_mu);
}

/* ---- Keeper ------------------------------------------------------------ */

/* keep() waits for the disk. A FUSE worker that downloaded an object for
 * its own read would reply only after that wait, and a prefetch worker
 * would start its next download only after it: cold sequential reads ran
 * at the disk's pace of small syncs, not the network's. So verified files
 * go to one keeper thread, which syncs and renames them in the order they
 * came while the downloaders go on. The flight stays listed, with its
 * descriptor, until the keeper is done with it: readers that come in
 * between still join it. When the keeper is this far behind, the
 * downloader keeps the file itself, which slows downloads to the disk's
 * pace instead of piling up open files. */
#define KEEP_QUEUE 32

struct kjob {
	struct flight *f;     /* the downloader's reference, now the keeper's */
	uint64_t size;
	char tmp[PATH_MAX];
	struct kjob *next;
};

static pthread_mutex_t k_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t k_cv = PTHREAD_COND_INITIALIZER;
static struct kjob *k_head, **k_tail = &k_head;
static size_t k_len;
static bool k_stop, k_running;
static pthread_t keeper_thread;

/* Hands the flight and its file to the keeper; false when the caller must
 * keep it itself (no keeper, too far behind, no memory). */
static bool keep_later(struct flight *f, const char *tmp, uint64_t size)
{
	struct kjob *j = malloc(sizeof(*j));

	if (!j)
		return false;
	j->f = f;
	j->size = size;
	snprintf(j->tmp, sizeof(j->tmp), "%s", tmp);
	j->next = NULL;
	pthread_mutex_lock(&k_mu);
	if (!k_running || k_stop || k_len >= KEEP_QUEUE) {
		pthread_mutex_unlock(&k_mu);
		free(j);
		return false;
	}
	*k_tail = j;
	k_tail = &j->next;
	k_len++;
	pthread_cond_signal(&k_cv);
	pthread_mutex_unlock(&k_mu);
	return true;
}

/* Runs until stopped with an empty queue: what was handed over is kept
 * even at shutdown. */
static void *keeper(void *arg)
{
	(void)arg;
	for (;;) {
		struct kjob *j;
		char hex[CAIRN_OID_HEXLEN + 1];

		pthread_mutex_lock(&k_mu);
		while (!k_stop && !k_head)
			pthread_cond_wait(&k_cv, &k_mu);
		j = k_head;
		if (!j) {
			pthread_mutex_unlock(&k_mu);
			break;
		}
		k_head = j->next;
		if (!k_head)
			k_tail = &k_head;
		k_len--;
		pthread_mutex_unlock(&k_mu);

		/* f->fd is set once, before the hand-over, and closed only
		 * with the last reference, which j holds. */
		keep(j->f->fd, j->tmp, &j->f->oid, cairn_oid_fmt(hex, &j->f->oid), j->size);
		flight_end(j->f);
		free(j);
	}
	return NULL;
}

/* ---- Prefetch workers -------------------------------------------------- */

struct pjob {
	cairn_oid oid;
	uint64_t size;
};

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static struct pjob queue[PREFETCH_QUEUE];
static size_t q_head, q_len;
static bool q_stop;
static pthread_t workers[PREFETCH_WORKERS];
static int nworkers;

static void *prefetch_worker(void *arg)
{
	for (;;) {
		struct pjob job;
		int fd = -1, rc;

		pthread_mutex_lock(&q_mu);
		while (!q_stop && q_len == 0)
			pthread_cond_wait(&q_cv, &q_mu);
		if (q_stop) {
			pthread_mutex_unlock(&q_mu);
			break;
		}
		job = queue[q_head];
		q_head = (q_head + 1) % PREFETCH_QUEUE;
		q_len--;
		pthread_mutex_unlock(&q_mu);

		rc = cfs_object_open(&fd, NULL, &job.oid, job.size);
		if (rc == 0) {
			close(fd);
		} else {
			char hex[CAIRN_OID_HEXLEN + 1];

			/* The reader that needs it will ask again and say why. */
			log_debug(MOD, "prefetch of %s: %s", cairn_oid_fmt(hex, &job.oid),
			          cairn_error_msg());
			cairn_error_clear();
		}
	}
	cfs_remote_release();
	return NULL;
}

void cfs_object_fetch_async(const cairn_oid *oid, uint64_t size)
{
	bool flying;

	pthread_mutex_lock(&flights_mu);
	flying = flight_find(oid) != NULL;
	pthread_mutex_unlock(&flights_mu);
	if (flying)
		return;
	pthread_mutex_lock(&q_mu);
	if (nworkers == 0 || q_stop || q_len == PREFETCH_QUEUE)
		goto out;
	for (size_t i = 0; i < q_len; i++)
		if (cairn_oid_cmp(&queue[(q_head + i) % PREFETCH_QUEUE].oid, oid) == 0)
			goto out;
	queue[(q_head + q_len) % PREFETCH_QUEUE] = (struct pjob){ .oid = *oid, .size = size };
	q_len++;
	pthread_cond_signal(&q_cv);
out:
	pthread_mutex_unlock(&q_mu);
}

bool cfs_object_local(const cairn_oid *oid, uint64_t size)
{
	char path[PATH_MAX];
	struct stat st;

	if (pool_dir) {
		cairn_object_path_at(path, sizeof(path), pool_dir, oid);
		if (stat(path, &st) == 0 && (uint64_t)st.st_size == size)
			return true;
	}
	cairn_object_path_at(path, sizeof(path), cache_dir, oid);
	return stat(path, &st) == 0;
}

bool cfs_object_untouched(const cairn_oid *oid, uint64_t size)
{
	bool queued = false;

	if (cfs_object_local(oid, size))
		return false;
	pthread_mutex_lock(&flights_mu);
	if (flight_find(oid) != NULL)
		queued = true;
	pthread_mutex_unlock(&flights_mu);
	pthread_mutex_lock(&q_mu);
	for (size_t i = 0; i < q_len && !queued; i++)
		queued = cairn_oid_cmp(&queue[(q_head + i) % PREFETCH_QUEUE].oid, oid) == 0;
	pthread_mutex_unlock(&q_mu);
	return !queued;
}

/* ---- Reading blocks ---------------------------------------------------- */

struct blockbuf {
	uint8_t *p;
	size_t len, cap;
};

static int blocks_sink(void *ctx, const void *data, size_t len)
{
	struct blockbuf *b = ctx;

	if (len > b->cap - b->len)
		return cairn_error_set(CAIRN_ECORRUPT, "catalogd sent more blocks than asked for");
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

int cfs_object_read_blocks(const cairn_oid *oid, uint64_t size, uint64_t off, size_t len,
                           void *buf)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	/* Room for the blocks at the smallest block size catalogd may use:
	 * one more at each end, and a digest each. */
	uint64_t most = len + 2 * (uint64_t)CAIRN_BLOCK_SIZE;
	struct blockbuf b = { 0 };
	uint64_t a = 0, end = 0, *digests = NULL;
	struct cairn_blockwire w;
	int64_t bad;
	int rc;

	cairn_oid_fmt(hex, oid);
	if (off >= size || len == 0 || len > size - off)
		return cairn_error_set(CAIRN_EINVAL, "bad range of object %s", hex);
	b.cap = cairn_blockwire_head_len((most >> CAIRN_BLOCKWIRE_LOG2_MIN) + 2) + (size_t)most;
	b.p = malloc(b.cap);
	if (!b.p)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cfs_remote_object_blocks(oid, off, len, blocks_sink, &b);
	if (rc == CAIRN_ENOTFOUND)
		goto out;               /* no block digests: read it whole */
	if (rc) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", cairn_error_msg());
		rc = cairn_error_set(rc == CAIRN_ECORRUPT || rc == CAIRN_ENOMEM ? rc : CAIRN_EIO,
		                     "cannot fetch blocks of object %s: %s", hex, msg);
		goto out;
	}
	rc = cairn_blockwire_parse(&w, b.p, b.len);
	if (rc == 0) {
		/* The blocks must cover the range asked for, and end where the
		 * last block or the object does. */
		a = w.first << w.log2;
		end = (w.first + w.n) << w.log2;
		if (end > size)
			end = size;
		if (a > off || end < off + len || end <= a || w.data_len != end - a)
			rc = CAIRN_ECORRUPT;
	}
	if (rc) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "blocks of object %s from catalogd are "
		                     "malformed", hex);
		goto out;
	}
	digests = malloc((size_t)w.n * sizeof(*digests));
	if (!digests) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	cairn_blockwire_digests(digests, &w);
	if ((bad = cairn_block_mismatch(w.data, w.data_len, w.log2, digests)) >= 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "block %" PRIu64 " of object %s from "
		                     "catalogd fails its digest; not served",
		                     w.first + (uint64_t)bad, hex);
		log_error(MOD, "%s", cairn_error_msg());
		goto out;
	}
	memcpy(buf, w.data + (off - a), len);
	cairn_error_clear();
out:
	free(digests);
	free(b.p);
	return rc;
}

/* ---- Life cycle -------------------------------------------------------- */

int cfs_objects_init(const char *pool, const char *cache, uint64_t cache_size,
                     bool direct_reads)
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
	cache_limit = cache_size ? cache_size : CFS_DEFAULT_CACHE_SIZE;
	direct = direct_reads;
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

int cfs_objects_start(void)
{
	int err;

	pthread_mutex_lock(&q_mu);
	q_stop = false;
	pthread_mutex_unlock(&q_mu);
	for (int i = 0; i < PREFETCH_WORKERS; i++) {
		err = pthread_create(&workers[i], NULL, prefetch_worker, NULL);
		if (err) {
			log_warn(MOD, "prefetch worker: %s", strerror(err));
			break;
		}
		pthread_mutex_lock(&q_mu);
		nworkers++;
		pthread_mutex_unlock(&q_mu);
	}
	pthread_mutex_lock(&k_mu);
	k_stop = false;
	err = pthread_create(&keeper_thread, NULL, keeper, NULL);
	if (err)
		log_warn(MOD, "cache keeper: %s; downloads keep their own files", strerror(err));
	k_running = err == 0;
	pthread_mutex_unlock(&k_mu);
	evict_stop = false;
	err = pthread_create(&evict_thread, NULL, evictor, NULL);
	if (err)
		return cairn_error_errno(err, "cannot start the cache evictor");
	evict_running = true;
	return 0;
}

void cfs_objects_shutdown(void)
{
	bool keeping;
	int n;

	pthread_mutex_lock(&q_mu);
	q_stop = true;
	q_len = 0;
	n = nworkers;
	pthread_cond_broadcast(&q_cv);
	pthread_mutex_unlock(&q_mu);
	for (int i = 0; i < n; i++)
		pthread_join(workers[i], NULL);
	pthread_mutex_lock(&q_mu);
	nworkers = 0;
	pthread_mutex_unlock(&q_mu);
	pthread_mutex_lock(&k_mu);
	k_stop = true;
	pthread_cond_signal(&k_cv);
	keeping = k_running;
	pthread_mutex_unlock(&k_mu);
	if (keeping) {
		pthread_join(keeper_thread, NULL);
		k_running = false;
	}
	if (evict_running) {
		pthread_mutex_lock(&evict_mu);
		evict_stop = true;
		pthread_cond_signal(&evict_cv);
		pthread_mutex_unlock(&evict_mu);
		pthread_join(evict_thread, NULL);
		evict_running = false;
	}
	pthread_mutex_lock(&flights_mu);
	while (flights) {
		struct flight *f = flights;

		flights = f->next;
		flight_delisted(f);
	}
	pthread_mutex_unlock(&flights_mu);
	free(pool_dir);
	free(cache_dir);
	pool_dir = cache_dir = NULL;
}

const char *cfs_objects_pool(void)
{
	return pool_dir;
}

/* ---- Opening ----------------------------------------------------------- */

int cfs_object_open_local(int *fd, const cairn_oid *oid, uint64_t size)
{
	char path[PATH_MAX];
	int rc;

	rc = open_pool(fd, oid, size);
	if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT) {
		cairn_object_path_at(path, sizeof(path), cache_dir, oid);
		rc = open_local(fd, path, size, true);
	}
	return rc;
}

void cfs_object_prefetch(int fd, uint64_t size)
{
	/* WILLNEED queues the reads and returns: the disk works on this
	 * object while the reply for the one before it goes out. */
	posix_fadvise(fd, 0, (off_t)size, POSIX_FADV_WILLNEED);
}

int cfs_object_open(int *fd, int *src, const cairn_oid *oid, uint64_t size)
{
	char path[PATH_MAX];
	int rc, from;

	rc = open_pool(fd, oid, size);
	if (rc == 0) {
		from = CFS_SRC_POOL;
		goto out;
	}
	if (rc == CAIRN_ECORRUPT) {
		/* catalogd checks the digest and may hold another copy. */
		log_error(MOD, "%s; asking catalogd for the object instead", cairn_error_msg());
	} else if (rc != CAIRN_ENOTFOUND) {
		log_error(MOD, "%s", cairn_error_msg());
		return rc;
	}
	cairn_object_path_at(path, sizeof(path), cache_dir, oid);
	rc = open_local(fd, path, size, true);
	if (rc == 0) {
		from = CFS_SRC_CACHE;
		goto out;
	}
	if (rc == CAIRN_ECORRUPT) {
		/* Only we write here, so a bad copy is damage from outside:
		 * drop it and fetch the object again. */
		log_warn(MOD, "%s; fetching it again", cairn_error_msg());
		unlink(path);
	} else if (rc != CAIRN_ENOTFOUND) {
		return rc;
	}
	rc = fetch(fd, oid, size);
	if (rc)
		return rc;
	from = CFS_SRC_REMOTE;
out:
	if (src)
		*src = from;
	return 0;
}
