/* manifest.c — validators for names and paths, canonical order, and the
 * streaming manifest digest.
 *
 * Everything a user or a peer can send passes through these checks before
 * it reaches the catalog, so each refusal names the input and what is wrong
 * with it. Inputs are echoed in messages with control bytes escaped and
 * long strings cut, so that a message is always one printable line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "manifest.h"

/* Writes a printable, bounded rendition of s into buf: control bytes and
 * DEL as \xNN, cut after ~80 bytes with "...". */
static const char *esc(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 8 >= len || i >= 80) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)snprintf(buf + o, len - o,
			                      c == '\\' ? "\\\\" : "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

#define ESC_LEN 400

static int is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int cairn_path_validate(const char *path, int allow_root)
{
	char e[ESC_LEN];
	size_t len;
	const char *comp;

	if (!path)
		return cairn_error_set(CAIRN_EINVAL, "missing path");
	if (!*path) {
		if (allow_root)
			return 0;
		return cairn_error_set(CAIRN_EINVAL, "empty path");
	}
	len = strnlen(path, CAIRN_PATH_MAX + 1);
	if (len > CAIRN_PATH_MAX)
		return cairn_error_set(CAIRN_EINVAL,
		                       "path '%s' is too long (more than %d bytes)",
		                       esc(e, sizeof(e), path), CAIRN_PATH_MAX);
	if (path[0] == '/')
		return cairn_error_set(CAIRN_EINVAL,
		                       "path '%s' must be relative (no leading '/')",
		                       esc(e, sizeof(e), path));

	comp = path;
	for (;;) {
		size_t n = strcspn(comp, "/");

		if (n == 0)
			return cairn_error_set(CAIRN_EINVAL,
			                       "path '%s' has an empty component "
			                       "('//' or a trailing '/')",
			                       esc(e, sizeof(e), path));
		if ((n == 1 && comp[0] == '.') ||
		    (n == 2 && comp[0] == '.' && comp[1] == '.'))
			return cairn_error_set(CAIRN_EINVAL,
			                       "path '%s' contains a '%.*s' component",
			                       esc(e, sizeof(e), path), (int)n, comp);
		if (n > CAIRN_NAME_MAX)
			return cairn_error_set(CAIRN_EINVAL,
			                       "path '%s' has a component longer than %d bytes",
			                       esc(e, sizeof(e), path), CAIRN_NAME_MAX);
		for (size_t i = 0; i < n; i++)
			if (is_ctl((unsigned char)comp[i]))
				return cairn_error_set(CAIRN_EINVAL,
				                       "path '%s' contains control character \\x%02x",
				                       esc(e, sizeof(e), path),
				                       (unsigned char)comp[i]);
		if (!comp[n])
			break;
		comp += n + 1;
	}
	return 0;
}

/* Resolution is lexical: the target is walked component by component from
 * the link's directory, tracking only the depth below the version's root.
 * That refuses "../x" from the root and "a/../../x" anywhere, whatever the
 * tree holds. It does not follow other symlinks met on the way (a path
 * through "s -> ." then ".." is judged as written); a reader that serves
 * the version confines lookups to the version itself. */
int cairn_symlink_validate(const char *link_path, const char *target)
{
	char e1[ESC_LEN], e2[ESC_LEN];
	long depth = 0;
	const char *p;

	if (!link_path || !*link_path)
		return cairn_error_set(CAIRN_EINVAL, "symlink without a path");
	if (!target || !*target)
		return cairn_error_set(CAIRN_EINVAL, "symlink '%s' has an empty target",
		                       esc(e1, sizeof(e1), link_path));
	if (strnlen(target, CAIRN_PATH_MAX + 1) > CAIRN_PATH_MAX)
		return cairn_error_set(CAIRN_EINVAL,
		                       "symlink '%s' has a target longer than %d bytes",
		                       esc(e1, sizeof(e1), link_path), CAIRN_PATH_MAX);
	if (target[0] == '/')
		return cairn_error_set(CAIRN_EINVAL,
		                       "symlink '%s' has an absolute target '%s' "
		                       "(only relative targets inside the dataset are kept)",
		                       esc(e1, sizeof(e1), link_path),
		                       esc(e2, sizeof(e2), target));

	/* The link's directory: one level per '/' in its own path. */
	for (p = link_path; *p; p++)
		if (*p == '/')
			depth++;

	for (p = target; *p;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return cairn_error_set(CAIRN_EINVAL,
				                       "symlink '%s' points outside the dataset: '%s'",
				                       esc(e1, sizeof(e1), link_path),
				                       esc(e2, sizeof(e2), target));
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			depth++;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

int cairn_path_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	/* '/' ranks as 0, every other byte as itself + 1; the end of a string
	 * ranks below both, so a proper prefix (a parent) comes first. */
	for (;; x++, y++) {
		unsigned cx, cy;

		if (!*x || !*y)
			return *x ? 1 : (*y ? -1 : 0);
		cx = *x == '/' ? 0u : *x + 1u;
		cy = *y == '/' ? 0u : *y + 1u;
		if (cx != cy)
			return cx < cy ? -1 : 1;
	}
}

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int lead_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Describes one byte for a message: 'x', or \xNN when not printable. */
static const char *char_desc(char *buf, size_t len, unsigned char c)
{
	if (is_ctl(c) || c >= 0x80)
		snprintf(buf, len, "\\x%02x", c);
	else
		snprintf(buf, len, "'%c'", c);
	return buf;
}

/* Checks one [a-z0-9][a-z0-9._-]* word of n bytes (n > 0); what names the
 * kind of input for the message. */
static int word_validate(const char *what, const char *whole, const char *w, size_t n)
{
	char e[ESC_LEN], c[8];

	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)w[i]))
			return cairn_error_set(CAIRN_EINVAL,
			                       "bad %s '%s': character %s is not allowed "
			                       "(use a-z, 0-9, '.', '_', '-')",
			                       what, esc(e, sizeof(e), whole),
			                       char_desc(c, sizeof(c), (unsigned char)w[i]));
	if (!lead_char((unsigned char)w[0]))
		return cairn_error_set(CAIRN_EINVAL,
		                       "bad %s '%s': must start with a lowercase letter or digit",
		                       what, esc(e, sizeof(e), whole));
	return 0;
}

int cairn_dataset_name_validate(const char *name)
{
	char e[ESC_LEN];
	const char *slash;
	int rc;

	if (!name || !*name)
		return cairn_error_set(CAIRN_EINVAL, "bad dataset name: it is empty");
	if (strnlen(name, CAIRN_DATASET_NAME_MAX + 1) > CAIRN_DATASET_NAME_MAX)
		return cairn_error_set(CAIRN_EINVAL,
		                       "bad dataset name '%s': longer than %d bytes",
		                       esc(e, sizeof(e), name), CAIRN_DATASET_NAME_MAX);
	slash = strchr(name, '/');
	if (slash && strchr(slash + 1, '/'))
		return cairn_error_set(CAIRN_EINVAL,
		                       "bad dataset name '%s': more than one '/' "
		                       "(the form is [namespace/]name)",
		                       esc(e, sizeof(e), name));
	if (slash) {
		if (slash == name)
			return cairn_error_set(CAIRN_EINVAL,
			                       "bad dataset name '%s': empty namespace before '/'",
			                       esc(e, sizeof(e), name));
		if (!slash[1])
			return cairn_error_set(CAIRN_EINVAL,
			                       "bad dataset name '%s': empty name after '/'",
			                       esc(e, sizeof(e), name));
		rc = word_validate("dataset name", name, name, (size_t)(slash - name));
		if (rc)
			return rc;
		return word_validate("dataset name", name, slash + 1, strlen(slash + 1));
	}
	return word_validate("dataset name", name, name, strlen(name));
}

int cairn_tag_validate(const char *tag)
{
	char e[ESC_LEN];
	size_t n;
	int rc;

	if (!tag || !*tag)
		return cairn_error_set(CAIRN_EINVAL, "bad tag: it is empty");
	n = strnlen(tag, CAIRN_TAG_MAX + 1);
	if (n > CAIRN_TAG_MAX)
		return cairn_error_set(CAIRN_EINVAL, "bad tag '%s': longer than %d bytes",
		                       esc(e, sizeof(e), tag), CAIRN_TAG_MAX);
	rc = word_validate("tag", tag, tag, n);
	if (rc)
		return rc;
	/* All digits would read as a sequence number, "latest" is reserved. */
	if (strspn(tag, "0123456789") == n)
		return cairn_error_set(CAIRN_EINVAL,
		                       "bad tag '%s': all digits (that reads as a version number)",
		                       tag);
	if (strcmp(tag, "latest") == 0)
		return cairn_error_set(CAIRN_EINVAL, "bad tag 'latest': it is reserved");
	return 0;
}

int cairn_ref_parse(const char *ref, char **name, char **ver)
{
	char e[ESC_LEN];
	const char *at;
	char *n = NULL, *v = NULL;
	int rc;

	if (!ref || !*ref)
		return cairn_error_set(CAIRN_EINVAL, "empty dataset reference");
	at = strrchr(ref, '@');
	if (at) {
		if (!at[1]) {
			rc = cairn_error_set(CAIRN_EINVAL,
			                     "bad reference '%s': no version after '@'",
			                     esc(e, sizeof(e), ref));
			goto out;
		}
		n = strndup(ref, (size_t)(at - ref));
		v = strdup(at + 1);
		if (!n || !v) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	} else {
		n = strdup(ref);
		if (!n) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = cairn_dataset_name_validate(n);
	if (rc)
		goto out;
	*name = n;
	*ver = v;
	n = v = NULL;
out:
	free(n);
	free(v);
	return rc;
}

struct cairn_manifest_digest {
	cairn_hasher *h;
};

static void put_u32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int cairn_manifest_digest_new(cairn_manifest_digest **out)
{
	cairn_manifest_digest *d;
	uint8_t fmt[4];
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	rc = cairn_hasher_new(&d->h);
	if (rc) {
		free(d);
		return rc;
	}
	put_u32le(fmt, CAIRN_MANIFEST_FORMAT);
	cairn_hasher_update(d->h, fmt, sizeof(fmt));
	*out = d;
	return 0;
}

/* Format 1, see manifest.h: path NUL type mode:u32le size:u64le
 * mtime_s:i64le mtime_ns:u32le target NUL nobj:u64le. Strings end in NUL
 * (which no path or target may contain), so field boundaries are
 * unambiguous. A missing target hashes as the empty string. */
void cairn_manifest_digest_add(cairn_manifest_digest *d, const struct cairn_entry *e)
{
	uint8_t fixed[1 + 4 + 8 + 8 + 4];
	uint8_t nobj[8];
	const char *target = e->target ? e->target : "";

	cairn_hasher_update(d->h, e->path, strlen(e->path) + 1);
	fixed[0] = (uint8_t)e->type;
	put_u32le(fixed + 1, e->mode);
	put_u64le(fixed + 5, e->size);
	put_u64le(fixed + 13, (uint64_t)e->mtime_sec);
	put_u32le(fixed + 21, e->mtime_nsec);
	cairn_hasher_update(d->h, fixed, sizeof(fixed));
	cairn_hasher_update(d->h, target, strlen(target) + 1);
	put_u64le(nobj, e->nobjects);
	cairn_hasher_update(d->h, nobj, sizeof(nobj));
}

void cairn_manifest_digest_add_objects(cairn_manifest_digest *d,
                                       const cairn_oid *objects, size_t n)
{
	/* cairn_oid is exactly its 16 bytes, so an array hashes as one run. */
	_Static_assert(sizeof(cairn_oid) == CAIRN_OID_LEN, "cairn_oid has no padding");
	cairn_hasher_update(d->h, objects, n * sizeof(cairn_oid));
}

void cairn_manifest_digest_final(cairn_manifest_digest *d, cairn_oid *out)
{
	cairn_hasher_digest(d->h, out);
}

void cairn_manifest_digest_free(cairn_manifest_digest *d)
{
	if (!d)
		return;
	cairn_hasher_free(d->h);
	free(d);
}
