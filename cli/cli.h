/* cli.h — what the commands of `cairn` share (private to cli/).
 *
 * Each command is a function cmd_<name>(cli, argc, argv) that parses its own
 * options (argv[0] is the command's name) and returns the process's exit
 * status: CLI_OK, CLI_FAIL after printing "cairn: <command>: <why>" on
 * stderr, or CLI_USAGE after printing what was wrong and the synopsis.
 * The global options (--catalog, --json) are applied to `cli` before a
 * command runs; the client is opened on first use and freed by main.
 *
 * Output rules every command follows: results on stdout, messages and
 * progress on stderr; with --json, exactly one JSON document on stdout
 * (listings are streamed as one document, page by page); sizes human-readable
 * in tables, exact in JSON.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "client.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli {
	const char *catalog;    /* --catalog ADDR; NULL: $CAIRN_CATALOG or the default */
	int json;               /* --json */
	const char *cmd;        /* names the command in messages: "dataset create";
	                         * NULL before one is chosen */
	cairn_client *client;   /* owned; opened by cli_client() */
};

/* Listings ask for pages of this many entries (the API's default). */
#define CLI_PAGE 1000

/* The catalogd client, created on first use (CAIRN_E* on failure). */
int cli_client(struct cli *cli, cairn_client **out);

/* ---- Errors and help ------------------------------------------------- */

/* "cairn: <cmd>: <the thread's error message>"; returns CLI_FAIL. */
int cli_fail(struct cli *cli);
/* Like cli_fail, for an argument found invalid before anything was asked
 * of catalogd (a bad name, tag or K=V): returns CLI_USAGE. */
int cli_invalid(struct cli *cli);
/* "cairn: <cmd>: <fmt...>"; returns CLI_FAIL. */
int cli_failf(struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "cairn: <cmd>: <fmt...>", then the synopsis (help up to its first blank
 * line) on stderr; returns CLI_USAGE. */
int cli_usage(struct cli *cli, const char *help, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The single operand a command takes after its options (argv[optind]):
 * CLI_OK with *out set, or CLI_USAGE naming what is missing or extra. */
int cli_one_operand(struct cli *cli, int argc, char **argv, const char *help,
                    const char *what, const char **out);

/* The whole help text on stdout; returns CLI_OK. */
int cli_help(const char *help);

/* The cursor of the next page of a listing by name ("next": NAME|null):
 * malloc'd, or NULL at the end (an empty page ends it too, or a broken
 * server could make us page forever). */
char *cli_next_name(const json_t *res, const json_t *list);

/* One subcommand of a command group ("dataset list", "tier policy set"). */
struct cli_sub {
	const char *name;
	const char *alias;      /* another accepted name, or NULL */
	const char *cmd;        /* how messages name it: "dataset list" */
	int (*fn)(struct cli *cli, int argc, char **argv);
};
/* Runs the subcommand named by argv[1] with argv shifted by one; answers
 * -h/--help/help with `help`, and a missing or unknown name with a usage
 * error (`missing` says what was expected). */
int cli_dispatch(struct cli *cli, int argc, char **argv, const char *help,
                 const char *missing, const struct cli_sub *subs, size_t nsubs);
/* A getopt_long error (c is ':' or '?', getopt run with a leading ':'). */
int cli_bad_option(struct cli *cli, const char *help, char **argv, int c);

/* Long options every command takes, and getopt's short-option prefix:
 * ':' reports missing arguments, '+' is NOT used so that options may follow
 * operands ("cairn commit ds dir --message x"). */
#define CLI_OPT_JSON 0x100
#define CLI_COMMON_OPTIONS \
	{"json", no_argument, NULL, CLI_OPT_JSON}, \
	{"help", no_argument, NULL, 'h'}

/* Resets getopt for a command's own argv (glibc: optind 0 re-initialises). */
void cli_getopt_reset(void);
/* Parses argv for a command that takes only the common options. *done is
 * set when the command should return the result at once (help given, a bad
 * option); otherwise it goes on with argv[optind...] as its operands. */
int cli_common_opts(int *done, struct cli *cli, const char *help, int argc, char **argv);
/* The same, for a command that takes no operands either. */
int cli_no_operands(int *done, struct cli *cli, const char *help, int argc, char **argv);

/* ---- Output ---------------------------------------------------------- */

/* One compact JSON document and a newline on stdout. */
void cli_json_print(json_t *j);

/* A listing streamed as one JSON document: the fields of `head` (may be
 * NULL), then "key": [items...]. Memory stays flat however long it is. */
struct cli_jstream {
	size_t n;
};
void cli_jstream_begin(struct cli_jstream *s, json_t *head, const char *key);
void cli_jstream_item(struct cli_jstream *s, json_t *item);
void cli_jstream_end(struct cli_jstream *s);

/* "123 B", "12.1 KiB", "4.0 MiB" (1024-based). Returns buf. */
char *cli_size(char *buf, size_t len, uint64_t n);
/* Local time "2026-11-21 18:52:07"; "-" for 0. Returns buf. */
char *cli_time(char *buf, size_t len, int64_t t);
/* "-rw-r--r--" style, from an entry's type letter and mode. */
char *cli_mode(char *buf, size_t len, char type, uint32_t mode);

/* Field accessors that tolerate absent or null fields. */
const char *cli_jstr(const json_t *o, const char *key);    /* "" when absent */
int64_t cli_jint(const json_t *o, const char *key);        /* 0 when absent */
int cli_jnull(const json_t *o, const char *key);           /* absent or null */

/* An aligned table printed page by page: rows are buffered until
 * cli_table_flush(), column widths only grow, so the first page (most
 * listings have one) is perfectly aligned and later pages stay readable.
 * align is one letter per column: 'l' or 'r'. */
#define CLI_TABLE_MAXCOLS 12
struct cli_table {
	int ncols;
	const char *const *heads;
	const char *align;
	size_t width[CLI_TABLE_MAXCOLS];
	char **cells;           /* nrows * ncols, malloc'd strings */
	size_t nrows, cap;
	int header_done;
};
void cli_table_init(struct cli_table *t, int ncols, const char *const *heads,
                    const char *align);
/* ncols strings; NULL prints as "". */
int cli_table_row(struct cli_table *t, const char *const *cells);
void cli_table_flush(struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* ---- Arguments ------------------------------------------------------- */

/* "K=V" → meta[K] = V. CAIRN_EINVAL when there is no '=' or K is empty. */
int cli_meta_add(json_t *meta, const char *kv);

/* Parses NAME[@V] into *name, *ver (NULL when absent; both malloc'd, the
 * caller frees them). Negative, with the message set, for a bad name or an
 * empty V. */
int cli_ref_parse(char **name, char **ver, const char *ref);

/* A path inside a version as the API takes it: no leading or trailing '/'.
 * malloc'd; NULL when out of memory. */
char *cli_clean_path(const char *p);

/* GETs the version (without its tier counts) and writes its sequence
 * number into seq, so that later requests name one version even if a tag
 * moves or a commit lands meanwhile. */
int cli_resolve_seq(char *seq, size_t seqlen, cairn_client *c, const char *name,
                    const char *ver);

/* "/v1/datasets/<name>/-/versions/<escaped ver><suffix>"; ver NULL means
 * latest. CAIRN_ETOOBIG if it does not fit. */
int cli_version_path(char *buf, size_t len, const char *name, const char *ver,
                     const char *suffix);

/* ---- Commands -------------------------------------------------------- */

int cmd_dataset(struct cli *cli, int argc, char **argv);
int cmd_commit(struct cli *cli, int argc, char **argv);
int cmd_log(struct cli *cli, int argc, char **argv);
int cmd_show(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_tag(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_fsck(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_tier(struct cli *cli, int argc, char **argv);

#endif
