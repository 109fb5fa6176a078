/* main.c — `cairnfs MOUNTPOINT`: checks, mount, daemonize, serve.
 *
 * Everything that can be wrong with the invocation (a bad mountpoint,
 * catalogd not answering) is found before the mount and before the
 * process detaches, so the user sees the reason on the terminal and a
 * non-zero exit status instead of a mount that fails on first use.
 *
 * The session ends when the filesystem is unmounted (fusermount3 -u) or on
 * SIGTERM/SIGINT/SIGHUP, after which the mount is taken down here.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "fs.h"
#include "log.h"
#include "remote.h"

#define MOD "cairnfs"

/* Workers serving requests. Each keeps its own connection to catalogd,
 * so idle ones are kept rather than torn down and reconnected. */
#define WORKERS 16

struct opts {
	const char *mountpoint;
	const char *catalog;
	const char *cache_dir;
	uint64_t cache_size;      /* 0: the default */
	long timeout;             /* seconds; 0: the default */
	int no_direct;
	int foreground;
	int debug;
	char *fuse_opts;          /* user's -o options, comma-joined */
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: cairnfs MOUNTPOINT [--catalog ADDR] [--cache-dir DIR] [--cache-size SIZE]\n"
	        "               [--timeout SECONDS] [--no-direct] [-f] [-d] [-o OPT[,OPT...]]\n"
	        "               [--help] [--version]\n"
	        "\n"
	        "Mounts cairn's datasets read-only at MOUNTPOINT:\n"
	        "  MOUNTPOINT/<dataset>/<seq>/...   a version's files\n"
	        "  MOUNTPOINT/<dataset>/latest      and each tag: symlinks to a <seq>\n"
	        "\n"
	        "  --catalog ADDR    catalogd to use: unix:/path/to/catalogd.sock or\n"
	        "                    https://host:port (default: $CAIRN_CATALOG, else\n"
	        "                    unix:/run/cairn/catalogd.sock)\n"
	        "  --cache-dir DIR   where objects fetched from catalogd are kept (default:\n"
	        "                    $XDG_CACHE_HOME/cairnfs, /var/cache/cairnfs for root)\n"
	        "  --cache-size SIZE the cache directory's bound; least recently used\n"
	        "                    objects go first (K/M/G/T suffixes; default 10G)\n"
	        "  --timeout SECONDS how long a request to catalogd may take, an object\n"
	        "                    fetched from S3 included; past it the read fails\n"
	        "                    with EIO (default 30)\n"
	        "  --no-direct       read cold objects through catalogd, not straight\n"
	        "                    from S3 with the URLs catalogd signs\n"
	        "  -f                stay in the foreground\n"
	        "  -d                debug output (implies -f)\n"
	        "  -o OPT            FUSE mount options (see mount.fuse3(8))\n"
	        "  --help, --version\n"
	        "\n"
	        "Unmount with: fusermount3 -u MOUNTPOINT\n");
}

static int add_fuse_opt(struct opts *o, const char *opt)
{
	char *s;

	if (o->fuse_opts) {
		if (asprintf(&s, "%s,%s", o->fuse_opts, opt) < 0)
			return -1;
		free(o->fuse_opts);
	} else {
		s = strdup(opt);
		if (!s)
			return -1;
	}
	o->fuse_opts = s;
	return 0;
}

/* The kernel's readahead for a FUSE mount starts at 128 KiB, and the
 * INIT handshake may only lower it. Sequential reads through cairnfs keep
 * up with reading the pool directly only when the kernel asks far enough
 * ahead to keep several 1 MiB requests in flight, so once the mount is up
 * its readahead is raised to that of the pool's device (at least 1 MiB,
 * at most 16 MiB). Root only; anyone else keeps the default. */
#define RA_MIN_KB 1024u
#define RA_MAX_KB 16384u

struct ra_tune {
	char mnt[PATH_MAX];
	char pool[PATH_MAX];
};

static int bdi_path(char *buf, size_t len, dev_t dev)
{
	return snprintf(buf, len, "/sys/class/bdi/%u:%u/read_ahead_kb",
	                major(dev), minor(dev)) < (int)len ? 0 : -1;
}

static unsigned read_kb(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned kb = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%u", &kb) != 1)
		kb = 0;
	fclose(f);
	return kb;
}

static void *tune_readahead(void *arg)
{
	struct ra_tune *t = arg;
	char path[128];
	struct statfs sfs;
	struct stat st;
	unsigned want = RA_MIN_KB, have;
	FILE *f;
	int ok;

	/* statfs waits for the kernel's INIT to be answered: from then on
	 * the readahead it settled on can be raised. */
	if (statfs(t->mnt, &sfs) < 0 || stat(t->mnt, &st) < 0 ||
	    bdi_path(path, sizeof(path), st.st_dev) < 0)
		goto out;
	have = read_kb(path);
	if (t->pool[0]) {
		struct stat pst;
		char ppath[128];

		if (stat(t->pool, &pst) == 0 && bdi_path(ppath, sizeof(ppath), pst.st_dev) == 0 &&
		    read_kb(ppath) > want)
			want = read_kb(ppath);
	}
	if (want > RA_MAX_KB)
		want = RA_MAX_KB;
	if (have >= want)
		goto out;
	f = fopen(path, "w");
	ok = f && fprintf(f, "%u\n", want) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok) {
		log_debug(MOD, "readahead stays at %u KiB (%s: %s)", have, path, strerror(errno));
		goto out;
	}
	log_info(MOD, "readahead raised from %u to %u KiB", have, want);
out:
	free(t);
	return NULL;
}

static void start_readahead_tuning(const char *mnt, const char *pool)
{
	struct ra_tune *t;
	pthread_t th;

	if (geteuid() != 0)
		return;
	t = calloc(1, sizeof(*t));
	if (!t)
		return;
	snprintf(t->mnt, sizeof(t->mnt), "%s", mnt);
	snprintf(t->pool, sizeof(t->pool), "%s", pool ? pool : "");
	if (pthread_create(&th, NULL, tune_readahead, t) != 0) {
		free(t);
		return;
	}
	pthread_detach(th);
}

/* The largest read the kernel may send. libfuse splices a read's reply
 * (header and object pages) through a pipe it sizes at the reply plus a
 * page per buffer and two more; it falls back to copying every byte through
 * memory when the pipe cannot grow that far, and without CAP_SYS_RESOURCE
 * a pipe stops at fs.pipe-max-size (1 MiB by default). So reads stay a few
 * pages under that limit, and at most libfuse's 1 MiB buffer. */
static unsigned pick_max_read(void)
{
	const unsigned fuse_max = 1u << 20, floor_ = 128u << 10;
	unsigned long pipe_max = 1ul << 20, page = (unsigned long)sysconf(_SC_PAGESIZE);
	unsigned long r;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");

	if (f) {
		if (fscanf(f, "%lu", &pipe_max) != 1)
			pipe_max = 1ul << 20;
		fclose(f);
	}
	r = pipe_max > 8 * page ? pipe_max - 8 * page : 0;
	r -= r % page;
	if (r > fuse_max)
		r = fuse_max;
	if (r < floor_)
		r = floor_;
	return (unsigned)r;
}

/* Returns 0 to go on, 1 when done (help/version), 2 on a usage error. */
static int parse_args(struct opts *o, int argc, char **argv)
{
	enum { OPT_CATALOG = 256, OPT_CACHE, OPT_CACHE_SIZE, OPT_TIMEOUT, OPT_NO_DIRECT, OPT_HELP,
	       OPT_VERSION };
	static const struct option longs[] = {
		{ "catalog", required_argument, NULL, OPT_CATALOG },
		{ "cache-dir", required_argument, NULL, OPT_CACHE },
		{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "no-direct", no_argument, NULL, OPT_NO_DIRECT },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "fdo:hV", longs, NULL)) != -1) {
		switch (c) {
		case OPT_CATALOG:
			o->catalog = optarg;
			break;
		case OPT_CACHE:
			o->cache_dir = optarg;
			break;
		case OPT_CACHE_SIZE:
			if (cairn_parse_size(optarg, &o->cache_size) != 0 || o->cache_size == 0) {
				fprintf(stderr, "cairnfs: --cache-size '%s': not a size such as "
				        "500M or 10G\n", optarg);
				return 2;
			}
			break;
		case OPT_TIMEOUT: {
			char *end;

			errno = 0;
			o->timeout = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o->timeout <= 0 ||
			    o->timeout > 86400) {
				fprintf(stderr, "cairnfs: --timeout '%s': not a number of seconds "
				        "(1 to 86400)\n", optarg);
				return 2;
			}
			break;
		}
		case OPT_NO_DIRECT:
			o->no_direct = 1;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 'd':
			o->debug = 1;
			o->foreground = 1;
			break;
		case 'o':
			if (add_fuse_opt(o, optarg)) {
				fprintf(stderr, "cairnfs: out of memory\n");
				return 2;
			}
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return 1;
		case 'V':
		case OPT_VERSION:
			printf("cairnfs %s (libfuse %s)\n", CAIRN_VERSION, fuse_pkgversion());
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "cairnfs: %s\n",
		        optind >= argc ? "missing MOUNTPOINT" : "more than one MOUNTPOINT");
		usage(stderr);
		return 2;
	}
	o->mountpoint = argv[optind];
	return 0;
}

/* $XDG_CACHE_HOME/cairnfs, else /var/cache/cairnfs for root, else
 * ~/.cache/cairnfs. */
static char *default_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *s = NULL;

	if (xdg && *xdg)
		return asprintf(&s, "%s/cairnfs", xdg) < 0 ? NULL : s;
	if (geteuid() == 0)
		return strdup("/var/cache/cairnfs");
	if (home && *home)
		return asprintf(&s, "%s/.cache/cairnfs", home) < 0 ? NULL : s;
	return asprintf(&s, "/tmp/cairnfs-%u", (unsigned)geteuid()) < 0 ? NULL : s;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	struct cfs_status status;
	struct cfs_config cfg = { 0 };
	char mnt[PATH_MAX], *cache = NULL, *mopts = NULL;
	struct stat st;
	int rc, ret = 1, mounted = 0, fs_ready = 0, handlers = 0;

	rc = parse_args(&o, argc, argv);
	if (rc) {
		free(o.fuse_opts);
		return rc == 1 ? 0 : 2;
	}
	if (o.debug)
		cairn_log_set_level(CAIRN_LOG_DEBUG);

	if (!realpath(o.mountpoint, mnt) || stat(mnt, &st) < 0) {
		fprintf(stderr, "cairnfs: bad mountpoint %s: %s\n", o.mountpoint, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "cairnfs: bad mountpoint %s: not a directory\n", o.mountpoint);
		goto out;
	}

	/* catalogd must answer before anything is mounted. */
	cfs_remote_set_timeout(o.timeout);
	if (cfs_remote_init(o.catalog) || cfs_remote_status(&status)) {
		fprintf(stderr, "cairnfs: cannot use catalogd at %s: %s\n",
		        o.catalog ? o.catalog :
		        getenv("CAIRN_CATALOG") ? getenv("CAIRN_CATALOG") : "unix:/run/cairn/catalogd.sock",
		        cairn_error_msg());
		goto out;
	}
	/* No connection crosses the fork of fuse_daemonize(). */
	cfs_remote_release();

	cache = o.cache_dir ? strdup(o.cache_dir) : default_cache_dir();
	if (!cache) {
		fprintf(stderr, "cairnfs: out of memory\n");
		goto out;
	}
	cfg.cache_dir = cache;
	cfg.pool_path = status.pool_path;
	cfg.max_read = pick_max_read();
	cfg.cache_size = o.cache_size;
	cfg.no_direct = o.no_direct;
	if (cfs_fs_init(&cfg)) {
		fprintf(stderr, "cairnfs: %s\n", cairn_error_msg());
		goto out;
	}
	fs_ready = 1;

	/* Read-only, named "cairn" in mount tables, permissions checked by
	 * the kernel from the modes we report; other users may read when
	 * root mounts it (as on a shared compute node). */
	if (asprintf(&mopts, "ro,fsname=cairn,subtype=cairnfs,default_permissions,max_read=%u%s%s%s",
	             cfg.max_read, geteuid() == 0 ? ",allow_other" : "",
	             o.fuse_opts ? "," : "", o.fuse_opts ? o.fuse_opts : "") < 0) {
		mopts = NULL;
		fprintf(stderr, "cairnfs: out of memory\n");
		goto out;
	}
	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, mopts) || (o.debug && fuse_opt_add_arg(&args, "-d"))) {
		fprintf(stderr, "cairnfs: out of memory\n");
		goto out;
	}
	se = fuse_session_new(&args, &cfs_ops, sizeof(cfs_ops), NULL);
	if (!se)
		goto out;        /* libfuse said why on stderr */
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = 1;
	if (fuse_session_mount(se, mnt) != 0) {
		fprintf(stderr, "cairnfs: cannot mount at %s\n", mnt);
		goto out;
	}
	mounted = 1;
	cfs_fs_set_session(se);
	log_info(MOD, "catalogd %s, pool %s, cache %s, mounted at %s",
	         o.catalog ? o.catalog : getenv("CAIRN_CATALOG") ? getenv("CAIRN_CATALOG") : "(default)",
	         status.pool_path, cache, mnt);

	if (fuse_daemonize(o.foreground) != 0)
		goto out;
	/* Threads after the fork of fuse_daemonize, which they would not
	 * survive. */
	if (cfs_fs_start()) {
		log_error(MOD, "%s", cairn_error_msg());
		goto out;
	}

	start_readahead_tuning(mnt, status.pool_path);
	loop = fuse_loop_cfg_create();
	if (!loop) {
		log_error(MOD, "out of memory");
		goto out;
	}
	fuse_loop_cfg_set_clone_fd(loop, 1);
	fuse_loop_cfg_set_max_threads(loop, WORKERS);
	fuse_loop_cfg_set_idle_threads(loop, WORKERS);
	rc = fuse_session_loop_mt(se, loop);
	if (rc < 0)
		log_error(MOD, "session ended: %s", strerror(-rc));
	else
		log_info(MOD, "unmounting %s", mnt);
	ret = rc < 0 ? 1 : 0;
out:
	if (loop)
		fuse_loop_cfg_destroy(loop);
	if (mounted) {
		cfs_fs_set_session(NULL);
		fuse_session_unmount(se);
	}
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se);
	if (fs_ready)
		cfs_fs_shutdown();
	cfs_remote_shutdown();
	fuse_opt_free_args(&args);
	free(mopts);
	free(cache);
	free(o.fuse_opts);
	return ret;
}
