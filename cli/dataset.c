/* dataset.c — `cairn dataset create|list|show`.
 *
 * Datasets are the catalog's top-level names; their versions are handled in
 * version.c and commit.c.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "manifest.h"

static const char dataset_help[] =
	"usage: cairn dataset create NAME [--description T] [--owner O] [--license L]\n"
	"                            [--meta K=V]... [--tag T]... [--json]\n"
	"       cairn dataset list [--json]\n"
	"       cairn dataset show NAME [--json]\n"
	"\n"
	"Creates, lists and shows datasets. 'cairn dataset SUBCOMMAND --help' for more.\n";

static const char create_help[] =
	"usage: cairn dataset create NAME [--description T] [--owner O] [--license L]\n"
	"                            [--meta K=V]... [--tag T]... [--json]\n"
	"\n"
	"Creates an empty dataset; 'cairn commit' adds its versions.\n"
	"NAME is [a-z0-9][a-z0-9._-]*, optionally with a 'namespace/' prefix.\n"
	"\n"
	"  --description T   what the data is\n"
	"  --owner O         who answers for it (default: you)\n"
	"  --license L       terms of use\n"
	"  --meta K=V        a searchable key=value field (repeatable)\n"
	"  --tag T           a searchable label (repeatable)\n"
	"  --json            print the created dataset as JSON\n";

static const char list_help[] =
	"usage: cairn dataset list [--json]\n"
	"\n"
	"Lists every dataset, sorted by name.\n";

static const char show_help[] =
	"usage: cairn dataset show NAME [--json]\n"
	"\n"
	"Shows a dataset's metadata and which versions its tags point at.\n";

static int dataset_create(struct cli *cli, int argc, char **argv)
{
	enum { O_DESC = 0x200, O_OWNER, O_LICENSE, O_META, O_TAG };
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"description", required_argument, NULL, O_DESC},
		{"owner", required_argument, NULL, O_OWNER},
		{"license", required_argument, NULL, O_LICENSE},
		{"meta", required_argument, NULL, O_META},
		{"tag", required_argument, NULL, O_TAG},
		{0, 0, 0, 0},
	};
	json_t *body = json_object(), *meta = json_object(), *tags = json_array();
	json_t *res = NULL;
	cairn_client *c;
	const char *name;
	int opt, rc = CLI_OK;

	if (!body || !meta || !tags) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		const char *field = NULL;
		json_t *s;

		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; continue;
		case 'h': rc = cli_help(create_help); goto out;
		case O_DESC: field = "description"; break;
		case O_OWNER: field = "owner"; break;
		case O_LICENSE: field = "license"; break;
		case O_META:
			if (cli_meta_add(meta, optarg) < 0) {
				rc = cli_invalid(cli);
				goto out;
			}
			continue;
		case O_TAG:
			s = json_string(optarg);
			if (!s || !*optarg) {
				json_decref(s);
				rc = cli_usage(cli, create_help, "bad tag '%s'", optarg);
				goto out;
			}
			json_array_append_new(tags, s);
			continue;
		default: rc = cli_bad_option(cli, create_help, argv, opt); goto out;
		}
		s = json_string(optarg);
		if (!s) {
			rc = cli_usage(cli, create_help, "--%s is not valid UTF-8", field);
			goto out;
		}
		json_object_set_new(body, field, s);
	}
	if (optind >= argc) {
		rc = cli_usage(cli, create_help, "missing NAME");
		goto out;
	}
	if (optind + 1 < argc) {
		rc = cli_usage(cli, create_help, "unexpected argument '%s'", argv[optind + 1]);
		goto out;
	}
	name = argv[optind];
	if (cairn_dataset_name_validate(name) < 0) {
		rc = cli_invalid(cli);
		goto out;
	}
	json_object_set_new(body, "name", json_string(name));
	if (json_object_size(meta) > 0)
		json_object_set(body, "meta", meta);
	if (json_array_size(tags) > 0)
		json_object_set(body, "tags", tags);

	if (cli_client(cli, &c) < 0 ||
	    cairn_client_json(c, "POST", "/v1/datasets", body, &res) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json)
		cli_json_print(res);
	else
		printf("created dataset %s\n", name);
out:
	json_decref(res);
	json_decref(body);
	json_decref(meta);
	json_decref(tags);
	return rc;
}

static void dataset_row(struct cli_table *t, const json_t *d)
{
	char nver[32], latest[32], created[32];
	const char *cells[6];

	snprintf(nver, sizeof(nver), "%lld", (long long)cli_jint(d, "versions"));
	if (cli_jnull(d, "latest"))
		snprintf(latest, sizeof(latest), "-");
	else
		snprintf(latest, sizeof(latest), "@%lld", (long long)cli_jint(d, "latest"));
	cells[0] = cli_jstr(d, "name");
	cells[1] = nver;
	cells[2] = latest;
	cells[3] = cli_jstr(d, "owner");
	cells[4] = cli_time(created, sizeof(created), cli_jint(d, "created"));
	cells[5] = cli_jstr(d, "description");
	cli_table_row(t, cells);
}

static int dataset_list(struct cli *cli, int argc, char **argv)
{
	static const char *const heads[] = {
		"NAME", "VERSIONS", "LATEST", "OWNER", "CREATED", "DESCRIPTION"};
	struct cli_table table;
	struct cli_jstream js;
	char *after = NULL;
	cairn_client *c;
	int done, rc = CLI_OK, started = 0;

	cli_table_init(&table, 6, heads, "lrrlll");
	rc = cli_no_operands(&done, cli, list_help, argc, argv);
	if (done)
		return rc;
	if (cli_client(cli, &c) < 0)
		return cli_fail(cli);

	/* One page in memory at a time, printed before the next is asked for. */
	for (;;) {
		char path[1024];
		json_t *res = NULL, *list, *d;
		size_t i;

		if (after) {
			char *e = cairn_url_escape(after);

			snprintf(path, sizeof(path), "/v1/datasets?limit=%d&after=%s",
			         CLI_PAGE, e ? e : "");
			free(e);
		} else {
			snprintf(path, sizeof(path), "/v1/datasets?limit=%d", CLI_PAGE);
		}
		if (cairn_client_json(c, "GET", path, NULL, &res) < 0) {
			rc = cli_fail(cli);
			goto out;
		}
		list = json_object_get(res, "datasets");
		if (cli->json && !started)
			cli_jstream_begin(&js, NULL, "datasets");
		started = 1;
		json_array_foreach(list, i, d) {
			if (cli->json)
				cli_jstream_item(&js, d);
			else
				dataset_row(&table, d);
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
	free(after);
	cli_table_free(&table);
	return rc;
}

static void print_field(const char *key, const char *val)
{
	printf("%-13s %s\n", key, val);
}

static int dataset_show(struct cli *cli, int argc, char **argv)
{
	char path[512], tpath[600], buf[64];
	json_t *ds = NULL, *tags = NULL, *list, *v;
	const char *name, *key;
	cairn_client *c;
	size_t i;
	int done, rc = CLI_OK;

	rc = cli_common_opts(&done, cli, show_help, argc, argv);
	if (done)
		return rc;
	rc = cli_one_operand(cli, argc, argv, show_help, "NAME", &name);
	if (rc != CLI_OK)
		return rc;
	if (cairn_dataset_name_validate(name) < 0)
		return cli_invalid(cli);
	if (cairn_dataset_path(path, sizeof(path), name) < 0)
		return cli_invalid(cli);
	snprintf(tpath, sizeof(tpath), "%s/-/tags", path);

	if (cli_client(cli, &c) < 0 ||
	    cairn_client_json(c, "GET", path, NULL, &ds) < 0 ||
	    cairn_client_json(c, "GET", tpath, NULL, &tags) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	list = json_object_get(tags, "tags");
	if (cli->json) {
		json_object_set_new(ds, "version_tags",
		                    list ? json_incref(list) : json_array());
		cli_json_print(ds);
		goto out;
	}

	print_field("name:", cli_jstr(ds, "name"));
	print_field("description:", cli_jstr(ds, "description"));
	print_field("owner:", cli_jstr(ds, "owner"));
	print_field("license:", cli_jstr(ds, "license"));
	print_field("created:", cli_time(buf, sizeof(buf), cli_jint(ds, "created")));
	if (cli_jnull(ds, "latest"))
		snprintf(buf, sizeof(buf), "%lld", (long long)cli_jint(ds, "versions"));
	else
		snprintf(buf, sizeof(buf), "%lld (latest @%lld)",
		         (long long)cli_jint(ds, "versions"),
		         (long long)cli_jint(ds, "latest"));
	print_field("versions:", buf);

	printf("%-13s", "tags:");
	json_array_foreach(json_object_get(ds, "tags"), i, v)
		printf("%s%s", i ? ", " : " ", json_string_value(v) ? json_string_value(v) : "");
	putchar('\n');

	i = 0;
	json_object_foreach(json_object_get(ds, "meta"), key, v) {
		printf("%-13s %s=%s\n", i++ ? "" : "meta:", key,
		       json_is_string(v) ? json_string_value(v) : "");
	}
	if (i == 0)
		print_field("meta:", "");

	json_array_foreach(list, i, v) {
		char line[256];

		snprintf(line, sizeof(line), "%s -> @%lld  %.12s", cli_jstr(v, "tag"),
		         (long long)cli_jint(v, "seq"), cli_jstr(v, "digest"));
		print_field(i ? "" : "version tags:", line);
	}
out:
	json_decref(ds);
	json_decref(tags);
	return rc;
}

int cmd_dataset(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"create", NULL, "dataset create", dataset_create},
		{"list", "ls", "dataset list", dataset_list},
		{"show", NULL, "dataset show", dataset_show},
	};

	if (argc >= 3 && strcmp(argv[1], "--json") == 0) {
		/* "cairn dataset --json list": the flag before the subcommand. */
		cli->json = 1;
		argv[1] = argv[2];
		argv[2] = (char *)"--json";
	}
	return cli_dispatch(cli, argc, argv, dataset_help, "missing subcommand",
	                    subs, sizeof(subs) / sizeof(subs[0]));
}
