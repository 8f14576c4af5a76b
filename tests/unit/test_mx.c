/*
 * Unit tests for dns/mx.c, the pure half of the resolver: name checks, MX
 * ordering with equal preferences shuffled (RFC 5321 5.1), null MX (RFC 7505),
 * backup-MX pruning, address assembly and its bounds. No network.
 */
#include "test_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "dns/resolver.h"

#define RUNS 2000

static void test_name_normalize(void **state)
{
	(void)state;
	char out[DNS_NAME_MAX + 1];
	assert_true(dns_name_normalize(out, "MX1.Example.ORG."));
	assert_string_equal(out, "mx1.example.org");
	assert_true(dns_name_normalize(out, "a-b_c.d9"));
	assert_string_equal(out, "a-b_c.d9");
	const char *bad[] = {"", ".", "..", "a..b", ".a", "a b", "a\r\nb", "a\x01", "a\\046b",
			     "caf\xc3\xa9.fr", "a.b..", "a/b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(dns_name_normalize(out, bad[i]));

	char name[DNS_NAME_MAX + 3];
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_false(dns_name_normalize(out, name)); /* label of 64 */
	name[63] = '\0';
	assert_true(dns_name_normalize(out, name));
	/* 253 octets: four labels of 63, 61 and three dots. */
	memset(name, 'b', DNS_NAME_MAX);
	name[63] = name[127] = name[191] = '.';
	name[DNS_NAME_MAX] = '\0';
	assert_true(dns_name_normalize(out, name));
	assert_int_equal(strlen(out), DNS_NAME_MAX);
	name[DNS_NAME_MAX] = '.';
	name[DNS_NAME_MAX + 1] = '\0';
	assert_true(dns_name_normalize(out, name)); /* trailing dot is not counted */
	name[DNS_NAME_MAX] = 'b';
	assert_false(dns_name_normalize(out, name)); /* 254 */
}

static void test_null_mx(void **state)
{
	(void)state;
	const struct mx_record root0[] = {{"", 0}}, dot0[] = {{".", 0}};
	const struct mx_record root10[] = {{".", 10}}, host0[] = {{"mx.example.org", 0}};
	const struct mx_record mixed[] = {{".", 0}, {"mx.example.org", 10}};
	assert_true(mx_is_null(root0, 1));
	assert_true(mx_is_null(dot0, 1));
	assert_false(mx_is_null(root10, 1));
	assert_false(mx_is_null(host0, 1));
	assert_false(mx_is_null(mixed, 2));
	assert_false(mx_is_null(NULL, 0));

	/* A root target next to real ones names no host: it is skipped. */
	struct mx_list mx = {0};
	uint64_t rng = 1;
	mx_list_from_records(&mx, mixed, 2, &rng);
	assert_int_equal(mx.n, 1);
	assert_string_equal(mx.v[0].name, "mx.example.org");
	mx_list_free(&mx);
}

static void test_order_by_preference(void **state)
{
	(void)state;
	const struct mx_record recs[] = {
		{"c.example.org", 30}, {"A.Example.Org.", 10}, {"bad name", 5},
		{"d.example.org", 40}, {"b.example.org", 20},  {"a.example.org", 50},
		{"e\x01.example.org", 1},
	};
	struct mx_list mx = {0};
	uint64_t rng = 42;
	mx_list_from_records(&mx, recs, sizeof recs / sizeof recs[0], &rng);
	const char *want[] = {"a.example.org", "b.example.org", "c.example.org", "d.example.org"};
	const unsigned prefs[] = {10, 20, 30, 40};
	assert_int_equal(mx.n, 4); /* invalid names dropped, a listed twice kept at 10 */
	assert_false(mx.implicit);
	for (size_t i = 0; i < mx.n; i++) {
		assert_string_equal(mx.v[i].name, want[i]);
		assert_int_equal(mx.v[i].pref, prefs[i]);
		assert_int_equal(mx.v[i].naddrs, 0);
	}
	mx_list_free(&mx);
	assert_int_equal(mx.n, 0);
	assert_null(mx.v);
}

static int perm_index(const struct mx_list *mx, size_t from, const char *const *names, size_t k)
{
	/* Encodes the order of names[0..k) at mx->v[from..from+k) as a number. */
	int code = 0;
	for (size_t i = 0; i < k; i++) {
		size_t j = 0;
		while (j < k && strcmp(mx->v[from + i].name, names[j]) != 0)
			j++;
		assert_true(j < k);
		code = code * (int)k + (int)j;
	}
	return code;
}

static void test_shuffle_equal_preferences(void **state)
{
	(void)state;
	const struct mx_record recs[] = {
		{"d.test", 20}, {"a.test", 10}, {"z.test", 5}, {"b.test", 10},
		{"e.test", 20}, {"c.test", 10},
	};
	const char *ten[] = {"a.test", "b.test", "c.test"}, *twenty[] = {"d.test", "e.test"};
	bool seen10[27] = {0}, seen20[4] = {0};
	uint64_t rng = 7;
	for (int run = 0; run < RUNS; run++) {
		struct mx_list mx = {0};
		mx_list_from_records(&mx, recs, sizeof recs / sizeof recs[0], &rng);
		assert_int_equal(mx.n, 6);
		/* Different preferences never change places. */
		assert_string_equal(mx.v[0].name, "z.test");
		for (size_t i = 1; i < 4; i++)
			assert_int_equal(mx.v[i].pref, 10);
		for (size_t i = 4; i < 6; i++)
			assert_int_equal(mx.v[i].pref, 20);
		seen10[perm_index(&mx, 1, ten, 3)] = true;
		seen20[perm_index(&mx, 4, twenty, 2)] = true;
		mx_list_free(&mx);
	}
	/* Every permutation of each equal group shows up. */
	int n10 = 0, n20 = 0;
	for (size_t i = 0; i < 27; i++)
		n10 += seen10[i];
	for (size_t i = 0; i < 4; i++)
		n20 += seen20[i];
	assert_int_equal(n10, 6);
	assert_int_equal(n20, 2);
}

static void test_shuffle_is_deterministic_per_seed(void **state)
{
	(void)state;
	const struct mx_record recs[] = {{"a.test", 1}, {"b.test", 1}, {"c.test", 1},
					 {"d.test", 1}, {"e.test", 1}};
	struct mx_list x = {0}, y = {0};
	uint64_t s1 = 99, s2 = 99;
	mx_list_from_records(&x, recs, 5, &s1);
	mx_list_from_records(&y, recs, 5, &s2);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(x.v[i].name, y.v[i].name);
	assert_true(s1 == s2);
	mx_list_free(&x);
	mx_list_free(&y);
}

static void test_at_most_32_best_exchangers(void **state)
{
	(void)state;
	enum { N = 100 };
	static char names[N][32];
	struct mx_record recs[N];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "mx%d.example.org", i);
		recs[i] = (struct mx_record){names[i], (unsigned)(N - i)}; /* best last */
	}
	struct mx_list mx = {0};
	uint64_t rng = 3;
	mx_list_from_records(&mx, recs, N, &rng);
	assert_int_equal(mx.n, DNS_MAX_MX);
	for (size_t i = 0; i < mx.n; i++)
		assert_int_equal(mx.v[i].pref, i + 1);
	mx_list_free(&mx);

	mx_list_from_records(&mx, NULL, 0, &rng);
	assert_int_equal(mx.n, 0);
	mx_list_free(&mx);
}

static void fill(struct in6_addr *v6, struct in_addr *v4, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&v6[i], 0, sizeof v6[i]);
		v6[i].s6_addr[0] = 0x20;
		v6[i].s6_addr[15] = (uint8_t)i;
		v4[i].s_addr = htonl(0x7f000000u + (uint32_t)i);
	}
}

static void check_addrs(const struct mx_host *h, size_t want6, size_t want4)
{
	assert_int_equal(h->naddrs, want6 + want4);
	for (size_t i = 0; i < h->naddrs; i++) {
		if (i < want6) {
			const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&h->addrs[i];
			assert_int_equal(s->sin6_family, AF_INET6);
			assert_int_equal(s->sin6_addr.s6_addr[15], i); /* answer order kept */
			assert_int_equal(s->sin6_port, 0);
		} else {
			const struct sockaddr_in *s = (const struct sockaddr_in *)&h->addrs[i];
			assert_int_equal(s->sin_family, AF_INET);
			assert_int_equal(ntohl(s->sin_addr.s_addr), 0x7f000000u + (i - want6));
			assert_int_equal(s->sin_port, 0);
		}
	}
}

static void test_address_assembly_bounds(void **state)
{
	(void)state;
	struct in6_addr v6[40];
	struct in_addr v4[40];
	fill(v6, v4, 40);
	const struct { size_t n6, n4, want6, want4; } cases[] = {
		{1, 1, 1, 1},   {0, 3, 0, 3},   {3, 0, 3, 0},  {40, 0, 16, 0},
		{0, 40, 0, 16}, {40, 40, 8, 8}, {40, 3, 13, 3}, {2, 40, 2, 14},
		{0, 0, 0, 0},   {16, 16, 8, 8}, {8, 8, 8, 8},
	};
	struct mx_list mx = {0};
	struct mx_host *h = mx_list_add(&mx, "mx.test", 10);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mx_host_set_addrs(h, v6, cases[i].n6, v4, cases[i].n4);
		check_addrs(h, cases[i].want6, cases[i].want4);
	}
	mx_list_free(&mx);
}

static void test_drop_unreachable_keeps_order(void **state)
{
	(void)state;
	struct in_addr v4 = {htonl(0x7f000001u)};
	struct mx_list mx = {0};
	const char *names[] = {"a.test", "b.test", "c.test", "d.test", "e.test"};
	for (size_t i = 0; i < 5; i++) {
		struct mx_host *h = mx_list_add(&mx, names[i], (unsigned)i);
		if (i % 2 == 1)
			mx_host_set_addrs(h, NULL, 0, &v4, 1);
	}
	assert_int_equal(mx_list_drop_unreachable(&mx), 2);
	assert_string_equal(mx.v[0].name, "b.test");
	assert_string_equal(mx.v[1].name, "d.test");
	mx_list_free(&mx);

	mx_list_add(&mx, "x.test", 0);
	assert_int_equal(mx_list_drop_unreachable(&mx), 0);
	mx_list_free(&mx);
}

static void make_list(struct mx_list *mx)
{
	static const struct { const char *name; unsigned pref; } h[] = {
		{"best.test", 5}, {"mx1.test", 10}, {"mx2.test", 10}, {"backup.test", 20},
		{"last.test", 30},
	};
	*mx = (struct mx_list){0};
	for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
		mx_list_add(mx, h[i].name, h[i].pref);
}

static void test_prune_self(void **state)
{
	(void)state;
	struct mx_list mx;
	struct strlist self = STRLIST_INIT;
	strlist_add(&self, "me.test");

	/* We are absent: unchanged. */
	make_list(&mx);
	assert_false(mx_prune_self(&mx, &self));
	assert_int_equal(mx.n, 5);
	assert_string_equal(mx.v[4].name, "last.test");
	mx_list_free(&mx);

	/* We are a backup (pref 20; names compare case-insensitively): only
	 * strictly better ones remain. */
	strlist_add(&self, "BACKUP.test");
	make_list(&mx);
	assert_true(mx_prune_self(&mx, &self));
	assert_int_equal(mx.n, 3);
	assert_string_equal(mx.v[0].name, "best.test");
	assert_string_equal(mx.v[1].name, "mx1.test");
	assert_string_equal(mx.v[2].name, "mx2.test");
	mx_list_free(&mx);

	/* We share pref 10 with mx2: equal preference goes too. */
	strlist_add(&self, "mx1.test");
	make_list(&mx);
	assert_true(mx_prune_self(&mx, &self));
	assert_int_equal(mx.n, 1);
	assert_string_equal(mx.v[0].name, "best.test");
	mx_list_free(&mx);

	/* We are the best MX: nothing is left. */
	strlist_add(&self, "best.test");
	make_list(&mx);
	assert_true(mx_prune_self(&mx, &self));
	assert_int_equal(mx.n, 0);
	mx_list_free(&mx);
	strlist_free(&self);
}

static void test_copy_is_deep(void **state)
{
	(void)state;
	struct in6_addr v6[2];
	struct in_addr v4[2];
	fill(v6, v4, 2);
	struct mx_list src = {0}, dst;
	src.implicit = true;
	mx_host_set_addrs(mx_list_add(&src, "a.test", 0), v6, 2, v4, 1);
	mx_list_add(&src, "b.test", 7);
	mx_list_copy(&dst, &src);
	mx_list_free(&src);
	assert_true(dst.implicit);
	assert_int_equal(dst.n, 2);
	assert_string_equal(dst.v[0].name, "a.test");
	check_addrs(&dst.v[0], 2, 1);
	assert_string_equal(dst.v[1].name, "b.test");
	assert_int_equal(dst.v[1].pref, 7);
	assert_int_equal(dst.v[1].naddrs, 0);
	mx_list_free(&dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_normalize),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_order_by_preference),
		cmocka_unit_test(test_shuffle_equal_preferences),
		cmocka_unit_test(test_shuffle_is_deterministic_per_seed),
		cmocka_unit_test(test_at_most_32_best_exchangers),
		cmocka_unit_test(test_address_assembly_bounds),
		cmocka_unit_test(test_drop_unreachable_keeps_order),
		cmocka_unit_test(test_prune_self),
		cmocka_unit_test(test_copy_is_deep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
