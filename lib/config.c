/* config.c — the configuration table, its parsers, and INI files; the only
 * file that speaks to inih.
 *
 * Every key is one row of `keys` below: where it lives in the INI file,
 * where it lives in struct cairn_config, its default as text (so defaults go
 * through the same parser as user input), how its value is checked, whether
 * it may change at run time and whether it is a secret. Adding a key is
 * adding a field to the struct and a row here; config/catalogd.conf
 * documents each one.
 *
 * A file or an override is applied to a scratch copy first, so a rejected
 * value never leaves the configuration half changed.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "config.h"
#include "error.h"

enum ktype {
	K_STR,       /* char[] of `size` bytes */
	K_CHOICE,    /* char[], one of `choices` */
	K_ENUM,      /* int, the index of one of `choices` */
	K_SIZE,      /* uint64_t bytes, K/M/G/T suffixes */
	K_DURATION,  /* uint64_t seconds, s/m/h/d/w suffixes */
	K_PERCENT,   /* double, 0..100 */
	K_BOOL,      /* bool */
	K_U32,       /* uint32_t in [min, max] */
};

struct key {
	const char *section;
	const char *name;
	enum ktype type;
	size_t off;
	size_t size;                    /* K_STR, K_CHOICE: the array's size */
	const char *def;
	bool runtime;                   /* `cairn tier policy set` may change it */
	bool secret;                    /* never printed */
	bool empty_is_zero;             /* K_SIZE: "" means 0 */
	uint64_t min, max;              /* K_SIZE, K_U32: when max != 0 */
	bool pow2;                      /* K_SIZE: a power of two */
	const char *const *choices;     /* K_CHOICE, K_ENUM: NULL-terminated */
	int (*check)(const char *value);/* K_STR: extra validation */
};

static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const protocols[] = { "http", "https", NULL };
static const char *const uri_styles[] = { "path", "virtualhost", NULL };
/* In the order of enum cairn_verify. */
static const char *const verify_modes[] = { "checksum", "readback", NULL };

static int check_listen(const char *value);
static int check_endpoint(const char *value);

#define F(field) offsetof(struct cairn_config, field)
#define S(field) sizeof(((struct cairn_config *)0)->field)
#define STR(sec, nm, field, dflt) \
	{ .section = sec, .name = nm, .type = K_STR, .off = F(field), .size = S(field), .def = dflt }

static const struct key keys[] = {
	STR("catalog", "state_dir", state_dir, "/var/lib/cairn"),
	STR("catalog", "socket", socket, "/run/cairn/catalogd.sock"),
	{ .section = "catalog", .name = "listen", .type = K_STR, .off = F(listen),
	  .size = S(listen), .def = "", .check = check_listen },
	STR("catalog", "tls_cert", tls_cert, ""),
	STR("catalog", "tls_key", tls_key, ""),
	{ .section = "catalog", .name = "log_level", .type = K_CHOICE, .off = F(log_level),
	  .size = S(log_level), .def = "info", .choices = log_levels },

	STR("pool", "path", pool_path, ""),
	{ .section = "pool", .name = "capacity", .type = K_SIZE, .off = F(pool_capacity),
	  .def = "0", .empty_is_zero = true },
	{ .section = "pool", .name = "chunk_size", .type = K_SIZE, .off = F(chunk_size),
	  .def = "4M", .min = 64u << 10, .max = 64u << 20, .pow2 = true },

	{ .section = "s3", .name = "endpoint", .type = K_STR, .off = F(s3_endpoint),
	  .size = S(s3_endpoint), .def = "", .check = check_endpoint },
	STR("s3", "bucket", s3_bucket, "cairn"),
	{ .section = "s3", .name = "access_key", .type = K_STR, .off = F(s3_access_key),
	  .size = S(s3_access_key), .def = "", .secret = true },
	{ .section = "s3", .name = "secret_key", .type = K_STR, .off = F(s3_secret_key),
	  .size = S(s3_secret_key), .def = "", .secret = true },
	{ .section = "s3", .name = "protocol", .type = K_CHOICE, .off = F(s3_protocol),
	  .size = S(s3_protocol), .def = "https", .choices = protocols },
	{ .section = "s3", .name = "uri_style", .type = K_CHOICE, .off = F(s3_uri_style),
	  .size = S(s3_uri_style), .def = "path", .choices = uri_styles },
	STR("s3", "encryption_key_file", s3_encryption_key_file, ""),
	{ .section = "s3", .name = "timeout", .type = K_DURATION,
	  .off = F(s3_timeout), .def = "30s" },
	{ .section = "s3", .name = "retries", .type = K_U32,
	  .off = F(s3_retries), .def = "4", .min = 0, .max = 100 },
	{ .section = "s3", .name = "presign_ttl", .type = K_DURATION,
	  .off = F(s3_presign_ttl), .def = "15m", .max = 7 * 86400 },
	{ .section = "s3", .name = "public_endpoint", .type = K_STR,
	  .off = F(s3_public_endpoint), .size = S(s3_public_endpoint), .def = "",
	  .check = check_endpoint },

	{ .section = "tiering", .name = "high_watermark", .type = K_PERCENT,
	  .off = F(high_watermark), .def = "85%", .runtime = true },
	{ .section = "tiering", .name = "low_watermark", .type = K_PERCENT,
	  .off = F(low_watermark), .def = "70%", .runtime = true },
	{ .section = "tiering", .name = "min_idle", .type = K_DURATION,
	  .off = F(min_idle), .def = "1d", .runtime = true },
	{ .section = "tiering", .name = "min_size", .type = K_SIZE,
	  .off = F(min_size), .def = "0", .runtime = true },
	{ .section = "tiering", .name = "concurrency", .type = K_U32,
	  .off = F(concurrency), .def = "8", .min = 1, .max = 256, .runtime = true },
	{ .section = "tiering", .name = "bandwidth", .type = K_SIZE,
	  .off = F(bandwidth), .def = "0", .runtime = true },
	{ .section = "tiering", .name = "recall_on_read", .type = K_BOOL,
	  .off = F(recall_on_read), .def = "yes", .runtime = true },
	{ .section = "tiering", .name = "verify", .type = K_ENUM,
	  .off = F(verify), .def = "readback", .choices = verify_modes, .runtime = true },
	{ .section = "tiering", .name = "scan_interval", .type = K_DURATION,
	  .off = F(scan_interval), .def = "60s", .runtime = true },
	{ .section = "tiering", .name = "max_error_rate", .type = K_PERCENT,
	  .off = F(max_error_rate), .def = "50%", .runtime = true },
	{ .section = "tiering", .name = "scrub_interval", .type = K_DURATION,
	  .off = F(scrub_interval), .def = "0", .runtime = true },
	{ .section = "tiering", .name = "keep_head", .type = K_SIZE,
	  .off = F(keep_head), .def = "64K", .min = 0, .max = 1u << 20, .runtime = true },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* ---- value parsers ---------------------------------------------------- */

/* Parses leading decimal digits into *n; returns the rest, or NULL when
 * there are none or the number overflows. */
static const char *parse_u64(const char *s, uint64_t *n)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return NULL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return NULL;
		v = v * 10 + d;
	}
	*n = v;
	return s;
}

static int mul_overflows(uint64_t a, uint64_t b, uint64_t *out)
{
	if (b && a > UINT64_MAX / b)
		return 1;
	*out = a * b;
	return 0;
}

int cairn_parse_size(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t n, mult = 1;

	if (!s || !(rest = parse_u64(s, &n)))
		goto bad;
	switch (toupper((unsigned char)*rest)) {
	case 'K': mult = 1ull << 10; rest++; break;
	case 'M': mult = 1ull << 20; rest++; break;
	case 'G': mult = 1ull << 30; rest++; break;
	case 'T': mult = 1ull << 40; rest++; break;
	case 'P': mult = 1ull << 50; rest++; break;
	default: break;
	}
	/* "4K", "4KB", "4KiB" and "4096B" all mean 4096 bytes. */
	if (mult > 1 && (rest[0] == 'i' || rest[0] == 'I') && (rest[1] == 'B' || rest[1] == 'b'))
		rest += 2;
	else if (*rest == 'B' || *rest == 'b')
		rest++;
	if (*rest)
		goto bad;
	if (mul_overflows(n, mult, out))
		return cairn_error_set(CAIRN_EINVAL, "size '%s' is too large", s);
	return 0;
bad:
	return cairn_error_set(CAIRN_EINVAL,
	                       "'%s' is not a size (bytes, or with a suffix: 4K, 4M, 2G, 1T)",
	                       s ? s : "");
}

int cairn_parse_duration(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t n, mult = 1;

	if (!s || !(rest = parse_u64(s, &n)))
		goto bad;
	switch (*rest) {
	case '\0': break;
	case 's': mult = 1; rest++; break;
	case 'm': mult = 60; rest++; break;
	case 'h': mult = 3600; rest++; break;
	case 'd': mult = 86400; rest++; break;
	case 'w': mult = 7 * 86400; rest++; break;
	default: goto bad;
	}
	if (*rest)
		goto bad;
	if (mul_overflows(n, mult, out))
		return cairn_error_set(CAIRN_EINVAL, "duration '%s' is too long", s);
	return 0;
bad:
	return cairn_error_set(CAIRN_EINVAL,
	                       "'%s' is not a duration (seconds, or with a suffix: "
	                       "30s, 5m, 2h, 1d, 1w)", s ? s : "");
}

int cairn_parse_percent(const char *s, double *out)
{
	char *end;
	double v;

	/* strtod also takes "nan", "inf", hex floats and leading blanks:
	 * insist on a plain decimal number. */
	if (!s || !(isdigit((unsigned char)s[0]) ||
	            (s[0] == '.' && isdigit((unsigned char)s[1]))))
		goto bad;
	for (const char *p = s; *p && *p != '%'; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno)
		goto bad;
	if (*end == '%')
		end++;
	if (*end)
		goto bad;
	if (!(v >= 0.0 && v <= 100.0))
		return cairn_error_set(CAIRN_EINVAL, "percentage '%s' is not between 0 and 100", s);
	*out = v;
	return 0;
bad:
	return cairn_error_set(CAIRN_EINVAL, "'%s' is not a percentage (e.g. 85%% or 85)",
	                       s ? s : "");
}

int cairn_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; s && i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return cairn_error_set(CAIRN_EINVAL, "'%s' is not yes or no (yes/no, true/false, "
	                       "on/off, 1/0)", s ? s : "");
}

/* "host:port", "[v6]:port" or ":port"; empty is "off". */
static int check_listen(const char *value)
{
	const char *colon;
	uint64_t port;
	const char *rest;

	if (!*value)
		return 0;
	colon = strrchr(value, ':');
	if (!colon)
		goto bad;
	rest = parse_u64(colon + 1, &port);
	if (!rest || *rest || port == 0 || port > 65535)
		goto bad;
	return 0;
bad:
	return cairn_error_set(CAIRN_EINVAL, "'%s' is not host:port (e.g. 0.0.0.0:8443)", value);
}

/* An S3 endpoint: a host, with or without :port; the scheme is [s3]
 * protocol. */
static int check_endpoint(const char *value)
{
	if (strstr(value, "://") || strchr(value, '/'))
		return cairn_error_set(CAIRN_EINVAL, "'%s' is not host[:port] (the scheme is "
		                       "[s3] protocol)", value);
	return 0;
}

/* ---- the table -------------------------------------------------------- */

static const struct key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* "section.name", or a bare name of a [tiering] key when bare_tiering. */
static const struct key *lookup(const char *key, bool bare_tiering)
{
	const char *dot;
	char section[32];

	if (!key)
		return NULL;
	dot = strchr(key, '.');
	if (!dot)
		return bare_tiering ? find_key("tiering", key) : NULL;
	if ((size_t)(dot - key) >= sizeof(section))
		return NULL;
	memcpy(section, key, (size_t)(dot - key));
	section[dot - key] = '\0';
	return find_key(section, dot + 1);
}

static int choice_index(const struct key *k, const char *value)
{
	for (int i = 0; k->choices[i]; i++)
		if (strcmp(k->choices[i], value) == 0)
			return i;
	return -1;
}

static int bad_choice(const struct key *k, const char *value)
{
	char list[128] = "";
	size_t o = 0;

	for (int i = 0; k->choices[i]; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
		                      k->choices[i]);
	return cairn_error_set(CAIRN_EINVAL, "'%s' is not one of %s", value, list);
}

/* Parses value per k into cfg; the message (on failure) is the parser's. */
static int apply(struct cairn_config *cfg, const struct key *k, const char *value)
{
	void *field = (char *)cfg + k->off;
	uint64_t u;
	double d;
	bool b = false;
	int rc, i;

	switch (k->type) {
	case K_STR:
		if (strlen(value) >= k->size)
			return cairn_error_set(CAIRN_EINVAL, "value is longer than %zu bytes",
			                       k->size - 1);
		if (k->check && (rc = k->check(value)))
			return rc;
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case K_CHOICE:
		if (choice_index(k, value) < 0)
			return bad_choice(k, value);
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case K_ENUM:
		i = choice_index(k, value);
		if (i < 0)
			return bad_choice(k, value);
		*(int *)field = i;
		return 0;
	case K_SIZE:
		if (k->empty_is_zero && !*value) {
			u = 0;
		} else {
			rc = cairn_parse_size(value, &u);
			if (rc)
				return rc;
		}
		if (k->pow2 && (u == 0 || (u & (u - 1))))
			return cairn_error_set(CAIRN_EINVAL, "'%s' is not a power of two", value);
		if (k->max && (u < k->min || u > k->max))
			return cairn_error_set(CAIRN_EINVAL, "'%s' is not between %lluK and %lluM",
			                       value, (unsigned long long)(k->min >> 10),
			                       (unsigned long long)(k->max >> 20));
		*(uint64_t *)field = u;
		return 0;
	case K_DURATION:
		rc = cairn_parse_duration(value, &u);
		if (rc)
			return rc;
		if (k->max && u > k->max)
			return cairn_error_set(CAIRN_EINVAL, "'%s' is longer than %llus", value,
			                       (unsigned long long)k->max);
		*(uint64_t *)field = u;
		return 0;
	case K_PERCENT:
		rc = cairn_parse_percent(value, &d);
		if (rc)
			return rc;
		*(double *)field = d;
		return 0;
	case K_BOOL:
		rc = cairn_parse_bool(value, &b);
		if (rc)
			return rc;
		*(bool *)field = b;
		return 0;
	case K_U32: {
		const char *rest = parse_u64(value, &u);

		if (!rest || *rest || u < k->min || u > k->max)
			return cairn_error_set(CAIRN_EINVAL, "'%s' is not a whole number from %llu "
			                       "to %llu", value, (unsigned long long)k->min,
			                       (unsigned long long)k->max);
		*(uint32_t *)field = (uint32_t)u;
		return 0;
	}
	}
	return cairn_error_set(CAIRN_ERROR, "key type %d", (int)k->type);
}

void cairn_config_defaults(struct cairn_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		/* The defaults are part of this file; test_config checks that
		 * every one of them parses. */
		if (apply(cfg, &keys[i], keys[i].def) != 0)
			abort();
	}
}

int cairn_config_set(struct cairn_config *cfg, const char *section,
                     const char *key, const char *value)
{
	const struct key *k;
	int rc;

	if (section)
		k = find_key(section, key ? key : "");
	else
		k = lookup(key, true);
	if (!k) {
		if (section)
			return cairn_error_set(CAIRN_EINVAL, "unknown key '%s' in [%s]",
			                       key ? key : "", section);
		return cairn_error_set(CAIRN_EINVAL, "unknown config key '%s' (want section.key)",
		                       key ? key : "");
	}
	if (!value)
		return cairn_error_set(CAIRN_EINVAL, "[%s] %s: no value", k->section, k->name);
	/* The parsers' messages quote the value; a secret can only fail on
	 * its length, whose message does not. */
	rc = apply(cfg, k, value);
	if (rc)
		return cairn_error_prefix(rc, "bad value for [%s] %s", k->section, k->name);
	return 0;
}

int cairn_config_set_kv(struct cairn_config *cfg, const char *kv)
{
	char *copy, *key, *value, *eq, *end;
	int rc;

	if (!kv || !strchr(kv, '='))
		return cairn_error_set(CAIRN_EINVAL, "'%s' is not section.key=value",
		                       kv ? kv : "");
	copy = strdup(kv);
	if (!copy)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	/* "key = value" as on the command line, blanks around both trimmed;
	 * the value is everything after the first '='. */
	eq = strchr(copy, '=');
	*eq = '\0';
	for (key = copy; isspace((unsigned char)*key); key++)
		;
	for (end = eq; end > key && isspace((unsigned char)end[-1]); end--)
		end[-1] = '\0';
	for (value = eq + 1; isspace((unsigned char)*value); value++)
		;
	for (end = value + strlen(value); end > value && isspace((unsigned char)end[-1]); end--)
		end[-1] = '\0';
	if (!*key)
		rc = cairn_error_set(CAIRN_EINVAL, "'%s' is not section.key=value", kv);
	else
		rc = cairn_config_set(cfg, NULL, key, value);
	free(copy);
	return rc;
}

/* ---- INI files -------------------------------------------------------- */

struct load_ctx {
	FILE *f;
	const char *path;
	int lineno;             /* physical lines read so far */
	int bad_line;           /* the first rejected line, 0 when none */
	int rc;
	char msg[1024];
	struct cairn_config cfg;
};

/* Strips a ';' comment that follows whitespace, as DESIGN.md's examples
 * write them ("chunk_size = 4M   ; note"). inih may do the same, depending
 * on how it was built; doing it here makes the file format ours. */
static void strip_inline_comment(char *line)
{
	for (char *p = line; *p; p++) {
		if (*p == ';' && p > line && (p[-1] == ' ' || p[-1] == '\t')) {
			p[0] = '\n';
			p[1] = '\0';
			return;
		}
	}
}

/* inih's reader: one physical line per call, so lineno is exact when the
 * handler runs. A line longer than inih's buffer would be split by it into
 * pieces parsed as separate lines; refuse it instead. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	size_t n;

	if (!fgets(str, num, ctx->f))
		return NULL;
	ctx->lineno++;
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(ctx->f)) {
		int c;

		while ((c = fgetc(ctx->f)) != EOF && c != '\n')
			;
		if (!ctx->rc) {
			ctx->rc = CAIRN_EINVAL;
			ctx->bad_line = ctx->lineno;
			snprintf(ctx->msg, sizeof(ctx->msg),
			         "line is longer than %d bytes", num - 3);
		}
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	strip_inline_comment(str);
	return str;
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	int rc;

	if (ctx->rc)
		return 1;   /* report the first problem only */
	if (!*section)
		rc = cairn_error_set(CAIRN_EINVAL, "key '%s' is outside any [section]", name);
	else
		rc = cairn_config_set(&ctx->cfg, section, name, value);
	if (rc) {
		ctx->rc = rc;
		ctx->bad_line = ctx->lineno;
		snprintf(ctx->msg, sizeof(ctx->msg), "%s", cairn_error_msg());
		return 0;
	}
	return 1;
}

int cairn_config_load_file(struct cairn_config *cfg, const char *path)
{
	struct load_ctx *ctx;
	int r, rc = 0;

	/* The scratch copy is a few KiB: keep it off the stack. */
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	ctx->path = path;
	ctx->cfg = *cfg;
	ctx->f = fopen(path, "re");
	if (!ctx->f) {
		char ebuf[128];

		/* Whatever the reason (missing, unreadable), the file is not
		 * there for us: one code callers can test. */
		rc = cairn_error_set(CAIRN_ENOTFOUND, "cannot read config file '%s': %s", path,
		                     strerror_r(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	r = ini_parse_stream(read_line, ctx, on_value, ctx);
	if (ferror(ctx->f)) {
		rc = cairn_error_errno(errno ? errno : EIO, "cannot read config file '%s'", path);
		goto out;
	}
	if (ctx->rc && (r <= 0 || ctx->bad_line <= r)) {
		rc = cairn_error_set(ctx->rc, "%s:%d: %s", path, ctx->bad_line, ctx->msg);
		goto out;
	}
	if (r == -2) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	if (r != 0) {
		rc = cairn_error_set(CAIRN_EINVAL, "%s:%d: cannot parse the line "
		                     "(want [section] or key = value)", path, r);
		goto out;
	}
	*cfg = ctx->cfg;
out:
	if (ctx->f)
		fclose(ctx->f);
	free(ctx);
	return rc;
}

void cairn_config_apply_env(struct cairn_config *cfg)
{
	const char *v;

	if (!cfg->s3_access_key[0] && (v = getenv("CAIRN_S3_ACCESS_KEY")))
		snprintf(cfg->s3_access_key, sizeof(cfg->s3_access_key), "%s", v);
	if (!cfg->s3_secret_key[0] && (v = getenv("CAIRN_S3_SECRET_KEY")))
		snprintf(cfg->s3_secret_key, sizeof(cfg->s3_secret_key), "%s", v);
}

int cairn_config_finish(struct cairn_config *cfg)
{
	if (!cfg->state_dir[0])
		return cairn_error_set(CAIRN_EINVAL, "[catalog] state_dir must not be empty");
	if (!cfg->socket[0])
		return cairn_error_set(CAIRN_EINVAL, "[catalog] socket must not be empty");
	if (!cfg->pool_path[0]) {
		int n = snprintf(cfg->pool_path, sizeof(cfg->pool_path), "%s/pool", cfg->state_dir);

		if (n < 0 || (size_t)n >= sizeof(cfg->pool_path))
			return cairn_error_set(CAIRN_EINVAL, "[catalog] state_dir '%s' is too long "
			                       "to hold the pool", cfg->state_dir);
	}
	if (!cfg->tls_cert[0] != !cfg->tls_key[0])
		return cairn_error_set(CAIRN_EINVAL, "[catalog] tls_cert and tls_key go together: "
		                       "set both or neither");
	if (cfg->s3_endpoint[0] && !cfg->s3_bucket[0])
		return cairn_error_set(CAIRN_EINVAL, "[s3] bucket must be set when endpoint '%s' is",
		                       cfg->s3_endpoint);
	if (cfg->low_watermark > cfg->high_watermark)
		return cairn_error_set(CAIRN_EINVAL, "[tiering] low_watermark (%g%%) is above "
		                       "high_watermark (%g%%)", cfg->low_watermark,
		                       cfg->high_watermark);
	return 0;
}

bool cairn_config_runtime_key(const char *key)
{
	const struct key *k = lookup(key, true);

	return k && k->runtime;
}

/* The largest unit that divides v exactly, so defaults print as written. */
static void fmt_scaled(char *buf, size_t len, uint64_t v, const uint64_t *units,
                       const char *suffixes)
{
	for (int i = 0; suffixes[i]; i++) {
		if (v != 0 && v % units[i] == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(v / units[i]), suffixes[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void format_value(const struct cairn_config *cfg, const struct key *k,
                         char *buf, size_t len)
{
	static const uint64_t size_units[] = { 1ull << 50, 1ull << 40, 1ull << 30,
	                                       1ull << 20, 1ull << 10 };
	static const uint64_t time_units[] = { 7 * 86400, 86400, 3600, 60 };
	const void *field = (const char *)cfg + k->off;

	switch (k->type) {
	case K_STR:
	case K_CHOICE:
		if (k->secret && *(const char *)field)
			snprintf(buf, len, "(set)");
		else
			snprintf(buf, len, "%s", (const char *)field);
		return;
	case K_ENUM: {
		int i = *(const int *)field, n = 0;

		while (k->choices[n])
			n++;
		snprintf(buf, len, "%s", i >= 0 && i < n ? k->choices[i] : "?");
		return;
	}
	case K_SIZE:
		fmt_scaled(buf, len, *(const uint64_t *)field, size_units, "PTGMK");
		return;
	case K_DURATION: {
		uint64_t v = *(const uint64_t *)field;

		fmt_scaled(buf, len, v, time_units, "wdhm");
		if (v == 0 || strspn(buf, "0123456789") == strlen(buf))
			snprintf(buf, len, "%llus", (unsigned long long)v);
		return;
	}
	case K_PERCENT:
		snprintf(buf, len, "%g%%", *(const double *)field);
		return;
	case K_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "yes" : "no");
		return;
	case K_U32:
		snprintf(buf, len, "%u", *(const uint32_t *)field);
		return;
	}
}

int cairn_config_get(const struct cairn_config *cfg, const char *key, char *buf, size_t len)
{
	const struct key *k = lookup(key, true);

	if (!k)
		return cairn_error_set(CAIRN_EINVAL, "unknown config key '%s'", key ? key : "");
	format_value(cfg, k, buf, len);
	return 0;
}

void cairn_config_dump(const struct cairn_config *cfg, FILE *f)
{
	char value[CAIRN_CONFIG_STR + 16];
	const char *section = NULL;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		if (!section || strcmp(section, k->section) != 0) {
			fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
			section = k->section;
		}
		format_value(cfg, k, value, sizeof(value));
		fprintf(f, "%s = %s\n", k->name, value);
	}
}
