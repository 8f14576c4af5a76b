/*
 * Unit tests for util/rcpt: a recipient's copies are its own, an original
 * left out is the address, an empty ORCPT is none, and a list finds an
 * address the way the session deduplicates them (ASCII case-insensitively).
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "util/dsn.h"
#include "util/rcpt.h"

static void test_set_fills_in_the_original_and_drops_an_empty_orcpt(void **state)
{
	(void)state;
	struct rcpt r;
	rcpt_set(&r, "bob@example.org", NULL, DSN_NOTIFY_NEVER, "");
	assert_string_equal(r.addr, "bob@example.org");
	assert_string_equal(r.orig, "bob@example.org");
	assert_ptr_not_equal(r.orig, r.addr);
	assert_int_equal(r.notify, DSN_NOTIFY_NEVER);
	assert_null(r.orcpt);
	rcpt_free(&r);
	assert_null(r.addr);
}

static void test_copy_owns_its_strings(void **state)
{
	(void)state;
	char addr[] = "bob@example.org", orcpt[] = "rfc822;alias@example.org";
	struct rcpt src = {.addr = addr, .orig = "alias@example.org", .notify = 1, .orcpt = orcpt};
	struct rcpt dst;
	rcpt_copy(&dst, &src);
	addr[0] = orcpt[0] = 'X';
	assert_string_equal(dst.addr, "bob@example.org");
	assert_string_equal(dst.orig, "alias@example.org");
	assert_int_equal(dst.notify, 1);
	assert_string_equal(dst.orcpt, "rfc822;alias@example.org");
	rcpt_free(&dst);
}

static void test_list_adds_and_finds_case_insensitively(void **state)
{
	(void)state;
	struct rcpt_list l = RCPT_LIST_INIT;
	for (int i = 0; i < 9; i++) {
		char a[32];
		snprintf(a, sizeof a, "u%d@Example.ORG", i);
		struct rcpt *r = rcpt_list_add(&l, a, "list@example.org", (uint8_t)(i % 2), NULL);
		assert_ptr_equal(r, &l.v[i]);
	}
	assert_int_equal(l.n, 9);
	const struct rcpt *r = rcpt_list_find(&l, "U7@example.org");
	assert_non_null(r);
	assert_string_equal(r->addr, "u7@Example.ORG");
	assert_string_equal(r->orig, "list@example.org");
	assert_int_equal(r->notify, 1);
	assert_null(rcpt_list_find(&l, "u9@example.org"));
	rcpt_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_fills_in_the_original_and_drops_an_empty_orcpt),
		cmocka_unit_test(test_copy_owns_its_strings),
		cmocka_unit_test(test_list_adds_and_finds_case_insensitively),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
