/* test_manifest — path, symlink, dataset-name, tag and reference
 * validation (every class of bad input), canonical order, and the manifest
 * digest: a value computed outside cairn from the documented encoding, its
 * stability, and its sensitivity to every field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "manifest.h"

static void expect_invalid(int rc, const char *needle)
{
	assert_int_equal(rc, CAIRN_EINVAL);
	assert_int_equal(cairn_error_code(), CAIRN_EINVAL);
	if (needle && !strstr(cairn_error_msg(), needle))
		fail_msg("message '%s' does not mention '%s'", cairn_error_msg(), needle);
}

/* ---- paths ------------------------------------------------------------ */

static void test_path_valid(void **state)
{
	static const char *const ok[] = {
		"a", "a/b", "a/b/c.txt", ".hidden", "a/..b", "a/b..", "...", "a b/c d",
		"ünïcode/名前", "a-b_c.d~e",
	};
	char name[CAIRN_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (cairn_path_validate(ok[i], 0) != 0)
			fail_msg("'%s' refused: %s", ok[i], cairn_error_msg());
	memset(name, 'n', CAIRN_NAME_MAX);
	name[CAIRN_NAME_MAX] = '\0';
	assert_int_equal(cairn_path_validate(name, 0), 0);
	assert_int_equal(cairn_path_validate("", 1), 0);
}

static void test_path_invalid(void **state)
{
	static const struct { const char *p, *why; } bad[] = {
		{ "", "empty" },
		{ "/a", "relative" },
		{ "/", "relative" },
		{ "a/", "empty component" },
		{ "a//b", "empty component" },
		{ ".", "'.'" },
		{ "..", "'..'" },
		{ "a/../b", "'..'" },
		{ "a/./b", "'.'" },
		{ "a/..", "'..'" },
		{ "a\nb", "\\x0a" },
		{ "a/\x01", "\\x01" },
		{ "tab\there", "\\x09" },
		{ "del\x7f", "\\x7f" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_invalid(cairn_path_validate(bad[i].p, 0), bad[i].why);
	expect_invalid(cairn_path_validate(NULL, 1), NULL);
}

static void test_path_limits(void **state)
{
	char *p = malloc(CAIRN_PATH_MAX + 2);
	char comp[CAIRN_NAME_MAX + 2];

	/* one component too long */
	memset(comp, 'c', CAIRN_NAME_MAX + 1);
	comp[CAIRN_NAME_MAX + 1] = '\0';
	expect_invalid(cairn_path_validate(comp, 0), "longer than 255");

	/* a whole path of exactly the limit passes, one byte more does not */
	for (size_t i = 0; i < CAIRN_PATH_MAX; i++)
		p[i] = (i % 100 == 99) ? '/' : 'x';
	p[CAIRN_PATH_MAX] = '\0';
	p[CAIRN_PATH_MAX - 1] = 'x';
	assert_int_equal(cairn_path_validate(p, 0), 0);
	p[CAIRN_PATH_MAX] = 'x';
	p[CAIRN_PATH_MAX + 1] = '\0';
	expect_invalid(cairn_path_validate(p, 0), "too long");
	/* the message stays one bounded line */
	assert_true(strlen(cairn_error_msg()) < 300);
	free(p);
}

/* ---- symlinks ---------------------------------------------------------- */

static void test_symlink_inside(void **state)
{
	static const struct { const char *link, *target; } ok[] = {
		{ "l", "a" },
		{ "l", "a/b/c" },
		{ "l", "./a" },
		{ "a/l", "../b" },
		{ "a/b/l", "../../x" },
		{ "a/b/l", "../c/../../d" },
		{ "a/l", "b/../../c" },
		{ "a/l", ".." },            /* the root itself */
		{ "l", "." },
		{ "l", "a//b" },
		{ "a/l", "..x/y" },         /* "..x" is a name */
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (cairn_symlink_validate(ok[i].link, ok[i].target) != 0)
			fail_msg("%s -> %s refused: %s", ok[i].link, ok[i].target,
			         cairn_error_msg());
}

static void test_symlink_outside(void **state)
{
	static const struct { const char *link, *target; } bad[] = {
		{ "l", ".." },
		{ "l", "../x" },
		{ "a/l", "../../x" },
		{ "a/b/l", "../../../x" },
		{ "a/l", "b/../../../x" },
		{ "l", "a/../../x" },
		{ "a/l", "../x/../../y" },   /* dips out, even if it would come back */
		{ "a/l", "../../a/x" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_invalid(cairn_symlink_validate(bad[i].link, bad[i].target),
		               "points outside the dataset");
	cairn_symlink_validate("a/l", "../../x");
	assert_string_equal(cairn_error_msg(),
	                    "symlink 'a/l' points outside the dataset: '../../x'");
	expect_invalid(cairn_symlink_validate("l", "/etc/passwd"), "absolute");
	expect_invalid(cairn_symlink_validate("l", "/"), "absolute");
	expect_invalid(cairn_symlink_validate("l", ""), "empty");
	expect_invalid(cairn_symlink_validate("l", NULL), "empty");
}

/* ---- order -------------------------------------------------------------- */

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static void test_path_cmp(void **state)
{
	static const char *const sorted[] = {
		"", "a", "a/x", "a/x/y", "a/z", "a b", "a-b", "a.b", "a0", "aa", "b", "b/a",
		"\xc3\xa9",   /* bytes above 0x7f sort last, unsigned */
	};
	size_t n = sizeof(sorted) / sizeof(sorted[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int want = (i > j) - (i < j);

			if (sign(cairn_path_cmp(sorted[i], sorted[j])) != want)
				fail_msg("cmp('%s', '%s') != %d", sorted[i], sorted[j], want);
		}
}

static int qcmp(const void *a, const void *b)
{
	return cairn_path_cmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_sorting_gives_preorder(void **state)
{
	/* sorting with the order yields a depth-first walk: every directory
	 * is immediately followed by its whole subtree */
	const char *v[] = { "a b", "a/z", "a", "a/b/c", "a-", "a/b", "a/b c", "b" };
	const char *want[] = { "a", "a/b", "a/b/c", "a/b c", "a/z", "a b", "a-", "b" };

	qsort(v, sizeof(v) / sizeof(v[0]), sizeof(v[0]), qcmp);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_string_equal(v[i], want[i]);
}

/* ---- dataset names, tags, references ----------------------------------- */

static void test_dataset_names(void **state)
{
	static const char *const ok[] = {
		"a", "0", "runs", "genomics/runs", "a.b_c-d", "ns0/9x", "x.",
	};
	static const struct { const char *n, *why; } bad[] = {
		{ "", "empty" },
		{ "Runs", "'R'" },
		{ "a b", "' '" },
		{ "a/b/c", "more than one '/'" },
		{ "/a", "empty namespace" },
		{ "a/", "empty name" },
		{ ".a", "must start" },
		{ "-a", "must start" },
		{ "_a", "must start" },
		{ "ns/-", "must start" },
		{ "ns/.x", "must start" },
		{ "a\x01", "\\x01" },
		{ "a\nb", "\\x0a" },
		{ "a@b", "'@'" },
		{ "é", "\\xc3" },
	};
	char longname[CAIRN_DATASET_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (cairn_dataset_name_validate(ok[i]) != 0)
			fail_msg("'%s' refused: %s", ok[i], cairn_error_msg());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_invalid(cairn_dataset_name_validate(bad[i].n), bad[i].why);
	expect_invalid(cairn_dataset_name_validate(NULL), "empty");

	memset(longname, 'a', CAIRN_DATASET_NAME_MAX);
	longname[CAIRN_DATASET_NAME_MAX] = '\0';
	assert_int_equal(cairn_dataset_name_validate(longname), 0);
	longname[CAIRN_DATASET_NAME_MAX] = 'a';
	longname[CAIRN_DATASET_NAME_MAX + 1] = '\0';
	expect_invalid(cairn_dataset_name_validate(longname), "longer than 128");
}

static void test_tags(void **state)
{
	char t[CAIRN_TAG_MAX + 2];

	assert_int_equal(cairn_tag_validate("prod"), 0);
	assert_int_equal(cairn_tag_validate("paper-2026"), 0);
	assert_int_equal(cairn_tag_validate("v1.2_rc"), 0);
	assert_int_equal(cairn_tag_validate("2026a"), 0);
	expect_invalid(cairn_tag_validate(""), "empty");
	expect_invalid(cairn_tag_validate("123"), "all digits");
	expect_invalid(cairn_tag_validate("latest"), "reserved");
	expect_invalid(cairn_tag_validate("Prod"), "'P'");
	expect_invalid(cairn_tag_validate("a/b"), "'/'");
	expect_invalid(cairn_tag_validate("-x"), "must start");
	expect_invalid(cairn_tag_validate("a\tb"), "\\x09");
	memset(t, 't', CAIRN_TAG_MAX);
	t[CAIRN_TAG_MAX] = '\0';
	assert_int_equal(cairn_tag_validate(t), 0);
	t[CAIRN_TAG_MAX] = 't';
	t[CAIRN_TAG_MAX + 1] = '\0';
	expect_invalid(cairn_tag_validate(t), "longer than 64");
}

static void test_ref_parse(void **state)
{
	char *name = NULL, *ver = NULL;

	assert_int_equal(cairn_ref_parse("runs@3", &name, &ver), 0);
	assert_string_equal(name, "runs");
	assert_string_equal(ver, "3");
	free(name);
	free(ver);

	assert_int_equal(cairn_ref_parse("genomics/runs", &name, &ver), 0);
	assert_string_equal(name, "genomics/runs");
	assert_null(ver);
	free(name);

	/* split at the last '@': a bad name still fails the name check */
	expect_invalid(cairn_ref_parse("a@b@prod", &name, &ver), "'@'");
	expect_invalid(cairn_ref_parse("runs@", &name, &ver), "no version");
	expect_invalid(cairn_ref_parse("@3", &name, &ver), "empty");
	expect_invalid(cairn_ref_parse("", &name, &ver), "empty");
	expect_invalid(cairn_ref_parse("Bad@1", &name, &ver), "'B'");
}

/* ---- digest ------------------------------------------------------------- */

static void oid_of(cairn_oid *o, const char *hex)
{
	assert_int_equal(cairn_oid_parse(o, hex), 0);
}

static void digest_hex(char *hex, const struct cairn_entry *e, size_t n,
                       const cairn_oid *const *objs, const size_t *nobjs)
{
	cairn_manifest_digest *d = NULL;
	cairn_oid out;

	assert_int_equal(cairn_manifest_digest_new(&d), 0);
	for (size_t i = 0; i < n; i++) {
		cairn_manifest_digest_add(d, &e[i]);
		if (nobjs && nobjs[i])
			cairn_manifest_digest_add_objects(d, objs[i], nobjs[i]);
	}
	cairn_manifest_digest_final(d, &out);
	cairn_manifest_digest_free(d);
	cairn_oid_fmt(hex, &out);
}

/* The same three entries were encoded by hand per manifest.h (format 1:
 * u32le 1, then per entry path NUL type mode:u32le size:u64le mtime:i64le
 * mtime_ns:u32le target NUL nobj:u64le oids) and hashed with xxhsum -H2. */
static struct cairn_entry sample[3];
static cairn_oid sample_objs[2];

static void setup_sample(void)
{
	oid_of(&sample_objs[0], "99aa06d3014798d86001c324468d497f");
	oid_of(&sample_objs[1], "06b05ab6733a618578af5f94892f3950");
	sample[0] = (struct cairn_entry){ .path = "a", .type = CAIRN_FT_DIR, .mode = 0755,
	                                  .mtime_sec = 1790000000, .mtime_nsec = 5 };
	sample[1] = (struct cairn_entry){ .path = "a/b.txt", .type = CAIRN_FT_FILE,
	                                  .mode = 0644, .size = 5000000, .mtime_sec = -1,
	                                  .mtime_nsec = 999999999, .nobjects = 2 };
	sample[2] = (struct cairn_entry){ .path = "a/link", .type = CAIRN_FT_SYMLINK,
	                                  .mode = 0777, .size = 5, .mtime_sec = 1790000001,
	                                  .target = "b.txt" };
}

static void test_digest_known_value(void **state)
{
	const cairn_oid *objs[3] = { NULL, sample_objs, NULL };
	const size_t nobjs[3] = { 0, 2, 0 };
	char hex[CAIRN_OID_HEXLEN + 1];

	setup_sample();
	digest_hex(hex, sample, 0, NULL, NULL);
	assert_string_equal(hex, "45cdd2e492a8bbfc29cc0124ca8bf34b");
	digest_hex(hex, sample, 3, objs, nobjs);
	assert_string_equal(hex, "70eb6b2dcc5751852497db862e26cdc6");
}

static void test_digest_objects_may_span_calls(void **state)
{
	cairn_manifest_digest *d = NULL;
	char a[CAIRN_OID_HEXLEN + 1];
	cairn_oid out;

	setup_sample();
	assert_int_equal(cairn_manifest_digest_new(&d), 0);
	cairn_manifest_digest_add(d, &sample[0]);
	cairn_manifest_digest_add(d, &sample[1]);
	cairn_manifest_digest_add_objects(d, &sample_objs[0], 1);
	cairn_manifest_digest_add_objects(d, &sample_objs[1], 0);
	cairn_manifest_digest_add_objects(d, &sample_objs[1], 1);
	cairn_manifest_digest_add(d, &sample[2]);
	cairn_manifest_digest_final(d, &out);
	cairn_manifest_digest_free(d);
	assert_string_equal(cairn_oid_fmt(a, &out), "70eb6b2dcc5751852497db862e26cdc6");
	cairn_manifest_digest_free(NULL);
}

static void test_digest_sensitive_to_every_field(void **state)
{
	const cairn_oid *objs[3] = { NULL, sample_objs, NULL };
	const size_t nobjs[3] = { 0, 2, 0 };
	char base[CAIRN_OID_HEXLEN + 1], hex[CAIRN_OID_HEXLEN + 1];
	struct cairn_entry e[3];
	cairn_oid swapped[2];
	const cairn_oid *objs2[3] = { NULL, swapped, NULL };
	enum { NCHANGES = 11 };

	setup_sample();
	digest_hex(base, sample, 3, objs, nobjs);
	for (int c = 0; c < NCHANGES; c++) {
		memcpy(e, sample, sizeof(e));
		switch (c) {
		case 0: e[1].path = "a/b.txu"; break;
		case 1: e[1].type = CAIRN_FT_DIR; break;
		case 2: e[1].mode = 0640; break;
		case 3: e[1].size = 5000001; break;
		case 4: e[1].mtime_sec = 0; break;
		case 5: e[1].mtime_nsec = 0; break;
		case 6: e[2].target = "b.txT"; break;
		case 7: e[1].nobjects = 3; break;
		case 8: e[2].target = NULL; e[2].path = "a/linkb.txt"; break; /* boundaries */
		case 9: e[0].mtime_sec = 1790000000 + (1ll << 32); break;     /* high bits */
		case 10: e[1].size = 5000000 + (1ull << 40); break;
		}
		digest_hex(hex, e, 3, objs, nobjs);
		if (strcmp(hex, base) == 0)
			fail_msg("change %d did not change the digest", c);
	}
	/* object ids and their order */
	swapped[0] = sample_objs[1];
	swapped[1] = sample_objs[0];
	digest_hex(hex, sample, 3, objs2, nobjs);
	assert_string_not_equal(hex, base);
	swapped[0] = sample_objs[0];
	swapped[1] = sample_objs[0];
	digest_hex(hex, sample, 3, objs2, nobjs);
	assert_string_not_equal(hex, base);
	/* entry order */
	memcpy(e, sample, sizeof(e));
	e[0] = sample[2];
	e[2] = sample[0];
	{
		const cairn_oid *o3[3] = { NULL, sample_objs, NULL };

		digest_hex(hex, e, 3, o3, nobjs);
	}
	assert_string_not_equal(hex, base);
	/* and the same input gives the same digest */
	digest_hex(hex, sample, 3, objs, nobjs);
	assert_string_equal(hex, base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_valid),
		cmocka_unit_test(test_path_invalid),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_symlink_inside),
		cmocka_unit_test(test_symlink_outside),
		cmocka_unit_test(test_path_cmp),
		cmocka_unit_test(test_sorting_gives_preorder),
		cmocka_unit_test(test_dataset_names),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_ref_parse),
		cmocka_unit_test(test_digest_known_value),
		cmocka_unit_test(test_digest_objects_may_span_calls),
		cmocka_unit_test(test_digest_sensitive_to_every_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
