/* test_client — the API client against a small HTTP/1.1 server in this
 * test, on a Unix socket in a temp dir: JSON requests and responses, error
 * bodies mapped to codes and messages, chunked uploads, streamed downloads
 * and a sink that stops them, the response cap, connection reuse, and
 * transport failures. The same server on 127.0.0.1 stands for an S3
 * endpoint for cairn_client_fetch (presigned URLs). Also URL escaping and
 * dataset paths. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "error.h"
#include "oid.h"

/* ---- a minimal HTTP/1.1 server ------------------------------------------ */

struct conn {
	int fd;
	char buf[65536];
	size_t len, off;
};

static char sock_dir[64], sock_path[100];
static int listen_fd = -1, tcp_fd = -1;
static int tcp_port;
static pthread_t server_thread, tcp_thread;
static int connections;   /* accepted so far */

static int fill(struct conn *c)
{
	ssize_t n;

	if (c->off == c->len)
		c->off = c->len = 0;
	if (c->len == sizeof(c->buf))
		return -1;
	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

/* One line without its CRLF, into out. */
static int read_line(struct conn *c, char *out, size_t max)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);

		if (nl) {
			size_t n = (size_t)(nl - (c->buf + c->off));

			if (n >= max)
				return -1;
			memcpy(out, c->buf + c->off, n);
			if (n && out[n - 1] == '\r')
				n--;
			out[n] = '\0';
			c->off += (size_t)(nl - (c->buf + c->off)) + 1;
			return 0;
		}
		if (c->off) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (fill(c))
			return -1;
	}
}

/* Reads n body bytes, hashing them and keeping the first ones in keep. */
static int read_body(struct conn *c, size_t n, cairn_hasher *h, char *keep,
                     size_t *kept, size_t keepmax)
{
	while (n > 0) {
		size_t avail;

		if (c->off == c->len && fill(c))
			return -1;
		avail = c->len - c->off;
		if (avail > n)
			avail = n;
		cairn_hasher_update(h, c->buf + c->off, avail);
		if (*kept < keepmax) {
			size_t k = avail < keepmax - *kept ? avail : keepmax - *kept;

			memcpy(keep + *kept, c->buf + c->off, k);
			*kept += k;
		}
		c->off += avail;
		n -= avail;
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int respond(int fd, int status, const char *ctype, const char *body, size_t len)
{
	char head[256];

	snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: %s\r\n"
	         "Content-Length: %zu\r\n\r\n", status, ctype, len);
	if (write_all(fd, head, strlen(head)))
		return -1;
	return write_all(fd, body, len);
}

static int json_respond(int fd, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int rc = respond(fd, status, "application/json", s, strlen(s));

	free(s);
	json_decref(j);
	return rc;
}

#define DOWNLOAD_LEN (5u << 20)

static char pattern_byte(size_t i)
{
	return (char)(i * 13 + (i >> 12));
}

static int handle(struct conn *c, int conn_no, int *requests)
{
	char line[8192], method[16], path[4096];
	long long clen = -1;
	int chunked = 0, expect = 0;
	char ctype[128] = "";
	cairn_hasher *h = NULL;
	char keep[4096];
	size_t kept = 0, total = 0;
	cairn_oid oid;
	char hex[CAIRN_OID_HEXLEN + 1];
	int rc = -1;

	if (read_line(c, line, sizeof(line)))
		return -1;
	if (sscanf(line, "%15s %4095s", method, path) != 2)
		return -1;
	(*requests)++;
	for (;;) {
		if (read_line(c, line, sizeof(line)))
			return -1;
		if (!line[0])
			break;
		if (!strncasecmp(line, "Content-Length:", 15))
			clen = atoll(line + 15);
		else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strstr(line, "chunked"))
			chunked = 1;
		else if (!strncasecmp(line, "Expect:", 7))
			expect = 1;
		else if (!strncasecmp(line, "Content-Type:", 13))
			snprintf(ctype, sizeof(ctype), "%.*s", (int)sizeof(ctype) - 1, line + 14);
	}
	cairn_hasher_new(&h);
	if (chunked) {
		for (;;) {
			size_t n;

			if (read_line(c, line, sizeof(line)))
				goto out;
			n = strtoul(line, NULL, 16);
			if (n == 0) {
				read_line(c, line, sizeof(line));   /* final CRLF */
				break;
			}
			if (read_body(c, n, h, keep, &kept, sizeof(keep)))
				goto out;
			total += n;
			if (read_line(c, line, sizeof(line)))
				goto out;
		}
	} else if (clen > 0) {
		if (read_body(c, (size_t)clen, h, keep, &kept, sizeof(keep)))
			goto out;
		total = (size_t)clen;
	}
	cairn_hasher_digest(h, &oid);
	cairn_oid_fmt(hex, &oid);

	if (!strncmp(path, "/v1/echo", 8)) {
		/* binary bodies are not echoed: JSON strings are UTF-8 */
		json_t *text = json_stringn(keep, kept);

		rc = json_respond(c->fd, 200, json_pack("{s:s, s:s, s:o, s:i, s:i, s:b, s:b, s:s, s:I, s:s}",
		        "method", method, "path", path, "body", text ? text : json_string(""),
		        "conn", conn_no,
		        "requests", *requests, "chunked", chunked, "expect", expect,
		        "ctype", ctype, "bytes", (json_int_t)total, "hash", hex));
	} else if (!strcmp(path, "/v1/empty")) {
		rc = respond(c->fd, 204, "application/json", "", 0);
	} else if (!strcmp(path, "/v1/badjson")) {
		rc = respond(c->fd, 200, "application/json", "{not json", 9);
	} else if (!strcmp(path, "/v1/err/notfound")) {
		rc = json_respond(c->fd, 404, json_pack("{s:{s:s, s:s}}", "error", "code",
		                  "not_found", "message", "no such dataset 'x'"));
	} else if (!strcmp(path, "/v1/err/space")) {
		rc = json_respond(c->fd, 507, json_pack("{s:{s:s, s:s}}", "error", "code",
		                  "no_space", "message", "pool is full"));
	} else if (!strcmp(path, "/v1/err/nomem")) {
		rc = json_respond(c->fd, 500, json_pack("{s:{s:s, s:s}}", "error", "code",
		                  "no_memory", "message", "out of memory"));
	} else if (!strcmp(path, "/v1/err/oddcode")) {
		rc = json_respond(c->fd, 409, json_pack("{s:{s:s, s:s}}", "error", "code",
		                  "something_new", "message", "taken"));
	} else if (!strcmp(path, "/v1/err/plain")) {
		rc = respond(c->fd, 502, "text/plain", "bad gateway", 11);
	} else if (!strncmp(path, "/s3/denied?", 11)) {
		static const char xml[] = "<?xml version=\"1.0\"?><Error><Code>AccessDenied"
		                          "</Code><Message>Request has expired</Message></Error>";
		rc = respond(c->fd, 403, "application/xml", xml, sizeof(xml) - 1);
	} else if (!strcmp(path, "/s3/missing")) {
		static const char xml[] = "<Error><Code>NoSuchKey</Code></Error>";
		rc = respond(c->fd, 404, "application/xml", xml, sizeof(xml) - 1);
	} else if (!strcmp(path, "/s3/busy")) {
		rc = respond(c->fd, 503, "text/plain", "slow down", 9);
	} else if (!strcmp(path, "/s3/slow")) {
		sleep(3);
		rc = respond(c->fd, 200, "text/plain", "late", 4);
	} else if (!strcmp(path, "/s3/partial")) {
		static const char head[] = "HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n\r\n";
		write_all(c->fd, head, sizeof(head) - 1);
		rc = write_all(c->fd, "abc", 3);
	} else if (!strcmp(path, "/v1/download") || !strncmp(path, "/s3/download?", 13)) {
		char *b = malloc(DOWNLOAD_LEN);

		for (size_t i = 0; i < DOWNLOAD_LEN; i++)
			b[i] = pattern_byte(i);
		rc = respond(c->fd, 200, "application/octet-stream", b, DOWNLOAD_LEN);
		free(b);
	} else if (!strcmp(path, "/v1/huge")) {
		/* more than the client's cap; it hangs up midway */
		static char zeros[1 << 16];
		char head[128];
		size_t len = 80u << 20;

		memset(zeros, ' ', sizeof(zeros));
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
		write_all(c->fd, head, strlen(head));
		for (size_t sent = 0; sent < len; sent += sizeof(zeros))
			if (write_all(c->fd, zeros, sizeof(zeros)))
				break;
		rc = -1;
	} else {
		rc = json_respond(c->fd, 404, json_pack("{s:{s:s, s:s}}", "error", "code",
		                  "not_found", "message", "no such endpoint"));
	}
out:
	cairn_hasher_free(h);
	return rc;
}

/* arg: the listening socket (Unix or TCP), one thread each. */
static void *serve(void *arg)
{
	int lfd = *(int *)arg;
	struct conn *c = malloc(sizeof(*c));

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		int requests = 0, no;

		if (fd < 0)
			break;
		no = __atomic_add_fetch(&connections, 1, __ATOMIC_SEQ_CST);
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		while (handle(c, no, &requests) == 0)
			;
		close(fd);
	}
	free(c);
	return NULL;
}

static int start_server(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sock_dir, sizeof(sock_dir), "/tmp/cairn-test-client.XXXXXX");
	if (!mkdtemp(sock_dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", sock_dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 8) < 0)
		return -1;
	if (pthread_create(&server_thread, NULL, serve, &listen_fd) != 0)
		return -1;

	/* And on a port of 127.0.0.1 the kernel picks. */
	struct sockaddr_in in = { .sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t inlen = sizeof(in);

	tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp_fd < 0 || bind(tcp_fd, (struct sockaddr *)&in, sizeof(in)) < 0 ||
	    listen(tcp_fd, 8) < 0 || getsockname(tcp_fd, (struct sockaddr *)&in, &inlen) < 0)
		return -1;
	tcp_port = ntohs(in.sin_port);
	return pthread_create(&tcp_thread, NULL, serve, &tcp_fd);
}

static int stop_server(void **state)
{
	/* shutdown() wakes the blocked accept() */
	shutdown(listen_fd, SHUT_RDWR);
	close(listen_fd);
	pthread_join(server_thread, NULL);
	shutdown(tcp_fd, SHUT_RDWR);
	close(tcp_fd);
	pthread_join(tcp_thread, NULL);
	unlink(sock_path);
	rmdir(sock_dir);
	return 0;
}

static cairn_client *connect_client(void)
{
	char addr[160];
	cairn_client *c = NULL;

	snprintf(addr, sizeof(addr), "unix:%s", sock_path);
	assert_int_equal(cairn_client_new(&c, addr), 0);
	assert_string_equal(cairn_client_addr(c), addr);
	cairn_client_set_timeout(c, 30);
	return c;
}

/* ---- tests --------------------------------------------------------------- */

static void test_json_round_trip_and_keep_alive(void **state)
{
	cairn_client *c = connect_client();
	json_t *body = json_pack("{s:s, s:i}", "name", "runs", "n", 3);
	json_t *out = NULL, *sent;
	int first_conn;

	assert_int_equal(cairn_client_json(c, "POST", "/v1/echo", body, &out), 0);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(out, "ctype")), "application/json");
	assert_false(json_is_true(json_object_get(out, "expect")));
	sent = json_loads(json_string_value(json_object_get(out, "body")), 0, NULL);
	assert_true(json_equal(sent, body));
	json_decref(sent);
	first_conn = (int)json_integer_value(json_object_get(out, "conn"));
	json_decref(out);

	/* other methods; the same connection serves them all */
	static const char *const methods[] = { "GET", "DELETE", "PUT", "POST" };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cairn_client_json(c, methods[i], "/v1/echo?x=1",
		                                   i == 2 ? body : NULL, &out), 0);
		assert_string_equal(json_string_value(json_object_get(out, "method")), methods[i]);
		assert_string_equal(json_string_value(json_object_get(out, "path")), "/v1/echo?x=1");
		assert_int_equal(json_integer_value(json_object_get(out, "conn")), first_conn);
		assert_int_equal(json_integer_value(json_object_get(out, "requests")), i + 2);
		json_decref(out);
	}
	/* out may be NULL when the caller does not want the body */
	assert_int_equal(cairn_client_json(c, "GET", "/v1/echo", NULL, NULL), 0);
	json_decref(body);
	cairn_client_free(c);
}

static void test_empty_and_bad_responses(void **state)
{
	cairn_client *c = connect_client();
	json_t *out = (json_t *)1;

	assert_int_equal(cairn_client_json(c, "DELETE", "/v1/empty", NULL, &out), 0);
	assert_null(out);
	assert_int_equal(cairn_client_json(c, "GET", "/v1/badjson", NULL, &out), CAIRN_ECORRUPT);
	assert_null(out);
	assert_non_null(strstr(cairn_error_msg(), "bad response from catalogd"));
	/* the client keeps working after an error */
	assert_int_equal(cairn_client_json(c, "GET", "/v1/echo", NULL, &out), 0);
	json_decref(out);
	assert_int_equal(cairn_client_json(c, "GET", "no-slash", NULL, &out), CAIRN_EINVAL);
	cairn_client_free(c);
}

static void test_error_bodies(void **state)
{
	cairn_client *c = connect_client();
	json_t *out = NULL;

	assert_int_equal(cairn_client_json(c, "GET", "/v1/err/notfound", NULL, &out),
	                 CAIRN_ENOTFOUND);
	assert_string_equal(cairn_error_msg(), "no such dataset 'x'");
	assert_null(out);
	assert_int_equal(cairn_client_json(c, "POST", "/v1/err/space", NULL, &out), CAIRN_ENOSPC);
	assert_string_equal(cairn_error_msg(), "pool is full");
	/* the code decides, not the status (500 is shared by several codes) */
	assert_int_equal(cairn_client_json(c, "GET", "/v1/err/nomem", NULL, &out), CAIRN_ENOMEM);
	assert_string_equal(cairn_error_msg(), "out of memory");
	/* an unknown code falls back to the status */
	assert_int_equal(cairn_client_json(c, "GET", "/v1/err/oddcode", NULL, &out),
	                 CAIRN_EEXISTS);
	assert_string_equal(cairn_error_msg(), "taken");
	/* no JSON at all */
	assert_int_equal(cairn_client_json(c, "GET", "/v1/err/plain", NULL, &out), CAIRN_ERROR);
	assert_non_null(strstr(cairn_error_msg(), "502"));
	cairn_client_free(c);
}

struct source {
	size_t total, sent, piece;
	int fail_at;       /* abort when sent passes this (0 = never) */
};

static size_t pattern_source(void *ctx, char *buf, size_t max)
{
	struct source *s = ctx;
	size_t n = s->total - s->sent;

	if (s->fail_at && s->sent >= (size_t)s->fail_at) {
		cairn_error_set(CAIRN_EIO, "reading the source failed");
		return (size_t)-1;
	}
	if (n > max)
		n = max;
	if (n > s->piece)
		n = s->piece;
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern_byte(s->sent + i);
	s->sent += n;
	return n;
}

static void test_chunked_upload(void **state)
{
	cairn_client *c = connect_client();
	struct source src = { .total = (3u << 20) + 123, .piece = 70000 };
	char *want = malloc(src.total), hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid oid;
	json_t *out = NULL;

	for (size_t i = 0; i < src.total; i++)
		want[i] = pattern_byte(i);
	cairn_oid_hash(&oid, want, src.total);
	cairn_oid_fmt(hex, &oid);

	assert_int_equal(cairn_client_upload(c, "POST", "/v1/echo", "application/x-ndjson",
	                                     pattern_source, &src, &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "method")), "POST");
	assert_true(json_is_true(json_object_get(out, "chunked")));
	assert_false(json_is_true(json_object_get(out, "expect")));
	assert_string_equal(json_string_value(json_object_get(out, "ctype")),
	                    "application/x-ndjson");
	assert_int_equal(json_integer_value(json_object_get(out, "bytes")), src.total);
	assert_string_equal(json_string_value(json_object_get(out, "hash")), hex);
	json_decref(out);

	/* PUT, and an empty body */
	src = (struct source){ .total = 0, .piece = 1 };
	assert_int_equal(cairn_client_upload(c, "PUT", "/v1/echo", NULL, pattern_source, &src,
	                                     &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "method")), "PUT");
	assert_int_equal(json_integer_value(json_object_get(out, "bytes")), 0);
	json_decref(out);

	/* a source that fails: its code and message come back */
	src = (struct source){ .total = 1u << 20, .piece = 4096, .fail_at = 100000 };
	assert_int_equal(cairn_client_upload(c, "POST", "/v1/echo", NULL, pattern_source, &src,
	                                     &out), CAIRN_EIO);
	assert_string_equal(cairn_error_msg(), "reading the source failed");
	assert_null(out);

	/* and the client still works afterwards */
	assert_int_equal(cairn_client_json(c, "GET", "/v1/echo", NULL, &out), 0);
	json_decref(out);
	free(want);
	cairn_client_free(c);
}

struct sink {
	size_t got;
	int mismatch;
	size_t stop_after;
	int calls;
};

static int check_sink(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;
	const char *p = data;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(s->got + i))
			s->mismatch = 1;
	s->got += len;
	s->calls++;
	if (s->stop_after && s->got >= s->stop_after)
		return cairn_error_set(CAIRN_ECORRUPT, "sink says stop");
	return 0;
}

static void test_download(void **state)
{
	cairn_client *c = connect_client();
	struct sink s = { 0 };

	assert_int_equal(cairn_client_download(c, "/v1/download", check_sink, &s), 0);
	assert_int_equal(s.got, DOWNLOAD_LEN);
	assert_false(s.mismatch);
	assert_true(s.calls > 1);   /* streamed, not collected */

	/* the sink's code stops the transfer and is returned */
	s = (struct sink){ .stop_after = 100000 };
	assert_int_equal(cairn_client_download(c, "/v1/download", check_sink, &s),
	                 CAIRN_ECORRUPT);
	assert_string_equal(cairn_error_msg(), "sink says stop");
	assert_true(s.got < DOWNLOAD_LEN);

	/* an error status: its JSON goes to the message, not to the sink */
	s = (struct sink){ 0 };
	assert_int_equal(cairn_client_download(c, "/v1/err/notfound", check_sink, &s),
	                 CAIRN_ENOTFOUND);
	assert_string_equal(cairn_error_msg(), "no such dataset 'x'");
	assert_int_equal(s.calls, 0);
	cairn_client_free(c);
}

/* A URL on the TCP side of the test server. */
static const char *tcp_url(const char *path)
{
	static char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", tcp_port, path);
	return url;
}

static void test_fetch(void **state)
{
	cairn_client *c = connect_client();
	struct sink s = { 0 };
	char host[64];

	snprintf(host, sizeof(host), "127.0.0.1:%d", tcp_port);
	/* the body streams to the sink, on its own connection (the client's
	 * catalogd connection is a Unix socket) */
	assert_int_equal(cairn_client_fetch(c, tcp_url("/s3/download?Signature=s3cr3t"),
	                                    check_sink, &s), 0);
	assert_int_equal(s.got, DOWNLOAD_LEN);
	assert_false(s.mismatch);
	s = (struct sink){ 0 };
	assert_int_equal(cairn_client_fetch(c, tcp_url("/s3/download?Signature=s3cr3t"),
	                                    check_sink, &s), 0);
	assert_int_equal(s.got, DOWNLOAD_LEN);
	/* and the catalogd connection is still there for API calls */
	json_t *out = NULL;
	assert_int_equal(cairn_client_json(c, "GET", "/v1/echo", NULL, &out), 0);
	json_decref(out);

	/* S3's errors: the code from the XML body, the host, never the URL */
	s = (struct sink){ 0 };
	assert_int_equal(cairn_client_fetch(c, tcp_url("/s3/denied?Signature=s3cr3t"),
	                                    check_sink, &s), CAIRN_EPERM);
	assert_non_null(strstr(cairn_error_msg(), "AccessDenied"));
	assert_non_null(strstr(cairn_error_msg(), host));
	assert_null(strstr(cairn_error_msg(), "s3cr3t"));
	assert_int_equal(s.calls, 0);
	assert_int_equal(cairn_client_fetch(c, tcp_url("/s3/missing"), check_sink, &s),
	                 CAIRN_ENOTFOUND);
	assert_non_null(strstr(cairn_error_msg(), "NoSuchKey"));
	assert_int_equal(cairn_client_fetch(c, tcp_url("/s3/busy"), check_sink, &s), CAIRN_EIO);
	assert_non_null(strstr(cairn_error_msg(), "503"));
	/* only a whole object is success */
	assert_int_equal(cairn_client_fetch(c, tcp_url("/s3/partial"), check_sink, &s),
	                 CAIRN_EIO);
	assert_non_null(strstr(cairn_error_msg(), "206"));
	/* the client's timeout bounds it, and says so apart from the rest */
	cairn_client_set_timeout(c, 1);
	assert_int_equal(cairn_client_fetch(c, tcp_url("/s3/slow"), check_sink, &s),
	                 CAIRN_ERETRY);
	assert_int_equal(cairn_client_fetch(c, "ftp://127.0.0.1/x", check_sink, &s),
	                 CAIRN_EINVAL);
	cairn_client_free(c);
}

static void test_fetch_unreachable(void **state)
{
	cairn_client *c = connect_client();
	struct sockaddr_in in = { .sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t inlen = sizeof(in);
	struct sink s = { 0 };
	char url[128];
	int fd;

	/* a port that was free a moment ago, with no one listening on it */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &inlen), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/objects/x?Signature=s3cr3t",
	         ntohs(in.sin_port));
	assert_int_equal(cairn_client_fetch(c, url, check_sink, &s), CAIRN_EIO);
	assert_non_null(strstr(cairn_error_msg(), "cannot reach 127.0.0.1:"));
	assert_null(strstr(cairn_error_msg(), "s3cr3t"));
	cairn_client_free(c);
}

static void test_response_cap(void **state)
{
	cairn_client *c = connect_client();
	json_t *out = NULL;

	assert_int_equal(cairn_client_json(c, "GET", "/v1/huge", NULL, &out), CAIRN_ETOOBIG);
	assert_null(out);
	assert_non_null(strstr(cairn_error_msg(), "64 MiB"));
	assert_int_equal(cairn_client_json(c, "GET", "/v1/echo", NULL, &out), 0);
	json_decref(out);
	cairn_client_free(c);
}

static void test_unreachable(void **state)
{
	cairn_client *c = NULL;
	json_t *out = NULL;

	assert_int_equal(cairn_client_new(&c, "unix:/nonexistent/cairn.sock"), 0);
	assert_int_equal(cairn_client_json(c, "GET", "/v1/status", NULL, &out), CAIRN_EIO);
	assert_non_null(strstr(cairn_error_msg(),
	                       "cannot reach catalogd at unix:/nonexistent/cairn.sock"));
	cairn_client_free(c);
}

static void test_addresses(void **state)
{
	cairn_client *c = NULL;

	unsetenv("CAIRN_CATALOG");
	assert_int_equal(cairn_client_new(&c, NULL), 0);
	assert_string_equal(cairn_client_addr(c), "unix:/run/cairn/catalogd.sock");
	cairn_client_free(c);

	setenv("CAIRN_CATALOG", "http://127.0.0.1:1/", 1);
	assert_int_equal(cairn_client_new(&c, NULL), 0);
	assert_string_equal(cairn_client_addr(c), "http://127.0.0.1:1/");
	cairn_client_free(c);
	assert_int_equal(cairn_client_new(&c, "unix:/x.sock"), 0);   /* explicit wins */
	assert_string_equal(cairn_client_addr(c), "unix:/x.sock");
	cairn_client_free(c);
	unsetenv("CAIRN_CATALOG");

	assert_int_equal(cairn_client_new(&c, "https://catalog.example:8443"), 0);
	cairn_client_free(c);
	c = NULL;
	assert_int_equal(cairn_client_new(&c, "ftp://x"), CAIRN_EINVAL);
	assert_null(c);
	assert_int_equal(cairn_client_new(&c, "unix:"), CAIRN_EINVAL);
	assert_int_equal(cairn_client_new(&c, "/run/cairn.sock"), CAIRN_EINVAL);
	cairn_client_free(NULL);
}

static void test_url_escape(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" },
		{ "abcXYZ019-._~", "abcXYZ019-._~" },
		{ "a b", "a%20b" },
		{ "a/b", "a%2Fb" },
		{ "?&=#%+", "%3F%26%3D%23%25%2B" },
		{ "\xc3\xa9", "%C3%A9" },
		{ "\x01\x7f", "%01%7F" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = cairn_url_escape(v[i].in);

		assert_string_equal(e, v[i].out);
		free(e);
	}
}

static void test_dataset_path(void **state)
{
	char buf[64];

	assert_int_equal(cairn_dataset_path(buf, sizeof(buf), "runs"), 0);
	assert_string_equal(buf, "/v1/datasets/runs");
	assert_int_equal(cairn_dataset_path(buf, sizeof(buf), "genomics/runs"), 0);
	assert_string_equal(buf, "/v1/datasets/genomics/runs");
	/* names are validated elsewhere; whatever comes is still escaped */
	assert_int_equal(cairn_dataset_path(buf, sizeof(buf), "a b/c?d"), 0);
	assert_string_equal(buf, "/v1/datasets/a%20b/c%3Fd");
	assert_int_equal(cairn_dataset_path(buf, sizeof(buf), ""), CAIRN_EINVAL);
	/* exactly fitting, and one byte short */
	assert_int_equal(cairn_dataset_path(buf, 18, "runs"), 0);
	assert_int_equal(cairn_dataset_path(buf, 17, "runs"), CAIRN_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_round_trip_and_keep_alive),
		cmocka_unit_test(test_empty_and_bad_responses),
		cmocka_unit_test(test_error_bodies),
		cmocka_unit_test(test_chunked_upload),
		cmocka_unit_test(test_download),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_fetch_unreachable),
		cmocka_unit_test(test_response_cap),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_url_escape),
		cmocka_unit_test(test_dataset_path),
	};
	signal(SIGPIPE, SIG_IGN);   /* the server writes to clients that hang up */
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
