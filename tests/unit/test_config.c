/* test_config — defaults, INI files (inline comments, line numbers in
 * errors, atomic application), overrides, cross-key checks, the value
 * parsers, and the dump that never shows a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"

static char conf_path[64];

static int setup(void **state)
{
	int fd;

	snprintf(conf_path, sizeof(conf_path), "/tmp/cairn-test-config.XXXXXX");
	fd = mkstemp(conf_path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(conf_path);
	return 0;
}

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect_invalid(int rc, const char *needle)
{
	assert_int_equal(rc, CAIRN_EINVAL);
	if (needle && !strstr(cairn_error_msg(), needle))
		fail_msg("message '%s' does not mention '%s'", cairn_error_msg(), needle);
}

static void test_defaults(void **state)
{
	struct cairn_config c;

	memset(&c, 0x5a, sizeof(c));
	cairn_config_defaults(&c);
	assert_string_equal(c.state_dir, "/var/lib/cairn");
	assert_string_equal(c.socket, "/run/cairn/catalogd.sock");
	assert_string_equal(c.listen, "");
	assert_string_equal(c.tls_cert, "");
	assert_string_equal(c.tls_key, "");
	assert_string_equal(c.log_level, "info");
	assert_string_equal(c.pool_path, "");
	assert_int_equal(c.pool_capacity, 0);
	assert_int_equal(c.chunk_size, 4u << 20);
	assert_string_equal(c.s3_endpoint, "");
	assert_string_equal(c.s3_bucket, "cairn");
	assert_string_equal(c.s3_access_key, "");
	assert_string_equal(c.s3_secret_key, "");
	assert_string_equal(c.s3_protocol, "https");
	assert_string_equal(c.s3_uri_style, "path");
	assert_string_equal(c.s3_encryption_key_file, "");
	assert_true(c.high_watermark == 85.0);
	assert_true(c.low_watermark == 70.0);
	assert_int_equal(c.min_idle, 86400);
	assert_int_equal(c.min_size, 0);
	assert_int_equal(c.concurrency, 8);
	assert_int_equal(c.bandwidth, 0);
	assert_true(c.recall_on_read);
	assert_int_equal(c.verify, CAIRN_VERIFY_READBACK);
	assert_int_equal(c.s3_timeout, 30);
	assert_int_equal(c.s3_retries, 4);
	assert_int_equal(c.s3_presign_ttl, 15 * 60);
	assert_int_equal(c.keep_head, 64 << 10);
	assert_string_equal(c.s3_public_endpoint, "");

	assert_int_equal(cairn_config_finish(&c), 0);
	assert_string_equal(c.pool_path, "/var/lib/cairn/pool");
}

static void test_load_file(void **state)
{
	struct cairn_config c;

	cairn_config_defaults(&c);
	write_conf("; cairn test config\n"
	           "# another comment style\n"
	           "[catalog]\n"
	           "state_dir = /srv/cairn          ; RocksDB, audit log\n"
	           "socket=/tmp/c.sock\n"
	           "listen    = 127.0.0.1:8443\n"
	           "log_level = debug\n"
	           "\n"
	           "[pool]\n"
	           "capacity   =                     ; empty = the filesystem's size\n"
	           "chunk_size = 256K\n"
	           "[s3]\n"
	           "endpoint = 127.0.0.1:9000\n"
	           "secret_key = abc;def\n"
	           "protocol = http\n"
	           "uri_style = virtualhost\n"
	           "[tiering]\n"
	           "high_watermark = 90%\n"
	           "low_watermark  = 50\n"
	           "min_idle       = 2h\t; tab before the comment\n"
	           "min_size       = 1M\n"
	           "concurrency    = 4\n"
	           "bandwidth      = 100M\n"
	           "recall_on_read = off\n"
	           "verify         = readback\n");
	assert_int_equal(cairn_config_load_file(&c, conf_path), 0);
	assert_string_equal(c.state_dir, "/srv/cairn");
	assert_string_equal(c.socket, "/tmp/c.sock");
	assert_string_equal(c.listen, "127.0.0.1:8443");
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.pool_capacity, 0);
	assert_int_equal(c.chunk_size, 256u << 10);
	assert_string_equal(c.s3_endpoint, "127.0.0.1:9000");
	/* ';' without a blank before it is part of the value */
	assert_string_equal(c.s3_secret_key, "abc;def");
	assert_string_equal(c.s3_protocol, "http");
	assert_string_equal(c.s3_uri_style, "virtualhost");
	assert_true(c.high_watermark == 90.0);
	assert_true(c.low_watermark == 50.0);
	assert_int_equal(c.min_idle, 7200);
	assert_int_equal(c.min_size, 1u << 20);
	assert_int_equal(c.concurrency, 4);
	assert_int_equal(c.bandwidth, 100u << 20);
	assert_false(c.recall_on_read);
	assert_int_equal(c.verify, CAIRN_VERIFY_READBACK);
	/* keys the file did not name keep their value */
	assert_string_equal(c.s3_bucket, "cairn");
	assert_int_equal(cairn_config_finish(&c), 0);
	assert_string_equal(c.pool_path, "/srv/cairn/pool");
}

static void test_file_errors_name_line_and_change_nothing(void **state)
{
	struct cairn_config c, before;
	char want[128];

	cairn_config_defaults(&c);
	before = c;
	write_conf("[pool]\n"
	           "chunk_size = 1M\n"
	           "\n"
	           "colour = blue\n"
	           "[tiering]\n"
	           "min_idle = 5m\n");
	expect_invalid(cairn_config_load_file(&c, conf_path), "unknown key 'colour' in [pool]");
	snprintf(want, sizeof(want), "%s:4: ", conf_path);
	assert_true(strncmp(cairn_error_msg(), want, strlen(want)) == 0);
	/* the chunk_size line before the error was not applied */
	assert_memory_equal(&c, &before, sizeof(c));

	write_conf("[tiering]\nhigh_watermark = 85%\nlow_watermark = lots\n");
	expect_invalid(cairn_config_load_file(&c, conf_path), ":3: ");
	assert_non_null(strstr(cairn_error_msg(), "low_watermark"));
	assert_non_null(strstr(cairn_error_msg(), "'lots'"));

	write_conf("[nosuch]\nkey = 1\n");
	expect_invalid(cairn_config_load_file(&c, conf_path), ":2: unknown key 'key' in [nosuch]");

	write_conf("state_dir = /x\n");
	expect_invalid(cairn_config_load_file(&c, conf_path), ":1: ");

	write_conf("[pool]\nthis line has no equals sign\n");
	expect_invalid(cairn_config_load_file(&c, conf_path), ":2: ");

	/* a line longer than the parser takes is refused, not split */
	{
		char text[600];

		snprintf(text, sizeof(text), "[catalog]\nstate_dir = /%0400d\n", 0);
		write_conf(text);
		expect_invalid(cairn_config_load_file(&c, conf_path), ":2: line is longer");
	}
	assert_memory_equal(&c, &before, sizeof(c));

	assert_int_equal(cairn_config_load_file(&c, "/nonexistent/cairn.conf"),
	                 CAIRN_ENOTFOUND);
	assert_non_null(strstr(cairn_error_msg(), "/nonexistent/cairn.conf"));
}

static void test_bad_values(void **state)
{
	static const struct { const char *kv, *needle; } bad[] = {
		{ "pool.chunk_size=3M", "power of two" },
		{ "pool.chunk_size=32K", "between" },
		{ "pool.chunk_size=128M", "between" },
		{ "pool.chunk_size=", "not a size" },
		{ "pool.capacity=lots", "'lots'" },
		{ "tiering.high_watermark=101%", "between 0 and 100" },
		{ "tiering.high_watermark=-1", "'-1'" },
		{ "tiering.high_watermark=nan", "'nan'" },
		{ "tiering.min_idle=1y", "'1y'" },
		{ "tiering.min_idle=-5", "'-5'" },
		{ "tiering.concurrency=0", "'0'" },
		{ "tiering.concurrency=8x", "'8x'" },
		{ "tiering.concurrency=99999999999", "'99999999999'" },
		{ "tiering.recall_on_read=maybe", "'maybe'" },
		{ "tiering.verify=md5", "checksum, readback" },
		{ "s3.protocol=ftp", "http, https" },
		{ "s3.uri_style=dns", "'dns'" },
		{ "s3.presign_ttl=8d", "longer than 604800s" },
		{ "tiering.keep_head=2M", "between" },
		{ "s3.endpoint=http://127.0.0.1:9000", "not host[:port]" },
		{ "s3.public_endpoint=s3.example.org/cairn", "not host[:port]" },
		{ "catalog.log_level=verbose", "'verbose'" },
		{ "catalog.listen=8443", "host:port" },
		{ "catalog.listen=host:99999", "host:port" },
		{ "catalog.nosuch=1", "unknown" },
		{ "nosuch.key=1", "unknown" },
		{ "novalue", "section.key=value" },
	};
	struct cairn_config c, before;

	cairn_config_defaults(&c);
	before = c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = cairn_config_set_kv(&c, bad[i].kv);

		if (rc != CAIRN_EINVAL || !strstr(cairn_error_msg(), bad[i].needle))
			fail_msg("'%s': rc %d, message '%s'", bad[i].kv, rc, cairn_error_msg());
	}
	/* failures leave the config as it was */
	assert_memory_equal(&c, &before, sizeof(c));

	/* a value longer than its field */
	{
		char kv[CAIRN_CONFIG_STR + 32];

		snprintf(kv, sizeof(kv), "catalog.state_dir=/%0*d", CAIRN_CONFIG_STR, 0);
		expect_invalid(cairn_config_set_kv(&c, kv), "longer than");
	}
}

static void test_overrides(void **state)
{
	struct cairn_config c;

	cairn_config_defaults(&c);
	assert_int_equal(cairn_config_set_kv(&c, "pool.chunk_size=256K"), 0);
	assert_int_equal(c.chunk_size, 262144);
	assert_int_equal(cairn_config_set_kv(&c, " tiering.min_idle = 0 "), 0);
	assert_int_equal(c.min_idle, 0);
	assert_int_equal(cairn_config_set_kv(&c, "pool.path=/data/pool"), 0);
	assert_string_equal(c.pool_path, "/data/pool");
	assert_int_equal(cairn_config_set(&c, "tiering", "concurrency", "16"), 0);
	assert_int_equal(c.concurrency, 16);
	assert_int_equal(cairn_config_set(&c, NULL, "s3.bucket", "data"), 0);
	assert_string_equal(c.s3_bucket, "data");
	/* bare [tiering] keys, as `cairn tier policy set` takes them */
	assert_int_equal(cairn_config_set(&c, NULL, "bandwidth", "10M"), 0);
	assert_int_equal(c.bandwidth, 10u << 20);
	expect_invalid(cairn_config_set(&c, NULL, "chunk_size", "1M"), "unknown");
	/* a value with '=' in it */
	assert_int_equal(cairn_config_set_kv(&c, "s3.secret_key=a=b="), 0);
	assert_string_equal(c.s3_secret_key, "a=b=");
	assert_int_equal(cairn_config_finish(&c), 0);
	assert_string_equal(c.pool_path, "/data/pool");   /* set, so not derived */
}

static void test_finish_checks(void **state)
{
	struct cairn_config c;

	cairn_config_defaults(&c);
	assert_int_equal(cairn_config_set_kv(&c, "tiering.low_watermark=90"), 0);
	expect_invalid(cairn_config_finish(&c), "low_watermark");

	cairn_config_defaults(&c);
	assert_int_equal(cairn_config_set_kv(&c, "catalog.tls_cert=/etc/cert.pem"), 0);
	expect_invalid(cairn_config_finish(&c), "tls_key");

	cairn_config_defaults(&c);
	assert_int_equal(cairn_config_set_kv(&c, "s3.endpoint=localhost:9000"), 0);
	assert_int_equal(cairn_config_set_kv(&c, "s3.bucket="), 0);
	expect_invalid(cairn_config_finish(&c), "bucket");

	cairn_config_defaults(&c);
	assert_int_equal(cairn_config_set_kv(&c, "catalog.state_dir="), 0);
	expect_invalid(cairn_config_finish(&c), "state_dir");
}

static void test_env_credentials(void **state)
{
	struct cairn_config c;

	cairn_config_defaults(&c);
	setenv("CAIRN_S3_ACCESS_KEY", "AKIAEXAMPLE", 1);
	setenv("CAIRN_S3_SECRET_KEY", "s3cr3t", 1);
	assert_int_equal(cairn_config_set_kv(&c, "s3.access_key=fromfile"), 0);
	cairn_config_apply_env(&c);
	/* the file's value wins; the empty one is filled */
	assert_string_equal(c.s3_access_key, "fromfile");
	assert_string_equal(c.s3_secret_key, "s3cr3t");
	unsetenv("CAIRN_S3_ACCESS_KEY");
	unsetenv("CAIRN_S3_SECRET_KEY");
}

static void test_runtime_keys(void **state)
{
	static const char *const runtime[] = {
		"tiering.high_watermark", "tiering.low_watermark", "tiering.min_idle",
		"tiering.min_size", "tiering.concurrency", "tiering.bandwidth",
		"tiering.recall_on_read", "tiering.verify", "high_watermark", "verify",
	};
	static const char *const fixed[] = {
		"catalog.state_dir", "catalog.socket", "pool.chunk_size", "pool.path",
		"s3.endpoint", "s3.secret_key", "chunk_size", "tiering.nosuch", "", "tiering.",
	};

	for (size_t i = 0; i < sizeof(runtime) / sizeof(runtime[0]); i++)
		if (!cairn_config_runtime_key(runtime[i]))
			fail_msg("%s should be a run-time key", runtime[i]);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (cairn_config_runtime_key(fixed[i]))
			fail_msg("%s should not be a run-time key", fixed[i]);
	assert_false(cairn_config_runtime_key(NULL));
}

static void test_get_and_dump(void **state)
{
	struct cairn_config c, back;
	char buf[256], *text = NULL;
	size_t len = 0;
	FILE *f;

	cairn_config_defaults(&c);
	assert_int_equal(cairn_config_get(&c, "pool.chunk_size", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "4M");
	assert_int_equal(cairn_config_get(&c, "tiering.min_idle", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1d");
	assert_int_equal(cairn_config_get(&c, "high_watermark", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "85%");
	assert_int_equal(cairn_config_get(&c, "tiering.recall_on_read", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "yes");
	assert_int_equal(cairn_config_get(&c, "tiering.verify", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "readback");
	assert_int_equal(cairn_config_get(&c, "tiering.min_size", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0");
	assert_int_equal(cairn_config_get(&c, "s3.secret_key", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	expect_invalid(cairn_config_get(&c, "pool.nosuch", buf, sizeof(buf)), "unknown");

	assert_int_equal(cairn_config_set_kv(&c, "s3.secret_key=hunter2"), 0);
	assert_int_equal(cairn_config_set_kv(&c, "s3.access_key=AKIDSECRET"), 0);
	assert_int_equal(cairn_config_set_kv(&c, "tiering.min_idle=90"), 0);
	assert_int_equal(cairn_config_set_kv(&c, "tiering.high_watermark=87.5"), 0);
	assert_int_equal(cairn_config_get(&c, "s3.secret_key", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "(set)");
	assert_int_equal(cairn_config_get(&c, "tiering.min_idle", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "90s");

	f = open_memstream(&text, &len);
	cairn_config_dump(&c, f);
	fclose(f);
	assert_null(strstr(text, "hunter2"));
	assert_null(strstr(text, "AKIDSECRET"));
	assert_non_null(strstr(text, "[tiering]\n"));
	assert_non_null(strstr(text, "secret_key = (set)\n"));
	assert_non_null(strstr(text, "high_watermark = 87.5%\n"));

	/* the dump (minus secrets) reads back as the same config */
	write_conf(text);
	free(text);
	cairn_config_defaults(&back);
	assert_int_equal(cairn_config_load_file(&back, conf_path), 0);
	memcpy(back.s3_secret_key, c.s3_secret_key, sizeof(back.s3_secret_key));
	memcpy(back.s3_access_key, c.s3_access_key, sizeof(back.s3_access_key));
	assert_memory_equal(&back, &c, sizeof(c));
}

static void test_parse_size(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "123", 123 }, { "4K", 4096 }, { "4k", 4096 }, { "4KB", 4096 },
		{ "4KiB", 4096 }, { "4M", 4u << 20 }, { "2G", 2ull << 30 }, { "1T", 1ull << 40 },
		{ "512B", 512 }, { "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "K", "4X", "4 K", " 4K", "-1", "1.5G", "4KK", "16777216T",
		"18446744073709551616", "0x10",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		assert_int_equal(cairn_parse_size(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cairn_parse_size(bad[i], &v) != CAIRN_EINVAL)
			fail_msg("size '%s' accepted", bad[i]);
}

static void test_parse_duration(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "30", 30 }, { "30s", 30 }, { "5m", 300 }, { "2h", 7200 },
		{ "1d", 86400 }, { "1w", 604800 },
	};
	static const char *const bad[] = { "", "s", "1y", "1 d", "-1", "1.5h", "1dd", "1D" };
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		assert_int_equal(cairn_parse_duration(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cairn_parse_duration(bad[i], &v) != CAIRN_EINVAL)
			fail_msg("duration '%s' accepted", bad[i]);
}

static void test_parse_percent_and_bool(void **state)
{
	static const char *const bad_pct[] = {
		"", "%", "85%%", "abc", "100.1", "-0", "inf", "nan", "1e2", " 85", "85 %",
	};
	double d;
	bool b;

	assert_int_equal(cairn_parse_percent("85%", &d), 0);
	assert_true(d == 85.0);
	assert_int_equal(cairn_parse_percent("85", &d), 0);
	assert_true(d == 85.0);
	assert_int_equal(cairn_parse_percent("0", &d), 0);
	assert_true(d == 0.0);
	assert_int_equal(cairn_parse_percent("100%", &d), 0);
	assert_true(d == 100.0);
	assert_int_equal(cairn_parse_percent("12.5%", &d), 0);
	assert_true(d == 12.5);
	for (size_t i = 0; i < sizeof(bad_pct) / sizeof(bad_pct[0]); i++)
		if (cairn_parse_percent(bad_pct[i], &d) != CAIRN_EINVAL)
			fail_msg("percentage '%s' accepted", bad_pct[i]);

	static const char *const yes[] = { "yes", "true", "on", "1", "YES", "True" };
	static const char *const no[] = { "no", "false", "off", "0", "NO", "Off" };
	for (size_t i = 0; i < 6; i++) {
		b = false;
		assert_int_equal(cairn_parse_bool(yes[i], &b), 0);
		assert_true(b);
		b = true;
		assert_int_equal(cairn_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	assert_int_equal(cairn_parse_bool("", &b), CAIRN_EINVAL);
	assert_int_equal(cairn_parse_bool("y", &b), CAIRN_EINVAL);
	assert_int_equal(cairn_parse_bool("2", &b), CAIRN_EINVAL);
}

/* config/catalogd.conf documents every key with its default: loading it
 * must give exactly the built-in defaults, and every key must be in it. */
static void test_reference_file(void **state)
{
	struct cairn_config c, def;
	char path[4096], *dump = NULL, *text, *line, *save = NULL;
	const char *slash = strrchr(__FILE__, '/');
	size_t len = 0;
	FILE *f;
	long n;

	assert_non_null(slash);
	snprintf(path, sizeof(path), "%.*s/../../config/catalogd.conf",
	         (int)(slash - __FILE__), __FILE__);
	cairn_config_defaults(&def);
	c = def;
	if (cairn_config_load_file(&c, path) != 0)
		fail_msg("%s", cairn_error_msg());
	assert_memory_equal(&c, &def, sizeof(c));

	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 2);
	text[0] = '\n';
	assert_int_equal(fread(text + 1, 1, (size_t)n, f), (size_t)n);
	fclose(f);

	f = open_memstream(&dump, &len);
	cairn_config_dump(&def, f);
	fclose(f);
	for (line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char want[128];
		char *eq = strstr(line, " = ");

		if (line[0] == '[') {
			snprintf(want, sizeof(want), "\n%s\n", line);
		} else {
			assert_non_null(eq);
			snprintf(want, sizeof(want), "\n%.*s ", (int)(eq - line), line);
		}
		if (!strstr(text, want))
			fail_msg("catalogd.conf does not set '%s'", line);
	}
	free(dump);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors_name_line_and_change_nothing,
		                                setup, teardown),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_finish_checks),
		cmocka_unit_test(test_env_credentials),
		cmocka_unit_test(test_runtime_keys),
		cmocka_unit_test_setup_teardown(test_get_and_dump, setup, teardown),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_percent_and_bool),
		cmocka_unit_test(test_reference_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
