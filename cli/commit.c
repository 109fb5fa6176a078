/* commit.c — `cairn commit NAME DIR`: a directory tree becomes a version.
 *
 * Three stages, so that a bad tree is refused before a byte is sent and so
 * that memory stays flat whatever the size of the tree:
 *
 *   1. scan     A stat-only walk of DIR in canonical order that refuses what
 *               cannot be committed: fifos, sockets, devices, symlinks that
 *               leave the tree, names that are not valid paths, entries we
 *               cannot read. Nothing has been sent when it fails.
 *   2. data     The same walk again. Every file is read in chunk_size pieces
 *               straight into a batch buffer; each piece is hashed (its
 *               object id) and the manifest's NDJSON lines are written to an
 *               unlinked temporary file as the walk goes. Full batches go to
 *               a bounded queue that two uploader threads drain, each with
 *               its own client: ask catalogd which ids of the batch it is
 *               missing, send only those.
 *   3. publish  Once every batch is stored, the manifest file is streamed as
 *               the body of the commit request; catalogd checks it and
 *               records the version atomically.
 *
 * Memory: NBATCHES buffers of BATCH_BYTES (one being filled, the rest queued
 * or in flight), one directory's names per level of the walk being
 * visited, and 1024 ids of the file being read. The manifest lives on disk.
 *
 * A failure anywhere ends the commit with nothing published. Objects that
 * were stored before it stay in the pool, so running the same commit again
 * sends only what is still missing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "manifest.h"
#include "oid.h"

static const char commit_help[] =
	"usage: cairn commit NAME DIR [--message T] [--derived-from DS@V]...\n"
	"                    [--transform T] [--meta K=V]... [--json]\n"
	"\n"
	"Records the tree under DIR as the next version of dataset NAME and prints\n"
	"it as NAME@SEQ and its digest. Regular files, directories and symlinks\n"
	"that stay inside DIR are committed; anything else is refused before\n"
	"anything is sent. Content already stored (in any dataset) is not sent\n"
	"again, so a commit that was interrupted can simply be run again.\n"
	"\n"
	"  -m, --message T        what this version is\n"
	"  --derived-from DS@V    an input this version was made from (repeatable)\n"
	"  --transform T          how it was made: code ref, parameters (text or JSON)\n"
	"  --meta K=V             a key=value field of this version (repeatable)\n"
	"  --json                 print the new version as JSON\n";

#define BATCH_BYTES   ((size_t)64 << 20) /* data bytes of one upload */
#define BATCH_OBJECTS 4096               /* ids of one upload (API: missing ≤ 10000) */
#define BATCH_SLOTS   8192               /* dedup table, twice BATCH_OBJECTS */
#define NBATCHES      4                  /* filling + queued + in flight */
#define NUPLOADERS    2
#define LINE_IDS      1024               /* ids per manifest line (API) */
#define FRAME_HDR     (CAIRN_OID_LEN + 8)
#define RETRIES       5                  /* for CAIRN_ERETRY answers */

static const char refuse_tail[] =
	"(only regular files, directories and symlinks inside the tree can be committed)";

/* ---- Batches and the upload pipeline --------------------------------- */

struct bobj {
	cairn_oid oid;
	size_t off;             /* in batch->data */
	uint32_t len;
	uint8_t send;           /* catalogd said it is missing */
};

/* Objects waiting to be sent together; ids are unique within a batch. */
struct batch {
	uint8_t *data;
	size_t cap, used;
	size_t n;
	struct bobj obj[BATCH_OBJECTS];
	uint16_t slot[BATCH_SLOTS];     /* open addressing: index + 1, 0 = empty */
	struct batch *next;
};

/* Batches travel free → (filled by the reader) → queue → (an uploader) →
 * free. There are never more than NBATCHES, which bounds memory; the reader
 * waits for a free one when all are queued or in flight. */
struct pipeline {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *all[NBATCHES];
	int nall;
	size_t cap;
	struct batch *free;
	struct batch *qhead, *qtail;
	int closed;                     /* the reader queues no more */
	int err;                        /* first failure, 0 if none */
	char msg[1024];                 /* its message (messages are per thread) */
	cairn_client *clients[NUPLOADERS];
	pthread_t threads[NUPLOADERS];
	int nthreads;                   /* started, to be joined */
	int claimed;                    /* clients taken by started threads */
	/* Totals, under mu. */
	uint64_t stored, present, sent;
};

/* The slot of oid in the batch's table: the one holding it, or the empty
 * one where it belongs. The table is never more than half full. */
static size_t batch_slot(const struct batch *b, const cairn_oid *oid)
{
	uint64_t h;
	size_t i;

	/* Object ids are uniformly distributed: their first bytes are a hash. */
	memcpy(&h, oid->b, sizeof(h));
	for (i = h & (BATCH_SLOTS - 1); b->slot[i]; i = (i + 1) & (BATCH_SLOTS - 1))
		if (memcmp(b->obj[b->slot[i] - 1].oid.b, oid->b, CAIRN_OID_LEN) == 0)
			break;
	return i;
}

static struct bobj *batch_find(struct batch *b, const cairn_oid *oid)
{
	size_t i = batch_slot(b, oid);

	return b->slot[i] ? &b->obj[b->slot[i] - 1] : NULL;
}

/* Records the object whose len bytes were just read at data + used; a
 * duplicate within the batch does not keep its bytes. */
static void batch_add(struct batch *b, const cairn_oid *oid, size_t len)
{
	size_t i = batch_slot(b, oid);

	if (b->slot[i])
		return;
	b->obj[b->n] = (struct bobj){.oid = *oid, .off = b->used, .len = (uint32_t)len};
	b->slot[i] = (uint16_t)(b->n + 1);
	b->n++;
	b->used += len;
}

static void batch_reset(struct batch *b)
{
	b->n = 0;
	b->used = 0;
	memset(b->slot, 0, sizeof(b->slot));
}

static void pl_fail_locked(struct pipeline *pl, int code, const char *msg)
{
	if (!pl->err) {
		pl->err = code;
		snprintf(pl->msg, sizeof(pl->msg), "%s", msg);
	}
	pthread_cond_broadcast(&pl->cv);
}

/* Streams the frames (oid | BE length | data) of a batch's missing objects. */
struct frames {
	struct batch *b;
	size_t i;               /* current object */
	size_t off;             /* bytes of its frame already sent */
};

static size_t frame_source(void *ctx, char *buf, size_t max)
{
	struct frames *f = ctx;
	size_t n = 0;

	while (n < max) {
		struct bobj *o;
		size_t k;

		while (f->i < f->b->n && !f->b->obj[f->i].send)
			f->i++;
		if (f->i == f->b->n)
			break;
		o = &f->b->obj[f->i];
		if (f->off < FRAME_HDR) {
			uint8_t hdr[FRAME_HDR];
			uint64_t len = o->len;
			int j;

			memcpy(hdr, o->oid.b, CAIRN_OID_LEN);
			for (j = 7; j >= 0; j--, len >>= 8)
				hdr[CAIRN_OID_LEN + j] = (uint8_t)len;
			k = FRAME_HDR - f->off;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, hdr + f->off, k);
		} else {
			k = FRAME_HDR + o->len - f->off;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, f->b->data + o->off + (f->off - FRAME_HDR), k);
		}
		n += k;
		f->off += k;
		if (f->off == FRAME_HDR + o->len) {
			f->i++;
			f->off = 0;
		}
	}
	return n;
}

/* Waits a little longer after each CAIRN_ERETRY ("busy, try again"). */
static int retry_wait(int rc, int *attempt)
{
	struct timespec ts;

	if (rc != CAIRN_ERETRY || ++*attempt >= RETRIES)
		return 0;
	ts.tv_sec = 0;
	ts.tv_nsec = 100000000L << (*attempt - 1);
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	nanosleep(&ts, NULL);
	return 1;
}

/* Sends what catalogd lacks of one batch; adds to the totals. */
static int upload_batch(struct pipeline *pl, cairn_client *c, struct batch *b)
{
	json_t *ids = NULL, *body = NULL, *res = NULL, *id;
	uint64_t bytes = 0, stored = 0, present;
	size_t i, nsend = 0;
	int rc, attempt = 0;

	ids = json_array();
	body = json_object();
	if (!ids || !body) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < b->n; i++) {
		char hex[CAIRN_OID_HEXLEN + 1];

		b->obj[i].send = 0;
		json_array_append_new(ids, json_string(cairn_oid_fmt(hex, &b->obj[i].oid)));
	}
	json_object_set(body, "ids", ids);
	do
		rc = cairn_client_json(c, "POST", "/v1/objects/missing", body, &res);
	while (rc < 0 && retry_wait(rc, &attempt));
	if (rc < 0)
		goto out;

	json_array_foreach(json_object_get(res, "missing"), i, id) {
		cairn_oid oid;
		struct bobj *o;

		if (!json_is_string(id) || cairn_oid_parse(&oid, json_string_value(id)) < 0) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "catalogd answered with a bad object id");
			goto out;
		}
		o = batch_find(b, &oid);
		if (o && !o->send) {
			o->send = 1;
			nsend++;
			bytes += o->len;
		}
	}
	json_decref(res);
	res = NULL;

	if (nsend > 0) {
		attempt = 0;
		for (;;) {
			struct frames f = {.b = b};

			rc = cairn_client_upload(c, "POST", "/v1/objects",
			                         "application/octet-stream", frame_source, &f, &res);
			if (rc == 0 || !retry_wait(rc, &attempt))
				break;
		}
		if (rc < 0)
			goto out;
		stored = (uint64_t)cli_jint(res, "stored");
	}
	present = b->n - stored;

	pthread_mutex_lock(&pl->mu);
	pl->stored += stored;
	pl->present += present;
	pl->sent += bytes;
	pthread_mutex_unlock(&pl->mu);
out:
	json_decref(res);
	json_decref(body);
	json_decref(ids);
	return rc;
}

static void *uploader(void *arg)
{
	struct pipeline *pl = arg;
	cairn_client *c;
	int me;

	pthread_mutex_lock(&pl->mu);
	me = pl->claimed++;
	c = pl->clients[me];
	for (;;) {
		struct batch *b;
		int rc;

		while (!pl->qhead && !pl->closed && !pl->err)
			pthread_cond_wait(&pl->cv, &pl->mu);
		if (pl->err || !pl->qhead)
			break;
		b = pl->qhead;
		pl->qhead = b->next;
		if (!pl->qhead)
			pl->qtail = NULL;
		pthread_mutex_unlock(&pl->mu);

		rc = upload_batch(pl, c, b);

		pthread_mutex_lock(&pl->mu);
		if (rc < 0)
			pl_fail_locked(pl, rc, cairn_error_msg());
		batch_reset(b);
		b->next = pl->free;
		pl->free = b;
		pthread_cond_broadcast(&pl->cv);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

/* Turns the pipeline's first failure into this thread's error. */
static int pl_error(struct pipeline *pl)
{
	int rc;

	pthread_mutex_lock(&pl->mu);
	rc = pl->err ? cairn_error_set(pl->err, "%s", pl->msg) : 0;
	pthread_mutex_unlock(&pl->mu);
	return rc;
}

/* A free batch for the reader: waits while all are queued or in flight. */
static int pl_acquire(struct batch **out, struct pipeline *pl)
{
	struct batch *b = NULL;
	int rc = 0;

	pthread_mutex_lock(&pl->mu);
	while (!pl->err && !pl->free && pl->nall == NBATCHES)
		pthread_cond_wait(&pl->cv, &pl->mu);
	if (pl->err) {
		pthread_mutex_unlock(&pl->mu);
		return pl_error(pl);
	}
	if (pl->free) {
		b = pl->free;
		pl->free = b->next;
	} else {
		b = calloc(1, sizeof(*b));
		if (b)
			b->data = malloc(pl->cap);
		if (!b || !b->data) {
			free(b);
			b = NULL;
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory for a %zu MiB batch",
			                     pl->cap >> 20);
		} else {
			b->cap = pl->cap;
			pl->all[pl->nall++] = b;
		}
	}
	pthread_mutex_unlock(&pl->mu);
	if (b)
		b->next = NULL;
	*out = b;
	return rc;
}

static void pl_submit(struct pipeline *pl, struct batch *b)
{
	pthread_mutex_lock(&pl->mu);
	b->next = NULL;
	if (pl->qtail)
		pl->qtail->next = b;
	else
		pl->qhead = b;
	pl->qtail = b;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

/* Clients are made here, on the calling thread, so that any one-time
 * library setup happens before the uploaders start. */
static int pl_start(struct pipeline *pl, const char *addr, uint64_t chunk)
{
	int i, rc;

	memset(pl, 0, sizeof(*pl));
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->cv, NULL);
	pl->cap = chunk > BATCH_BYTES ? (size_t)chunk : BATCH_BYTES;
	for (i = 0; i < NUPLOADERS; i++) {
		rc = cairn_client_new(&pl->clients[i], addr);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < NUPLOADERS; i++) {
		rc = pthread_create(&pl->threads[i], NULL, uploader, pl);
		if (rc != 0) {
			pthread_mutex_lock(&pl->mu);
			pl_fail_locked(pl, CAIRN_ERROR, "cannot start an upload thread");
			pthread_mutex_unlock(&pl->mu);
			return cairn_error_errno(rc, "cannot start an upload thread");
		}
		pl->nthreads = i + 1;   /* joined by pl_finish */
	}
	return 0;
}

/* Lets the uploaders drain the queue (or give up after a failure), joins
 * them and frees everything. Returns the pipeline's first failure. */
static int pl_finish(struct pipeline *pl, int joinable)
{
	int i, rc;

	pthread_mutex_lock(&pl->mu);
	pl->closed = 1;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	for (i = 0; i < joinable; i++)
		pthread_join(pl->threads[i], NULL);
	rc = pl_error(pl);
	for (i = 0; i < NUPLOADERS; i++)
		cairn_client_free(pl->clients[i]);
	for (i = 0; i < pl->nall; i++) {
		free(pl->all[i]->data);
		free(pl->all[i]);
	}
	pthread_cond_destroy(&pl->cv);
	pthread_mutex_destroy(&pl->mu);
	return rc;
}

/* ---- The walk -------------------------------------------------------- */

struct commit {
	struct cli *cli;
	uint64_t chunk;
	FILE *mf;                       /* the manifest being written; owned */
	struct pipeline pl;
	struct batch *cur;              /* being filled, or NULL */
	cairn_oid ids[LINE_IDS];        /* ids of the current manifest line */
	char line[8192];                /* encodes most manifest lines */
	/* Progress, shown when stderr is a terminal. */
	int progress;
	uint64_t total_files, total_bytes;
	uint64_t done_files, done_bytes;
	struct timespec t0, shown;
};

/* The walk recurses once per directory level (up to CAIRN_PATH_MAX / 2
 * levels), so the buffers its steps need live here, not on the stack. */
struct walk {
	struct commit *cm;              /* NULL on the scan pass */
	const char *root;               /* DIR as given, for messages */
	char path[CAIRN_PATH_MAX + 1];  /* the current entry, relative to DIR */
	uint64_t files, dirs, links, bytes;
	char target[CAIRN_PATH_MAX + 2];        /* a symlink's target */
	char msg[CAIRN_PATH_MAX + 256];         /* a refusal being worded */
	char shown[CAIRN_PATH_MAX * 2];         /* the entry, for messages */
	char copy[CAIRN_PATH_MAX + 256];
};

/* JSON strings must be UTF-8; file names are bytes. */
static int utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s++;
		int more;
		unsigned min;
		unsigned cp;

		if (c < 0x80)
			continue;
		if ((c & 0xe0) == 0xc0) { more = 1; min = 0x80; cp = c & 0x1f; }
		else if ((c & 0xf0) == 0xe0) { more = 2; min = 0x800; cp = c & 0x0f; }
		else if ((c & 0xf8) == 0xf0) { more = 3; min = 0x10000; cp = c & 0x07; }
		else return 0;
		while (more--) {
			if ((*s & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (*s++ & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

/* The current entry as the user knows it ("DIR/a/b"), control bytes (and
 * the high bytes of a name that is not UTF-8) shown as \xNN so that a
 * hostile name cannot drive the terminal. */
static const char *shown(const struct walk *w, char *buf, size_t len)
{
	size_t n = 0, plen = strlen(w->path);
	const char *parts[3] = {w->root, w->path[0] ? "/" : "", w->path};
	int i;

	if (strcmp(w->root, "/") == 0)
		parts[1] = "";
	/* A deep path keeps its last components: messages have a bounded
	 * length and the reason comes after the path. */
	if (plen > 240) {
		const char *cut = strchr(w->path + plen - 240, '/');

		if (cut) {
			parts[1] = "/.../";
			parts[2] = cut + 1;
		}
	}
	for (i = 0; i < 3; i++) {
		const unsigned char *p = (const unsigned char *)parts[i];
		int high = !utf8_valid(p);

		for (; *p && n + 5 < len; p++) {
			if (*p < 0x20 || *p == 0x7f || (high && *p >= 0x80))
				n += (size_t)snprintf(buf + n, len - n, "\\x%02x", *p);
			else
				buf[n++] = (char)*p;
		}
	}
	buf[n] = '\0';
	return buf;
}

static int entry_error(struct walk *w, int code, const char *what)
{
	/* `what` may be the thread's own message, which is about to be
	 * overwritten. */
	snprintf(w->copy, sizeof(w->copy), "%s", what);
	return cairn_error_set(code, "'%s': %s", shown(w, w->shown, sizeof(w->shown)),
	                       w->copy);
}

static int entry_errno(struct walk *w, int errnum, const char *what)
{
	return cairn_error_errno(errnum, "'%s': %s", shown(w, w->shown, sizeof(w->shown)),
	                         what);
}

static double elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) +
	       (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static void progress(struct commit *cm, int last)
{
	struct timespec now;
	char a[32], b[32];
	double secs, pct;

	if (!cm->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!last && elapsed(&cm->shown, &now) < 0.2)
		return;
	cm->shown = now;
	secs = elapsed(&cm->t0, &now);
	pct = cm->total_bytes ? 100.0 * (double)cm->done_bytes / (double)cm->total_bytes : 100.0;
	fprintf(stderr, "\r%llu/%llu files  %s/%s  %3.0f%%  %.1f MB/s\033[K",
	        (unsigned long long)cm->done_files, (unsigned long long)cm->total_files,
	        cli_size(a, sizeof(a), cm->done_bytes), cli_size(b, sizeof(b), cm->total_bytes),
	        pct > 100.0 ? 100.0 : pct,
	        secs > 0 ? (double)cm->done_bytes / secs / 1e6 : 0.0);
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
}

/* ---- Manifest lines -------------------------------------------------- */

static int mf_write(struct commit *cm, const void *p, size_t n)
{
	if (fwrite(p, 1, n, cm->mf) != n)
		return cairn_error_errno(errno ? errno : EIO,
		                         "cannot write the manifest to a temporary file");
	return 0;
}

/* `e` (NULL for a continuation line) followed, when with_ids, by
 * "objects": [ids...] — hex needs no escaping, so ids are written directly
 * rather than as a thousand JSON string values. */
static int emit(struct commit *cm, json_t *e, size_t nids, int with_ids)
{
	char *heap = NULL, *s = cm->line;
	size_t n = 0, i;
	int rc;

	if (e) {
		n = json_dumpb(e, cm->line, sizeof(cm->line), JSON_COMPACT);
		if (n == 0)
			return cairn_error_set(CAIRN_EINVAL, "cannot encode a manifest entry");
		if (n > sizeof(cm->line)) {
			heap = json_dumps(e, JSON_COMPACT);
			if (!heap)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			s = heap;
			n = strlen(heap);
		}
	}
	if (!with_ids) {
		rc = mf_write(cm, s, n);
		if (rc == 0)
			rc = mf_write(cm, "\n", 1);
		goto out;
	}
	/* Reopen the object: drop its '}'. */
	rc = e ? mf_write(cm, s, n - 1) : mf_write(cm, "{", 1);
	if (rc == 0)
		rc = mf_write(cm, e ? ",\"objects\":[" : "\"objects\":[", e ? 12 : 11);
	for (i = 0; rc == 0 && i < nids; i++) {
		/* ,"<32 hex>" — without the comma for the first id. */
		char item[CAIRN_OID_HEXLEN + 4];

		item[0] = ',';
		item[1] = '"';
		cairn_oid_fmt(item + 2, &cm->ids[i]);
		item[CAIRN_OID_HEXLEN + 2] = '"';
		rc = mf_write(cm, item + (i ? 0 : 1), CAIRN_OID_HEXLEN + (i ? 3 : 2));
	}
	if (rc == 0)
		rc = mf_write(cm, "]}\n", 3);
out:
	free(heap);
	return rc;
}

static json_t *entry_json(const char *path, const char *type, const struct stat *st)
{
	return json_pack("{s:s,s:s,s:i,s:I,s:i}", "path", path, "type", type,
	                 "mode", (int)(st->st_mode & 07777),
	                 "mtime", (json_int_t)st->st_mtim.tv_sec,
	                 "mtime_ns", (int)st->st_mtim.tv_nsec);
}

/* ---- Files ----------------------------------------------------------- */

/* Reads exactly len bytes unless the file ends first; *got says how many. */
static int read_full(size_t *got, int fd, uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len) {
		ssize_t r = read(fd, buf + n, len - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			*got = n;
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*got = n;
	return 0;
}

/* A batch with room for one more object of len bytes. */
static int room_for(struct batch **out, struct commit *cm, size_t len)
{
	struct batch *b = cm->cur;
	int rc;

	if (b && (b->n == BATCH_OBJECTS || b->cap - b->used < len)) {
		pl_submit(&cm->pl, b);
		cm->cur = b = NULL;
	}
	if (!b) {
		rc = pl_acquire(&b, &cm->pl);
		if (rc < 0)
			return rc;
		cm->cur = b;
	}
	*out = b;
	return 0;
}

static int changed(struct walk *w)
{
	return entry_error(w, CAIRN_ERROR, "file changed while being committed");
}

static int commit_file(struct walk *w, int dfd, const char *name)
{
	struct commit *cm = w->cm;
	struct stat st, st2;
	json_t *e = NULL;
	uint64_t size, nobj, k;
	size_t nids = 0;
	int fd, rc = 0, first = 1;

	/* O_NONBLOCK: should the file have been swapped for a fifo since the
	 * scan, opening it must not hang; fstat below then refuses it. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return entry_errno(w, errno, "cannot read");
	if (fstat(fd, &st) < 0) {
		rc = entry_errno(w, errno, "cannot stat");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = changed(w);
		goto out;
	}
	size = (uint64_t)st.st_size;
	nobj = (size + cm->chunk - 1) / cm->chunk;
	if (size > cm->chunk)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	e = entry_json(w->path, "f", &st);
	if (!e || json_object_set_new(e, "size", json_integer((json_int_t)size)) < 0 ||
	    json_object_set_new(e, "nobjects", json_integer((json_int_t)nobj)) < 0) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}

	for (k = 0; k < nobj; k++) {
		size_t len = (size_t)(k + 1 < nobj ? cm->chunk : size - k * cm->chunk);
		struct batch *b;
		size_t got;
		int r;

		rc = room_for(&b, cm, len);
		if (rc < 0)
			goto out;
		r = read_full(&got, fd, b->data + b->used, len);
		if (r < 0) {
			rc = entry_errno(w, -r, "cannot read");
			goto out;
		}
		if (got != len) {
			rc = changed(w);
			goto out;
		}
		cairn_oid_hash(&cm->ids[nids], b->data + b->used, len);
		batch_add(b, &cm->ids[nids], len);
		nids++;
		cm->done_bytes += len;
		if (nids == LINE_IDS) {
			rc = emit(cm, first ? e : NULL, nids, 1);
			if (rc < 0)
				goto out;
			first = 0;
			nids = 0;
		}
		progress(cm, 0);
	}
	if (first || nids > 0) {
		rc = emit(cm, first ? e : NULL, nids, 1);
		if (rc < 0)
			goto out;
	}
	/* What was read must be what was described: a file that grew, shrank
	 * or was rewritten meanwhile would make a version that never existed. */
	if (fstat(fd, &st2) < 0) {
		rc = entry_errno(w, errno, "cannot stat");
		goto out;
	}
	if (st2.st_size != st.st_size || st2.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	    st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
		rc = changed(w);
		goto out;
	}
	cm->done_files++;
out:
	json_decref(e);
	close(fd);
	return rc;
}

/* ---- Directories ----------------------------------------------------- */

/* One directory's names, in one arena, sorted bytewise: siblings in
 * canonical order. */
struct names {
	char *arena;
	size_t used, cap;
	size_t *off;
	char **sorted;
	size_t n, ncap;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_names(struct walk *w, DIR *d, struct names *nm)
{
	struct dirent *de;
	size_t i;

	for (;;) {
		size_t len;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				return entry_errno(w, errno, "cannot read directory");
			break;
		}
		if (de->d_name[0] == '.' && (!de->d_name[1] ||
		    (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		len = strlen(de->d_name) + 1;
		if (nm->used + len > nm->cap) {
			size_t cap = nm->cap ? nm->cap * 2 : 4096;
			char *a;

			while (cap < nm->used + len)
				cap *= 2;
			a = realloc(nm->arena, cap);
			if (!a)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			nm->arena = a;
			nm->cap = cap;
		}
		if (nm->n == nm->ncap) {
			size_t cap = nm->ncap ? nm->ncap * 2 : 64;
			size_t *o = realloc(nm->off, cap * sizeof(*o));

			if (!o)
				return cairn_error_set(CAIRN_ENOMEM, "out of memory");
			nm->off = o;
			nm->ncap = cap;
		}
		memcpy(nm->arena + nm->used, de->d_name, len);
		nm->off[nm->n++] = nm->used;
		nm->used += len;
	}
	nm->sorted = malloc((nm->n ? nm->n : 1) * sizeof(*nm->sorted));
	if (!nm->sorted)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < nm->n; i++)
		nm->sorted[i] = nm->arena + nm->off[i];
	qsort(nm->sorted, nm->n, sizeof(*nm->sorted), cmp_names);
	return 0;
}

static int walk_dir(struct walk *w, int dfd, size_t plen);

/* One entry of a directory; w->path already names it. */
static int walk_entry(struct walk *w, int dfd, const char *name, size_t plen)
{
	char *target = w->target, *msg = w->msg;
	const size_t tsize = sizeof(w->target), msize = sizeof(w->msg);
	struct stat st;
	json_t *e;
	ssize_t tlen;
	int fd, rc;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(w, errno, "cannot stat");
	if (cairn_path_validate(w->path, 0) < 0)
		return entry_error(w, CAIRN_EINVAL, cairn_error_msg());
	if (!utf8_valid((const unsigned char *)name))
		return entry_error(w, CAIRN_EINVAL,
		                   "name is not valid UTF-8 (paths are stored as UTF-8 text)");

	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		if (w->cm)
			return commit_file(w, dfd, name);
		if (faccessat(dfd, name, R_OK, AT_EACCESS) < 0)
			return entry_errno(w, errno, "cannot read");
		w->files++;
		w->bytes += (uint64_t)st.st_size;
		return 0;

	case S_IFDIR:
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return entry_errno(w, errno, "cannot open directory");
		if (w->cm) {
			/* Pre-order: the directory's line before its children's. */
			e = entry_json(w->path, "d", &st);
			rc = e ? emit(w->cm, e, 0, 0) : cairn_error_set(CAIRN_ENOMEM, "out of memory");
			json_decref(e);
			if (rc < 0) {
				close(fd);
				return rc;
			}
		}
		w->dirs++;
		return walk_dir(w, fd, plen);

	case S_IFLNK:
		tlen = readlinkat(dfd, name, target, tsize - 1);
		if (tlen < 0)
			return entry_errno(w, errno, "cannot read symlink");
		target[tlen] = '\0';
		if ((size_t)tlen >= tsize - 1 || strlen(target) != (size_t)tlen)
			return entry_error(w, CAIRN_EINVAL, "symlink target is too long");
		if (!utf8_valid((const unsigned char *)target))
			return entry_error(w, CAIRN_EINVAL, "symlink target is not valid UTF-8");
		if (cairn_symlink_validate(w->path, target) < 0) {
			if (target[0] == '/')
				snprintf(msg, msize, "is a symlink to an absolute path '%s' %s",
				         target, refuse_tail);
			else if (target[0])
				snprintf(msg, msize, "is a symlink to '%s', outside the tree %s",
				         target, refuse_tail);
			else
				snprintf(msg, msize, "%s", cairn_error_msg());
			return entry_error(w, CAIRN_EINVAL, msg);
		}
		if (w->cm) {
			e = entry_json(w->path, "l", &st);
			if (!e || json_object_set_new(e, "target", json_string(target)) < 0)
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			else
				rc = emit(w->cm, e, 0, 0);
			json_decref(e);
			return rc;
		}
		w->links++;
		return 0;

	case S_IFIFO:
		snprintf(msg, msize, "is a fifo %s", refuse_tail);
		break;
	case S_IFSOCK:
		snprintf(msg, msize, "is a socket %s", refuse_tail);
		break;
	case S_IFCHR:
		snprintf(msg, msize, "is a character device %s", refuse_tail);
		break;
	case S_IFBLK:
		snprintf(msg, msize, "is a block device %s", refuse_tail);
		break;
	default:
		snprintf(msg, msize, "is of an unknown type %s", refuse_tail);
		break;
	}
	return entry_error(w, CAIRN_EINVAL, msg);
}

/* Visits the entries of the directory open at dfd (taken over and closed)
 * whose path is w->path[0..plen), in canonical order. Its names are read
 * whole and the directory stream closed before descending, so that a level
 * of the walk costs one descriptor and its names, not a stream buffer. */
static int walk_dir(struct walk *w, int dfd, size_t plen)
{
	struct names nm = {0};
	DIR *d = NULL;
	size_t i;
	int sfd, rc;

	sfd = dup(dfd);
	if (sfd >= 0) {
		d = fdopendir(sfd);
		if (!d)
			close(sfd);
	}
	if (!d) {
		rc = entry_errno(w, errno, "cannot open directory");
		goto out;
	}
	rc = read_names(w, d, &nm);
	closedir(d);
	for (i = 0; rc == 0 && i < nm.n; i++) {
		const char *name = nm.sorted[i];
		size_t nlen = strlen(name), len = plen + (plen ? 1 : 0) + nlen;

		if (len > CAIRN_PATH_MAX) {
			w->path[plen] = '\0';
			rc = entry_error(w, CAIRN_EINVAL, "path of an entry is too long");
			break;
		}
		if (plen)
			w->path[plen] = '/';
		memcpy(w->path + plen + (plen ? 1 : 0), name, nlen + 1);
		rc = walk_entry(w, dfd, name, len);
	}
	if (rc == 0)
		w->path[plen] = '\0';
out:
	free(nm.arena);
	free(nm.off);
	free(nm.sorted);
	close(dfd);
	return rc;
}

/* ---- The command ----------------------------------------------------- */

/* An unlinked temporary file in $TMPDIR (or /tmp), for the manifest. */
static int manifest_file(FILE **out)
{
	const char *dir = getenv("TMPDIR");
	FILE *f = NULL;
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		f = fdopen(fd, "w+");
		if (!f)
			close(fd);
	}
	if (!f)
		f = tmpfile();
	if (!f)
		return cairn_error_errno(errno, "cannot create a temporary file in %s", dir);
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	*out = f;
	return 0;
}

static size_t manifest_source(void *ctx, char *buf, size_t max)
{
	FILE *f = ctx;
	size_t n = fread(buf, 1, max, f);

	if (n == 0 && ferror(f))
		return (size_t)-1;
	return n;
}

/* Deep trees hold one directory open per level. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* DIR for messages: as given, without trailing slashes. */
static char *root_shown(const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strndup(dir, n);
}

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	enum { O_DERIVED = 0x200, O_TRANSFORM, O_META };
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"message", required_argument, NULL, 'm'},
		{"derived-from", required_argument, NULL, O_DERIVED},
		{"transform", required_argument, NULL, O_TRANSFORM},
		{"meta", required_argument, NULL, O_META},
		{0, 0, 0, 0},
	};
	struct commit cm;
	struct walk w;
	char dspath[512], vpath[600];
	const char *name, *dir, *message = "", *transform = NULL;
	json_t *meta = json_object(), *derived = json_array();
	json_t *header = NULL, *ds = NULL, *st = NULL, *ver = NULL;
	cairn_client *c;
	char *root = NULL;
	int opt, rootfd = -1, started = 0, rc = CLI_OK;
	struct timespec t1;

	memset(&cm, 0, sizeof(cm));
	memset(&w, 0, sizeof(w));
	if (!meta || !derived) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":hm:", opts, NULL)) != -1) {
		char *dn = NULL, *dv = NULL, *ref = NULL;

		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case 'h': rc = cli_help(commit_help); goto out;
		case 'm': message = optarg; break;
		case O_TRANSFORM: transform = optarg; break;
		case O_META:
			if (cli_meta_add(meta, optarg) < 0) {
				rc = cli_invalid(cli);
				goto out;
			}
			break;
		case O_DERIVED:
			if (cairn_ref_parse(optarg, &dn, &dv) < 0) {
				rc = cli_invalid(cli);
				goto out;
			}
			/* A lineage edge names one version; no V means the latest,
			 * which catalogd pins to its sequence number. */
			if (asprintf(&ref, "%s@%s", dn, dv && *dv ? dv : "latest") < 0)
				ref = NULL;
			free(dn);
			free(dv);
			if (!ref || json_array_append_new(derived, json_string(ref)) < 0) {
				free(ref);
				rc = cli_usage(cli, commit_help, "bad --derived-from '%s'", optarg);
				goto out;
			}
			free(ref);
			break;
		default: rc = cli_bad_option(cli, commit_help, argv, opt); goto out;
		}
	}
	if (optind + 2 > argc) {
		rc = cli_usage(cli, commit_help, optind >= argc ? "missing NAME" : "missing DIR");
		goto out;
	}
	if (optind + 2 < argc) {
		rc = cli_usage(cli, commit_help, "unexpected argument '%s'", argv[optind + 2]);
		goto out;
	}
	name = argv[optind];
	dir = argv[optind + 1];
	if (cairn_dataset_name_validate(name) < 0 ||
	    cairn_dataset_path(dspath, sizeof(dspath), name) < 0) {
		rc = cli_invalid(cli);
		goto out;
	}
	header = json_pack("{s:s?,s:O,s:O}", "message", message, "meta", meta,
	                   "derived_from", derived);
	if (!header || (transform &&
	                json_object_set_new(header, "transform", json_string(transform)) < 0)) {
		rc = cli_usage(cli, commit_help, "--message and --transform must be UTF-8 text");
		goto out;
	}

	/* The dataset must exist before anything is read. */
	if (cli_client(cli, &c) < 0 ||
	    cairn_client_json(c, "GET", dspath, NULL, &ds) < 0 ||
	    cairn_client_json(c, "GET", "/v1/status", NULL, &st) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	/* So do the inputs named by --derived-from: a bad reference found by
	 * catalogd only at publish time would leave the upload behind. */
	for (size_t i = 0; i < json_array_size(derived); i++) {
		const char *ref_s = json_string_value(json_array_get(derived, i));
		char inpath[PATH_MAX], *rn = NULL, *rv = NULL;
		int r = cairn_ref_parse(ref_s, &rn, &rv);

		if (r == 0)
			r = cli_version_path(inpath, sizeof(inpath), rn, rv, "?tiers=0");
		if (r == 0)
			r = cairn_client_json(c, "GET", inpath, NULL, NULL);
		free(rn);
		free(rv);
		if (r < 0) {
			cairn_error_prefix(cairn_error_code(), "--derived-from %s", ref_s);
			rc = cli_fail(cli);
			goto out;
		}
	}
	cm.chunk = (uint64_t)cli_jint(st, "chunk_size");
	if (cm.chunk == 0 || cm.chunk > ((uint64_t)256 << 20)) {
		rc = cli_failf(cli, "catalogd reports an unusable chunk size (%llu)",
		               (unsigned long long)cm.chunk);
		goto out;
	}
	json_object_set_new(header, "chunk_size", json_integer((json_int_t)cm.chunk));

	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		cairn_error_errno(errno, "cannot open directory '%s'", dir);
		rc = cli_fail(cli);
		goto out;
	}
	root = root_shown(dir);
	if (!root) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	raise_fd_limit();

	/* 1. scan: refuse a bad tree before sending anything. */
	w.root = root;
	{
		/* A new open file description each pass: a dup() would share
		 * the directory offset the first readdir leaves at the end. */
		int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			cairn_error_errno(errno, "cannot open directory '%s'", dir);
			rc = cli_fail(cli);
			goto out;
		}
		if (walk_dir(&w, fd, 0) < 0) {
			rc = cli_fail(cli);
			goto out;
		}
	}

	/* 2. data: read, hash, upload; the manifest goes to a temporary file. */
	cm.cli = cli;
	cm.total_files = w.files;
	cm.total_bytes = w.bytes;
	cm.progress = !cli->json && isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &cm.t0);
	cm.shown = cm.t0;
	if (manifest_file(&cm.mf) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (json_dumpf(header, cm.mf, JSON_COMPACT) < 0 || mf_write(&cm, "\n", 1) < 0) {
		cairn_error_set(CAIRN_EIO, "cannot write the manifest to a temporary file");
		rc = cli_fail(cli);
		goto out;
	}
	rc = pl_start(&cm.pl, cli->catalog, cm.chunk);
	started = 1;
	if (rc < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.root = root;
	w.cm = &cm;
	{
		int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		rc = fd < 0 ? cairn_error_errno(errno, "cannot open directory '%s'", dir)
		            : walk_dir(&w, fd, 0);
	}
	/* The last, partly filled batch; an unsent one is freed with the rest. */
	if (rc == 0 && cm.cur && cm.cur->n > 0)
		pl_submit(&cm.pl, cm.cur);
	cm.cur = NULL;
	if (rc < 0) {
		/* Keep this thread's message; stop the uploaders. */
		char msg[1024];
		int code = rc;

		snprintf(msg, sizeof(msg), "%s", cairn_error_msg());
		pthread_mutex_lock(&cm.pl.mu);
		pl_fail_locked(&cm.pl, code, msg);
		pthread_mutex_unlock(&cm.pl.mu);
	}
	started = 0;
	if (pl_finish(&cm.pl, cm.pl.nthreads) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	progress(&cm, 1);

	/* 3. publish: every object is stored; send the manifest. */
	if (fflush(cm.mf) != 0 || ferror(cm.mf) || fseek(cm.mf, 0, SEEK_SET) != 0) {
		cairn_error_errno(errno ? errno : EIO,
		                  "cannot write the manifest to a temporary file");
		rc = cli_fail(cli);
		goto out;
	}
	snprintf(vpath, sizeof(vpath), "%s/-/versions", dspath);
	if (cairn_client_upload(c, "POST", vpath, "application/x-ndjson",
	                        manifest_source, cm.mf, &ver) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json) {
		cli_json_print(ver);
	} else {
		printf("%s@%lld %s\n", name, (long long)cli_jint(ver, "seq"), cli_jstr(ver, "digest"));
		if (cm.progress) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			fprintf(stderr, "%llu objects sent (%llu already stored), %.1f s\n",
			        (unsigned long long)cm.pl.stored,
			        (unsigned long long)cm.pl.present, elapsed(&cm.t0, &t1));
		}
	}
	rc = CLI_OK;
out:
	if (started)
		pl_finish(&cm.pl, cm.pl.nthreads);
	if (cm.mf)
		fclose(cm.mf);
	if (rootfd >= 0)
		close(rootfd);
	free(root);
	json_decref(ver);
	json_decref(st);
	json_decref(ds);
	json_decref(header);
	json_decref(meta);
	json_decref(derived);
	return rc;
}
