/* http.c — libmicrohttpd, spoken to in this one file.
 *
 * One thread per connection: handlers read RocksDB and pool files and may
 * take a while (fsck, a big commit); a blocked handler then stalls only its
 * own client. MHD hands upload bodies to the access handler in pieces
 * (upload_data / *upload_data_size) as they arrive, which is what lets
 * commits and object uploads stream with bounded memory.
 *
 * MHD accepts a response only before the body is read or after all of it
 * was, so an error found midway is kept until the body ends (the rest is
 * read and dropped), then sent.
 */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "error.h"
#include "log.h"
#include "util.h"

#define MOD "catalogd/http"

/* MHD reads request bodies into the connection's memory pool; a larger
 * pool means larger pieces per callback on big uploads. */
#define HTTP_CONN_MEMORY (256u * 1024)
/* Buffer MHD allocates per streamed response. */
#define HTTP_STREAM_BLOCK (256u * 1024)

struct http_server {
	struct MHD_Daemon *mhd;
	int fd;                 /* listening socket; MHD uses it, we close it */
	char *path;
	http_handler handler;
	void *ctx;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;     /* owned by MHD for the request's life */
	const char *url;
	bool responded;
	enum MHD_Result queued;
	int status;             /* of the queued response, for the log */
	struct timespec start;
	/* body */
	const struct http_body_ops *ops;
	void *bctx;
	bool failed;            /* data() refused; error kept below */
	int err_code;
	char *err_msg;
	bool ended;             /* end() ran */
	bool routed;            /* the handler ran */
};

struct stream {
	http_reader reader;
	void *ctx;
	void (*free_ctx)(void *ctx);
};

/* ---- responses ---- */

static void queue(struct http_req *r, int status, struct MHD_Response *resp)
{
	if (resp == NULL) {
		log_error(MOD, "cannot create a response for %s %s", r->method, r->url);
		r->responded = true;
		r->queued = MHD_NO;     /* MHD closes the connection */
		return;
	}
	r->queued = MHD_queue_response(r->conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	r->responded = true;
	r->status = status;
}

void http_respond_json(struct http_req *r, int status, json_t *body)
{
	struct MHD_Response *resp = NULL;
	char *text;
	size_t len;

	if (r->responded) {
		json_decref(body);
		return;
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text != NULL) {
		/* A trailing newline makes curl and shell use pleasant. */
		len = strlen(text);
		char *t = realloc(text, len + 2);
		if (t != NULL) {
			text = t;
			text[len++] = '\n';
			text[len] = '\0';
		}
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(text);
		else
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
			                        "application/json");
	}
	queue(r, status, resp);
}

void http_respond_buffer(struct http_req *r, int status, const char *ctype,
                         void *buf, size_t len)
{
	http_respond_view(r, status, ctype, buf, len, free, buf);
}

void http_respond_view(struct http_req *r, int status, const char *ctype,
                       const void *data, size_t len, void (*done)(void *ctx),
                       void *ctx)
{
	struct MHD_Response *resp;

	if (r->responded) {
		done(ctx);
		return;
	}
	/* MHD only reads the buffer: the cast drops no promise of ours. */
	resp = MHD_create_response_from_buffer_with_free_callback_cls(
		len, (void *)(uintptr_t)data, done, ctx);
	if (resp == NULL) {
		done(ctx);
		http_respond_error(r, CAIRN_ENOMEM, "cannot create a response");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	queue(r, status, resp);
}

void http_respond_error(struct http_req *r, int code, const char *msg)
{
	int status = cairn_error_to_http(code);
	json_t *body;

	if (status >= 500)
		log_warn(MOD, "%s %s: %s", r->method, r->url, msg);
	else
		log_debug(MOD, "%s %s: %d %s", r->method, r->url, status, msg);
	body = json_pack("{s:{s:s,s:s}}", "error", "code", cairn_error_name(code),
	                 "message", msg);
	if (body == NULL) {
		/* msg was not UTF-8 (it may quote a client's bytes) */
		body = json_pack("{s:{s:s,s:s}}", "error", "code",
		                 cairn_error_name(code), "message",
		                 "(the message could not be encoded)");
	}
	http_respond_json(r, status, body);
}

void http_respond_current_error(struct http_req *r, int code)
{
	const char *msg = cairn_error_msg();
	http_respond_error(r, code, *msg ? msg : cairn_error_name(code));
}

void http_respond_empty(struct http_req *r, int status)
{
	if (r->responded)
		return;
	queue(r, status, MHD_create_response_from_buffer(0, (void *)"",
	                                                 MHD_RESPMEM_PERSISTENT));
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	ssize_t n = st->reader(st->ctx, pos, buf, max);

	if (n > 0)
		return n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
	              : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;

	if (st->free_ctx != NULL)
		st->free_ctx(st->ctx);
	free(st);
}

void http_respond_stream(struct http_req *r, int status, const char *ctype,
                         uint64_t size, http_reader reader, void *ctx,
                         void (*free_ctx)(void *ctx))
{
	struct MHD_Response *resp = NULL;
	struct stream *st;

	if (r->responded) {
		if (free_ctx != NULL)
			free_ctx(ctx);
		return;
	}
	st = malloc(sizeof(*st));
	if (st == NULL) {
		if (free_ctx != NULL)
			free_ctx(ctx);
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	st->reader = reader;
	st->ctx = ctx;
	st->free_ctx = free_ctx;
	resp = MHD_create_response_from_callback(
		size == UINT64_MAX ? MHD_SIZE_UNKNOWN : size, HTTP_STREAM_BLOCK,
		stream_read, st, stream_free);
	if (resp == NULL) {
		stream_free(st);
		http_respond_error(r, CAIRN_ENOMEM, "cannot create a streamed response");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	queue(r, status, resp);
}

/* ---- the request ---- */

const char *http_method(const struct http_req *r)
{
	return r->method;
}

const char *http_path(const struct http_req *r)
{
	return r->url;
}

const char *http_query(const struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

uid_t http_peer_uid(const struct http_req *r)
{
	const union MHD_ConnectionInfo *ci;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return (uid_t)-1;
	if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return (uid_t)-1;
	return cred.uid;
}

void http_body(struct http_req *r, const struct http_body_ops *ops, void *bctx)
{
	r->ops = ops;
	r->bctx = bctx;
}

/* ---- buffered JSON bodies ---- */

struct json_body {
	http_json_fn fn;
	void *ctx;
	void (*free_ctx)(void *ctx);
	char *buf;
	size_t len, cap, max;
};

static int json_body_data(void *bctx, struct http_req *r, const char *data, size_t len)
{
	struct json_body *jb = bctx;

	if (len > jb->max - jb->len)
		return cairn_error_set(CAIRN_ETOOBIG,
		                       "request body is larger than %zu bytes", jb->max);
	if (jb->len + len > jb->cap) {
		size_t cap = jb->cap ? jb->cap : 4096;
		while (cap < jb->len + len)
			cap *= 2;
		if (cap > jb->max)
			cap = jb->max;
		char *b = realloc(jb->buf, cap);
		if (b == NULL)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		jb->buf = b;
		jb->cap = cap;
	}
	memcpy(jb->buf + jb->len, data, len);
	jb->len += len;
	return 0;
}

static void json_body_end(void *bctx, struct http_req *r)
{
	struct json_body *jb = bctx;
	json_error_t jerr;
	json_t *body;

	if (jb->len == 0) {
		jb->fn(jb->ctx, r, NULL);
		return;
	}
	body = json_loadb(jb->buf, jb->len, 0, &jerr);
	if (body == NULL) {
		cairn_error_set(CAIRN_EINVAL, "request body is not valid JSON: %s "
		                "(line %d, column %d)", jerr.text, jerr.line, jerr.column);
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	jb->fn(jb->ctx, r, body);
	json_decref(body);
}

static void json_body_done(void *bctx, bool finished)
{
	struct json_body *jb = bctx;

	if (jb->free_ctx != NULL)
		jb->free_ctx(jb->ctx);
	free(jb->buf);
	free(jb);
}

static const struct http_body_ops json_body_ops = {
	.data = json_body_data,
	.end = json_body_end,
	.done = json_body_done,
};

void http_body_json(struct http_req *r, size_t max, http_json_fn fn, void *ctx,
                    void (*free_ctx)(void *ctx))
{
	struct json_body *jb = calloc(1, sizeof(*jb));

	if (jb == NULL) {
		if (free_ctx != NULL)
			free_ctx(ctx);
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	jb->fn = fn;
	jb->ctx = ctx;
	jb->free_ctx = free_ctx;
	jb->max = max;
	http_body(r, &json_body_ops, jb);
}

/* ---- MHD callbacks ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct http_req *r = *con_cls;

	if (r == NULL) {
		/* Headers are in. Answering in this first call would make MHD
		 * close the connection after the response (it cannot know yet
		 * that the request is complete), so routing waits for the next
		 * call: the first piece of a body, or the end of a request
		 * without one. Clients keep their connection alive. */
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		r->srv = s;
		r->conn = conn;
		r->url = url;
		r->method = method;
		r->queued = MHD_YES;
		clock_gettime(CLOCK_MONOTONIC, &r->start);
		*con_cls = r;
		return MHD_YES;
	}
	if (!r->routed) {
		r->routed = true;
		cairn_error_clear();
		s->handler(s->ctx, r);
		if (r->responded) {
			*upload_data_size = 0;   /* a refused body is dropped */
			return r->queued;
		}
		if (r->ops == NULL) {
			http_respond_error(r, CAIRN_ERROR, "the request was not answered");
			*upload_data_size = 0;
			return r->queued;
		}
	}
	if (*upload_data_size > 0) {
		if (!r->failed && !r->responded && r->ops != NULL) {
			int rc = r->ops->data(r->bctx, r, upload_data, *upload_data_size);
			if (rc != 0) {
				r->failed = true;
				r->err_code = rc;
				r->err_msg = strdup(cairn_error_msg());
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->responded)
		return MHD_YES;
	if (r->failed) {
		http_respond_error(r, r->err_code,
		                   r->err_msg ? r->err_msg : cairn_error_name(r->err_code));
	} else {
		r->ended = true;
		r->ops->end(r->bctx, r);
		if (!r->responded)
			http_respond_error(r, CAIRN_ERROR, "the request was not answered");
	}
	return r->queued;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *con_cls;

	if (r == NULL)
		return;
	if (cairn_log_min_level <= CAIRN_LOG_DEBUG) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		log_debug(MOD, "%s %s -> %d%s (%.1f ms)", r->method, r->url, r->status,
		          toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ", cut off",
		          (double)(now.tv_sec - r->start.tv_sec) * 1e3 +
		          (double)(now.tv_nsec - r->start.tv_nsec) / 1e6);
	}
	if (r->ops != NULL && r->ops->done != NULL)
		r->ops->done(r->bctx, r->ended);
	free(r->err_msg);
	free(r);
	*con_cls = NULL;
}

/* MHD's own messages are mostly about clients that went away, which is
 * normal; every failure that matters is reported by our code as well. */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug(MOD, "%s", buf);
}

/* ---- the socket ---- */

static int make_socket(int *out, const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	char dir[PATH_MAX];
	int fd = -1, rc = 0;

	*out = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return cairn_error_set(CAIRN_EINVAL, "socket path '%s' is too long "
		                       "(at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		rc = util_mkdir_p(dir, 0755);
		if (rc != 0)
			return rc;
	}

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return cairn_error_set(CAIRN_EEXISTS, "'%s' exists and is not a "
			                       "socket; refusing to replace it", path);
		/* A socket someone answers on belongs to a running catalogd;
		 * one nobody answers on was left by a crash. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return cairn_error_errno(errno, "socket");
		int c = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		int cerr = errno;
		close(probe);
		if (c == 0)
			return cairn_error_set(CAIRN_EEXISTS, "another catalogd is already "
			                       "serving on %s", path);
		if (cerr != ECONNREFUSED && cerr != ENOENT)
			return cairn_error_errno(cerr, "cannot probe socket %s", path);
		if (unlink(path) != 0 && errno != ENOENT)
			return cairn_error_errno(errno, "cannot remove stale socket %s", path);
		log_info(MOD, "removed stale socket %s", path);
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cairn_error_errno(errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = cairn_error_errno(errno, "cannot bind %s", path);
		goto out;
	}
	/* Access control is the socket's mode and the peer's uid recorded as
	 * the actor; every local user may read the catalog. */
	if (chmod(path, 0666) != 0) {
		rc = cairn_error_errno(errno, "cannot chmod %s", path);
		unlink(path);
		goto out;
	}
	if (listen(fd, 128) != 0) {
		rc = cairn_error_errno(errno, "cannot listen on %s", path);
		unlink(path);
		goto out;
	}
	*out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int http_start(struct http_server **out, const char *socket_path,
               http_handler handler, void *ctx)
{
	struct http_server *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	s->fd = -1;
	s->handler = handler;
	s->ctx = ctx;
	s->path = strdup(socket_path);
	if (s->path == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	rc = make_socket(&s->fd, socket_path);
	if (rc != 0)
		goto out;
	s->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
		MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, s,
		/* first, so that MHD's own start-up messages come through it */
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->fd,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)0,
		MHD_OPTION_END);
	if (s->mhd == NULL) {
		rc = cairn_error_set(CAIRN_ERROR, "cannot start the HTTP server on %s",
		                     socket_path);
		goto out;
	}
	*out = s;
	s = NULL;
out:
	if (s != NULL) {
		if (s->fd >= 0) {
			close(s->fd);
			unlink(s->path);
		}
		free(s->path);
		free(s);
	}
	return rc;
}

void http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	/* Quiescing hands the listening socket back: no new connections,
	 * while requests in flight run to their end in MHD_stop_daemon. */
	MHD_socket lfd = MHD_quiesce_daemon(s->mhd);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	unlink(s->path);
	MHD_stop_daemon(s->mhd);
	free(s->path);
	free(s);
}
