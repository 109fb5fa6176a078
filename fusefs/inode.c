/* inode.c — the entry LRU, the version table and the special-inode table.
 *
 * The entry cache is split into shards, each with its own lock, because
 * every getattr and open of a busy mount goes through it from many worker
 * threads at once. A shard is a fixed array of slots threaded on a hash
 * chain and an LRU list by index; once full, a new entry takes the slot of
 * the least recently used one, so the memory it holds is fixed at
 * CFS_ECACHE_MAX slots no matter how many files a dataset has.
 *
 * The two other tables only grow with what the catalog holds (versions,
 * datasets, tags) and are never pruned during a mount: a special inode
 * must keep its number for as long as the kernel may hold it, and we do not
 * count kernel references.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "inode.h"

#define NIL UINT32_MAX

/* ---- Entry LRU -------------------------------------------------------- */

#define ECACHE_SHARDS   16
#define SHARD_SLOTS     (CFS_ECACHE_MAX / ECACHE_SHARDS)
#define SHARD_BUCKETS   (SHARD_SLOTS * 2)

struct eslot {
	struct cfs_entry e;
	uint32_t hnext;              /* hash chain */
	uint32_t prev, next;         /* LRU list, head = most recent */
};

struct eshard {
	pthread_mutex_t mu;
	uint32_t buckets[SHARD_BUCKETS];
	struct eslot *slots;         /* SHARD_SLOTS, allocated on first use */
	uint32_t used;
	uint32_t head, tail;
};

static struct eshard *ecache;

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: entry numbers are dense, hashes must not be */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

int cfs_ecache_init(void)
{
	ecache = calloc(ECACHE_SHARDS, sizeof(*ecache));
	if (!ecache)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (int i = 0; i < ECACHE_SHARDS; i++) {
		struct eshard *s = &ecache[i];

		pthread_mutex_init(&s->mu, NULL);
		for (int b = 0; b < SHARD_BUCKETS; b++)
			s->buckets[b] = NIL;
		s->head = s->tail = NIL;
	}
	return 0;
}

void cfs_ecache_free(void)
{
	if (!ecache)
		return;
	for (int i = 0; i < ECACHE_SHARDS; i++) {
		pthread_mutex_destroy(&ecache[i].mu);
		free(ecache[i].slots);
	}
	free(ecache);
	ecache = NULL;
}

static void lru_unlink(struct eshard *s, uint32_t i)
{
	struct eslot *x = &s->slots[i];

	if (x->prev != NIL)
		s->slots[x->prev].next = x->next;
	else
		s->head = x->next;
	if (x->next != NIL)
		s->slots[x->next].prev = x->prev;
	else
		s->tail = x->prev;
	x->prev = x->next = NIL;
}

static void lru_push_front(struct eshard *s, uint32_t i)
{
	struct eslot *x = &s->slots[i];

	x->prev = NIL;
	x->next = s->head;
	if (s->head != NIL)
		s->slots[s->head].prev = i;
	s->head = i;
	if (s->tail == NIL)
		s->tail = i;
}

static void shard_of(uint32_t vid, uint32_t ino, struct eshard **s, uint32_t *bucket)
{
	uint64_t h = mix64(((uint64_t)vid << 32) | ino);

	*s = &ecache[h % ECACHE_SHARDS];
	*bucket = (uint32_t)((h / ECACHE_SHARDS) % SHARD_BUCKETS);
}

static uint32_t shard_find(struct eshard *s, uint32_t bucket, uint32_t vid, uint32_t ino)
{
	for (uint32_t i = s->buckets[bucket]; i != NIL; i = s->slots[i].hnext)
		if (s->slots[i].e.vid == vid && s->slots[i].e.ino == ino)
			return i;
	return NIL;
}

bool cfs_ecache_get(struct cfs_entry *out, uint32_t vid, uint32_t ino)
{
	struct eshard *s;
	uint32_t bucket, i;
	bool hit = false;

	if (!ecache)
		return false;
	shard_of(vid, ino, &s, &bucket);
	pthread_mutex_lock(&s->mu);
	if (s->slots) {
		i = shard_find(s, bucket, vid, ino);
		if (i != NIL) {
			*out = s->slots[i].e;
			if (s->head != i) {
				lru_unlink(s, i);
				lru_push_front(s, i);
			}
			hit = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return hit;
}

/* Takes slot i off the hash chain it is on. */
static void chain_remove(struct eshard *s, uint32_t i)
{
	struct eslot *x = &s->slots[i];
	uint64_t h = mix64(((uint64_t)x->e.vid << 32) | x->e.ino);
	uint32_t *p = &s->buckets[(h / ECACHE_SHARDS) % SHARD_BUCKETS];

	while (*p != NIL && *p != i)
		p = &s->slots[*p].hnext;
	if (*p == i)
		*p = x->hnext;
	x->hnext = NIL;
}

void cfs_ecache_put(const struct cfs_entry *e)
{
	struct eshard *s;
	uint32_t bucket, i;

	if (!ecache)
		return;
	shard_of(e->vid, e->ino, &s, &bucket);
	pthread_mutex_lock(&s->mu);
	if (!s->slots) {
		s->slots = calloc(SHARD_SLOTS, sizeof(*s->slots));
		if (!s->slots)
			goto out;     /* a cache that cannot grow just misses */
	}
	i = shard_find(s, bucket, e->vid, e->ino);
	if (i != NIL) {
		s->slots[i].e = *e;
		lru_unlink(s, i);
		lru_push_front(s, i);
		goto out;
	}
	if (s->used < SHARD_SLOTS) {
		i = s->used++;
	} else {
		i = s->tail;
		lru_unlink(s, i);
		chain_remove(s, i);
	}
	s->slots[i].e = *e;
	s->slots[i].hnext = s->buckets[bucket];
	s->buckets[bucket] = i;
	lru_push_front(s, i);
out:
	pthread_mutex_unlock(&s->mu);
}

size_t cfs_ecache_count(void)
{
	size_t n = 0;

	if (!ecache)
		return 0;
	for (int i = 0; i < ECACHE_SHARDS; i++) {
		pthread_mutex_lock(&ecache[i].mu);
		n += ecache[i].used;
		pthread_mutex_unlock(&ecache[i].mu);
	}
	return n;
}

/* ---- Version table ---------------------------------------------------- */

struct vnode {
	struct cfs_version v;
	struct vnode *next;
};

#define VT_BUCKETS 4096
static struct vnode *vtable[VT_BUCKETS];
static pthread_rwlock_t vt_lock = PTHREAD_RWLOCK_INITIALIZER;

int cfs_vtable_put(const struct cfs_version *v)
{
	size_t b = mix64(v->vid) % VT_BUCKETS;
	struct vnode *n;
	int rc = 0;

	pthread_rwlock_wrlock(&vt_lock);
	for (n = vtable[b]; n; n = n->next)
		if (n->v.vid == v->vid)
			break;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		n->next = vtable[b];
		vtable[b] = n;
	}
	n->v = *v;
out:
	pthread_rwlock_unlock(&vt_lock);
	return rc;
}

int cfs_vtable_get(struct cfs_version *out, uint32_t vid)
{
	size_t b = mix64(vid) % VT_BUCKETS;
	int rc = CAIRN_ENOTFOUND;

	pthread_rwlock_rdlock(&vt_lock);
	for (struct vnode *n = vtable[b]; n; n = n->next) {
		if (n->v.vid == vid) {
			*out = n->v;
			rc = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&vt_lock);
	if (rc)
		cairn_error_set(rc, "version id %u is not known to this mount", vid);
	return rc;
}

static void vtable_free(void)
{
	pthread_rwlock_wrlock(&vt_lock);
	for (size_t b = 0; b < VT_BUCKETS; b++) {
		struct vnode *n = vtable[b];

		while (n) {
			struct vnode *next = n->next;

			free(n);
			n = next;
		}
		vtable[b] = NULL;
	}
	pthread_rwlock_unlock(&vt_lock);
}

/* ---- Special inodes --------------------------------------------------- */

struct snode {
	struct cfs_snode s;
	struct snode *ino_next;
	struct snode *name_next;
};

#define ST_BUCKETS 4096
static struct snode *by_ino[ST_BUCKETS];
static struct snode *by_name[ST_BUCKETS];
static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
/* FUSE_ROOT_ID is 1; special numbers count up from 2 and stay far below
 * CFS_INO_ENTRY. */
static uint64_t st_next = 2;

static size_t name_hash(uint64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ mix64(parent);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return mix64(h) % ST_BUCKETS;
}

static struct snode *st_by_ino(uint64_t ino)
{
	for (struct snode *n = by_ino[mix64(ino) % ST_BUCKETS]; n; n = n->ino_next)
		if (n->s.ino == ino)
			return n;
	return NULL;
}

static struct snode *st_by_name(uint64_t parent, const char *name)
{
	for (struct snode *n = by_name[name_hash(parent, name)]; n; n = n->name_next)
		if (n->s.parent == parent && strcmp(n->s.name, name) == 0)
			return n;
	return NULL;
}

static struct snode *st_insert(uint64_t ino, uint64_t parent, const char *name,
                               int kind, const char *dataset)
{
	struct snode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->s.ino = ino;
	n->s.parent = parent;
	n->s.kind = kind;
	snprintf(n->s.name, sizeof(n->s.name), "%s", name);
	snprintf(n->s.dataset, sizeof(n->s.dataset), "%s", dataset);
	n->ino_next = by_ino[mix64(ino) % ST_BUCKETS];
	by_ino[mix64(ino) % ST_BUCKETS] = n;
	if (kind != CFS_S_ROOT) {
		size_t b = name_hash(parent, name);

		n->name_next = by_name[b];
		by_name[b] = n;
	}
	return n;
}

int cfs_stable_init(int64_t mount_time)
{
	struct snode *root;
	int rc = 0;

	pthread_mutex_lock(&st_lock);
	root = st_insert(CFS_ROOT_INO, CFS_ROOT_INO, "", CFS_S_ROOT, "");
	if (!root)
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
	else
		root->s.mtime = mount_time;
	pthread_mutex_unlock(&st_lock);
	return rc;
}

void cfs_stable_free(void)
{
	pthread_mutex_lock(&st_lock);
	for (size_t b = 0; b < ST_BUCKETS; b++) {
		struct snode *n = by_ino[b];

		while (n) {
			struct snode *next = n->ino_next;

			free(n);
			n = next;
		}
		by_ino[b] = NULL;
		by_name[b] = NULL;
	}
	st_next = 2;
	pthread_mutex_unlock(&st_lock);
	vtable_free();
}

int cfs_snode_get(struct cfs_snode *out, uint64_t ino)
{
	struct snode *n;
	int rc = 0;

	pthread_mutex_lock(&st_lock);
	n = st_by_ino(ino);
	if (n)
		*out = n->s;
	else
		rc = cairn_error_set(CAIRN_ENOTFOUND, "no inode %llu", (unsigned long long)ino);
	pthread_mutex_unlock(&st_lock);
	return rc;
}

int cfs_snode_find(struct cfs_snode *out, uint64_t parent, const char *name)
{
	struct snode *n;
	int rc = 0;

	pthread_mutex_lock(&st_lock);
	n = st_by_name(parent, name);
	if (n)
		*out = n->s;
	else
		rc = CAIRN_ENOTFOUND;
	pthread_mutex_unlock(&st_lock);
	return rc;
}

int cfs_snode_dir(struct cfs_snode *out, uint64_t parent, const char *name,
                  const char *dataset, unsigned flags, int64_t mtime)
{
	struct snode *n;
	int rc = 0;

	pthread_mutex_lock(&st_lock);
	n = st_by_name(parent, name);
	if (n && n->s.kind != CFS_S_DIR) {
		rc = cairn_error_set(CAIRN_EEXISTS, "'%s' is not a directory", name);
		goto out;
	}
	if (!n) {
		n = st_insert(st_next, parent, name, CFS_S_DIR, dataset);
		if (!n) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		st_next++;
	}
	n->s.flags |= flags;
	if (mtime)
		n->s.mtime = mtime;
	*out = n->s;
out:
	pthread_mutex_unlock(&st_lock);
	return rc;
}

int cfs_snode_link(struct cfs_snode *out, bool *changed, uint64_t parent,
                   const char *name, const char *dataset, uint64_t target)
{
	struct snode *n;
	int rc = 0;

	*changed = false;
	pthread_mutex_lock(&st_lock);
	n = st_by_name(parent, name);
	if (n && n->s.kind != CFS_S_LINK) {
		rc = cairn_error_set(CAIRN_EEXISTS, "'%s' is not a link", name);
		goto out;
	}
	if (!n) {
		n = st_insert(st_next, parent, name, CFS_S_LINK, dataset);
		if (!n) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		st_next++;
	} else if (n->s.target != target) {
		*changed = true;
	}
	n->s.target = target;
	n->s.refreshed_ms = cfs_now_ms();
	*out = n->s;
out:
	pthread_mutex_unlock(&st_lock);
	return rc;
}

uint64_t cfs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
