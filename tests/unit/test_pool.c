/* test_pool — the pool directory: batches that become visible only at
 * commit, deduplication, rejection of bytes that do not match their id,
 * tmp/ cleanup, verify catching a flipped byte, foreach, the store table,
 * and a full filesystem (a small tmpfs, when the test may mount one). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "log.h"
#include "oid.h"
#include "pool.h"
#include "store.h"

struct fixture {
	char dir[64];      /* the temp dir */
	char path[192];    /* the pool inside it */
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-test-pool.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/pool", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Counts regular files below dir (any depth). */
static int count_files(const char *dir)
{
	char p[512];
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			n += count_files(p);
		else
			n++;
	}
	closedir(d);
	return n;
}

static int count_objects(const struct fixture *f)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s/tmp", f->path);
	/* everything but POOL and tmp/ */
	return count_files(f->path) - count_files(tmp) - 1;
}

static int count_tmp(const struct fixture *f)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s/tmp", f->path);
	return count_files(tmp);
}

static void read_file(const char *path, char *buf, size_t len, ssize_t *n)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	*n = read(fd, buf, len);
	close(fd);
}

static void make_obj(char *buf, size_t len, unsigned seed, cairn_oid *oid)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed * 31 + i * 7 + (i >> 8));
	/* distinct seeds give distinct contents */
	if (len >= sizeof(seed))
		memcpy(buf, &seed, sizeof(seed));
	cairn_oid_hash(oid, buf, len);
}

static void test_open_creates_marker_and_tmp(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	char marker[256], buf[64];
	ssize_t n;
	struct stat st;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_string_equal(cairn_pool_path(p), f->path);
	snprintf(marker, sizeof(marker), "%s/POOL", f->path);
	read_file(marker, buf, sizeof(buf), &n);
	assert_int_equal(n, 13);
	assert_memory_equal(buf, "cairn-pool 1\n", 13);
	snprintf(marker, sizeof(marker), "%s/tmp", f->path);
	assert_int_equal(stat(marker, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* one process per pool: a second open waits for the first to close */
	{
		cairn_pool *q = NULL;

		assert_int_equal(cairn_pool_open(&q, f->path), CAIRN_ERETRY);
		assert_non_null(strstr(cairn_error_msg(), "in use"));
		assert_null(q);
	}
	cairn_pool_close(p);
	/* reopening an existing pool works */
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	cairn_pool_close(p);
}

static void test_open_refuses_foreign_dirs(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	char file[256];
	int fd;

	assert_int_equal(mkdir(f->path, 0755), 0);
	snprintf(file, sizeof(file), "%s/lost+found", f->path);
	assert_int_equal(mkdir(file, 0700), 0);
	snprintf(file, sizeof(file), "%s/someones-data", f->path);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	close(fd);
	assert_int_equal(cairn_pool_open(&p, f->path), CAIRN_EINVAL);
	assert_non_null(strstr(cairn_error_msg(), "not a cairn pool"));
	assert_null(p);

	/* lost+found alone does not make a directory foreign */
	unlink(file);
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	cairn_pool_close(p);

	/* a POOL file that is not ours, or of another format */
	snprintf(file, sizeof(file), "%s/POOL", f->path);
	fd = open(file, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(cairn_pool_open(&p, f->path), CAIRN_EINVAL);
	fd = open(file, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "cairn-pool 2\n", 13), 13);
	close(fd);
	assert_int_equal(cairn_pool_open(&p, f->path), CAIRN_EINVAL);
	assert_non_null(strstr(cairn_error_msg(), "format 2"));
}

static void test_batch_visible_only_after_commit(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid oid[3];
	char data[3][5000], path[256], got[6000], hex[CAIRN_OID_HEXLEN + 1];
	uint64_t size;
	ssize_t n;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	for (unsigned i = 0; i < 3; i++) {
		make_obj(data[i], 1000 + i * 1000, i, &oid[i]);
		assert_int_equal(cairn_pool_batch_add(b, &oid[i], data[i], 1000 + i * 1000), 0);
	}
	assert_int_equal(cairn_pool_batch_count(b), 3);
	assert_memory_equal(cairn_pool_batch_oid(b, 1, &size)->b, oid[1].b, CAIRN_OID_LEN);
	assert_int_equal(size, 2000);
	assert_null(cairn_pool_batch_oid(b, 3, &size));

	/* staged, not visible */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(cairn_pool_has(p, &oid[i], &size), CAIRN_ENOTFOUND);
	assert_int_equal(count_objects(f), 0);

	assert_int_equal(cairn_pool_batch_commit(b), 0);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(cairn_pool_has(p, &oid[i], &size), 0);
		assert_int_equal(size, 1000 + i * 1000);
		/* at ab/cd/<hex>, with the bytes given */
		cairn_oid_fmt(hex, &oid[i]);
		cairn_pool_object_path(p, &oid[i], path, sizeof(path));
		{
			char want[256];

			snprintf(want, sizeof(want), "%s/%.2s/%.2s/%s", f->path, hex, hex + 2, hex);
			assert_string_equal(path, want);
		}
		read_file(path, got, sizeof(got), &n);
		assert_int_equal(n, 1000 + i * 1000);
		assert_memory_equal(got, data[i], (size_t)n);
	}
	assert_int_equal(count_objects(f), 3);
	assert_int_equal(count_tmp(f), 0);
	/* a second commit with nothing new is a no-op */
	assert_int_equal(cairn_pool_batch_commit(b), 0);
	cairn_pool_batch_free(b);
	/* free after commit keeps the objects */
	assert_int_equal(count_objects(f), 3);
	cairn_pool_close(p);
}

static void test_uncommitted_batch_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid oid;
	char data[100];

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	/* enough objects that some take the named-file path */
	for (unsigned i = 0; i < 100; i++) {
		make_obj(data, sizeof(data), i, &oid);
		assert_int_equal(cairn_pool_batch_add(b, &oid, data, sizeof(data)), 0);
	}
	/* and one left half-written */
	make_obj(data, sizeof(data), 1000, &oid);
	assert_int_equal(cairn_pool_batch_begin(b, &oid, sizeof(data)), 0);
	assert_int_equal(cairn_pool_batch_write(b, data, 10), 0);
	cairn_pool_batch_free(b);
	assert_int_equal(count_objects(f), 0);
	assert_int_equal(count_tmp(f), 0);
	cairn_pool_close(p);
}

static void test_streamed_object_and_many_objects(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	enum { N = 200, LEN = 3000 };
	static char data[N][LEN];
	cairn_oid oid[N];
	uint64_t size;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	for (unsigned i = 0; i < N; i++) {
		make_obj(data[i], LEN, i + 7, &oid[i]);
		assert_int_equal(cairn_pool_batch_begin(b, &oid[i], LEN), 0);
		/* in uneven pieces */
		for (size_t off = 0; off < LEN; off += 333)
			assert_int_equal(cairn_pool_batch_write(b, data[i] + off,
			                                        LEN - off < 333 ? LEN - off : 333), 0);
		assert_int_equal(cairn_pool_batch_end(b), 0);
	}
	assert_int_equal(cairn_pool_batch_commit(b), 0);
	cairn_pool_batch_free(b);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(cairn_pool_verify(p, &oid[i], &size), 0);
		assert_int_equal(size, LEN);
	}
	assert_int_equal(count_objects(f), N);
	assert_int_equal(count_tmp(f), 0);
	cairn_pool_close(p);
}

static void test_dedup(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid oid;
	char data[4096];

	make_obj(data, sizeof(data), 3, &oid);
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(cairn_pool_batch_new(p, &b), 0);
		assert_int_equal(cairn_pool_batch_add(b, &oid, data, sizeof(data)), 0);
		/* the same object twice in one batch, too */
		assert_int_equal(cairn_pool_batch_add(b, &oid, data, sizeof(data)), 0);
		assert_int_equal(cairn_pool_batch_commit(b), 0);
		cairn_pool_batch_free(b);
	}
	assert_int_equal(count_objects(f), 1);
	assert_int_equal(count_tmp(f), 0);
	assert_int_equal(cairn_pool_verify(p, &oid, NULL), 0);
	cairn_pool_close(p);
}

static void test_bad_objects_rejected_batch_goes_on(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid good, other;
	char data[1000], hex[CAIRN_OID_HEXLEN + 1];
	uint64_t size;

	make_obj(data, sizeof(data), 1, &good);
	make_obj(data, sizeof(data), 2, &other);  /* data now hashes to other */
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);

	/* bytes that do not hash to the id */
	assert_int_equal(cairn_pool_batch_add(b, &good, data, sizeof(data)), CAIRN_ECORRUPT);
	cairn_oid_fmt(hex, &good);
	assert_non_null(strstr(cairn_error_msg(), hex));
	assert_non_null(strstr(cairn_error_msg(), "content does not match its id"));
	/* fewer bytes than announced */
	assert_int_equal(cairn_pool_batch_begin(b, &other, sizeof(data) + 1), 0);
	assert_int_equal(cairn_pool_batch_write(b, data, sizeof(data)), 0);
	assert_int_equal(cairn_pool_batch_end(b), CAIRN_EINVAL);
	/* more bytes than announced */
	assert_int_equal(cairn_pool_batch_begin(b, &other, 10), 0);
	assert_int_equal(cairn_pool_batch_write(b, data, 11), CAIRN_EINVAL);
	assert_int_equal(cairn_pool_batch_end(b), CAIRN_EINVAL);  /* nothing begun */
	/* misuse */
	assert_int_equal(cairn_pool_batch_write(b, data, 1), CAIRN_EINVAL);
	assert_int_equal(cairn_pool_batch_begin(b, &other, 1), 0);
	assert_int_equal(cairn_pool_batch_begin(b, &other, 1), CAIRN_EINVAL);
	assert_int_equal(cairn_pool_batch_commit(b), CAIRN_EINVAL);   /* one is open */
	assert_int_equal(cairn_pool_batch_write(b, "x", 1), 0);
	assert_int_equal(cairn_pool_batch_end(b), CAIRN_ECORRUPT);

	/* the batch is still usable */
	assert_int_equal(cairn_pool_batch_count(b), 0);
	assert_int_equal(cairn_pool_batch_add(b, &other, data, sizeof(data)), 0);
	assert_int_equal(cairn_pool_batch_count(b), 1);
	assert_int_equal(cairn_pool_batch_commit(b), 0);
	cairn_pool_batch_free(b);
	assert_int_equal(cairn_pool_has(p, &good, &size), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_pool_has(p, &other, &size), 0);
	assert_int_equal(count_objects(f), 1);
	assert_int_equal(count_tmp(f), 0);
	cairn_pool_close(p);
}

/* add_checked trusts the caller's hash for that one object only: the next
 * plain add is checked again. */
static void test_checked_add_is_for_one_object(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid one, two;
	char data[1000], other[1000];
	uint64_t size = 0;

	make_obj(other, sizeof(other), 4, &two);
	make_obj(data, sizeof(data), 3, &one);
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	assert_int_equal(cairn_pool_batch_add_checked(b, &one, data, sizeof(data)), 0);
	/* data hashes to one, not two: refused, the checked flag is gone */
	assert_int_equal(cairn_pool_batch_add(b, &two, data, sizeof(data)), CAIRN_ECORRUPT);
	/* and the announced size still holds for a checked add */
	assert_int_equal(cairn_pool_batch_begin(b, &two, sizeof(other)), 0);
	assert_int_equal(cairn_pool_batch_end(b), CAIRN_EINVAL);
	assert_int_equal(cairn_pool_batch_commit(b), 0);
	cairn_pool_batch_free(b);
	assert_int_equal(cairn_pool_verify(p, &one, &size), 0);
	assert_int_equal(size, sizeof(data));
	assert_int_equal(cairn_pool_has(p, &two, &size), CAIRN_ENOTFOUND);
	assert_int_equal(count_tmp(f), 0);
	cairn_pool_close(p);
}

/* Pages of path's first len bytes that are in the page cache. */
static size_t resident_pages(const char *path, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = (len + (size_t)pg - 1) / (size_t)pg, count = 0;
	unsigned char *vec = calloc(n, 1);
	int fd = open(path, O_RDONLY);
	void *m;

	assert_non_null(vec);
	assert_true(fd >= 0);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mincore(m, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	munmap(m, len);
	close(fd);
	free(vec);
	return count;
}

/* A checked add from a page-aligned buffer writes the object's bulk with
 * O_DIRECT (where the file system takes it) and its unaligned tail the
 * usual way; an unaligned buffer goes the usual way. Either way the
 * object is whole and right. */
static void test_checked_add_direct(void **state)
{
	struct fixture *f = *state;
	size_t len = (1u << 20) + 123;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid a, u;
	char *buf = aligned_alloc(4096, 2u << 20), path[PATH_MAX];
	uint64_t size = 0;
	int probe;

	assert_non_null(buf);
	make_obj(buf, len, 7, &a);
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	assert_int_equal(cairn_pool_batch_add_checked(b, &a, buf, len), 0);
	/* one byte in: unaligned */
	make_obj(buf + 1, len, 8, &u);
	assert_int_equal(cairn_pool_batch_add_checked(b, &u, buf + 1, len), 0);
	assert_int_equal(cairn_pool_batch_commit(b), 0);
	cairn_pool_batch_free(b);

	/* Where O_DIRECT works, the aligned object's bulk skipped the page
	 * cache (only its tail page is there), while the unaligned one went
	 * through it. Looked at before anything reads them. */
	snprintf(path, sizeof(path), "%s/probe", f->dir);
	probe = open(path, O_CREAT | O_WRONLY | O_DIRECT, 0644);
	if (probe >= 0) {
		close(probe);
		cairn_object_path_at(path, sizeof(path), f->path, &a);
		assert_true(resident_pages(path, len) <= 1);
		cairn_object_path_at(path, sizeof(path), f->path, &u);
		assert_true(resident_pages(path, len) >= len / 4096);
	}
	assert_int_equal(cairn_pool_verify(p, &a, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(cairn_pool_verify(p, &u, &size), 0);
	assert_int_equal(size, len);
	free(buf);
	cairn_pool_close(p);
}

static void test_tmp_cleaned_on_reopen(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	char file[256];
	int fd;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	cairn_pool_close(p);
	/* leftovers of a crashed writer */
	for (int i = 0; i < 5; i++) {
		snprintf(file, sizeof(file), "%s/tmp/leftover-%d", f->path, i);
		fd = open(file, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "partial", 7), 7);
		close(fd);
	}
	assert_int_equal(count_tmp(f), 5);
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(count_tmp(f), 0);
	assert_int_equal(count_objects(f), 0);
	cairn_pool_close(p);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void test_verify_detects_flipped_byte(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_store *s;
	cairn_oid oid, absent;
	size_t len = (3u << 20) + 5;   /* spans several 1 MiB pieces */
	char *data = malloc(len), path[256];
	uint64_t size = 0;

	make_obj(data, len, 9, &oid);
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	s = cairn_pool_store(p);
	assert_int_equal(cairn_store_put(s, &oid, data, len), 0);
	assert_int_equal(cairn_pool_verify(p, &oid, &size), 0);
	assert_int_equal(size, len);

	cairn_pool_object_path(p, &oid, path, sizeof(path));
	chmod(path, 0644);
	flip_byte(path, (off_t)len - 2);     /* in the last piece */
	assert_int_equal(cairn_pool_verify(p, &oid, &size), CAIRN_ECORRUPT);
	assert_non_null(strstr(cairn_error_msg(), "does not match"));
	flip_byte(path, (off_t)len - 2);
	assert_int_equal(cairn_pool_verify(p, &oid, &size), 0);
	flip_byte(path, 0);
	assert_int_equal(cairn_pool_verify(p, &oid, &size), CAIRN_ECORRUPT);

	cairn_oid_hash(&absent, "absent", 6);
	assert_int_equal(cairn_pool_verify(p, &absent, &size), CAIRN_ENOTFOUND);
	free(data);
	cairn_pool_close(p);
}

struct seen {
	cairn_oid oid[16];
	uint64_t size[16];
	int n;
	int stop_after;
};

static int collect(void *ctx, const cairn_oid *oid, uint64_t size)
{
	struct seen *s = ctx;

	if (s->n >= 16)
		return -100;
	s->oid[s->n] = *oid;
	s->size[s->n] = size;
	s->n++;
	if (s->stop_after && s->n == s->stop_after)
		return 42;
	return 0;
}

static void test_foreach(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid oid[10];
	char data[600], junk[256], hex[CAIRN_OID_HEXLEN + 1];
	struct seen s = { .n = 0 };
	int fd;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	for (unsigned i = 0; i < 10; i++) {
		make_obj(data, 100 + i * 50, i, &oid[i]);
		assert_int_equal(cairn_pool_batch_add(b, &oid[i], data, 100 + i * 50), 0);
	}
	assert_int_equal(cairn_pool_batch_commit(b), 0);
	cairn_pool_batch_free(b);
	/* things that are not objects: a stray file in an object dir, a file
	 * whose name is an id in the wrong directory, a staged temp file */
	cairn_oid_fmt(hex, &oid[0]);
	snprintf(junk, sizeof(junk), "%s/%.2s/%.2s/notes.txt", f->path, hex, hex + 2);
	fd = open(junk, O_WRONLY | O_CREAT, 0644);
	close(fd);
	snprintf(junk, sizeof(junk), "%s/%.2s/%s", f->path, hex, hex);
	fd = open(junk, O_WRONLY | O_CREAT, 0644);
	close(fd);
	snprintf(junk, sizeof(junk), "%s/tmp/%s", f->path, hex);
	fd = open(junk, O_WRONLY | O_CREAT, 0644);
	close(fd);

	assert_int_equal(cairn_pool_foreach(p, collect, &s), 0);
	assert_int_equal(s.n, 10);
	for (unsigned i = 0; i < 10; i++) {
		int found = 0;

		for (int j = 0; j < s.n; j++)
			if (cairn_oid_cmp(&s.oid[j], &oid[i]) == 0) {
				assert_int_equal(s.size[j], 100 + i * 50);
				found++;
			}
		assert_int_equal(found, 1);
	}
	/* stops early and passes fn's value on */
	memset(&s, 0, sizeof(s));
	s.stop_after = 3;
	assert_int_equal(cairn_pool_foreach(p, collect, &s), 42);
	assert_int_equal(s.n, 3);
	cairn_pool_close(p);
}

static void test_heads(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid oid, other;
	static char data[200000], back[200000];
	char path[512], hex[CAIRN_OID_HEXLEN + 1];
	struct seen s = { .n = 0 };
	size_t n = 0;
	ssize_t got;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	make_obj(data, sizeof(data), 7, &oid);
	make_obj(back, 100, 8, &other);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	assert_int_equal(cairn_pool_batch_add(b, &oid, data, sizeof(data)), 0);
	assert_int_equal(cairn_pool_batch_commit(b), 0);
	cairn_pool_batch_free(b);

	/* none yet */
	assert_int_equal(cairn_pool_head_read(p, &oid, 0, back, 10, &n), CAIRN_ENOTFOUND);
	/* the first bytes of the pool copy, under heads/ab/cd/<hex> */
	assert_int_equal(cairn_pool_head_keep(p, &oid, 65536), 0);
	cairn_oid_fmt(hex, &oid);
	snprintf(path, sizeof(path), "%s/heads/%.2s/%.2s/%s", f->path, hex, hex + 2, hex);
	read_file(path, back, sizeof(back), &got);
	assert_int_equal(got, 65536);
	assert_memory_equal(back, data, 65536);
	assert_int_equal(cairn_pool_head_size(p, &oid), 65536);
	assert_int_equal(cairn_pool_head_size(p, &other), 0);
	assert_int_equal(count_tmp(f), 0);
	/* read at an offset; short at the head's end */
	assert_int_equal(cairn_pool_head_read(p, &oid, 60000, back, 10000, &n), 0);
	assert_int_equal(n, 65536 - 60000);
	assert_memory_equal(back, data + 60000, n);
	/* kept again (a later release), longer than the object: the object */
	assert_int_equal(cairn_pool_head_keep(p, &oid, sizeof(data) + 100), 0);
	assert_int_equal(cairn_pool_head_read(p, &oid, 0, back, sizeof(back), &n), 0);
	assert_int_equal(n, sizeof(data));
	/* heads are not objects, and objects are not heads */
	assert_int_equal(cairn_pool_foreach(p, collect, &s), 0);
	assert_int_equal(s.n, 1);
	s.n = 0;
	assert_int_equal(cairn_pool_foreach_head(p, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(cairn_oid_cmp(&s.oid[0], &oid), 0);
	assert_int_equal(s.size[0], sizeof(data));
	/* no pool copy, no head */
	assert_int_equal(cairn_pool_head_keep(p, &other, 65536), CAIRN_ENOTFOUND);
	assert_int_equal(count_tmp(f), 0);
	/* dropped; dropping again is no error */
	assert_int_equal(cairn_pool_head_drop(p, &oid), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(cairn_pool_head_size(p, &oid), 0);
	assert_int_equal(cairn_pool_head_drop(p, &oid), 0);
	assert_int_equal(cairn_pool_head_read(p, &oid, 0, back, 10, &n), CAIRN_ENOTFOUND);
	s.n = 0;
	assert_int_equal(cairn_pool_foreach_head(p, collect, &s), 0);
	assert_int_equal(s.n, 0);
	cairn_pool_close(p);
}

static void test_store_table(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_store *s;
	cairn_oid oid, wrong;
	char data[10000], buf[20000];
	size_t nread = 0;
	uint64_t size = 0, cap = 0, used = 0;

	make_obj(data, sizeof(data), 5, &oid);
	cairn_oid_hash(&wrong, "x", 1);
	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	s = cairn_pool_store(p);
	assert_string_equal(s->ops->name, "pool");

	assert_int_equal(cairn_store_head(s, &oid, &size), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_store_get_range(s, &oid, 0, buf, 10, &nread), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_store_put(s, &wrong, data, sizeof(data)), CAIRN_ECORRUPT);
	assert_int_equal(count_objects(f), 0);
	assert_int_equal(cairn_store_put(s, &oid, data, sizeof(data)), 0);
	assert_int_equal(cairn_store_put(s, &oid, data, sizeof(data)), 0);  /* idempotent */
	assert_int_equal(cairn_store_head(s, &oid, &size), 0);
	assert_int_equal(size, sizeof(data));

	assert_int_equal(cairn_store_get_range(s, &oid, 100, buf, 50, &nread), 0);
	assert_int_equal(nread, 50);
	assert_memory_equal(buf, data + 100, 50);
	/* short only at the end */
	assert_int_equal(cairn_store_get_range(s, &oid, 9990, buf, 100, &nread), 0);
	assert_int_equal(nread, 10);
	assert_memory_equal(buf, data + 9990, 10);
	assert_int_equal(cairn_store_get_range(s, &oid, 20000, buf, 100, &nread), 0);
	assert_int_equal(nread, 0);

	assert_int_equal(cairn_store_del(s, &oid), 0);
	assert_int_equal(cairn_store_del(s, &oid), 0);     /* absent is fine */
	assert_int_equal(cairn_store_head(s, &oid, &size), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_pool_unlink(p, &oid), 0);

	assert_int_equal(cairn_pool_usage(p, &cap, &used), 0);
	assert_true(cap > 0);
	assert_true(used <= cap);
	cairn_store_free(s);   /* owned by the pool: must not free it */
	cairn_pool_close(p);
}

static void test_batch_is_bounded(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid oid;
	unsigned i;
	char data[16];
	int rc = 0;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	assert_int_equal(cairn_pool_batch_new(p, &b), 0);
	for (i = 0; i < 100000; i++) {
		snprintf(data, sizeof(data), "obj%u", i);
		cairn_oid_hash(&oid, data, strlen(data));
		rc = cairn_pool_batch_add(b, &oid, data, strlen(data));
		if (rc)
			break;
	}
	assert_int_equal(rc, CAIRN_ETOOBIG);
	assert_true(i >= 1024 && i <= 65536);
	assert_int_equal(cairn_pool_batch_count(b), i);
	cairn_pool_batch_free(b);
	assert_int_equal(count_tmp(f), 0);
	assert_int_equal(count_objects(f), 0);
	cairn_pool_close(p);
}

struct writer {
	cairn_pool *p;
	int rc;
};

/* Every writer stores the same 300 objects, in its own order, in batches
 * of 50: directory creation and final names race, and must all succeed. */
static void *write_same_objects(void *arg)
{
	struct writer *w = arg;
	cairn_pool_batch *b = NULL;
	char data[700];
	cairn_oid oid;
	unsigned start = (unsigned)(uintptr_t)w % 300;

	for (unsigned i = 0; i < 300 && !w->rc; i++) {
		unsigned k = (start + i * 7) % 300;

		if (!b && (w->rc = cairn_pool_batch_new(w->p, &b)))
			break;
		make_obj(data, sizeof(data), k, &oid);
		w->rc = cairn_pool_batch_add(b, &oid, data, sizeof(data));
		if (!w->rc && cairn_pool_batch_count(b) == 50) {
			w->rc = cairn_pool_batch_commit(b);
			cairn_pool_batch_free(b);
			b = NULL;
		}
	}
	if (b && !w->rc)
		w->rc = cairn_pool_batch_commit(b);
	cairn_pool_batch_free(b);
	return NULL;
}

static void test_concurrent_batches(void **state)
{
	struct fixture *f = *state;
	cairn_pool *p = NULL;
	pthread_t t[4];
	struct writer w[4];
	char data[700];
	cairn_oid oid;

	assert_int_equal(cairn_pool_open(&p, f->path), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){ .p = p };
		assert_int_equal(pthread_create(&t[i], NULL, write_same_objects, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	assert_int_equal(count_objects(f), 300);
	assert_int_equal(count_tmp(f), 0);
	for (unsigned k = 0; k < 300; k++) {
		make_obj(data, sizeof(data), k, &oid);
		assert_int_equal(cairn_pool_verify(p, &oid, NULL), 0);
	}
	cairn_pool_close(p);
}

/* A 1 MiB tmpfs: filling it must fail with CAIRN_ENOSPC naming the pool
 * and leave nothing behind. Needs the right to mount; skipped otherwise. */
static void test_full_pool(void **state)
{
	struct fixture *f = *state;
	char mnt[128];
	cairn_pool *p = NULL;
	cairn_pool_batch *b = NULL;
	cairn_oid oid, small;
	size_t len = 2u << 20;
	char *data;
	int rc;

	snprintf(mnt, sizeof(mnt), "%s/small", f->dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0) {
		print_message("cannot mount a tmpfs (%s); skipping\n", strerror(errno));
		skip();
	}
	snprintf(f->path, sizeof(f->path), "%s/pool", mnt);
	data = malloc(len);
	make_obj(data, len, 11, &oid);
	cairn_oid_hash(&small, "small", 5);

	rc = cairn_pool_open(&p, f->path);
	if (rc == 0) {
		rc = cairn_pool_batch_new(p, &b);
		if (rc == 0)
			rc = cairn_pool_batch_add(b, &oid, data, len);
	}
	if (rc == CAIRN_ENOSPC && !strstr(cairn_error_msg(), f->path))
		rc = -1000;
	/* the pool is still usable for what fits */
	if (rc == CAIRN_ENOSPC && cairn_pool_batch_add(b, &small, "small", 5) == 0 &&
	    cairn_pool_batch_commit(b) == 0 && cairn_pool_has(p, &small, NULL) == 0 &&
	    cairn_pool_has(p, &oid, NULL) == CAIRN_ENOTFOUND)
		rc = 1;
	cairn_pool_batch_free(b);
	cairn_pool_close(p);
	int files = count_tmp(f), objs = count_objects(f);

	umount2(mnt, MNT_DETACH);
	free(data);
	assert_int_equal(rc, 1);
	assert_int_equal(files, 0);
	assert_int_equal(objs, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_marker_and_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_foreign_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_visible_only_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uncommitted_batch_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streamed_object_and_many_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_objects_rejected_batch_goes_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_cleaned_on_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_detects_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checked_add_is_for_one_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checked_add_direct, setup, teardown),
	};
	cairn_log_set_level(CAIRN_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
