/* s3.c — the S3 client over libs3 (contract in s3.h). The only file that
 * includes libs3.h.
 *
 * Deadlines: each attempt drives its own request context
 *   Debian's libs3 2.0 has no timeout parameter, and a blocking call (NULL
 *   context) waits as long as the server keeps the socket open: curl only
 *   gives up below 1 KiB/s for 15 s. So every attempt is added to an
 *   S3RequestContext that this file drives itself — the fd sets from
 *   S3_get_request_context_fdsets, select() bounded by the attempt's
 *   deadline, S3_runonce_request_context — and when the deadline passes the
 *   context is destroyed, which aborts the transfer. libs3 only asks that a
 *   context be used by one thread at a time, so callers on different
 *   threads never wait for one another here.
 *
 * Connections
 *   A context owns a curl multi handle and with it a cache of open
 *   connections. A context whose request finished is put on a small idle
 *   stack and handed to the next call, so a stream of requests reuses
 *   keep-alive connections instead of opening one each (and leaving
 *   thousands of sockets in TIME_WAIT). An idle context older than
 *   IDLE_MAX_MS is dropped: servers close idle connections after a few
 *   seconds (Node's default is 5 s), and curl cannot replay a PUT whose
 *   connection died under it.
 *
 * Status mapping (cairn_s3_classify)
 *   libs3 folds many network failures into few statuses and does not count
 *   SlowDown as retryable. We retry:
 *     - NameLookupError, FailedToConnect, ConnectionFailed (which also
 *       covers curl's low-speed timeout), and Interrupted (our deadline
 *       destroyed the context);
 *     - InternalError: libs3 reports a connection reset, or a server that
 *       closed the socket without answering, as an internal error; a
 *       genuine one merely costs a few quick retries;
 *     - ErrorInternalError (500), ErrorSlowDown (libs3's name for a 503),
 *       ErrorRequestTimeout, and ErrorBadDigest (the body was damaged on
 *       the way; we still hold it);
 *     - ErrorUnknown and HttpErrorUnknown: libs3 2.0 knows no
 *       "ServiceUnavailable" code, and a 502 or 504 from a proxy without an
 *       error document arrives as HttpErrorUnknown.
 *   Not found: ErrorNoSuchKey and HttpErrorNotFound (a HEAD has no body
 *   that could tell a missing key from a missing bucket). Permission:
 *   AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, Forbidden and
 *   the token errors. Everything else is EIO, named by libs3's status.
 *
 * Checks made here
 *   libs3 takes a body cut short (curl's PARTIAL_FILE) for success, so a
 *   GET compares the bytes received with the Content-Length announced; a
 *   short body is retried and reported as corrupt if it persists. A body
 *   longer than asked for is refused, never written past the caller's
 *   buffer. A PUT sends Content-MD5 (which S3 itself checks, and s3rver
 *   does not), then cairn_s3_put compares the ETag of what the server
 *   stored with that MD5 and the stored size with the size sent. An ETag
 *   that is not 32 hex digits (a multipart upload's "-N" form) is passed on
 *   unjudged; a bucket whose ETags are 32 hex digits but not MD5s (SSE-KMS
 *   or SSE-C on AWS) would fail this check and is not supported.
 *
 * Credentials
 *   They are copied into the client and wiped when it closes. No message or
 *   log line formats them, and a server error message that happens to
 *   contain either is withheld.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <libs3.h>
#include <openssl/evp.h>

#include "error.h"
#include "log.h"
#include "s3.h"
#include "s3_internal.h"

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_RETRIES    4
#define MAX_RETRIES        20
#define BACKOFF_BASE_MS    100L
#define BACKOFF_CAP_MS     5000L
#define IDLE_MAX           32      /* idle request contexts kept */
#define IDLE_MAX_MS        2000    /* ... and for how long */
/* While curl has no socket to report we can only nap and ask again: when it
 * is resolving a name, or when its socket is above FD_SETSIZE (1024), which
 * an fd_set cannot hold. In a process with that many descriptors open every
 * wait becomes such a nap; curl reads up to 100 buffers per call, so a
 * transfer slows down rather than stalls. */
#define NOFD_NAP_MS        1
#define ETAG_MAX           80      /* s3.h: etag buffers hold 80 bytes */
#define KEY_MAX            48      /* "objects/ab/" + 32 hex + NUL */
#define MSG_MAX            200     /* the part of a server's message we keep */
#define LIST_PAGE_MAX      1000    /* S3's own limit per LIST */

struct idle_ctx {
	S3RequestContext *ctx;
	long long since;        /* monotonic ms when it went idle */
};

struct cairn_s3 {
	cairn_store store;      /* first: the vtable functions cast back */
	char *host;
	char *bucket;
	char *access_key;
	char *secret_key;
	S3BucketContext bc;     /* points into the strings above */
	long timeout_ms;
	int retries;
	int list_page;
	pthread_mutex_t lock;   /* guards idle[] and nidle */
	struct idle_ctx idle[IDLE_MAX];
	int nidle;
};

enum op { OP_PUT, OP_GET, OP_HEAD, OP_DELETE, OP_LIST, OP_CREATE_BUCKET };

static const char *const op_names[] = {
	[OP_PUT] = "PUT", [OP_GET] = "GET", [OP_HEAD] = "HEAD",
	[OP_DELETE] = "DELETE", [OP_LIST] = "LIST",
	[OP_CREATE_BUCKET] = "creation of bucket",
};

/* One call: its parameters, and what the latest attempt produced. Lives on
 * the caller's stack; libs3's callbacks run on the caller's thread. */
struct req {
	cairn_s3 *s;
	enum op op;
	const char *what;           /* the key or the bucket, for messages */
	/* the attempt's outcome */
	S3Status status;
	int done;
	int timed_out;
	char message[MSG_MAX];      /* the server's <Message>, if any */
	int have_props;
	uint64_t length;            /* Content-Length */
	char etag[ETAG_MAX];        /* unquoted */
	/* PUT */
	const char *md5_b64;
	const uint8_t *src;
	size_t src_len, src_off;
	/* GET */
	int whole;                  /* no Range: the object, however long */
	uint64_t off;
	uint8_t *dst;
	size_t dst_cap, dst_len;
	int overflow;
	int short_body;
	/* LIST: marker is the last key handed to fn, so a retried page
	 * resumes after it and no key is reported twice */
	const char *prefix;
	char marker[S3_MAX_KEY_SIZE + 1];
	int truncated;
	int (*fn)(void *ctx, const char *key, uint64_t size);
	void *fn_ctx;
	int fn_rc;
};

/* ---- libs3 once per process -------------------------------------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static S3Status init_status = S3StatusInternalError;

static void init_libs3(void)
{
	/* Every bucket context names its host, so the default host is never
	 * used. Never deinitialised: the library lives as long as the process. */
	init_status = S3_initialize("cairn/" CAIRN_VERSION, S3_INIT_ALL, NULL);
}

/* ---- small helpers --------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* xorshift32 per thread: jitter needs spread, not secrecy. */
static uint32_t rnd32(void)
{
	static _Thread_local uint32_t x;

	if (!x) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)&ts ^ 0x9e3779b9u;
		if (!x)
			x = 1;
	}
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static int is_md5_hex(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]))
			return 0;
	return n == 32;
}

void cairn_s3_key(char *buf, size_t len, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1];

	cairn_oid_fmt(hex, oid);
	snprintf(buf, len, "objects/%.2s/%s", hex, hex);
}

/* ---- status mapping -------------------------------------------------- */

int cairn_s3_status_from_name(const char *name)
{
	for (int st = S3StatusOK; st <= S3StatusHttpErrorUnknown; st++)
		if (strcmp(S3_get_status_name((S3Status)st), name) == 0)
			return st;
	return -1;
}

int cairn_s3_classify(int status)
{
	switch ((S3Status)status) {
	case S3StatusOK:
		return 0;
	case S3StatusErrorNoSuchKey:
	case S3StatusHttpErrorNotFound:
		return CAIRN_ENOTFOUND;
	case S3StatusNameLookupError:
	case S3StatusFailedToConnect:
	case S3StatusConnectionFailed:
	case S3StatusInterrupted:
	case S3StatusInternalError:
	case S3StatusErrorInternalError:
	case S3StatusErrorSlowDown:
	case S3StatusErrorRequestTimeout:
	case S3StatusErrorBadDigest:
	case S3StatusErrorUnknown:
	case S3StatusHttpErrorUnknown:
		return CAIRN_ERETRY;
	case S3StatusErrorAccessDenied:
	case S3StatusErrorSignatureDoesNotMatch:
	case S3StatusErrorInvalidAccessKeyId:
	case S3StatusErrorAccountProblem:
	case S3StatusErrorCredentialsNotSupported:
	case S3StatusErrorExpiredToken:
	case S3StatusErrorInvalidToken:
	case S3StatusErrorInvalidSecurity:
	case S3StatusErrorMissingSecurityHeader:
	case S3StatusErrorNotSignedUp:
	case S3StatusErrorTokenRefreshRequired:
	case S3StatusHttpErrorForbidden:
		return CAIRN_EPERM;
	case S3StatusOutOfMemory:
		return CAIRN_ENOMEM;
	default:
		return CAIRN_EIO;
	}
}

long cairn_s3_backoff_ms(int attempt, uint32_t rnd)
{
	long step = BACKOFF_BASE_MS;

	for (int i = 0; i < attempt && step < BACKOFF_CAP_MS; i++)
		step *= 2;
	if (step > BACKOFF_CAP_MS)
		step = BACKOFF_CAP_MS;
	/* Half fixed, half random: callers that failed together spread out,
	 * and none comes back sooner than half its step. */
	return step / 2 + (long)(rnd % (uint32_t)(step / 2 + 1));
}

void cairn_s3_set_list_page(cairn_s3 *s, int keys)
{
	if (keys < 1)
		keys = 1;
	if (keys > LIST_PAGE_MAX)
		keys = LIST_PAGE_MAX;
	s->list_page = keys;
}

/* ---- libs3 callbacks ------------------------------------------------- */

static S3Status on_properties(const S3ResponseProperties *p, void *data)
{
	struct req *r = data;
	const char *e = p->eTag;
	size_t n;

	r->have_props = 1;
	r->length = p->contentLength;
	r->etag[0] = '\0';
	if (e) {
		n = strlen(e);
		if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
			e++;
			n -= 2;
		}
		if (n >= sizeof(r->etag))
			n = sizeof(r->etag) - 1;
		memcpy(r->etag, e, n);
		r->etag[n] = '\0';
	}
	return S3StatusOK;
}

static void on_complete(S3Status status, const S3ErrorDetails *err, void *data)
{
	struct req *r = data;
	const char *m = err ? err->message : NULL;
	const cairn_s3 *s = r->s;

	r->status = status;
	r->done = 1;
	r->message[0] = '\0';
	/* Only the message: extra details of a signature error carry the
	 * access key and the string that was signed. */
	if (m && *m) {
		if ((s->access_key[0] && strstr(m, s->access_key)) ||
		    (s->secret_key[0] && strstr(m, s->secret_key)))
			m = "(message withheld: it quotes a credential)";
		snprintf(r->message, sizeof(r->message), "%s", m);
	}
}

static int on_put_data(int size, char *buf, void *data)
{
	struct req *r = data;
	size_t n = r->src_len - r->src_off;

	if (size <= 0)
		return 0;
	if (n > (size_t)size)
		n = (size_t)size;
	memcpy(buf, r->src + r->src_off, n);
	r->src_off += n;
	return (int)n;
}

static S3Status on_get_data(int size, const char *buf, void *data)
{
	struct req *r = data;

	if (size < 0 || (size_t)size > r->dst_cap - r->dst_len) {
		r->overflow = 1;
		return S3StatusAbortedByCallback;
	}
	memcpy(r->dst + r->dst_len, buf, (size_t)size);
	r->dst_len += (size_t)size;
	return S3StatusOK;
}

static S3Status on_list(int truncated, const char *next_marker, int count,
                        const S3ListBucketContent *contents, int nprefixes,
                        const char **prefixes, void *data)
{
	struct req *r = data;

	r->truncated = truncated;
	for (int i = 0; i < count; i++) {
		int rc = r->fn(r->fn_ctx, contents[i].key, contents[i].size);

		snprintf(r->marker, sizeof(r->marker), "%s", contents[i].key);
		if (rc) {
			r->fn_rc = rc;
			return S3StatusAbortedByCallback;
		}
	}
	return S3StatusOK;
}

/* ---- driving one attempt -------------------------------------------- */

static S3RequestContext *ctx_get(cairn_s3 *s)
{
	S3RequestContext *ctx = NULL, *stale[IDLE_MAX];
	long long now = now_ms();
	int nstale = 0;

	pthread_mutex_lock(&s->lock);
	if (s->nidle > 0 && now - s->idle[s->nidle - 1].since <= IDLE_MAX_MS) {
		ctx = s->idle[--s->nidle].ctx;
	} else {
		/* The newest is stale, so all are: the stack is in idle order. */
		while (s->nidle > 0)
			stale[nstale++] = s->idle[--s->nidle].ctx;
	}
	pthread_mutex_unlock(&s->lock);
	while (nstale > 0)
		S3_destroy_request_context(stale[--nstale]);
	if (!ctx && S3_create_request_context(&ctx) != S3StatusOK)
		ctx = NULL;
	return ctx;
}

static void ctx_put(cairn_s3 *s, S3RequestContext *ctx)
{
	pthread_mutex_lock(&s->lock);
	if (s->nidle < IDLE_MAX) {
		s->idle[s->nidle].ctx = ctx;
		s->idle[s->nidle].since = now_ms();
		s->nidle++;
		ctx = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (ctx)
		S3_destroy_request_context(ctx);
}

/* libs3 dates each request with gmtime(), whose result is one static
 * buffer per process: two threads composing requests at once could sign a
 * date mixed from two seconds. Composing is all that happens under the
 * lock (the transfer runs later, in drive()), so it costs microseconds. */
static pthread_mutex_t compose_lock = PTHREAD_MUTEX_INITIALIZER;

static void start(struct req *r, S3RequestContext *ctx)
{
	cairn_s3 *s = r->s;
	S3ResponseHandler rh = { on_properties, on_complete };

	pthread_mutex_lock(&compose_lock);
	switch (r->op) {
	case OP_PUT: {
		S3PutProperties pp = {
			.md5 = r->md5_b64, .expires = -1, .cannedAcl = S3CannedAclPrivate,
		};
		S3PutObjectHandler h = { rh, on_put_data };

		S3_put_object(&s->bc, r->what, r->src_len, &pp, ctx, &h, r);
		break;
	}
	case OP_GET: {
		/* Conditions, even empty ones: some libs3 builds only send the
		 * Range header when they are given. */
		S3GetConditions gc = { -1, -1, NULL, NULL };
		S3GetObjectHandler h = { rh, on_get_data };

		S3_get_object(&s->bc, r->what, &gc, r->whole ? 0 : r->off,
		              r->whole ? 0 : r->dst_cap, ctx, &h, r);
		break;
	}
	case OP_HEAD:
		S3_head_object(&s->bc, r->what, ctx, &rh, r);
		break;
	case OP_DELETE:
		S3_delete_object(&s->bc, r->what, ctx, &rh, r);
		break;
	case OP_LIST: {
		S3ListBucketHandler h = { rh, on_list };

		S3_list_bucket(&s->bc, r->prefix && *r->prefix ? r->prefix : NULL,
		               r->marker[0] ? r->marker : NULL, NULL, s->list_page,
		               ctx, &h, r);
		break;
	}
	case OP_CREATE_BUCKET:
		S3_create_bucket(s->bc.protocol, s->access_key, s->secret_key, s->host,
		                 s->bucket, S3CannedAclPrivate, NULL, ctx, &rh, r);
		break;
	}
	pthread_mutex_unlock(&compose_lock);
}

enum { DRIVE_DONE, DRIVE_TIMEOUT, DRIVE_BROKEN };

/* Runs ctx until r completes or the deadline passes. */
static int drive(S3RequestContext *ctx, struct req *r, long long deadline)
{
	for (;;) {
		fd_set rd, wr, ex;
		int remaining = 0, maxfd = -1;
		long long left, wait;
		struct timeval tv;
		S3Status st;

		st = S3_runonce_request_context(ctx, &remaining);
		if (st != S3StatusOK) {
			r->status = st;
			return DRIVE_BROKEN;
		}
		if (r->done)
			return DRIVE_DONE;
		if (remaining == 0) {
			/* Gone from the context without its completion callback:
			 * libs3 lost track of it. */
			r->status = S3StatusInternalError;
			return DRIVE_BROKEN;
		}
		left = deadline - now_ms();
		if (left <= 0)
			return DRIVE_TIMEOUT;
		FD_ZERO(&rd);
		FD_ZERO(&wr);
		FD_ZERO(&ex);
		if (S3_get_request_context_fdsets(ctx, &rd, &wr, &ex, &maxfd) != S3StatusOK) {
			r->status = S3StatusInternalError;
			return DRIVE_BROKEN;
		}
		wait = S3_get_request_context_timeout(ctx);
		if (wait < 0 || wait > left)
			wait = left;
		if (maxfd < 0 && wait > NOFD_NAP_MS)
			wait = NOFD_NAP_MS;
		tv.tv_sec = (time_t)(wait / 1000);
		tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
		if (select(maxfd + 1, &rd, &wr, &ex, &tv) < 0 && errno != EINTR) {
			r->status = S3StatusInternalError;
			return DRIVE_BROKEN;
		}
	}
}

static void attempt(struct req *r)
{
	cairn_s3 *s = r->s;
	S3RequestContext *ctx;
	S3Status st;

	ctx = ctx_get(s);
	if (!ctx) {
		r->status = S3StatusOutOfMemory;
		return;
	}
	start(r, ctx);
	switch (drive(ctx, r, now_ms() + s->timeout_ms)) {
	case DRIVE_DONE:
		ctx_put(s, ctx);
		break;
	case DRIVE_TIMEOUT:
		/* Destroying the context aborts the transfer; libs3 completes
		 * the request with Interrupted, which we classify as transient. */
		S3_destroy_request_context(ctx);
		r->timed_out = 1;
		r->status = S3StatusInterrupted;
		break;
	case DRIVE_BROKEN:
		st = r->status;
		S3_destroy_request_context(ctx);
		r->status = st;
		break;
	}
}

/* What the attempt in r amounts to: 0 or a CAIRN_E* code, with the
 * thread's message set for the latter. */
static int judge(struct req *r)
{
	const char *op = op_names[r->op];
	int rc;

	if (r->fn_rc)
		return r->fn_rc;    /* the caller's own code and message */
	if (r->timed_out)
		return cairn_error_set(CAIRN_ERETRY, "S3 %s %s: no answer within %ld ms",
		                       op, r->what, r->s->timeout_ms);
	if (r->overflow && r->whole)
		return cairn_error_set(CAIRN_ECORRUPT,
		                       "S3 %s %s: the object is longer than %zu bytes",
		                       op, r->what, r->dst_cap);
	if (r->overflow)
		return cairn_error_set(CAIRN_ECORRUPT,
		                       "S3 %s %s: the server sent more than the %zu bytes asked for",
		                       op, r->what, r->dst_cap);
	if (r->op == OP_GET && r->status == S3StatusErrorInvalidRange) {
		/* The range starts at or past the end (or the object is empty). */
		r->dst_len = 0;
		return 0;
	}
	rc = cairn_s3_classify(r->status);
	if (rc)
		return cairn_error_set(rc, "S3 %s %s: %s%s%s", op, r->what,
		                       S3_get_status_name(r->status),
		                       r->message[0] ? ": " : "", r->message);
	if (r->op == OP_GET && r->have_props && r->length != r->dst_len &&
	    !(r->length == 0 && r->dst_len > 0)) {
		/* A Content-Length of 0 with bytes is a response that announced
		 * none (chunked); only an announced length can be held to. */
		r->short_body = 1;
		return cairn_error_set(CAIRN_ERETRY,
		                       "S3 %s %s: the body ended after %zu of %llu bytes",
		                       op, r->what, r->dst_len, (unsigned long long)r->length);
	}
	if (r->op == OP_PUT && r->src_off != r->src_len)
		return cairn_error_set(CAIRN_EIO, "S3 %s %s: sent %zu of %zu bytes",
		                       op, r->what, r->src_off, r->src_len);
	return 0;
}

/* Attempts r until it succeeds, fails for good, or runs out of retries. */
static int perform(struct req *r)
{
	cairn_s3 *s = r->s;
	long wait;
	int rc;

	for (int n = 0; ; n++) {
		r->status = S3StatusOK;
		r->done = 0;
		r->timed_out = 0;
		r->message[0] = '\0';
		r->have_props = 0;
		r->length = 0;
		r->etag[0] = '\0';
		r->src_off = 0;
		r->dst_len = 0;
		r->overflow = 0;
		r->short_body = 0;
		r->truncated = 0;
		r->fn_rc = 0;
		attempt(r);
		rc = judge(r);
		/* A listing stopped by its callback is over, whatever it said. */
		if (rc != CAIRN_ERETRY || r->fn_rc || n >= s->retries)
			break;
		wait = cairn_s3_backoff_ms(n, rnd32());
		log_debug("s3", "%s; retry %d of %d in %ld ms", cairn_error_msg(), n + 1,
		          s->retries, wait);
		nap_ms(wait);
	}
	if (r->fn_rc)
		return rc;
	if (rc == CAIRN_ERETRY && r->short_body)
		return cairn_error_prefix(CAIRN_ECORRUPT, "after %d attempts", s->retries + 1);
	if (rc == CAIRN_ERETRY && s->retries > 0)
		return cairn_error_prefix(rc, "after %d attempts", s->retries + 1);
	return rc;
}

static void req_init(struct req *r, cairn_s3 *s, enum op op, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	r->op = op;
	r->what = what;
}

/* ---- the calls ------------------------------------------------------- */

/* check_stored: ask the server what it stored when its answer did not say.
 * The store table's put goes without (s3.h: it checks only the transfer). */
static int put(cairn_s3 *s, const cairn_oid *oid, const void *data, size_t len,
               uint8_t *md5_out, char *etag_out, int check_stored)
{
	char key[KEY_MAX], b64[32], hex[33];
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct req r;
	int rc;

	cairn_s3_key(key, sizeof(key), oid);
	/* The MD5 goes in the request's header, so it is computed before the
	 * first byte leaves; what is sent is exactly these bytes. */
	if (!EVP_Digest(data, len, md5, &mdlen, EVP_md5(), NULL) || mdlen != 16)
		return cairn_error_set(CAIRN_EIO, "S3 PUT %s: cannot compute MD5", key);
	EVP_EncodeBlock((unsigned char *)b64, md5, 16);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md5[i]);
	if (md5_out)
		memcpy(md5_out, md5, 16);
	if (etag_out)
		etag_out[0] = '\0';

	req_init(&r, s, OP_PUT, key);
	r.md5_b64 = b64;
	r.src = data;
	r.src_len = len;
	rc = perform(&r);
	if (rc)
		goto out;
	if (!r.etag[0] && check_stored) {
		/* libs3 2.0 takes the response headers as read when curl first
		 * asks for body bytes, long before a PUT's answer arrives, so it
		 * never reports that answer's ETag. Ask for it: the stored
		 * object's size and ETag are the better witnesses anyway. */
		uint64_t size = 0;

		req_init(&r, s, OP_HEAD, key);
		rc = perform(&r);
		if (rc == CAIRN_ENOTFOUND) {
			/* Acknowledged but not there (yet): not an answer about a
			 * key the caller asked for, and worth another try. */
			rc = cairn_error_set(CAIRN_ERETRY,
			                     "S3 PUT %s: acknowledged, but the object is not there",
			                     key);
			goto out;
		}
		if (rc) {
			rc = cairn_error_prefix(rc, "after PUT");
			goto out;
		}
		size = r.length;
		if (r.have_props && size != len) {
			rc = cairn_error_set(CAIRN_ECORRUPT,
			                     "S3 PUT %s: the server holds %llu bytes of the %zu sent",
			                     key, (unsigned long long)size, len);
			goto out;
		}
	}
	if (is_md5_hex(r.etag) && strcasecmp(r.etag, hex) != 0) {
		rc = cairn_error_set(CAIRN_ECORRUPT,
		                     "S3 PUT %s: the server's ETag %s is not the MD5 %s of what was sent",
		                     key, r.etag, hex);
		goto out;
	}
	if (etag_out)
		snprintf(etag_out, ETAG_MAX, "%s", r.etag);
out:
	return rc;
}

int cairn_s3_put(cairn_s3 *s, const cairn_oid *oid, const void *data, size_t len,
                 uint8_t *md5_out, char *etag_out)
{
	return put(s, oid, data, len, md5_out, etag_out, 1);
}

int cairn_s3_put_unchecked(cairn_s3 *s, const cairn_oid *oid, const void *data, size_t len,
                           uint8_t *md5_out)
{
	return put(s, oid, data, len, md5_out, NULL, 0);
}

int cairn_s3_get(cairn_s3 *s, const cairn_oid *oid, void *buf, size_t cap, size_t *nread,
                 char *etag)
{
	char key[KEY_MAX];
	struct req r;
	int rc;

	*nread = 0;
	if (etag)
		etag[0] = '\0';
	cairn_s3_key(key, sizeof(key), oid);
	req_init(&r, s, OP_GET, key);
	r.whole = 1;
	r.dst = buf;
	r.dst_cap = cap;
	rc = perform(&r);
	if (rc == 0) {
		*nread = r.dst_len;
		if (etag)
			snprintf(etag, ETAG_MAX, "%s", r.etag);
	}
	return rc;
}

int cairn_s3_get_range(cairn_s3 *s, const cairn_oid *oid, uint64_t off,
                       void *buf, size_t len, size_t *nread)
{
	char key[KEY_MAX];
	struct req r;
	uint64_t size;
	int rc;

	*nread = 0;
	if (len == 0) {
		/* libs3 reads a byte count of 0 as "to the end"; asking whether
		 * the object exists is all a zero-length read has to do. */
		return cairn_s3_head(s, oid, &size, NULL);
	}
	cairn_s3_key(key, sizeof(key), oid);
	req_init(&r, s, OP_GET, key);
	r.off = off;
	r.dst = buf;
	r.dst_cap = len;
	rc = perform(&r);
	if (rc == 0)
		*nread = r.dst_len;
	return rc;
}

int cairn_s3_head(cairn_s3 *s, const cairn_oid *oid, uint64_t *size, char *etag)
{
	char key[KEY_MAX];
	struct req r;
	int rc;

	cairn_s3_key(key, sizeof(key), oid);
	req_init(&r, s, OP_HEAD, key);
	rc = perform(&r);
	if (rc)
		return rc;
	if (!r.have_props)
		return cairn_error_set(CAIRN_EIO, "S3 HEAD %s: an answer without headers", key);
	*size = r.length;
	if (etag)
		snprintf(etag, ETAG_MAX, "%s", r.etag);
	return 0;
}

int cairn_s3_delete(cairn_s3 *s, const cairn_oid *oid)
{
	char key[KEY_MAX];
	struct req r;
	int rc;

	cairn_s3_key(key, sizeof(key), oid);
	req_init(&r, s, OP_DELETE, key);
	rc = perform(&r);
	if (rc == CAIRN_ENOTFOUND) {
		cairn_error_clear();
		rc = 0;
	}
	return rc;
}

int cairn_s3_list(cairn_s3 *s, const char *prefix,
                  int (*fn)(void *ctx, const char *key, uint64_t size), void *ctx)
{
	struct req r;
	int rc;

	req_init(&r, s, OP_LIST, s->bucket);
	r.prefix = prefix;
	r.fn = fn;
	r.fn_ctx = ctx;
	for (;;) {
		char before[sizeof(r.marker)];

		memcpy(before, r.marker, sizeof(before));
		rc = perform(&r);
		if (rc || !r.truncated)
			break;
		if (strcmp(before, r.marker) == 0) {
			rc = cairn_error_set(CAIRN_EIO,
			                     "S3 LIST %s: a truncated page without keys; cannot go on",
			                     s->bucket);
			break;
		}
	}
	return rc;
}

/* Checks an endpoint given as "host:port" (no scheme, no path). */
static int check_endpoint(const char *what, const char *endpoint)
{
	if (!endpoint || !*endpoint)
		return cairn_error_set(CAIRN_EINVAL, "%s is not set (host:port)", what);
	if (strstr(endpoint, "://") || strchr(endpoint, '/'))
		return cairn_error_set(CAIRN_EINVAL,
		                       "%s '%s' must be host:port; the scheme is [s3] protocol",
		                       what, endpoint);
	if (strlen(endpoint) > S3_MAX_HOSTNAME_SIZE)
		return cairn_error_set(CAIRN_EINVAL, "%s is longer than %d bytes", what,
		                       S3_MAX_HOSTNAME_SIZE);
	return 0;
}

int cairn_s3_presign(cairn_s3 *s, const cairn_oid *oid, const char *host, int64_t expires,
                     char *buf, size_t len)
{
	char key[64], out[S3_MAX_AUTHENTICATED_QUERY_STRING_SIZE];
	S3BucketContext bc = s->bc;
	S3Status st;
	int rc;

	if (host != NULL) {
		rc = check_endpoint("the S3 endpoint for clients", host);
		if (rc)
			return rc;
		bc.hostName = host;
	}
	cairn_s3_key(key, sizeof(key), oid);
	st = S3_generate_authenticated_query_string(out, &bc, key, expires, NULL);
	if (st != S3StatusOK)
		return cairn_error_set(CAIRN_EIO, "cannot sign a URL for %s: %s", key,
		                       S3_get_status_name(st));
	if (strlen(out) >= len)
		return cairn_error_set(CAIRN_ETOOBIG, "the signed URL for %s is longer than %zu "
		                       "bytes", key, len - 1);
	memcpy(buf, out, strlen(out) + 1);
	explicit_bzero(out, sizeof(out));
	return 0;
}

int cairn_s3_ensure_bucket(cairn_s3 *s)
{
	/* Existence is asked with an object request, not S3_test_bucket: a
	 * GET of a key that is never an object answers NoSuchKey in a bucket
	 * that exists and NoSuchBucket otherwise, and object requests are the
	 * ones every server checks V2 signatures right on (s3rver refuses
	 * V2-signed bucket requests, though it has the bucket). */
	static const char probe_key[] = "objects/.bucket-check";
	uint8_t byte;
	struct req r;
	int rc;

	req_init(&r, s, OP_GET, probe_key);
	r.dst = &byte;
	r.dst_cap = 1;
	rc = perform(&r);
	if (rc == 0 || rc == CAIRN_ENOTFOUND) {
		cairn_error_clear();
		return 0;
	}
	if (r.status != S3StatusErrorNoSuchBucket)
		return rc;
	cairn_error_clear();
	req_init(&r, s, OP_CREATE_BUCKET, s->bucket);
	rc = perform(&r);
	if (rc && (r.status == S3StatusErrorBucketAlreadyOwnedByYou ||
	           r.status == S3StatusErrorBucketAlreadyExists)) {
		/* Someone else created it between the question and now. */
		cairn_error_clear();
		rc = 0;
	}
	if (rc == 0)
		log_info("s3", "created bucket %s on %s", s->bucket, s->host);
	return rc;
}

/* ---- the store table ------------------------------------------------- */

static int store_put(cairn_store *st, const cairn_oid *oid, const void *data, size_t len)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid got;

	cairn_oid_hash(&got, data, len);
	if (cairn_oid_cmp(&got, oid) != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "object %s: content does not match its id",
		                       cairn_oid_fmt(hex, oid));
	return put((cairn_s3 *)st, oid, data, len, NULL, NULL, 0);
}

static int store_get_range(cairn_store *st, const cairn_oid *oid, uint64_t off,
                           void *buf, size_t len, size_t *nread)
{
	return cairn_s3_get_range((cairn_s3 *)st, oid, off, buf, len, nread);
}

static int store_head(cairn_store *st, const cairn_oid *oid, uint64_t *size)
{
	return cairn_s3_head((cairn_s3 *)st, oid, size, NULL);
}

static int store_del(cairn_store *st, const cairn_oid *oid)
{
	return cairn_s3_delete((cairn_s3 *)st, oid);
}

/* The store belongs to the client: cairn_s3_close releases it. */
static void store_free(cairn_store *st)
{
}

static const struct cairn_store_ops s3_ops = {
	.name = "s3",
	.put = store_put,
	.get_range = store_get_range,
	.head = store_head,
	.del = store_del,
	.free = store_free,
};

cairn_store *cairn_s3_store(cairn_s3 *s)
{
	return &s->store;
}

/* ---- opening --------------------------------------------------------- */

int cairn_s3_open(cairn_s3 **out, const struct cairn_s3_options *opt)
{
	cairn_s3 *s = NULL;
	S3UriStyle style;
	S3Status st;
	int rc = 0;

	*out = NULL;
	if (!opt || !opt->endpoint || !*opt->endpoint)
		return cairn_error_set(CAIRN_EINVAL, "S3 endpoint is not set ([s3] endpoint = host:port)");
	rc = check_endpoint("S3 endpoint", opt->endpoint);
	if (rc)
		return rc;
	if (!opt->bucket || !*opt->bucket)
		return cairn_error_set(CAIRN_EINVAL, "S3 bucket is not set ([s3] bucket)");
	/* Never quote a credential, not even a wrong one. */
	if (!opt->access_key || !*opt->access_key)
		return cairn_error_set(CAIRN_EINVAL,
		                       "S3 access key is not set ([s3] access_key or CAIRN_S3_ACCESS_KEY)");
	if (!opt->secret_key || !*opt->secret_key)
		return cairn_error_set(CAIRN_EINVAL,
		                       "S3 secret key is not set ([s3] secret_key or CAIRN_S3_SECRET_KEY)");
	if (opt->timeout_ms < 0)
		return cairn_error_set(CAIRN_EINVAL, "S3 timeout %ld ms is negative", opt->timeout_ms);
	if (opt->retries > MAX_RETRIES)
		return cairn_error_set(CAIRN_EINVAL, "S3 retries %d is more than %d",
		                       opt->retries, MAX_RETRIES);
	style = opt->virtual_host ? S3UriStyleVirtualHost : S3UriStylePath;
	st = S3_validate_bucket_name(opt->bucket, style);
	if (st != S3StatusOK)
		return cairn_error_set(CAIRN_EINVAL, "S3 bucket name '%s' is not valid for %s URIs: %s",
		                       opt->bucket, opt->virtual_host ? "virtual-host" : "path-style",
		                       S3_get_status_name(st));

	pthread_once(&init_once, init_libs3);
	if (init_status != S3StatusOK)
		return cairn_error_set(CAIRN_EIO, "cannot initialise libs3: %s",
		                       S3_get_status_name(init_status));

	s = calloc(1, sizeof(*s));
	if (!s)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	s->store.ops = &s3_ops;
	pthread_mutex_init(&s->lock, NULL);
	s->host = strdup(opt->endpoint);
	s->bucket = strdup(opt->bucket);
	s->access_key = strdup(opt->access_key);
	s->secret_key = strdup(opt->secret_key);
	if (!s->host || !s->bucket || !s->access_key || !s->secret_key) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	s->bc.hostName = s->host;
	s->bc.bucketName = s->bucket;
	s->bc.protocol = opt->https ? S3ProtocolHTTPS : S3ProtocolHTTP;
	s->bc.uriStyle = style;
	s->bc.accessKeyId = s->access_key;
	s->bc.secretAccessKey = s->secret_key;
	s->timeout_ms = opt->timeout_ms ? opt->timeout_ms : DEFAULT_TIMEOUT_MS;
	s->retries = opt->retries < 0 ? DEFAULT_RETRIES : opt->retries;
	s->list_page = LIST_PAGE_MAX;
	log_debug("s3", "bucket %s at %s://%s (%s URIs), %ld ms per attempt, %d retries",
	          s->bucket, opt->https ? "https" : "http", s->host,
	          opt->virtual_host ? "virtual-host" : "path-style", s->timeout_ms, s->retries);
	*out = s;
	s = NULL;
out:
	cairn_s3_close(s);
	return rc;
}

/* Credentials do not outlive the client in freed memory. */
static void wipe(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

void cairn_s3_close(cairn_s3 *s)
{
	if (!s)
		return;
	while (s->nidle > 0)
		S3_destroy_request_context(s->idle[--s->nidle].ctx);
	pthread_mutex_destroy(&s->lock);
	free(s->host);
	free(s->bucket);
	wipe(s->access_key);
	wipe(s->secret_key);
	free(s);
}
