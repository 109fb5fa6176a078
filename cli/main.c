/* main.c — `cairn`, the command-line client of catalogd.
 *
 * Dispatches to the commands (the other files of cli/), applies the
 * global options and holds the output helpers they share (see cli.h). The CLI never touches the
 * catalog or the pool itself: everything goes through catalogd's API.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "error.h"

static const char main_help[] =
	"usage: cairn [--catalog ADDR] [--json] COMMAND [ARGS...]\n"
	"\n"
	"Datasets with immutable, content-addressed versions, served by catalogd.\n"
	"\n"
	"Commands:\n"
	"  dataset create NAME [--description T] [--owner O] [--license L]\n"
	"                 [--meta K=V]... [--tag T]...\n"
	"  dataset list                       list datasets\n"
	"  dataset show NAME                  a dataset's metadata and version tags\n"
	"  commit NAME DIR [--message T] [--derived-from DS@V]... [--transform T]\n"
	"                 [--meta K=V]...     record DIR as the next version of NAME\n"
	"  log NAME                           versions, newest first\n"
	"  show NAME[@V]                      a version: metadata, files, bytes, tiers\n"
	"  ls NAME[@V] [PATH] [-l]            list a directory of a version\n"
	"  get NAME[@V] PATH [-o FILE]        read a file of a version\n"
	"  tag NAME@V TAG [--delete]          point a tag at a version (or remove it)\n"
	"  tier status|policy|rule|run|pin|unpin|recall|job|explain\n"
	"                                     tiering between the pool and S3\n"
	"                                     ('cairn tier --help')\n"
	"  audit list [--since T] | verify    the tamper-evident audit log\n"
	"  status                             catalogd's status\n"
	"  fsck                               check every stored object\n"
	"  version                            this program's version\n"
	"\n"
	"V is a sequence number, a tag, 'latest' (the default) or a digest prefix.\n"
	"\n"
	"Global options (before or after the command):\n"
	"  --catalog ADDR   catalogd's address: unix:/path/to/socket or\n"
	"                   https://host:port (default: $CAIRN_CATALOG, else\n"
	"                   unix:/run/cairn/catalogd.sock)\n"
	"  --json           machine-readable JSON on stdout\n"
	"  -h, --help       help; 'cairn COMMAND --help' for a command's\n";

static const char version_help[] =
	"usage: cairn version [--json]\n"
	"\n"
	"Prints the version of this program.\n";

/* ---- Errors and help ------------------------------------------------- */

int cli_fail(struct cli *cli)
{
	const char *msg = cairn_error_msg();

	fflush(stdout);
	fprintf(stderr, "cairn: %s%s%s\n", cli->cmd ? cli->cmd : "", cli->cmd ? ": " : "",
	        msg && *msg ? msg : "failed");
	return CLI_FAIL;
}

int cli_invalid(struct cli *cli)
{
	cli_fail(cli);
	return CLI_USAGE;
}

int cli_failf(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "cairn: %s%s", cli->cmd ? cli->cmd : "", cli->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

/* The synopsis is the help text up to its first blank line. */
static void print_synopsis(FILE *f, const char *help)
{
	const char *end = strstr(help, "\n\n");

	if (end)
		fprintf(f, "%.*s\n", (int)(end - help), help);
	else
		fputs(help, f);
}

int cli_usage(struct cli *cli, const char *help, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cairn: %s%s", cli->cmd ? cli->cmd : "", cli->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_synopsis(stderr, help);
	return CLI_USAGE;
}

int cli_one_operand(struct cli *cli, int argc, char **argv, const char *help,
                    const char *what, const char **out)
{
	if (optind >= argc)
		return cli_usage(cli, help, "missing %s", what);
	if (optind + 1 < argc)
		return cli_usage(cli, help, "unexpected argument '%s'", argv[optind + 1]);
	*out = argv[optind];
	return CLI_OK;
}

int cli_help(const char *help)
{
	fputs(help, stdout);
	return CLI_OK;
}

char *cli_next_name(const json_t *res, const json_t *list)
{
	const json_t *next = json_object_get(res, "next");

	if (!json_is_string(next) || json_array_size(list) == 0)
		return NULL;
	return strdup(json_string_value(next));
}

int cli_dispatch(struct cli *cli, int argc, char **argv, const char *help,
                 const char *missing, const struct cli_sub *subs, size_t nsubs)
{
	const char *sub;

	if (argc < 2)
		return cli_usage(cli, help, "%s", missing);
	sub = argv[1];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0)
		return cli_help(help);
	for (size_t i = 0; i < nsubs; i++) {
		if (strcmp(sub, subs[i].name) == 0 ||
		    (subs[i].alias && strcmp(sub, subs[i].alias) == 0)) {
			cli->cmd = subs[i].cmd;
			return subs[i].fn(cli, argc - 1, argv + 1);
		}
	}
	return cli_usage(cli, help, "unknown subcommand '%s'", sub);
}

int cli_bad_option(struct cli *cli, const char *help, char **argv, int c)
{
	/* With opterr off, getopt leaves the culprit in optopt (short options)
	 * or as the argument just consumed (long ones). */
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':') {
		if (optopt && optopt < 0x100 && arg[0] == '-' && arg[1] != '-')
			return cli_usage(cli, help, "option '-%c' needs a value", optopt);
		return cli_usage(cli, help, "option '%s' needs a value", arg);
	}
	if (optopt && optopt < 0x100)
		return cli_usage(cli, help, "unknown option '-%c'", optopt);
	return cli_usage(cli, help, "unknown option '%s'", arg);
}

void cli_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

int cli_common_opts(int *done, struct cli *cli, const char *help, int argc, char **argv)
{
	static const struct option opts[] = {CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
	int c;

	*done = 1;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case 'h': return cli_help(help);
		default: return cli_bad_option(cli, help, argv, c);
		}
	}
	*done = 0;
	return CLI_OK;
}

int cli_no_operands(int *done, struct cli *cli, const char *help, int argc, char **argv)
{
	int rc = cli_common_opts(done, cli, help, argc, argv);

	if (*done || optind >= argc)
		return rc;
	*done = 1;
	return cli_usage(cli, help, "unexpected argument '%s'", argv[optind]);
}

int cli_client(struct cli *cli, cairn_client **out)
{
	int rc;

	if (!cli->client) {
		rc = cairn_client_new(&cli->client, cli->catalog);
		if (rc < 0)
			return rc;
	}
	*out = cli->client;
	return 0;
}

/* ---- Output ---------------------------------------------------------- */

void cli_json_print(json_t *j)
{
	json_dumpf(j, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

void cli_jstream_begin(struct cli_jstream *s, json_t *head, const char *key)
{
	char *h = NULL;
	json_t *k;

	s->n = 0;
	if (head && json_object_size(head) > 0)
		h = json_dumps(head, JSON_COMPACT);
	if (h) {
		/* Reopen the head object: drop its closing brace. */
		h[strlen(h) - 1] = '\0';
		fputs(h, stdout);
		fputc(',', stdout);
		free(h);
	} else {
		fputc('{', stdout);
	}
	k = json_string(key);
	json_dumpf(k, stdout, JSON_ENCODE_ANY);
	json_decref(k);
	fputs(":[", stdout);
}

void cli_jstream_item(struct cli_jstream *s, json_t *item)
{
	if (s->n++ > 0)
		fputc(',', stdout);
	json_dumpf(item, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
}

void cli_jstream_end(struct cli_jstream *s)
{
	fputs("]}\n", stdout);
}

char *cli_size(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, v < 10.0 ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

char *cli_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || !localtime_r(&tt, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

char *cli_mode(char *buf, size_t len, char type, uint32_t mode)
{
	static const char rwx[] = "rwxrwxrwx";
	char s[11];
	int i;

	s[0] = type == 'd' ? 'd' : type == 'l' ? 'l' : '-';
	for (i = 0; i < 9; i++)
		s[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & 04000)
		s[3] = (mode & 0100) ? 's' : 'S';
	if (mode & 02000)
		s[6] = (mode & 0010) ? 's' : 'S';
	if (mode & 01000)
		s[9] = (mode & 0001) ? 't' : 'T';
	s[10] = '\0';
	snprintf(buf, len, "%s", s);
	return buf;
}

const char *cli_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

int64_t cli_jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return 0;
}

int cli_jnull(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return !v || json_is_null(v);
}

/* ---- Tables ---------------------------------------------------------- */

/* Columns hold UTF-8 names; count code points, not bytes, so that
 * "données" lines up with "data". */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void cli_table_init(struct cli_table *t, int ncols, const char *const *heads,
                    const char *align)
{
	int i;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols < CLI_TABLE_MAXCOLS ? ncols : CLI_TABLE_MAXCOLS;
	t->heads = heads;
	t->align = align;
	for (i = 0; i < t->ncols; i++)
		t->width[i] = text_width(heads[i]);
}

int cli_table_row(struct cli_table *t, const char *const *cells)
{
	size_t need = (t->nrows + 1) * (size_t)t->ncols;
	int i;

	if (need > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64 * (size_t)t->ncols;
		char **c;

		while (cap < need)
			cap *= 2;
		c = realloc(t->cells, cap * sizeof(*c));
		if (!c)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		t->cells = c;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "");
		size_t w;

		if (!s)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		/* A cell is one line of the table. */
		for (char *p = s; *p; p++)
			if (*p == '\n' || *p == '\r' || *p == '\t')
				*p = ' ';
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = s;
		w = text_width(s);
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
	return 0;
}

static void table_line(struct cli_table *t, FILE *f, const char *const *cells)
{
	int i, last = t->ncols - 1;

	/* Trailing empty cells would only print blanks. */
	while (last > 0 && !*cells[last])
		last--;
	for (i = 0; i <= last; i++) {
		size_t w = text_width(cells[i]);

		if (i > 0)
			fputs("  ", f);
		if (t->align[i] == 'r')
			for (; w < t->width[i]; w++)
				fputc(' ', f);
		fputs(cells[i], f);
		if (t->align[i] != 'r' && i < last)
			for (; w < t->width[i]; w++)
				fputc(' ', f);
	}
	fputc('\n', f);
}

void cli_table_flush(struct cli_table *t, FILE *f)
{
	size_t r;
	int i;

	if (!t->header_done && t->nrows > 0) {
		table_line(t, f, t->heads);
		t->header_done = 1;
	}
	for (r = 0; r < t->nrows; r++) {
		char **row = t->cells + r * (size_t)t->ncols;

		table_line(t, f, (const char *const *)row);
		for (i = 0; i < t->ncols; i++)
			free(row[i]);
	}
	t->nrows = 0;
}

void cli_table_free(struct cli_table *t)
{
	size_t r;
	int i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++)
			free(t->cells[r * (size_t)t->ncols + (size_t)i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ---- Arguments ------------------------------------------------------- */

int cli_meta_add(json_t *meta, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *key;
	json_t *val;
	int rc = 0;

	if (!eq || eq == kv)
		return cairn_error_set(CAIRN_EINVAL, "'%s' is not KEY=VALUE", kv);
	key = strndup(kv, (size_t)(eq - kv));
	val = json_string(eq + 1);
	if (!key || !val) {
		rc = cairn_error_set(CAIRN_EINVAL, "'%s' is not valid UTF-8", kv);
		goto out;
	}
	if (json_object_set_new(meta, key, val) < 0) {
		val = NULL; /* consumed even on failure */
		rc = cairn_error_set(CAIRN_EINVAL, "'%s' is not valid UTF-8", kv);
		goto out;
	}
	val = NULL;
out:
	json_decref(val);
	free(key);
	return rc;
}

int cli_version_path(char *buf, size_t len, const char *name, const char *ver,
                     const char *suffix)
{
	char base[512];
	char *v = NULL;
	int rc, n;

	rc = cairn_dataset_path(base, sizeof(base), name);
	if (rc < 0)
		return rc;
	v = cairn_url_escape(ver ? ver : "latest");
	if (!v)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	n = snprintf(buf, len, "%s/-/versions/%s%s", base, v, suffix ? suffix : "");
	free(v);
	if (n < 0 || (size_t)n >= len)
		return cairn_error_set(CAIRN_ETOOBIG, "request path too long");
	return 0;
}

/* ---- Dispatch -------------------------------------------------------- */

static int cmd_version(struct cli *cli, int argc, char **argv)
{
	int done, rc = cli_no_operands(&done, cli, version_help, argc, argv);

	if (done)
		return rc;
	if (cli->json) {
		json_t *j = json_pack("{s:s}", "version", CAIRN_VERSION);

		cli_json_print(j);
		json_decref(j);
	} else {
		printf("cairn %s\n", CAIRN_VERSION);
	}
	return CLI_OK;
}

static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
} commands[] = {
	{"dataset", cmd_dataset},
	{"commit",  cmd_commit},
	{"log",     cmd_log},
	{"show",    cmd_show},
	{"ls",      cmd_ls},
	{"get",     cmd_get},
	{"tag",     cmd_tag},
	{"tier",    cmd_tier},
	{"audit",   cmd_audit},
	{"status",  cmd_status},
	{"fsck",    cmd_fsck},
	{"version", cmd_version},
	{"help",    cmd_help},
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* "cairn help [COMMAND]" is "cairn [COMMAND] --help". */
static int cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd;
	char *hargv[] = {NULL, "--help", NULL};

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return cli_help(main_help);
	cmd = find_command(argv[1]);
	if (!cmd || cmd->fn == cmd_help) {
		return cli_usage(cli, main_help, "unknown command '%s'", argv[1]);
	}
	cli->cmd = cmd->name;
	hargv[0] = argv[1];
	return cmd->fn(cli, 2, hargv);
}

/* Takes --catalog out of argv wherever it is (it is global, so it may
 * follow the command: "cairn ls ds --catalog unix:/tmp/s"), up to "--". */
static int take_catalog(struct cli *cli, int *argc, char **argv)
{
	int i = 1, j = 1;

	while (i < *argc) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--catalog") == 0) {
			if (i + 1 >= *argc || argv[i + 1][0] == '\0')
				return -1;
			cli->catalog = argv[i + 1];
			i += 2;
			continue;
		}
		if (strncmp(argv[i], "--catalog=", 10) == 0) {
			if (argv[i][10] == '\0')
				return -1;
			cli->catalog = argv[i] + 10;
			i++;
			continue;
		}
		argv[j++] = argv[i++];
	}
	*argc = j;
	argv[j] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = {.cmd = NULL};
	const struct command *cmd;
	int i = 1, rc;

	if (take_catalog(&cli, &argc, argv) < 0)
		return cli_usage(&cli, main_help, "option '--catalog' needs an address");

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cli.json = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return cli_help(main_help);
		else if (strcmp(argv[i], "--version") == 0)
			return cmd_version(&cli, 1, (char *[]){"version", NULL});
		else
			return cli_usage(&cli, main_help, "unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return cli_usage(&cli, main_help, "missing command");

	cmd = find_command(argv[i]);
	if (!cmd)
		return cli_usage(&cli, main_help, "unknown command '%s'", argv[i]);
	cli.cmd = cmd->name;
	rc = cmd->fn(&cli, argc - i, argv + i);

	cairn_client_free(cli.client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc == CLI_OK) {
			fprintf(stderr, "cairn: %s: cannot write output: %s\n",
			        cli.cmd, strerror(errno));
			rc = CLI_FAIL;
		}
	}
	return rc;
}
