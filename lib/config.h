/* config.h — catalogd's configuration: one table, INI files, overrides.
 *
 * Every key is declared once in config.c (section, name, default, parser,
 * whether `cairn tier policy set` may change it at run time). The defaults
 * are the embedded config: catalogd runs without a file. Sources apply in
 * order: defaults, the INI file (--config), then "section.key=value"
 * overrides (-o). S3 credentials may also come from CAIRN_S3_ACCESS_KEY and
 * CAIRN_S3_SECRET_KEY. This is the only file that speaks to inih.
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CAIRN_CONFIG_STR 1024

enum cairn_verify { CAIRN_VERIFY_CHECKSUM = 0, CAIRN_VERIFY_READBACK = 1 };

struct cairn_config {
	/* [catalog] */
	char state_dir[CAIRN_CONFIG_STR];
	char socket[CAIRN_CONFIG_STR];
	char listen[CAIRN_CONFIG_STR];
	char tls_cert[CAIRN_CONFIG_STR];
	char tls_key[CAIRN_CONFIG_STR];
	char log_level[16];                 /* debug | info | warn | error */
	/* [pool] */
	char pool_path[CAIRN_CONFIG_STR];
	uint64_t pool_capacity;             /* 0 = the filesystem's size */
	uint64_t chunk_size;                /* 64K .. 64M, a power of two */
	/* [s3] */
	char s3_endpoint[CAIRN_CONFIG_STR];
	char s3_bucket[CAIRN_CONFIG_STR];
	char s3_access_key[CAIRN_CONFIG_STR];
	char s3_secret_key[CAIRN_CONFIG_STR];
	char s3_protocol[8];                /* http | https */
	char s3_uri_style[16];              /* path | virtualhost */
	char s3_encryption_key_file[CAIRN_CONFIG_STR];
	uint64_t s3_timeout;                /* seconds per S3 request attempt */
	uint32_t s3_retries;                /* retries of a transient failure */
	uint64_t s3_presign_ttl;            /* seconds a URL handed to cairnfs lives; 0 = none */
	char s3_public_endpoint[CAIRN_CONFIG_STR]; /* host:port in those URLs; "" = endpoint */
	/* [tiering] */
	double high_watermark;              /* percent, 0..100 */
	double low_watermark;
	uint64_t min_idle;                  /* seconds */
	uint64_t min_size;                  /* bytes */
	uint32_t concurrency;
	uint64_t bandwidth;                 /* bytes/s, 0 = unlimited */
	bool recall_on_read;
	int verify;                         /* enum cairn_verify */
	uint64_t scan_interval;             /* seconds between tiering scans */
	double max_error_rate;              /* percent of failed moves that suspends tiering */
	uint64_t scrub_interval;            /* seconds between whole-catalog scrubs, 0 = never */
	uint64_t keep_head;                 /* bytes of a released object kept on the pool */
};

/* Fills every key with its default. state_dir /var/lib/cairn, socket
 * /run/cairn/catalogd.sock, pool <state_dir>/pool, chunk_size 4M, etc. */
void cairn_config_defaults(struct cairn_config *cfg);

/* Applies an INI file. CAIRN_ENOTFOUND when it cannot be read; CAIRN_EINVAL
 * with "FILE:LINE: unknown key 'x' in [s]" or the validator's message. */
int cairn_config_load_file(struct cairn_config *cfg, const char *path);

/* Applies one key; section may be NULL when key is "section.key".
 * CAIRN_EINVAL for unknown keys and bad values (message says which). */
int cairn_config_set(struct cairn_config *cfg, const char *section,
                     const char *key, const char *value);
/* "section.key=value" → cairn_config_set. */
int cairn_config_set_kv(struct cairn_config *cfg, const char *kv);

/* Reads CAIRN_S3_ACCESS_KEY / CAIRN_S3_SECRET_KEY when the keys are empty. */
void cairn_config_apply_env(struct cairn_config *cfg);

/* Cross-key checks (low_watermark <= high_watermark, ...) and derived
 * defaults (an empty pool path becomes <state_dir>/pool). */
int cairn_config_finish(struct cairn_config *cfg);

/* Whether key (section.key or a bare [tiering] key) may change at run time. */
bool cairn_config_runtime_key(const char *key);

/* Writes the effective config as INI; secrets are printed as "(set)". */
void cairn_config_dump(const struct cairn_config *cfg, FILE *f);
/* Formats one key's value into buf (secrets as "(set)"); CAIRN_EINVAL if unknown. */
int cairn_config_get(const struct cairn_config *cfg, const char *key, char *buf, size_t len);

/* Value parsers shared with the CLI. */
int cairn_parse_size(const char *s, uint64_t *out);      /* 123, 4K, 4M, 2G, 1T (1024-based) */
int cairn_parse_duration(const char *s, uint64_t *out);  /* 30, 30s, 5m, 2h, 1d, 1w → seconds */
int cairn_parse_percent(const char *s, double *out);     /* "85%" or "85" → 85.0 */
int cairn_parse_bool(const char *s, bool *out);          /* yes/no/true/false/on/off/1/0 */

#endif
