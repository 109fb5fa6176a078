/* main.c — catalogd: command line, start-up, signals, shutdown.
 *
 *   catalogd [--config FILE] [-o section.key=value]... [-f]
 *            [--check-config] [--version] [--help]
 *
 * catalogd always runs in the foreground and logs to stderr (systemd style);
 * -f is accepted so that it reads like cairnfs's command line. Start-up, in
 * order: config (embedded defaults, then FILE, then each -o), log level,
 * state directory, RocksDB catalog, pool, removal of interrupted commits,
 * HTTP on the Unix socket. Any failure there is one line on stderr and exit
 * status 1. SIGTERM or SIGINT stop it cleanly: no new connections, requests
 * in flight finish, the catalog is closed, the socket removed, exit 0.
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api.h"
#include "catalog.h"
#include "config.h"
#include "engine.h"
#include "error.h"
#include "fault.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "tierops.h"
#include "util.h"

#define MOD "catalogd"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: catalogd [--config FILE] [-o section.key=value]... [-f]\n"
	        "                [--check-config] [--version] [--help]\n"
	        "\n"
	        "The cairn catalog daemon: serves the catalog's HTTP/JSON API on\n"
	        "the Unix socket [catalog] socket, in the foreground, logging to\n"
	        "stderr.\n"
	        "\n"
	        "  -c, --config FILE     read this INI file (default: built-in defaults)\n"
	        "  -o section.key=value  override one key (after the file; repeatable)\n"
	        "  -f, --foreground      accepted for symmetry; catalogd never forks\n"
	        "      --check-config    print the effective configuration and exit\n"
	        "      --version         print the version and exit\n"
	        "  -h, --help            this help\n");
}

static int fail(const char *what)
{
	const char *msg = cairn_error_msg();

	if (what != NULL && *what)
		fprintf(stderr, "catalogd: %s: %s\n", what, *msg ? msg : "failed");
	else
		fprintf(stderr, "catalogd: %s\n", *msg ? msg : "failed");
	return 1;
}

/* Uploads keep a pool batch's staged files open until they commit; let
 * the process use all the descriptors its hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_debug(MOD, "cannot raise the open file limit");
	}
}

/* Keys of the config contract this catalogd cannot honour yet. Set, each
 * would be ignored without a word: a TCP listener that is not there, or
 * plaintext in S3 where encryption was asked for. Refused instead. */
static int refuse_unavailable(const struct cairn_config *cfg)
{
	if (cfg->listen[0] || cfg->tls_cert[0])
		return cairn_error_set(CAIRN_EINVAL, "[catalog] %s is set, but this catalogd "
		                       "serves its Unix socket only (no TCP or TLS listener "
		                       "yet); leave listen, tls_cert and tls_key empty",
		                       cfg->listen[0] ? "listen" : "tls_cert");
	if (cfg->s3_encryption_key_file[0])
		return cairn_error_set(CAIRN_EINVAL, "[s3] encryption_key_file is set, but this "
		                       "catalogd cannot encrypt S3 copies yet; it will not "
		                       "upload plaintext where encryption was asked for");
	return 0;
}

/* The S3 client of the cold tier, or none without an endpoint. */
static int open_s3(cairn_s3 **out, const struct cairn_config *cfg)
{
	struct cairn_s3_options o;

	*out = NULL;
	if (cfg->s3_endpoint[0] == '\0')
		return 0;
	memset(&o, 0, sizeof(o));
	o.endpoint = cfg->s3_endpoint;
	o.bucket = cfg->s3_bucket;
	o.access_key = cfg->s3_access_key;
	o.secret_key = cfg->s3_secret_key;
	o.https = strcmp(cfg->s3_protocol, "https") == 0;
	o.virtual_host = strcmp(cfg->s3_uri_style, "virtualhost") == 0;
	o.timeout_ms = (long)cfg->s3_timeout * 1000;
	o.retries = (int)cfg->s3_retries;
	return cairn_s3_open(out, &o);
}

/* Tiering: recovery of what was moving, then the engine's threads. */
static int start_tiering(struct catalog *cat, const struct cairn_config *cfg,
                         cairn_s3 *s3)
{
	struct tier_engine_params p = {
		.cfg = cfg, .pool = cat->pool, .s3 = s3, .ops = &tierops, .ctx = cat,
	};
	struct tier_engine *e = NULL;
	int rc;

	rc = tier_engine_new(&e, &p);
	if (rc == 0)
		rc = tier_engine_recover(e);
	if (rc == 0)
		rc = tier_engine_start(e);
	if (rc != 0) {
		tier_engine_free(e);
		return rc;
	}
	cat->tier = e;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cairn_config cfg;
	struct catalog *cat = NULL;
	struct http_server *srv = NULL;
	cairn_s3 *s3 = NULL;
	const char *config_file = NULL;
	const char **overrides = NULL;
	int noverrides = 0, check = 0, level, opt, sig, status = 1;
	sigset_t sigs;

	/* Reads and recalls take and give back a chunk-sized buffer (4 MiB
	 * by default) per object. Above glibc's mmap threshold each would be
	 * a fresh mapping, a page fault per 4 KiB touched; kept in the heap
	 * they are reused. Bounded: a few chunks per busy thread. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);

	overrides = calloc((size_t)argc, sizeof(*overrides));
	if (overrides == NULL)
		return 1;
	while ((opt = getopt_long(argc, argv, "c:o:fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_file = optarg;
			break;
		case 'o':
			overrides[noverrides++] = optarg;
			break;
		case 'f':
			break;
		case 'C':
			check = 1;
			break;
		case 'V':
			printf("catalogd %s (catalog schema %d)\n", CAIRN_VERSION,
			       CAIRN_SCHEMA_VERSION);
			free(overrides);
			return 0;
		case 'h':
			usage(stdout);
			free(overrides);
			return 0;
		default:
			usage(stderr);
			free(overrides);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "catalogd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		free(overrides);
		return 1;
	}

	cairn_config_defaults(&cfg);
	if (config_file != NULL && cairn_config_load_file(&cfg, config_file) != 0) {
		free(overrides);
		return fail(NULL);
	}
	for (int i = 0; i < noverrides; i++) {
		if (cairn_config_set_kv(&cfg, overrides[i]) != 0) {
			free(overrides);
			return fail("-o");
		}
	}
	free(overrides);
	cairn_config_apply_env(&cfg);
	if (cairn_config_finish(&cfg) != 0 || refuse_unavailable(&cfg) != 0)
		return fail("config");
	if (cairn_log_parse_level(cfg.log_level, &level) != 0)
		return fail("config");
	if (check) {
		cairn_config_dump(&cfg, stdout);
		return 0;
	}
	cairn_log_set_level(level);
	cairn_crash_init();

	/* Signals are taken synchronously by this thread only: block them
	 * before any other thread exists, so that every thread inherits the
	 * mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	if (util_mkdir_p(cfg.state_dir, 0755) != 0)
		return fail("state_dir");
	if (catalog_open(&cat, &cfg) != 0) {
		fail(NULL);
		goto out;
	}
	if (open_s3(&s3, &cfg) != 0) {
		fail("s3");
		goto out;
	}
	if (start_tiering(cat, &cfg, s3) != 0) {
		fail(NULL);
		goto out;
	}
	if (http_start(&srv, cfg.socket, api_handle, cat) != 0) {
		fail(NULL);
		goto out;
	}
	log_info(MOD, "catalogd %s ready on unix:%s (state %s, pool %s, chunk_size %u)",
	         CAIRN_VERSION, cfg.socket, cfg.state_dir, cairn_pool_path(cat->pool),
	         cat->chunk_size);

	while (sigwait(&sigs, &sig) != 0)
		;
	log_info(MOD, "%s: stopping", strsignal(sig));
	status = 0;
out:
	http_stop(srv);
	if (cat != NULL && cat->tier != NULL) {
		tier_engine_free(cat->tier);
		cat->tier = NULL;
	}
	if (s3 != NULL)
		cairn_s3_close(s3);
	catalog_close(cat);
	if (status == 0)
		log_info(MOD, "stopped");
	return status;
}
