/* s3.h — the S3 client: cairn's cold tier. The only file that speaks to
 * libs3 is s3.c.
 *
 * Objects live at "objects/ab/<32 hex>" in one bucket. Calls are
 * synchronous; each runs on its own libs3 request context, so any number of
 * threads may call into one cairn_s3 at once (the tiering engine runs
 * `concurrency` workers). Every call has a deadline (timeout_ms) and is
 * retried with exponential backoff and jitter (`retries` times) when the
 * failure is transient: connection errors, timeouts, 500/503, SlowDown
 * (libs3 does not count SlowDown as retryable; we do). What a call returns:
 *   0                 done
 *   CAIRN_ENOTFOUND   no such key (never retried)
 *   CAIRN_ERETRY      still failing transiently after the last retry
 *   CAIRN_EPERM       credentials or signature refused
 *   CAIRN_ECORRUPT    the server answered with bytes that fail a check
 *                     made here (length, Content-MD5 echo)
 *   CAIRN_EIO         anything else; the message has libs3's status name
 * Credentials are never formatted into a message or a log line.
 *
 * "Verified" is decided by the caller, never by the server's word: put
 * returns the MD5 it computed while sending and the ETag the server gave;
 * a readback is cairn_s3_get + digest (see tiering/).
 */
#ifndef CAIRN_S3_H
#define CAIRN_S3_H

#include <stddef.h>
#include <stdint.h>
#include "oid.h"
#include "store.h"

struct cairn_s3_options {
	const char *endpoint;     /* "host:port" */
	const char *bucket;
	const char *access_key;
	const char *secret_key;
	int https;                /* 0 = http */
	int virtual_host;         /* 0 = path-style URIs */
	long timeout_ms;          /* per attempt; 0 = 30000 */
	int retries;              /* after the first attempt; < 0 = 4 */
};

typedef struct cairn_s3 cairn_s3;

/* Validates the options (no request is made). */
int cairn_s3_open(cairn_s3 **out, const struct cairn_s3_options *opt);
void cairn_s3_close(cairn_s3 *s);

/* The S3 copy as a generic store (owned by s; do not free). put on this
 * store checks nothing beyond the transfer; use cairn_s3_put for the MD5. */
cairn_store *cairn_s3_store(cairn_s3 *s);

/* "objects/ab/<hex>" into buf (at least 48 bytes). */
void cairn_s3_key(char *buf, size_t len, const cairn_oid *oid);

/* Uploads len bytes as oid's key with Content-MD5. md5_out (16 bytes, may
 * be NULL) gets the MD5 computed while sending; etag_out (at least 80
 * bytes, may be NULL) the server's ETag without quotes. Costs a PUT and a
 * HEAD: libs3 2.0 does not report a PUT's response headers, so the ETag
 * and the stored size come from the HEAD, and both are checked here
 * (CAIRN_ECORRUPT on a mismatch). The store table's put skips the HEAD. */
int cairn_s3_put(cairn_s3 *s, const cairn_oid *oid, const void *data, size_t len,
                 uint8_t *md5_out, char *etag_out);

/* The PUT alone, with Content-MD5 (md5_out as for cairn_s3_put): for a
 * caller that checks what the server stored itself (a HEAD, or a read-back
 * with cairn_s3_get), so that one request does not do it twice. */
int cairn_s3_put_unchecked(cairn_s3 *s, const cairn_oid *oid, const void *data, size_t len,
                           uint8_t *md5_out);

/* GET of the whole object (no Range) into buf: *nread is its length;
 * CAIRN_ECORRUPT when it is longer than cap, so a stored object with
 * bytes past the ones expected is caught (a range GET would not see them).
 * etag (at least 80 bytes, may be NULL) gets its ETag, unquoted. */
int cairn_s3_get(cairn_s3 *s, const cairn_oid *oid, void *buf, size_t cap, size_t *nread,
                 char *etag);

/* Range GET of [off, off+len) into buf; *nread < len only at the end. */
int cairn_s3_get_range(cairn_s3 *s, const cairn_oid *oid, uint64_t off,
                       void *buf, size_t len, size_t *nread);

/* HEAD: size and ETag (unquoted; etag may be NULL). */
int cairn_s3_head(cairn_s3 *s, const cairn_oid *oid, uint64_t *size, char *etag);

/* A presigned GET of oid's key (query-string authentication, signature
 * V2) valid until `expires` (seconds since the epoch), for a client that
 * holds no credentials: "http[s]://host/bucket/objects/ab/<hex>?AWSAccessKeyId=
 * ...&Expires=...&Signature=...". host is the endpoint as that client
 * reaches it ("host:port"; NULL = the endpoint this client uses). A Range
 * header is not part of the signature: the URL serves any range. The URL
 * is a credential for that one object until it expires: hand it only to
 * those allowed to read the object, and never log it. No request is made. */
#define CAIRN_S3_URL_MAX 2048
int cairn_s3_presign(cairn_s3 *s, const cairn_oid *oid, const char *host, int64_t expires,
                     char *buf, size_t len);

/* DELETE; an absent key is 0. */
int cairn_s3_delete(cairn_s3 *s, const cairn_oid *oid);

/* LIST of every key under prefix (paged); fn returning non-zero stops the
 * listing and is returned. Only for orphan scans: normal paths never list. */
int cairn_s3_list(cairn_s3 *s, const char *prefix,
                  int (*fn)(void *ctx, const char *key, uint64_t size), void *ctx);

/* Creates the bucket if it does not exist (quickstart and tests). */
int cairn_s3_ensure_bucket(cairn_s3 *s);

#endif
