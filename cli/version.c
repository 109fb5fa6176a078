/* version.c — the commands that read versions: `cairn log|show|ls|get|tag`.
 *
 * A version reference is NAME[@V] (cairn_ref_parse); V defaults to latest.
 * Commands that make several requests about one version (ls, get) resolve
 * the reference to its sequence number first, so that a commit landing in
 * between cannot mix two versions in one answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "manifest.h"

static const char log_help[] =
	"usage: cairn log NAME [--json]\n"
	"\n"
	"Lists the versions of a dataset, newest first.\n";

static const char show_help[] =
	"usage: cairn show NAME[@V] [--json]\n"
	"\n"
	"Shows a version: its metadata, lineage, files, bytes and how many of its\n"
	"objects are in each storage tier. V defaults to latest.\n";

static const char ls_help[] =
	"usage: cairn ls NAME[@V] [PATH] [-l] [--json]\n"
	"\n"
	"Lists the directory PATH (default: the top) of a version, sorted by name.\n"
	"A PATH naming a file lists that file. V defaults to latest.\n"
	"\n"
	"  -l, --long   mode, size, modification time (and symlink targets)\n"
	"  --json       the entries as JSON, with exact sizes\n";

static const char get_help[] =
	"usage: cairn get NAME[@V] PATH [-o FILE] [--json]\n"
	"\n"
	"Reads a file of a version without mounting it: to stdout, or to FILE,\n"
	"which appears whole or not at all. Every byte is checked against its\n"
	"digest by catalogd before it is sent. V defaults to latest.\n"
	"\n"
	"  -o, --output FILE   write FILE instead of stdout ('-': stdout)\n"
	"  --json              with -o: print what was written as JSON\n";

static const char tag_help[] =
	"usage: cairn tag NAME[@V] TAG [--json]\n"
	"       cairn tag NAME TAG --delete [--json]\n"
	"\n"
	"Points TAG at version V of NAME (default: latest), moving it if it\n"
	"pointed elsewhere; with --delete, removes TAG. Tags are\n"
	"[a-z0-9][a-z0-9._-]*, not all digits, not 'latest'.\n";

char *cli_clean_path(const char *p)
{
	size_t n;

	while (*p == '/')
		p++;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	return strndup(p, n);
}

int cli_ref_parse(char **name, char **ver, const char *ref)
{
	if (cairn_ref_parse(ref, name, ver) < 0)
		return -1;
	if (*ver && **ver == '\0') {
		free(*name);
		free(*ver);
		*name = *ver = NULL;
		cairn_error_set(CAIRN_EINVAL, "'%s': empty version after '@'", ref);
		return -1;
	}
	return 0;
}

int cli_resolve_seq(char *seq, size_t seqlen, cairn_client *c, const char *name,
                    const char *ver)
{
	char path[1024];
	json_t *v = NULL;
	int rc;

	rc = cli_version_path(path, sizeof(path), name, ver, "?tiers=0");
	if (rc < 0)
		return rc;
	rc = cairn_client_json(c, "GET", path, NULL, &v);
	if (rc < 0)
		return rc;
	if (!json_is_integer(json_object_get(v, "seq"))) {
		json_decref(v);
		return cairn_error_set(CAIRN_ECORRUPT, "catalogd sent a version without a sequence number");
	}
	snprintf(seq, seqlen, "%lld", (long long)cli_jint(v, "seq"));
	json_decref(v);
	return 0;
}

/* ---- log ------------------------------------------------------------- */

static void log_row(struct cli_table *t, const json_t *v)
{
	char seq[32], when[32], files[32], size[32], tags[256] = "";
	const char *cells[8];
	const char *msg = cli_jstr(v, "message");
	char first[128];
	json_t *tag;
	size_t i, n = 0, mlen;

	snprintf(seq, sizeof(seq), "@%lld", (long long)cli_jint(v, "seq"));
	snprintf(files, sizeof(files), "%lld", (long long)cli_jint(v, "files"));
	json_array_foreach(json_object_get(v, "tags"), i, tag) {
		int w = snprintf(tags + n, sizeof(tags) - n, "%s%s", i ? "," : "",
		                 json_string_value(tag) ? json_string_value(tag) : "");

		if (w < 0 || (size_t)w >= sizeof(tags) - n)
			break;
		n += (size_t)w;
	}
	/* The first line of the message, cut to keep the table narrow. */
	mlen = strcspn(msg, "\n");
	if (mlen > 72)
		snprintf(first, sizeof(first), "%.69s...", msg);
	else
		snprintf(first, sizeof(first), "%.*s", (int)mlen, msg);
	cells[0] = seq;
	cells[1] = cli_jstr(v, "digest");
	cells[2] = cli_time(when, sizeof(when), cli_jint(v, "time"));
	cells[3] = cli_jstr(v, "author");
	cells[4] = files;
	cells[5] = cli_size(size, sizeof(size), (uint64_t)cli_jint(v, "bytes"));
	cells[6] = tags;
	cells[7] = first;
	cli_table_row(t, cells);
}

int cmd_log(struct cli *cli, int argc, char **argv)
{
	static const char *const heads[] = {
		"SEQ", "DIGEST", "TIME", "AUTHOR", "FILES", "SIZE", "TAGS", "MESSAGE"};
	struct cli_table table;
	struct cli_jstream js;
	char base[512], path[700];
	long long before = -1;
	const char *name;
	cairn_client *c;
	int done, rc = CLI_OK, started = 0;

	rc = cli_common_opts(&done, cli, log_help, argc, argv);
	if (done)
		return rc;
	rc = cli_one_operand(cli, argc, argv, log_help, "NAME", &name);
	if (rc != CLI_OK)
		return rc;
	if (cairn_dataset_name_validate(name) < 0 ||
	    cairn_dataset_path(base, sizeof(base), name) < 0)
		return cli_invalid(cli);
	if (cli_client(cli, &c) < 0)
		return cli_fail(cli);

	cli_table_init(&table, 8, heads, "llllrrll");
	/* Page by page, newest first, each printed before the next is fetched:
	 * a dataset with a million versions costs one page of memory. */
	for (;;) {
		json_t *res = NULL, *list, *next, *v;
		size_t i;

		if (before >= 0)
			snprintf(path, sizeof(path), "%s/-/versions?tiers=0&limit=%d&before=%lld",
			         base, CLI_PAGE, before);
		else
			snprintf(path, sizeof(path), "%s/-/versions?tiers=0&limit=%d", base, CLI_PAGE);
		if (cairn_client_json(c, "GET", path, NULL, &res) < 0) {
			rc = cli_fail(cli);
			goto out;
		}
		list = json_object_get(res, "versions");
		if (cli->json && !started) {
			json_t *head = json_pack("{s:s}", "dataset", name);

			cli_jstream_begin(&js, head, "versions");
			json_decref(head);
		}
		started = 1;
		json_array_foreach(list, i, v) {
			if (cli->json)
				cli_jstream_item(&js, v);
			else
				log_row(&table, v);
		}
		if (!cli->json)
			cli_table_flush(&table, stdout);
		/* Sequence numbers only go down; a cursor that does not would
		 * page forever. */
		next = json_object_get(res, "next");
		if (json_is_integer(next) && json_array_size(list) > 0 &&
		    (before < 0 || json_integer_value(next) < before))
			before = json_integer_value(next);
		else
			before = -1;
		json_decref(res);
		if (before < 0)
			break;
	}
	if (cli->json)
		cli_jstream_end(&js);
out:
	cli_table_free(&table);
	return rc;
}

/* ---- show ------------------------------------------------------------ */

static void field(const char *key, const char *val)
{
	printf("%-14s%s\n", key, val);
}

static void show_version(const json_t *v)
{
	static const char *const heads[] = {"TIER", "OBJECTS", "BYTES"};
	char buf[512], sz[32], sz2[32];
	const char *key;
	json_t *x;
	size_t i;

	field("dataset:", cli_jstr(v, "dataset"));
	snprintf(buf, sizeof(buf), "@%lld", (long long)cli_jint(v, "seq"));
	field("version:", buf);
	field("digest:", cli_jstr(v, "digest"));
	if (cli_jnull(v, "parent"))
		field("parent:", "-");
	else {
		snprintf(buf, sizeof(buf), "@%lld", (long long)cli_jint(v, "parent"));
		field("parent:", buf);
	}
	field("author:", cli_jstr(v, "author"));
	field("time:", cli_time(buf, sizeof(buf), cli_jint(v, "time")));

	buf[0] = '\0';
	json_array_foreach(json_object_get(v, "tags"), i, x)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
		         i ? ", " : "", json_string_value(x) ? json_string_value(x) : "");
	field("tags:", buf);

	snprintf(buf, sizeof(buf), "%lld files, %lld directories, %lld symlinks",
	         (long long)cli_jint(v, "files"), (long long)cli_jint(v, "dirs"),
	         (long long)cli_jint(v, "symlinks"));
	field("entries:", buf);
	snprintf(buf, sizeof(buf), "%s (%lld bytes)",
	         cli_size(sz, sizeof(sz), (uint64_t)cli_jint(v, "bytes")),
	         (long long)cli_jint(v, "bytes"));
	field("size:", buf);
	snprintf(buf, sizeof(buf), "%lld distinct, %s stored, chunk size %s",
	         (long long)cli_jint(v, "objects"),
	         cli_size(sz, sizeof(sz), (uint64_t)cli_jint(v, "object_bytes")),
	         cli_size(sz2, sizeof(sz2), (uint64_t)cli_jint(v, "chunk_size")));
	field("objects:", buf);

	json_array_foreach(json_object_get(v, "derived_from"), i, x) {
		snprintf(buf, sizeof(buf), "%s@%lld  %s", cli_jstr(x, "dataset"),
		         (long long)cli_jint(x, "seq"), cli_jstr(x, "digest"));
		field(i ? "" : "derived from:", buf);
	}
	if (!cli_jnull(v, "transform")) {
		x = json_object_get(v, "transform");
		if (json_is_string(x)) {
			field("transform:", json_string_value(x));
		} else {
			char *s = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);

			field("transform:", s ? s : "");
			free(s);
		}
	}
	i = 0;
	json_object_foreach(json_object_get(v, "meta"), key, x) {
		snprintf(buf, sizeof(buf), "%s=%s", key,
		         json_is_string(x) ? json_string_value(x) : "");
		field(i++ ? "" : "meta:", buf);
	}

	/* The message last: it may span lines; indent them all. */
	key = cli_jstr(v, "message");
	if (*key) {
		const char *p = key;

		printf("%-14s", "message:");
		while (*p) {
			size_t n = strcspn(p, "\n");

			printf("%.*s\n", (int)n, p);
			p += n;
			if (*p == '\n' && *++p)
				printf("%-14s", "");
		}
	}

	x = json_object_get(v, "tiers");
	if (json_object_size(x) > 0) {
		struct cli_table t;
		json_t *tier;

		putchar('\n');
		cli_table_init(&t, 3, heads, "lrr");
		json_object_foreach(x, key, tier) {
			char n[32];
			const char *cells[3] = {key, n, sz};

			snprintf(n, sizeof(n), "%lld", (long long)cli_jint(tier, "objects"));
			cli_size(sz, sizeof(sz), (uint64_t)cli_jint(tier, "bytes"));
			cli_table_row(&t, cells);
		}
		cli_table_flush(&t, stdout);
		cli_table_free(&t);
	}
}

int cmd_show(struct cli *cli, int argc, char **argv)
{
	const char *operand;
	char path[1024];
	char *name = NULL, *ver = NULL;
	json_t *v = NULL;
	cairn_client *c;
	int done, rc = CLI_OK;

	rc = cli_common_opts(&done, cli, show_help, argc, argv);
	if (done)
		return rc;
	rc = cli_one_operand(cli, argc, argv, show_help, "NAME[@V]", &operand);
	if (rc != CLI_OK)
		return rc;
	if (cli_ref_parse(&name, &ver, operand) < 0)
		return cli_invalid(cli);
	if (cli_version_path(path, sizeof(path), name, ver, NULL) < 0) {
		rc = cli_invalid(cli);
		goto out;
	}
	if (cli_client(cli, &c) < 0 || cairn_client_json(c, "GET", path, NULL, &v) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json)
		cli_json_print(v);
	else
		show_version(v);
out:
	json_decref(v);
	free(name);
	free(ver);
	return rc;
}

/* ---- ls -------------------------------------------------------------- */

static void ls_row(struct cli_table *t, const json_t *e, const char *shown, int lng)
{
	char mode[16], size[32], when[32], *name = NULL;
	const char *cells[4];
	const char *type = cli_jstr(e, "type");
	const char *target = cli_jstr(e, "target");

	if (!lng) {
		cells[0] = shown;
		cli_table_row(t, cells);
		return;
	}
	if (type[0] == 'l' && *target &&
	    asprintf(&name, "%s -> %s", shown, target) < 0)
		name = NULL;
	cells[0] = cli_mode(mode, sizeof(mode), type[0], (uint32_t)cli_jint(e, "mode"));
	cells[1] = cli_size(size, sizeof(size), (uint64_t)cli_jint(e, "size"));
	cells[2] = cli_time(when, sizeof(when), cli_jint(e, "mtime"));
	cells[3] = name ? name : shown;
	cli_table_row(t, cells);
	free(name);
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS, {"long", no_argument, NULL, 'l'}, {0, 0, 0, 0}};
	static const char *const heads[] = {"MODE", "SIZE", "MTIME", "NAME"};
	char seq[32], base[1024];
	char *name = NULL, *ver = NULL, *dir = NULL, *edir = NULL, *after = NULL;
	struct cli_table table;
	struct cli_jstream js;
	cairn_client *c;
	int opt, lng = 0, rc = CLI_OK, started = 0;

	cli_table_init(&table, 4, heads, "lrll");
	table.header_done = 1;          /* like ls -l: no header line */
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":hl", opts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case 'l': lng = 1; break;
		case 'h': return cli_help(ls_help);
		default: return cli_bad_option(cli, ls_help, argv, opt);
		}
	}
	if (!lng)
		table.ncols = 1;
	if (optind >= argc)
		return cli_usage(cli, ls_help, "missing NAME[@V]");
	if (optind + 2 < argc)
		return cli_usage(cli, ls_help, "unexpected argument '%s'", argv[optind + 2]);
	if (cli_ref_parse(&name, &ver, argv[optind]) < 0)
		return cli_invalid(cli);
	dir = cli_clean_path(optind + 1 < argc ? argv[optind + 1] : "");
	if (!dir) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (*dir && cairn_path_validate(dir, 0) < 0) {
		rc = cli_invalid(cli);
		goto out;
	}
	edir = cairn_url_escape(dir);
	if (!edir) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cli_client(cli, &c) < 0 ||
	    cli_resolve_seq(seq, sizeof(seq), c, name, ver) < 0 ||
	    cli_version_path(base, sizeof(base), name, seq, "/files?path=") < 0) {
		rc = cli_fail(cli);
		goto out;
	}

	for (;;) {
		json_t *res = NULL, *list, *e;
		char *path = NULL;
		size_t i;
		int n;

		if (after) {
			char *ea = cairn_url_escape(after);

			n = asprintf(&path, "%s%s&limit=%d&after=%s", base, edir, CLI_PAGE,
			             ea ? ea : "");
			free(ea);
		} else {
			n = asprintf(&path, "%s%s&limit=%d", base, edir, CLI_PAGE);
		}
		if (n < 0) {
			rc = cli_failf(cli, "out of memory");
			goto out;
		}
		n = cairn_client_json(c, "GET", path, NULL, &res);
		free(path);
		if (n < 0) {
			rc = cli_fail(cli);
			goto out;
		}
		list = json_object_get(res, "entries");
		if (cli->json && !started) {
			json_t *head = json_pack("{s:s,s:I,s:s}", "dataset", name,
			                         "seq", (json_int_t)atoll(seq), "path", dir);

			cli_jstream_begin(&js, head, "entries");
			json_decref(head);
		}
		started = 1;
		json_array_foreach(list, i, e) {
			const char *p = cli_jstr(e, "path");

			if (cli->json)
				cli_jstream_item(&js, e);
			else
				/* A file named by PATH is shown by its path, like ls. */
				ls_row(&table, e, *dir && strcmp(p, dir) == 0 ? p
				                  : cli_jstr(e, "name"), lng);
		}
		if (!cli->json)
			cli_table_flush(&table, stdout);
		free(after);
		after = cli_next_name(res, list);
		json_decref(res);
		if (!after)
			break;
	}
	if (cli->json)
		cli_jstream_end(&js);
out:
	cli_table_free(&table);
	free(after);
	free(edir);
	free(dir);
	free(name);
	free(ver);
	return rc;
}

/* ---- get ------------------------------------------------------------- */

/* Where the bytes go: stdout or the temporary file (fd owned by cmd_get). */
struct get_sink {
	int fd;
	uint64_t n;
	const char *what;       /* names the destination in errors */
};

static int get_write(void *ctx, const void *data, size_t len)
{
	struct get_sink *s = ctx;
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(s->fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return cairn_error_errno(errno, "cannot write %s", s->what);
		}
		p += w;
		len -= (size_t)w;
		s->n += (uint64_t)w;
	}
	return 0;
}

/* Joins a symlink's target to the link's directory, resolving "." and "..";
 * CAIRN_EINVAL when it leaves the version. Returns a malloc'd path. */
static int follow_link(char **out, const char *link, const char *target)
{
	size_t cap = strlen(link) + strlen(target) + 2, n = 0;
	char *res = malloc(cap), *tmp = NULL, *save = NULL, *comp;
	const char *slash = strrchr(link, '/');
	int rc = 0;

	if (!res || asprintf(&tmp, "%.*s/%s", slash ? (int)(slash - link) : 0,
	                     link, target) < 0) {
		tmp = NULL;
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (comp = strtok_r(tmp, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			if (n == 0) {
				rc = cairn_error_set(CAIRN_EINVAL,
				                     "'%s' is a symlink to '%s', outside the version",
				                     link, target);
				goto out;
			}
			while (n > 0 && res[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		if (n > 0)
			res[n++] = '/';
		memcpy(res + n, comp, strlen(comp));
		n += strlen(comp);
	}
	res[n] = '\0';
	*out = res;
	res = NULL;
out:
	free(tmp);
	free(res);
	return rc;
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS, {"output", required_argument, NULL, 'o'}, {0, 0, 0, 0}};
	char seq[32], base[1024];
	char *name = NULL, *ver = NULL, *fpath = NULL, *epath = NULL, *req = NULL;
	char *tmp = NULL;
	const char *output = NULL;
	struct get_sink sink = {.fd = STDOUT_FILENO, .what = "stdout"};
	json_t *ent = NULL;
	uint64_t size;
	uint32_t mode;
	cairn_client *c;
	int opt, hops, rc = CLI_OK;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case 'o': output = strcmp(optarg, "-") == 0 ? NULL : optarg; break;
		case 'h': return cli_help(get_help);
		default: return cli_bad_option(cli, get_help, argv, opt);
		}
	}
	if (optind + 2 > argc)
		return cli_usage(cli, get_help, optind >= argc ? "missing NAME[@V]" : "missing PATH");
	if (optind + 2 < argc)
		return cli_usage(cli, get_help, "unexpected argument '%s'", argv[optind + 2]);
	if (cli->json && !output)
		return cli_usage(cli, get_help, "--json needs -o FILE (the file's bytes go to stdout otherwise)");
	if (output && !*output)
		return cli_usage(cli, get_help, "empty output file name");
	if (cli_ref_parse(&name, &ver, argv[optind]) < 0)
		return cli_invalid(cli);
	fpath = cli_clean_path(argv[optind + 1]);
	if (!fpath) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cairn_path_validate(fpath, 0) < 0) {
		rc = cli_invalid(cli);
		goto out;
	}
	if (cli_client(cli, &c) < 0 ||
	    cli_resolve_seq(seq, sizeof(seq), c, name, ver) < 0 ||
	    cli_version_path(base, sizeof(base), name, seq, NULL) < 0) {
		rc = cli_fail(cli);
		goto out;
	}

	/* Symlinks inside a version are followed, as cp would (bounded, so a
	 * loop is an error rather than a hang). */
	for (hops = 0;; hops++) {
		const char *type;

		free(epath);
		free(req);
		req = NULL;
		epath = cairn_url_escape(fpath);
		if (!epath || asprintf(&req, "%s/entry?path=%s", base, epath) < 0) {
			req = NULL;
			rc = cli_failf(cli, "out of memory");
			goto out;
		}
		json_decref(ent);
		ent = NULL;
		if (cairn_client_json(c, "GET", req, NULL, &ent) < 0) {
			rc = cli_fail(cli);
			goto out;
		}
		type = cli_jstr(ent, "type");
		if (type[0] == 'f')
			break;
		if (type[0] == 'd') {
			rc = cli_failf(cli, "'%s' is a directory", fpath);
			goto out;
		}
		if (type[0] == 'l' && *cli_jstr(ent, "target") && hops < 16) {
			char *next = NULL;

			if (follow_link(&next, fpath, cli_jstr(ent, "target")) < 0) {
				rc = cli_fail(cli);
				goto out;
			}
			free(fpath);
			fpath = next;
			continue;
		}
		rc = type[0] == 'l'
			? cli_failf(cli, "'%s' is a symlink that cannot be followed", fpath)
			: cli_failf(cli, "'%s' is not a regular file", fpath);
		goto out;
	}
	size = (uint64_t)cli_jint(ent, "size");
	mode = (uint32_t)cli_jint(ent, "mode");

	if (output) {
		/* A temporary name in FILE's directory, renamed over FILE only once
		 * every byte arrived: a failure never leaves a partial FILE. */
		char *dcopy = strdup(output), *bcopy = strdup(output);
		mode_t um;

		if (!dcopy || !bcopy ||
		    asprintf(&tmp, "%s/.%s.cairn-XXXXXX", dirname(dcopy), basename(bcopy)) < 0)
			tmp = NULL;
		free(dcopy);
		free(bcopy);
		if (!tmp) {
			rc = cli_failf(cli, "out of memory");
			goto out;
		}
		sink.fd = mkstemp(tmp);
		if (sink.fd < 0) {
			cairn_error_errno(errno, "cannot create '%s'", output);
			free(tmp);
			tmp = NULL;
			rc = cli_fail(cli);
			goto out;
		}
		um = umask(0);
		umask(um);
		if (fchmod(sink.fd, (mode_t)(mode & 0777) & ~um) < 0) {
			cairn_error_errno(errno, "cannot set the mode of '%s'", output);
			rc = cli_fail(cli);
			goto out;
		}
		sink.what = output;
	}

	free(req);
	if (asprintf(&req, "%s/content?path=%s", base, epath) < 0) {
		req = NULL;
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cairn_client_download(c, req, get_write, &sink) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (sink.n != size) {
		rc = cli_failf(cli, "'%s': got %llu bytes of %llu", fpath,
		               (unsigned long long)sink.n, (unsigned long long)size);
		goto out;
	}
	if (output) {
		int fd = sink.fd;

		sink.fd = -1;
		if (close(fd) < 0) {
			cairn_error_errno(errno, "cannot write '%s'", output);
			rc = cli_fail(cli);
			goto out;
		}
		if (rename(tmp, output) < 0) {
			cairn_error_errno(errno, "cannot create '%s'", output);
			rc = cli_fail(cli);
			goto out;
		}
		free(tmp);
		tmp = NULL;
		if (cli->json) {
			json_t *j = json_pack("{s:s,s:I,s:s,s:I,s:s}", "dataset", name,
			                      "seq", (json_int_t)atoll(seq), "path", fpath,
			                      "size", (json_int_t)size, "output", output);

			cli_json_print(j);
			json_decref(j);
		}
	}
out:
	if (output && sink.fd >= 0)
		close(sink.fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	json_decref(ent);
	free(req);
	free(epath);
	free(fpath);
	free(name);
	free(ver);
	return rc;
}

/* ---- tag ------------------------------------------------------------- */

int cmd_tag(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS, {"delete", no_argument, NULL, 'd'}, {0, 0, 0, 0}};
	char base[512], path[700];
	char *name = NULL, *ver = NULL;
	const char *tag;
	json_t *body = NULL, *res = NULL;
	cairn_client *c;
	int opt, del = 0, rc = CLI_OK;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":hd", opts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case 'd': del = 1; break;
		case 'h': return cli_help(tag_help);
		default: return cli_bad_option(cli, tag_help, argv, opt);
		}
	}
	if (optind + 2 > argc)
		return cli_usage(cli, tag_help, optind >= argc ? "missing NAME@V" : "missing TAG");
	if (optind + 2 < argc)
		return cli_usage(cli, tag_help, "unexpected argument '%s'", argv[optind + 2]);
	tag = argv[optind + 1];
	if (cli_ref_parse(&name, &ver, argv[optind]) < 0 || cairn_tag_validate(tag) < 0 ||
	    cairn_dataset_path(base, sizeof(base), name) < 0) {
		rc = cli_invalid(cli);
		goto out;
	}
	/* Tags are [a-z0-9._-]: nothing to escape. */
	snprintf(path, sizeof(path), "%s/-/tags/%s", base, tag);
	if (cli_client(cli, &c) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (del) {
		if (cairn_client_json(c, "DELETE", path, NULL, NULL) < 0) {
			rc = cli_fail(cli);
			goto out;
		}
		if (cli->json) {
			res = json_pack("{s:s,s:s,s:b}", "dataset", name, "tag", tag, "deleted", 1);
			cli_json_print(res);
		} else {
			printf("deleted tag %s of %s\n", tag, name);
		}
		goto out;
	}
	body = json_pack("{s:s}", "version", ver ? ver : "latest");
	if (!body) {
		rc = cli_failf(cli, "version '%s' is not valid UTF-8", ver);
		goto out;
	}
	if (cairn_client_json(c, "PUT", path, body, &res) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json)
		cli_json_print(res);
	else
		printf("%s@%lld tagged %s  %s\n", name, (long long)cli_jint(res, "seq"), tag,
		       cli_jstr(res, "digest"));
out:
	json_decref(body);
	json_decref(res);
	free(name);
	free(ver);
	return rc;
}
