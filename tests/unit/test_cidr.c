/*
 * Unit tests for util/cidr: parsing of "addr[/prefix]" for both families,
 * refusal of junk, out-of-range prefixes and non-zero host bits, and
 * matching of peer addresses, where an IPv4-mapped IPv6 peer counts as IPv4.
 */
#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "util/cidr.h"

struct parse_case {
	const char *text;
	bool ok;
	int family;
	unsigned prefix;
};

static const struct parse_case parse_cases[] = {
	{"127.0.0.1", true, AF_INET, 32},
	{"10.0.0.0/8", true, AF_INET, 8},
	{"0.0.0.0/0", true, AF_INET, 0},
	{"192.168.1.128/25", true, AF_INET, 25},
	{"::1", true, AF_INET6, 128},
	{"::1/128", true, AF_INET6, 128},
	{"2001:db8::/32", true, AF_INET6, 32},
	{"::/0", true, AF_INET6, 0},
	{"::ffff:192.0.2.0/120", true, AF_INET, 24},
	{"::ffff:192.0.2.7", true, AF_INET, 32},
	{"10.1.2.3/8", false, 0, 0},
	{"2001:db8::1/32", false, 0, 0},
	{"10.0.0.0/33", false, 0, 0},
	{"::/129", false, 0, 0},
	{"10.0.0.0/", false, 0, 0},
	{"/8", false, 0, 0},
	{"10.0.0.0/8x", false, 0, 0},
	{"10.0.0.0/-1", false, 0, 0},
	{"10.0.0.0/+8", false, 0, 0},
	{"10.0.0.0/0008", false, 0, 0},
	{"10.0.0.0/ 8", false, 0, 0},
	{"10.0.0.0/8/8", false, 0, 0},
	{"1.2.3", false, 0, 0},
	{"256.0.0.0", false, 0, 0},
	{"[::1]", false, 0, 0},
	{"localhost", false, 0, 0},
	{"", false, 0, 0},
	{"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd/64", false, 0, 0},
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		struct cidr out;
		memset(&out, 0xaa, sizeof out);
		bool ok = cidr_parse(c->text, &out);
		if (ok != c->ok)
			fail_msg("cidr_parse(\"%s\") = %d, expected %d", c->text, ok, c->ok);
		if (ok) {
			assert_int_equal(out.family, c->family);
			assert_int_equal(out.prefix, c->prefix);
		}
	}
}

static void test_mapped_entry_is_stored_as_ipv4(void **state)
{
	(void)state;
	struct cidr c;
	assert_true(cidr_parse("::ffff:192.0.2.0/120", &c));
	const uint8_t want[16] = {192, 0, 2, 0};
	assert_memory_equal(c.addr, want, sizeof want);
}

static struct sockaddr_storage make_sa(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return ss;
	}
	assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	in6->sin6_family = AF_INET6;
	return ss;
}

struct match_case {
	const char *peer;
	bool match;
};

static const char *const networks[] = {
	"127.0.0.0/8", "192.168.1.0/25", "::1/128", "2001:db8::/32", "172.16.0.0/12",
};

static const struct match_case match_cases[] = {
	{"127.0.0.1", true},
	{"127.255.255.255", true},
	{"128.0.0.1", false},
	{"::ffff:127.0.0.1", true},
	{"::ffff:128.0.0.1", false},
	{"192.168.1.127", true},
	{"192.168.1.128", false},
	{"172.31.255.255", true},
	{"172.32.0.0", false},
	{"::1", true},
	{"::2", false},
	{"2001:db8:ffff::1", true},
	{"2001:db9::", false},
	{"::127.0.0.1", false},
};

static void test_match(void **state)
{
	(void)state;
	struct cidr_list l = {NULL, 0};
	for (size_t i = 0; i < sizeof networks / sizeof networks[0]; i++) {
		struct cidr c;
		assert_true(cidr_parse(networks[i], &c));
		cidr_list_add(&l, &c);
	}
	assert_int_equal(l.n, sizeof networks / sizeof networks[0]);
	for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
		struct sockaddr_storage ss = make_sa(match_cases[i].peer);
		bool got = cidr_list_match(&l, (struct sockaddr *)&ss);
		if (got != match_cases[i].match)
			fail_msg("match(%s) = %d, expected %d", match_cases[i].peer, got,
				 match_cases[i].match);
	}
	cidr_list_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
}

static void test_empty_list_and_other_families(void **state)
{
	(void)state;
	struct cidr_list l = {NULL, 0};
	struct sockaddr_storage ss = make_sa("127.0.0.1");
	assert_false(cidr_list_match(&l, (struct sockaddr *)&ss));

	struct cidr c;
	assert_true(cidr_parse("0.0.0.0/0", &c));
	cidr_list_add(&l, &c);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&ss));
	ss = make_sa("::ffff:8.8.8.8");
	assert_true(cidr_list_match(&l, (struct sockaddr *)&ss));
	ss = make_sa("2001:db8::1");
	assert_false(cidr_list_match(&l, (struct sockaddr *)&ss));

	struct sockaddr_un un;
	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	assert_false(cidr_list_match(&l, (struct sockaddr *)&un));
	cidr_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_mapped_entry_is_stored_as_ipv4),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_empty_list_and_other_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
