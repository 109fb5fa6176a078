/* client.c — catalogd's API over HTTP; the only file that speaks to libcurl
 * for the API.
 *
 * One easy handle per client, reused for every request: curl keeps the
 * connection (Unix socket or TCP) open between requests, which is what
 * makes the thousands of small lookups cairnfs issues cheap. Options are
 * reset and set again for each request so nothing leaks from one to the
 * next; curl_easy_reset() keeps the connection cache.
 *
 * Memory: a JSON response is collected in a buffer that refuses to grow past
 * RESPONSE_MAX; raw downloads go straight to the caller's sink, and uploads
 * come from the caller's source in curl's own buffer, so neither grows with
 * the size of what is transferred.
 */
#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "client.h"
#include "error.h"

#define RESPONSE_MAX (64u << 20)
/* Error bodies are short JSON objects; a download's error body is kept
 * apart from the sink and needs no more than this. */
#define ERROR_BODY_MAX (64u << 10)
#define DEFAULT_ADDR "unix:/run/cairn/catalogd.sock"

struct cairn_client {
	CURL *curl;
	CURL *ext;         /* for URLs elsewhere (cairn_client_fetch); lazily */
	char *addr;        /* as given, for messages */
	char *unix_path;   /* NULL for TCP */
	char *prefix;      /* "http://localhost" or the http(s) base URL */
	long timeout;
	char errbuf[CURL_ERROR_SIZE];
};

/* A growable byte buffer with a hard cap. */
struct buf {
	char *data;
	size_t len, cap, max;
	int overflow;
};

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len) {
		b->overflow = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_ALL);
}

int cairn_client_new(cairn_client **out, const char *addr)
{
	cairn_client *c = NULL;
	int rc = 0;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return cairn_error_set(CAIRN_EIO, "cannot initialise libcurl: %s",
		                       curl_easy_strerror(global_rc));

	if (!addr || !*addr)
		addr = getenv("CAIRN_CATALOG");
	if (!addr || !*addr)
		addr = DEFAULT_ADDR;

	c = calloc(1, sizeof(*c));
	if (!c)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	c->addr = strdup(addr);
	if (!c->addr)
		goto nomem;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] == '\0') {
			rc = cairn_error_set(CAIRN_EINVAL,
			                     "bad catalog address '%s': no socket path", addr);
			goto out;
		}
		c->unix_path = strdup(addr + 5);
		c->prefix = strdup("http://localhost");
		if (!c->unix_path || !c->prefix)
			goto nomem;
	} else if (strncmp(addr, "http://", 7) == 0 || strncmp(addr, "https://", 8) == 0) {
		size_t n = strlen(addr);

		/* The request paths start with '/', so drop a trailing one. */
		while (n > 0 && addr[n - 1] == '/')
			n--;
		c->prefix = strndup(addr, n);
		if (!c->prefix)
			goto nomem;
	} else {
		rc = cairn_error_set(CAIRN_EINVAL,
		                     "bad catalog address '%s' (want unix:/path/to/socket "
		                     "or http(s)://host:port)", addr);
		goto out;
	}

	c->curl = curl_easy_init();
	if (!c->curl) {
		rc = cairn_error_set(CAIRN_EIO, "cannot create a libcurl handle");
		goto out;
	}
	*out = c;
	c = NULL;
	goto out;
nomem:
	rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
out:
	cairn_client_free(c);
	return rc;
}

void cairn_client_free(cairn_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->ext)
		curl_easy_cleanup(c->ext);
	free(c->addr);
	free(c->unix_path);
	free(c->prefix);
	free(c);
}

const char *cairn_client_addr(const cairn_client *c)
{
	return c->addr;
}

void cairn_client_set_timeout(cairn_client *c, long seconds)
{
	c->timeout = seconds > 0 ? seconds : 0;
}

/* Clears what the last request on handle h set (its connection stays)
 * and sets what every request of this client has: url, no signals, the
 * error buffer, http(s) only, the client's timeout. */
static void reset(cairn_client *c, CURL *h, const char *url)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	/* Signals are not for libraries in threaded programs (cairnfs). */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->timeout > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout);
	c->errbuf[0] = '\0';
}

/* Everything a request needs besides its method and body. */
static int setup(cairn_client *c, const char *path, struct curl_slist **headers)
{
	CURL *h = c->curl;
	char *url;
	size_t n;

	if (!path || path[0] != '/')
		return cairn_error_set(CAIRN_EINVAL, "API path '%s' does not start with '/'",
		                       path ? path : "");
	n = strlen(c->prefix) + strlen(path) + 1;
	url = malloc(n);
	if (!url)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	snprintf(url, n, "%s%s", c->prefix, path);

	reset(c, h, url);
	free(url);  /* curl copies string options */
	if (c->unix_path)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);

	*headers = curl_slist_append(*headers, "Accept: application/json");
	/* No "Expect: 100-continue" round trip before a body. */
	*headers = curl_slist_append(*headers, "Expect:");
	if (!*headers)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

static size_t write_buf(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;

	/* Returning less than given makes curl stop with CURLE_WRITE_ERROR. */
	if (buf_append(b, p, size * nmemb))
		return 0;
	return size * nmemb;
}

/* Turns a JSON error body into the code and the server's message. */
static int http_error(cairn_client *c, long status, const struct buf *body)
{
	json_t *root = NULL, *err;
	const char *code = NULL, *msg = NULL;
	int rc;

	if (body->len)
		root = json_loadb(body->data, body->len, 0, NULL);
	err = json_object_get(root, "error");
	if (json_is_object(err)) {
		code = json_string_value(json_object_get(err, "code"));
		msg = json_string_value(json_object_get(err, "message"));
	}
	rc = code ? cairn_error_from_name(code) : CAIRN_ERROR;
	if (rc == CAIRN_ERROR && (!code || strcmp(code, "error") != 0))
		rc = cairn_error_from_http((int)status);
	if (rc == 0)
		rc = CAIRN_ERROR;
	if (msg)
		cairn_error_set(rc, "%s", msg);
	else
		cairn_error_set(rc, "catalogd at %s answered HTTP %ld", c->addr, status);
	json_decref(root);
	return rc;
}

/* The outcome of curl_easy_perform: a transport failure, an HTTP error, or
 * 0 with the status in *status. */
static int finish(cairn_client *c, CURLcode cc, const struct buf *body, long *status)
{
	long st = 0;

	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &st);
	*status = st;
	/* A server that refuses a body may answer and close before it has
	 * read all of it; its answer says more than the send error. */
	if (st >= 400 && (cc == CURLE_OK || cc == CURLE_SEND_ERROR ||
	                  cc == CURLE_RECV_ERROR))
		return http_error(c, st, body);
	if (cc != CURLE_OK) {
		const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
		char sockwhy[256];

		/* curl describes a failed Unix-socket connect as a TCP one to
		 * "localhost port 80"; say what actually failed. */
		if (c->unix_path && cc == CURLE_COULDNT_CONNECT) {
			struct stat sb;
			snprintf(sockwhy, sizeof(sockwhy), "%s",
			         stat(c->unix_path, &sb) < 0 ? strerror(errno) :
			         !S_ISSOCK(sb.st_mode) ? "not a socket" :
			         "connection refused (is catalogd running?)");
			why = sockwhy;
		}
		/* The connection died while a request body was on its way. */
		if (cc == CURLE_SEND_FAIL_REWIND || cc == CURLE_SEND_ERROR ||
		    cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE)
			return cairn_error_set(CAIRN_EIO, "connection to catalogd at %s was lost "
			                       "during the request", c->addr);
		if (st > 0)
			return cairn_error_set(CAIRN_EIO,
			                       "transfer from catalogd at %s failed: %s",
			                       c->addr, why);
		return cairn_error_set(CAIRN_EIO, "cannot reach catalogd at %s: %s",
		                       c->addr, why);
	}
	return 0;
}

static int parse_body(const struct buf *body, json_t **out)
{
	json_error_t jerr;
	json_t *j;

	if (!out)
		return 0;
	*out = NULL;
	if (body->len == 0)
		return 0;
	j = json_loadb(body->data, body->len, 0, &jerr);
	if (!j)
		return cairn_error_set(CAIRN_ECORRUPT, "bad response from catalogd: %s",
		                       jerr.text);
	*out = j;
	return 0;
}

/* The outcome of a request whose answer is JSON: the size cap, transport
 * and HTTP errors, then the body parsed into *out. */
static int finish_json(cairn_client *c, CURLcode cc, const struct buf *resp,
                       const char *method, const char *path, json_t **out)
{
	long status;
	int rc;

	if (resp->overflow)
		return cairn_error_set(CAIRN_ETOOBIG,
		                       "response from catalogd to %s %s is larger than %u MiB",
		                       method, path, RESPONSE_MAX >> 20);
	rc = finish(c, cc, resp, &status);
	if (rc)
		return rc;
	return parse_body(resp, out);
}

int cairn_client_json(cairn_client *c, const char *method, const char *path,
                      json_t *body, json_t **out)
{
	struct curl_slist *headers = NULL;
	struct buf resp = { .max = RESPONSE_MAX };
	char *text = NULL;
	CURLcode cc;
	int rc;

	if (out)
		*out = NULL;
	rc = setup(c, path, &headers);
	if (rc)
		goto out;

	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			rc = cairn_error_set(CAIRN_EINVAL, "request body cannot be encoded as JSON");
			goto out;
		}
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	}
	if (!headers) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_buf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);

	cc = curl_easy_perform(c->curl);
	rc = finish_json(c, cc, &resp, method, path, out);
out:
	curl_slist_free_all(headers);
	free(text);
	free(resp.data);
	return rc;
}

struct upload_ctx {
	cairn_client_source source;
	void *ctx;
	int aborted;   /* the CAIRN_E* code the source failed with */
};

static size_t read_source(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload_ctx *u = arg;
	size_t n;

	/* The source reports why it stopped through the thread's error; clear
	 * it first so a stale code is not mistaken for this one. The easy
	 * interface calls back on the caller's thread. */
	cairn_error_clear();
	n = u->source(u->ctx, buf, size * nitems);
	if (n == (size_t)-1) {
		u->aborted = cairn_error_code() ? cairn_error_code() : CAIRN_ERROR;
		if (!cairn_error_msg()[0])
			cairn_error_set(u->aborted, "upload aborted");
		return CURL_READFUNC_ABORT;
	}
	return n > size * nitems ? size * nitems : n;
}

int cairn_client_upload(cairn_client *c, const char *method, const char *path,
                        const char *content_type, cairn_client_source source,
                        void *ctx, json_t **out)
{
	struct curl_slist *headers = NULL;
	struct buf resp = { .max = RESPONSE_MAX };
	struct upload_ctx u = { .source = source, .ctx = ctx };
	char ct[256];
	CURLcode cc;
	int rc;

	if (out)
		*out = NULL;
	rc = setup(c, path, &headers);
	if (rc)
		goto out;
	snprintf(ct, sizeof(ct), "Content-Type: %s",
	         content_type ? content_type : "application/octet-stream");
	headers = curl_slist_append(headers, ct);
	if (strcmp(method, "POST") == 0) {
		/* A POST with a read function and no size goes out chunked
		 * only when asked to. */
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
	} else {
		/* CURLOPT_UPLOAD is a PUT; with no size, HTTP/1.1 goes chunked. */
		curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
		if (strcmp(method, "PUT") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	}
	if (!headers) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, read_source);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_buf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);

	cc = curl_easy_perform(c->curl);
	if (u.aborted) {
		/* The source's message stands; the connection is in an unknown
		 * state, curl closes it. */
		rc = u.aborted;
		goto out;
	}
	rc = finish_json(c, cc, &resp, method, path, out);
out:
	curl_slist_free_all(headers);
	free(resp.data);
	return rc;
}

struct download_ctx {
	CURL *curl;
	cairn_client_sink sink;
	void *ctx;
	int sink_rc;       /* what the sink stopped with */
	struct buf err;    /* the body of an error status */
};

/* Downloads are bulk: a larger receive buffer means fewer, larger reads
 * of the socket and sink calls (curl's default is 16 KiB). */
#define DOWNLOAD_BUFFER (512L << 10)

static size_t write_sink(char *p, size_t size, size_t nmemb, void *arg)
{
	struct download_ctx *d = arg;
	size_t n = size * nmemb;
	long status = 0;

	/* Headers are complete by the first body byte: an error status's
	 * JSON body is kept for the message, never handed to the sink. */
	curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 400) {
		if (buf_append(&d->err, p, n))
			return 0;
		return n;
	}
	d->sink_rc = d->sink(d->ctx, p, n);
	if (d->sink_rc)
		return 0;
	return n;
}

int cairn_client_download(cairn_client *c, const char *path,
                          cairn_client_sink sink, void *ctx)
{
	struct curl_slist *headers = NULL;
	struct download_ctx d = {
		.curl = c->curl, .sink = sink, .ctx = ctx,
		.err = { .max = ERROR_BODY_MAX },
	};
	CURLcode cc;
	long status;
	int rc;

	rc = setup(c, path, &headers);
	if (rc)
		goto out;
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_sink);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c->curl, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER);

	cc = curl_easy_perform(c->curl);
	if (d.sink_rc) {
		rc = d.sink_rc;
		goto out;
	}
	/* A long error body is cut, not fatal: use what arrived. */
	if (d.err.overflow)
		cc = CURLE_OK;
	rc = finish(c, cc, &d.err, &status);
out:
	curl_slist_free_all(headers);
	free(d.err.data);
	return rc;
}

/* "host:port" of an http(s) URL into buf, for messages that must not
 * quote the URL itself. */
static void url_host(char *buf, size_t len, const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? p + 3 : url;
	snprintf(buf, len, "%.*s", (int)strcspn(p, "/?#"), p);
}

/* An S3-style error: the status and the <Code> of its XML body. */
static int fetch_error(const char *host, long status, const struct buf *body)
{
	const char *code = body->data ? strstr(body->data, "<Code>") : NULL;
	int rc = status == 404 ? CAIRN_ENOTFOUND : status == 403 ? CAIRN_EPERM : CAIRN_EIO;

	if (code) {
		code += 6;
		return cairn_error_set(rc, "%s answered HTTP %ld (%.*s)", host, status,
		                       (int)strcspn(code, "<"), code);
	}
	return cairn_error_set(rc, "%s answered HTTP %ld", host, status);
}

int cairn_client_fetch(cairn_client *c, const char *url, cairn_client_sink sink, void *ctx)
{
	struct download_ctx d = { .sink = sink, .ctx = ctx, .err = { .max = ERROR_BODY_MAX } };
	char host[256];
	long status = 0;
	CURLcode cc;
	int rc = 0;

	url_host(host, sizeof(host), url);
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return cairn_error_set(CAIRN_EINVAL, "not an http(s) URL (host %s)", host);
	if (!c->ext && !(c->ext = curl_easy_init()))
		return cairn_error_set(CAIRN_EIO, "cannot create a libcurl handle");
	d.curl = c->ext;
	reset(c, c->ext, url);
	curl_easy_setopt(c->ext, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->ext, CURLOPT_WRITEFUNCTION, write_sink);
	curl_easy_setopt(c->ext, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c->ext, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER);

	cc = curl_easy_perform(c->ext);
	curl_easy_getinfo(c->ext, CURLINFO_RESPONSE_CODE, &status);
	if (d.sink_rc)
		rc = d.sink_rc;
	else if (status >= 400 && (cc == CURLE_OK || d.err.overflow))
		rc = fetch_error(host, status, &d.err);
	else if (cc != CURLE_OK)
		rc = cairn_error_set(cc == CURLE_OPERATION_TIMEDOUT ? CAIRN_ERETRY : CAIRN_EIO,
		                     "%s %s: %s", status > 0 ? "transfer from" : "cannot reach",
		                     host, c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	else if (status != 200)
		rc = cairn_error_set(CAIRN_EIO, "%s answered HTTP %ld to a GET", host, status);
	free(d.err.data);
	return rc;
}

char *cairn_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out, *o;

	out = malloc(3 * n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char ch = *p;

		/* RFC 3986 unreserved characters pass as they are. */
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 0xf];
		}
	}
	*o = '\0';
	return out;
}

int cairn_dataset_path(char *buf, size_t len, const char *name)
{
	static const char base[] = "/v1/datasets/";
	const char *seg = name;
	size_t o;

	if (!name || !*name)
		return cairn_error_set(CAIRN_EINVAL, "empty dataset name");
	if (len < sizeof(base))
		goto toolong;
	memcpy(buf, base, sizeof(base));
	o = sizeof(base) - 1;
	for (;;) {
		size_t n = strcspn(seg, "/");
		char *part = strndup(seg, n);
		char *e;
		size_t m;

		if (!part)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		e = cairn_url_escape(part);
		free(part);
		if (!e)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		m = strlen(e);
		if (o + m + 1 > len) {  /* room for the NUL or the next '/' */
			free(e);
			goto toolong;
		}
		memcpy(buf + o, e, m);
		free(e);
		o += m;
		if (!seg[n])
			break;
		buf[o++] = '/';
		seg += n + 1;
	}
	buf[o] = '\0';
	return 0;
toolong:
	return cairn_error_set(CAIRN_ETOOBIG, "dataset path of '%.64s' does not fit in %zu bytes",
	                       name, len);
}
