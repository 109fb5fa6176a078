/* client.h — an HTTP/JSON client of catalogd's API, for the CLI and cairnfs.
 *
 * Speaks to catalogd over its Unix socket ("unix:/path/to/catalogd.sock")
 * or TCP ("http://host:port", "https://host:port"). Keeps its connection
 * alive between requests. A client is not thread-safe: use one per thread.
 * This is the only file that speaks to libcurl for the API.
 *
 * Errors: a transport failure is CAIRN_EIO ("cannot reach catalogd at ...:
 * <why>"); an HTTP error status is mapped back from the body's
 * {"error":{"code":"not_found","message":"..."}} to the CAIRN_E* code and
 * the thread's message is set to the server's message.
 */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct cairn_client cairn_client;

/* addr NULL → $CAIRN_CATALOG → "unix:/run/cairn/catalogd.sock". */
int cairn_client_new(cairn_client **out, const char *addr);
void cairn_client_free(cairn_client *c);
const char *cairn_client_addr(const cairn_client *c);
/* Per-request timeout in seconds (0 = none; the default is 0). */
void cairn_client_set_timeout(cairn_client *c, long seconds);

/* A JSON request. path starts with "/v1/" and is already escaped (use
 * cairn_url_escape for components). body may be NULL (no body); *out gets
 * the parsed response (NULL for an empty body) when out is non-NULL;
 * the caller json_decref()s it. Responses are capped at 64 MiB. */
int cairn_client_json(cairn_client *c, const char *method, const char *path,
                      json_t *body, json_t **out);

/* Streams a request body from `source` (returns bytes written into buf,
 * 0 at the end, or (size_t)-1 to abort) and parses the JSON response. */
typedef size_t (*cairn_client_source)(void *ctx, char *buf, size_t max);
int cairn_client_upload(cairn_client *c, const char *method, const char *path,
                        const char *content_type, cairn_client_source source,
                        void *ctx, json_t **out);

/* A GET whose body (raw bytes) is streamed to `sink`; sink returns 0 to go
 * on or a CAIRN_E* code to stop (that code is returned). */
typedef int (*cairn_client_sink)(void *ctx, const void *data, size_t len);
int cairn_client_download(cairn_client *c, const char *path,
                          cairn_client_sink sink, void *ctx);

/* A GET of an absolute http(s) URL somewhere else than catalogd (a
 * presigned S3 URL), body streamed to sink as for cairn_client_download,
 * on a second handle of the client that keeps its own connection alive;
 * the client's timeout applies. Only 200 is success. Errors: 404
 * CAIRN_ENOTFOUND, 403 CAIRN_EPERM (refused or expired), the timeout
 * reached CAIRN_ERETRY, anything else (other statuses, connection
 * failures) CAIRN_EIO. Not retried here. Messages name the host and the
 * server's error code, never the URL (it carries a signature). */
int cairn_client_fetch(cairn_client *c, const char *url, cairn_client_sink sink, void *ctx);

/* Percent-escapes one path or query component; malloc'd, caller frees. */
char *cairn_url_escape(const char *s);
/* The API path of a dataset: "/v1/datasets/<name>" (namespace '/' kept,
 * since names cannot contain '-' as a whole segment; see docs/API.md). */
int cairn_dataset_path(char *buf, size_t len, const char *name);

#endif
