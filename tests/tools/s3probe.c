/* cairn-s3probe — drives lib/s3 against a real server for the integration
 * scenario 010-s3-client and for measuring raw PUT/GET throughput.
 *
 *   cairn-s3probe put FILE                 → "OID MD5 ETAG"
 *   cairn-s3probe get OID [OFF LEN]        → the bytes on stdout (whole
 *                                            object in 1 MiB ranges, or one
 *                                            range of LEN at OFF)
 *   cairn-s3probe head OID                 → "SIZE ETAG"
 *   cairn-s3probe delete OID
 *   cairn-s3probe list [PREFIX] [LIMIT]    → "KEY SIZE" per line; with LIMIT
 *                                            the callback stops the listing
 *                                            after LIMIT keys
 *   cairn-s3probe ensure-bucket
 *   cairn-s3probe store FILE               → put/head/get/del through the
 *                                            store table, checked
 *   cairn-s3probe bench put|get COUNT SIZE THREADS
 *                                          → "OP COUNT SIZE THREADS SECONDS MiB/s"
 *                                            (put: the PUT alone, no HEAD)
 *   cairn-s3probe get-whole OID CAP        → the object (no Range) into CAP
 *                                            bytes; "nread N etag E" on stderr
 *
 * Options come from the environment: CAIRN_S3_ENDPOINT, CAIRN_S3_BUCKET
 * (cairn), CAIRN_S3_ACCESS_KEY, CAIRN_S3_SECRET_KEY, CAIRN_S3_PROTOCOL
 * (http), CAIRN_S3_URI_STYLE (path), CAIRN_S3_TIMEOUT_MS, CAIRN_S3_RETRIES,
 * CAIRN_S3_LIST_PAGE.
 *
 * The exit status names the error so that scripts can assert on it:
 * 0 ok, 2 not found, 3 retry, 4 permission, 5 corrupt, 6 I/O, 7 invalid,
 * 1 anything else. The message goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "oid.h"
#include "s3.h"
#include "s3_internal.h"
#include "store.h"

#define PIECE (1u << 20)
#define LIST_STOP 42

static int exit_code(int rc)
{
	switch (rc) {
	case 0: return 0;
	case CAIRN_ENOTFOUND: return 2;
	case CAIRN_ERETRY: return 3;
	case CAIRN_EPERM: return 4;
	case CAIRN_ECORRUPT: return 5;
	case CAIRN_EIO: return 6;
	case CAIRN_EINVAL: return 7;
	default: return 1;
	}
}

static int report(int rc, const char *what)
{
	if (rc)
		fprintf(stderr, "cairn-s3probe: %s: %s (%s)\n", what, cairn_error_msg(),
		        cairn_error_name(rc));
	return exit_code(rc);
}

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static int open_client(cairn_s3 **out)
{
	struct cairn_s3_options o = {
		.endpoint = env("CAIRN_S3_ENDPOINT", NULL),
		.bucket = env("CAIRN_S3_BUCKET", "cairn"),
		.access_key = env("CAIRN_S3_ACCESS_KEY", NULL),
		.secret_key = env("CAIRN_S3_SECRET_KEY", NULL),
		.https = strcmp(env("CAIRN_S3_PROTOCOL", "http"), "https") == 0,
		.virtual_host = strcmp(env("CAIRN_S3_URI_STYLE", "path"), "virtualhost") == 0,
		.timeout_ms = atol(env("CAIRN_S3_TIMEOUT_MS", "0")),
		.retries = atoi(env("CAIRN_S3_RETRIES", "-1")),
	};
	int rc = cairn_s3_open(out, &o);

	if (rc == 0 && getenv("CAIRN_S3_LIST_PAGE"))
		cairn_s3_set_list_page(*out, atoi(getenv("CAIRN_S3_LIST_PAGE")));
	return rc;
}

/* The whole file in memory: objects are at most a chunk (64 MiB). */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	uint8_t *b = NULL;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_errno(errno, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		rc = cairn_error_errno(errno, "cannot stat '%s'", path);
		goto out;
	}
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!b) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = cairn_error_errno(n < 0 ? errno : EIO, "cannot read '%s'", path);
			goto out;
		}
		got += (size_t)n;
	}
	*data = b;
	*len = got;
	b = NULL;
out:
	free(b);
	close(fd);
	return rc;
}

static int write_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cairn_error_errno(errno, "cannot write to stdout");
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_put(cairn_s3 *s, const char *path)
{
	char hex[CAIRN_OID_HEXLEN + 1], etag[80];
	uint8_t *data = NULL, md5[16];
	size_t len = 0;
	cairn_oid oid;
	int rc;

	rc = read_file(path, &data, &len);
	if (rc)
		goto out;
	cairn_oid_hash(&oid, data, len);
	rc = cairn_s3_put(s, &oid, data, len, md5, etag);
	if (rc)
		goto out;
	printf("%s ", cairn_oid_fmt(hex, &oid));
	for (int i = 0; i < 16; i++)
		printf("%02x", md5[i]);
	printf(" %s\n", etag[0] ? etag : "-");
out:
	free(data);
	return rc;
}

static int cmd_get(cairn_s3 *s, const cairn_oid *oid, int argc, char **argv)
{
	uint8_t *buf = NULL;
	uint64_t off = 0;
	size_t len = PIECE, n = 0;
	int one = argc >= 2, rc = 0;

	if (one) {
		off = strtoull(argv[0], NULL, 10);
		len = strtoull(argv[1], NULL, 10);
	}
	buf = malloc(len ? len : 1);
	if (!buf)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (;;) {
		rc = cairn_s3_get_range(s, oid, off, buf, len, &n);
		if (rc)
			break;
		if (one)
			fprintf(stderr, "nread %zu\n", n);
		rc = write_all(buf, n);
		if (rc || one || n < len)
			break;
		off += n;
	}
	free(buf);
	return rc;
}

/* The whole object (no Range) into a buffer of cap bytes. */
static int cmd_get_whole(cairn_s3 *s, const cairn_oid *oid, size_t cap)
{
	char etag[80];
	uint8_t *buf = malloc(cap ? cap : 1);
	size_t n = 0;
	int rc;

	if (!buf)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_s3_get(s, oid, buf, cap, &n, etag);
	if (rc == 0) {
		fprintf(stderr, "nread %zu etag %s\n", n, etag[0] ? etag : "-");
		rc = write_all(buf, n);
	}
	free(buf);
	return rc;
}

struct list_state {
	long limit;
	long seen;
};

static int on_key(void *ctx, const char *key, uint64_t size)
{
	struct list_state *ls = ctx;

	printf("%s %llu\n", key, (unsigned long long)size);
	if (ls->limit > 0 && ++ls->seen >= ls->limit)
		return LIST_STOP;
	return 0;
}

static int cmd_list(cairn_s3 *s, const char *prefix, long limit)
{
	struct list_state ls = { limit, 0 };
	int rc = cairn_s3_list(s, prefix, on_key, &ls);

	if (limit > 0) {
		/* The callback's own value must come back, and nothing after it. */
		if (rc != LIST_STOP)
			return rc ? rc : cairn_error_set(CAIRN_ERROR,
			                                 "the listing ran on past its stop (%ld keys)",
			                                 ls.seen);
		return 0;
	}
	return rc;
}

/* The store table, end to end, on one file's bytes. */
static int cmd_store(cairn_s3 *s, const char *path)
{
	cairn_store *st = cairn_s3_store(s);
	uint8_t *data = NULL, *back = NULL;
	size_t len = 0, n = 0;
	uint64_t size = 0;
	cairn_oid oid, wrong;
	int rc;

	rc = read_file(path, &data, &len);
	if (rc)
		goto out;
	cairn_oid_hash(&oid, data, len);
	wrong = oid;
	wrong.b[0] ^= 0xff;
	rc = cairn_store_put(st, &wrong, data, len);
	if (rc != CAIRN_ECORRUPT) {
		rc = cairn_error_set(CAIRN_ERROR, "store put under a wrong id returned %s",
		                     cairn_error_name(rc));
		goto out;
	}
	rc = cairn_store_put(st, &oid, data, len);
	if (rc)
		goto out;
	rc = cairn_store_head(st, &oid, &size);
	if (rc)
		goto out;
	if (size != len) {
		rc = cairn_error_set(CAIRN_ERROR, "store head: size %llu, expected %zu",
		                     (unsigned long long)size, len);
		goto out;
	}
	back = malloc(len + 16);
	if (!back) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	rc = cairn_store_get_range(st, &oid, 0, back, len + 16, &n);
	if (rc)
		goto out;
	if (n != len || memcmp(back, data, len) != 0) {
		rc = cairn_error_set(CAIRN_ERROR, "store get: %zu bytes back, not the %zu put", n, len);
		goto out;
	}
	rc = cairn_store_del(st, &oid);
	if (rc)
		goto out;
	rc = cairn_store_head(st, &oid, &size);
	if (rc != CAIRN_ENOTFOUND) {
		rc = cairn_error_set(CAIRN_ERROR, "store head after del returned %s",
		                     cairn_error_name(rc));
		goto out;
	}
	rc = cairn_store_del(st, &oid);   /* absent is 0 */
	if (rc)
		goto out;
	printf("ok %s\n", st->ops->name);
out:
	free(back);
	free(data);
	return rc;
}

/* ---- bench ----------------------------------------------------------- */

struct bench {
	cairn_s3 *s;
	int put;
	long count;
	size_t size;
	const uint8_t *base;        /* shared pattern; object i stamps i into it */
	cairn_oid *oids;
	pthread_mutex_t lock;
	long next;
	int rc;
	char msg[256];
};

static void stamp(uint8_t *buf, const uint8_t *base, size_t size, long i)
{
	memcpy(buf, base, size);
	memcpy(buf, &i, size < sizeof(i) ? size : sizeof(i));
}

static void *bench_worker(void *arg)
{
	struct bench *b = arg;
	uint8_t *buf = malloc(b->size ? b->size : 1);
	int rc = buf ? 0 : cairn_error_set(CAIRN_ENOMEM, "out of memory");

	while (rc == 0) {
		long i;
		size_t n = 0;
		cairn_oid got;

		pthread_mutex_lock(&b->lock);
		i = b->rc ? b->count : b->next++;
		pthread_mutex_unlock(&b->lock);
		if (i >= b->count)
			break;
		if (b->put) {
			stamp(buf, b->base, b->size, i);
			rc = cairn_s3_put_unchecked(b->s, &b->oids[i], buf, b->size, NULL);
		} else {
			rc = cairn_s3_get_range(b->s, &b->oids[i], 0, buf, b->size, &n);
			if (rc == 0) {
				cairn_oid_hash(&got, buf, n);
				if (n != b->size || cairn_oid_cmp(&got, &b->oids[i]) != 0)
					rc = cairn_error_set(CAIRN_ECORRUPT, "object %ld came back different", i);
			}
		}
	}
	if (rc) {
		pthread_mutex_lock(&b->lock);
		if (!b->rc) {
			b->rc = rc;
			snprintf(b->msg, sizeof(b->msg), "%s", cairn_error_msg());
		}
		pthread_mutex_unlock(&b->lock);
	}
	free(buf);
	return NULL;
}

static int cmd_bench(cairn_s3 *s, const char *op, long count, size_t size, int threads)
{
	struct bench b = { .s = s, .put = strcmp(op, "put") == 0, .count = count, .size = size };
	pthread_t tid[64];
	uint8_t *base = NULL, *tmp = NULL;
	struct timespec t0, t1;
	uint64_t x = 0x2545f4914f6cdd1dull;
	double secs;
	int started = 0, rc = 0;

	if (count <= 0 || threads <= 0 || threads > 64 || size == 0)
		return cairn_error_set(CAIRN_EINVAL, "bench: COUNT > 0, SIZE > 0, 1 <= THREADS <= 64");
	base = malloc(size);
	tmp = malloc(size);
	b.oids = calloc((size_t)count, sizeof(*b.oids));
	if (!base || !tmp || !b.oids) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		base[i] = (uint8_t)(x >> 24);
	}
	/* The ids first, outside the clock: get checks every object against
	 * the id its bytes must hash to. */
	for (long i = 0; i < count; i++) {
		stamp(tmp, base, size, i);
		cairn_oid_hash(&b.oids[i], tmp, size);
	}
	b.base = base;
	pthread_mutex_init(&b.lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, bench_worker, &b) != 0)
			break;
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_destroy(&b.lock);
	if (b.rc) {
		rc = cairn_error_set(b.rc, "%s", b.msg);
		goto out;
	}
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%s %ld %zu %d %.3f %.1f\n", op, count, size, started, secs,
	       (double)count * (double)size / 1048576.0 / secs);
out:
	free(b.oids);
	free(tmp);
	free(base);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: cairn-s3probe put FILE | get OID [OFF LEN] | head OID | delete OID |\n"
	                "       list [PREFIX] [LIMIT] | ensure-bucket | store FILE |\n"
	                "       bench put|get COUNT SIZE THREADS\n"
	                "       get-whole OID CAP\n");
	return 7;
}

int main(int argc, char **argv)
{
	char etag[80];
	cairn_s3 *s = NULL;
	cairn_oid oid;
	uint64_t size;
	const char *cmd;
	int rc;

	if (argc < 2)
		return usage();
	cmd = argv[1];
	rc = open_client(&s);
	if (rc)
		return report(rc, "open");
	if (argc >= 3 && (!strcmp(cmd, "get") || !strcmp(cmd, "get-whole") ||
	                  !strcmp(cmd, "head") || !strcmp(cmd, "delete"))) {
		rc = cairn_oid_parse(&oid, argv[2]);
		if (rc)
			goto out;
	}
	if (!strcmp(cmd, "put") && argc == 3) {
		rc = cmd_put(s, argv[2]);
	} else if (!strcmp(cmd, "get") && (argc == 3 || argc == 5)) {
		rc = cmd_get(s, &oid, argc - 3, argv + 3);
	} else if (!strcmp(cmd, "get-whole") && argc == 4) {
		rc = cmd_get_whole(s, &oid, strtoull(argv[3], NULL, 10));
	} else if (!strcmp(cmd, "head") && argc == 3) {
		rc = cairn_s3_head(s, &oid, &size, etag);
		if (rc == 0)
			printf("%llu %s\n", (unsigned long long)size, etag[0] ? etag : "-");
	} else if (!strcmp(cmd, "delete") && argc == 3) {
		rc = cairn_s3_delete(s, &oid);
	} else if (!strcmp(cmd, "list") && argc <= 4) {
		rc = cmd_list(s, argc >= 3 ? argv[2] : NULL, argc == 4 ? atol(argv[3]) : 0);
	} else if (!strcmp(cmd, "ensure-bucket") && argc == 2) {
		rc = cairn_s3_ensure_bucket(s);
	} else if (!strcmp(cmd, "store") && argc == 3) {
		rc = cmd_store(s, argv[2]);
	} else if (!strcmp(cmd, "bench") && argc == 6 &&
	           (!strcmp(argv[2], "put") || !strcmp(argv[2], "get"))) {
		rc = cmd_bench(s, argv[2], atol(argv[3]), strtoull(argv[4], NULL, 10), atoi(argv[5]));
	} else {
		cairn_s3_close(s);
		return usage();
	}
out:
	fflush(stdout);
	cairn_s3_close(s);
	return report(rc, cmd);
}
