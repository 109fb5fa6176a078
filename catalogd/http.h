/* http.h — catalogd's HTTP server: requests in, responses out.
 *
 * A thin request/response layer over libmicrohttpd (http.c is the only file
 * that speaks to it). The server listens on a Unix socket it creates itself,
 * runs one thread per connection (handlers may block on disk, bodies may be
 * large) and calls one handler per request once its headers are in.
 *
 * A handler must do exactly one of:
 *   - respond at once (http_respond_*), or
 *   - take the body: http_body() with callbacks that see it piece by piece
 *     (never whole in memory), or http_body_json() for small JSON bodies.
 *     The body's `end` callback then responds.
 * A handler that does neither gets a 500.
 *
 * Body callbacks, in order, all on the connection's thread:
 *   data(...)  0..n times; returning a CAIRN_E* code stops the body: the rest
 *              is read and dropped, and the error (code + thread message)
 *              becomes the response. `end` is then not called.
 *   end(...)   once the whole body arrived; must respond.
 *   done(...)  always, last, when the request is over for whatever reason
 *              (response sent, client gone, server stopping). It frees the
 *              context; `finished` is false when `end` never ran, which is
 *              how an upload cut off midway learns to clean up.
 */
#ifndef CATALOGD_HTTP_H
#define CATALOGD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

struct http_req;
struct http_server;

typedef void (*http_handler)(void *ctx, struct http_req *r);

/* Creates the socket (making its directory; refusing with CAIRN_EEXISTS if
 * another server answers on it; replacing a stale one), makes it 0666 and
 * starts serving. */
int http_start(struct http_server **out, const char *socket_path,
               http_handler handler, void *ctx);
/* Stops accepting, lets requests in flight finish, removes the socket. */
void http_stop(struct http_server *s);

/* ---- the request ---- */

const char *http_method(const struct http_req *r);
/* The decoded path, without the query string. */
const char *http_path(const struct http_req *r);
/* A decoded query argument ("" for "?k="); NULL when absent or valueless. */
const char *http_query(const struct http_req *r, const char *key);
const char *http_header(const struct http_req *r, const char *name);
/* The peer's uid (SO_PEERCRED); (uid_t)-1 when unknown. */
uid_t http_peer_uid(const struct http_req *r);

/* ---- the body ---- */

struct http_body_ops {
	int (*data)(void *bctx, struct http_req *r, const char *data, size_t len);
	void (*end)(void *bctx, struct http_req *r);
	void (*done)(void *bctx, bool finished);
};

void http_body(struct http_req *r, const struct http_body_ops *ops, void *bctx);

/* Buffers a JSON body of at most max bytes (CAIRN_ETOOBIG beyond), parses it
 * (CAIRN_EINVAL if it is not JSON) and calls fn with it; body is NULL when
 * the request has none. fn must respond; it does not own body. free_ctx
 * (may be NULL) releases ctx when the request is over, whether or not fn
 * ran. */
typedef void (*http_json_fn)(void *ctx, struct http_req *r, json_t *body);
void http_body_json(struct http_req *r, size_t max, http_json_fn fn, void *ctx,
                    void (*free_ctx)(void *ctx));

/* ---- responses (exactly one per request) ---- */

/* Steals body. */
void http_respond_json(struct http_req *r, int status, json_t *body);
/* {"error":{"code","message"}} with the status cairn_error_to_http(code). */
void http_respond_error(struct http_req *r, int code, const char *msg);
/* The thread's current error (code and message). */
void http_respond_current_error(struct http_req *r, int code);
void http_respond_empty(struct http_req *r, int status);
/* A body held in memory; takes buf (malloc'd) whatever happens. */
void http_respond_buffer(struct http_req *r, int status, const char *ctype,
                         void *buf, size_t len);

/* A body of len bytes at data, sent from where it is (no copy); done(ctx)
 * runs once the response is finished with, or at once when it cannot be
 * created. */
void http_respond_view(struct http_req *r, int status, const char *ctype,
                       const void *data, size_t len, void (*done)(void *ctx),
                       void *ctx);

/* A streamed body of `size` bytes (UINT64_MAX: unknown, chunked). The reader
 * fills buf with up to max bytes at offset pos and returns how many, 0 at
 * the end, or -1 to abort the response (the client sees a cut-off body).
 * free_ctx(ctx) runs when the response is done with; it runs even when the
 * response cannot be created. */
typedef ssize_t (*http_reader)(void *ctx, uint64_t pos, char *buf, size_t max);
void http_respond_stream(struct http_req *r, int status, const char *ctype,
                         uint64_t size, http_reader reader, void *ctx,
                         void (*free_ctx)(void *ctx));

#endif
