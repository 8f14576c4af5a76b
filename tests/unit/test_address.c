/*
 * Unit tests for smtp/address: the RFC 5321 4.1.2 path grammar.
 *
 * Every input is copied into a heap block of exactly its length, with no
 * NUL after it, so AddressSanitizer catches any read past len.
 */
#include "test_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/address.h"

/* A string literal and its length, NUL bytes inside included. */
#define IN(s) s, sizeof(s) - 1

#define NO_FLAGS 0u
#define NULLP ADDR_ALLOW_NULL
#define U8 ADDR_ALLOW_UTF8
#define PM ADDR_ALLOW_NO_DOMAIN

struct path_case {
	const char *in;
	size_t len;
	unsigned flags;
	enum addr_status want;
	const char *local;  /* expected on ADDR_OK */
	const char *domain; /* expected on ADDR_OK */
	size_t consumed;    /* expected on ADDR_OK; 0 means all of len */
};

static char *exact_copy(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	if (n)
		memcpy(p, s, n);
	return p;
}

/* Prints s[0..n) with non-printable octets escaped, for failure messages. */
static void print_escaped(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 32 && c < 127 && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
}

static void report(const char *what, size_t idx, const char *in, size_t len,
		   const char *detail)
{
	fprintf(stderr, "%s case %zu \"", what, idx);
	print_escaped(in, len);
	fprintf(stderr, "\": %s\n", detail);
}

static bool check_fields(const struct address *a, const struct path_case *c,
			 size_t idx, const char *what)
{
	if (a->is_null || strcmp(a->local, c->local) != 0 ||
	    strcmp(a->domain, c->domain) != 0) {
		fprintf(stderr, "  got null=%d local=\"%s\" domain=\"%s\"\n",
			a->is_null, a->local, a->domain);
		report(what, idx, c->in, c->len, "wrong fields");
		return false;
	}
	return true;
}

static bool is_cleared(const struct address *a)
{
	return !a->is_null && a->local[0] == '\0' && a->domain[0] == '\0';
}

static int run_path_case(const struct path_case *c, size_t idx)
{
	char *in = exact_copy(c->in, c->len);
	struct address a;
	size_t consumed = 12345;
	enum addr_status st = addr_parse_path(in, c->len, c->flags, &a, &consumed);
	size_t want_consumed = c->consumed ? c->consumed : c->len;
	int bad = 0;

	if (st != c->want) {
		fprintf(stderr, "  got %d (%s), want %d\n", st,
			addr_status_text(st), c->want);
		report("path", idx, c->in, c->len, "wrong status");
		bad = 1;
	} else if (st == ADDR_OK) {
		bad = !check_fields(&a, c, idx, "path");
		if (consumed != want_consumed) {
			fprintf(stderr, "  consumed %zu, want %zu\n", consumed,
				want_consumed);
			report("path", idx, c->in, c->len, "wrong consumed");
			bad = 1;
		}
	} else if (consumed != 0 || !is_cleared(&a)) {
		report("path", idx, c->in, c->len, "output not cleared");
		bad = 1;
	}
	free(in);
	return bad;
}

static void run_path_table(const struct path_case *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++)
		failures += run_path_case(&cases[i], i);
	assert_int_equal(failures, 0);
}

static int run_mailbox_case(const struct path_case *c, size_t idx)
{
	char *in = exact_copy(c->in, c->len);
	struct address a;
	enum addr_status st = addr_parse_mailbox(in, c->len, c->flags, &a);
	int bad = 0;

	if (st != c->want) {
		fprintf(stderr, "  got %d (%s), want %d\n", st,
			addr_status_text(st), c->want);
		report("mailbox", idx, c->in, c->len, "wrong status");
		bad = 1;
	} else if (st == ADDR_OK) {
		bad = !check_fields(&a, c, idx, "mailbox");
	} else if (!is_cleared(&a)) {
		report("mailbox", idx, c->in, c->len, "output not cleared");
		bad = 1;
	}
	free(in);
	return bad;
}

#define RUN_PATHS(t) run_path_table((t), sizeof(t) / sizeof((t)[0]))

static void test_path_valid(void **state)
{
	static const struct path_case t[] = {
		{IN("<user@example.org>"), NO_FLAGS, ADDR_OK, "user", "example.org", 0},
		{IN("<User.Name+tag@Sub.Example.ORG>"), NO_FLAGS, ADDR_OK,
		 "User.Name+tag", "Sub.Example.ORG", 0},
		{IN("<!#$%&'*+-/=?^_`{|}~@x.y>"), NO_FLAGS, ADDR_OK,
		 "!#$%&'*+-/=?^_`{|}~", "x.y", 0},
		{IN("<a@b>"), NO_FLAGS, ADDR_OK, "a", "b", 0},
		{IN("<a.b.c@d>"), NO_FLAGS, ADDR_OK, "a.b.c", "d", 0},
		{IN("<0@1.2.3.4>"), NO_FLAGS, ADDR_OK, "0", "1.2.3.4", 0},
		{IN("<u@a-b.c-d.e>"), NO_FLAGS, ADDR_OK, "u", "a-b.c-d.e", 0},
		{IN("<u@a--b.example>"), NO_FLAGS, ADDR_OK, "u", "a--b.example", 0},
		{IN("<u@xn--bcher-kva.example>"), NO_FLAGS, ADDR_OK, "u",
		 "xn--bcher-kva.example", 0},
		{IN("<\"a b\"@x>"), NO_FLAGS, ADDR_OK, "\"a b\"", "x", 0},
		{IN("<\"\"@x>"), NO_FLAGS, ADDR_OK, "\"\"", "x", 0},
		{IN("<\"a\\\"b\\\\c\"@x>"), NO_FLAGS, ADDR_OK, "\"a\\\"b\\\\c\"", "x", 0},
		{IN("<\"a>b\"@x>"), NO_FLAGS, ADDR_OK, "\"a>b\"", "x", 0},
		{IN("<\"a\\>\"@x>"), NO_FLAGS, ADDR_OK, "\"a\\>\"", "x", 0},
		{IN("<\"a.@..b\"@x>"), NO_FLAGS, ADDR_OK, "\"a.@..b\"", "x", 0},
		{IN("<\"\\ \"@x>"), NO_FLAGS, ADDR_OK, "\"\\ \"", "x", 0},
		{IN("<\"!#[]~\"@x>"), NO_FLAGS, ADDR_OK, "\"!#[]~\"", "x", 0},
		{IN("<user@example.org> SIZE=100"), NO_FLAGS, ADDR_OK, "user",
		 "example.org", 18},
		{IN("<a@b>>"), NO_FLAGS, ADDR_OK, "a", "b", 5},
		{IN("<a@b><c@d>"), NO_FLAGS, ADDR_OK, "a", "b", 5},
		{IN("<a@b>\r\n"), NO_FLAGS, ADDR_OK, "a", "b", 5},
		{IN("<a@b>\0junk"), NO_FLAGS, ADDR_OK, "a", "b", 5},
		{IN("<u@example.org>"), NULLP | U8 | PM, ADDR_OK, "u", "example.org", 0},
	};

	(void)state;
	RUN_PATHS(t);
}

static void test_path_syntax(void **state)
{
	static const struct path_case t[] = {
		{IN(""), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("<"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN(">"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("user@example.org"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN(" <user@example.org>"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("<user@example.org"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("user@example.org>"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("\"<a@b>\""), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("<\"a@b>"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("<\"a\\\">"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("<a@b\\"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("<\"a\\\"@x>"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("\0<a@b>"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("<"), NULLP, ADDR_ERR_SYNTAX, NULL, NULL, 0},
		{IN("Real Name <a@b>"), NO_FLAGS, ADDR_ERR_SYNTAX, NULL, NULL, 0},
	};

	(void)state;
	RUN_PATHS(t);
}

static void test_path_mailbox_errors(void **state)
{
	static const struct path_case t[] = {
		{IN("<user>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@example.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<.u@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u.@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u..v@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<.@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("< u@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x >"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u v@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u @x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@ x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u(c)@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u,v@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u;v@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u\\v@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u[v]@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u<v@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a\"b\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\"b@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\".b@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\"\"b\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\">"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@-x.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x-.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x.-org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x.org->"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@->"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x..org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@.x.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@.>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x_y.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x/y.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x:25>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@\"x\">"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x\">"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x<y>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<<u@x>>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x,v@y>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("< >"), NULLP, ADDR_ERR_MAILBOX, NULL, NULL, 0},
	};

	(void)state;
	RUN_PATHS(t);
}

/* Inputs that try to make a relay deliver to a domain it should not. */
static void test_open_relay_tricks(void **state)
{
	static const struct path_case t[] = {
		{IN("<user%remote@local>"), NO_FLAGS, ADDR_OK, "user%remote", "local", 0},
		{IN("<user%remote.example@local.example>"), NO_FLAGS, ADDR_OK,
		 "user%remote.example", "local.example", 0},
		{IN("<remote!user@local>"), NO_FLAGS, ADDR_OK, "remote!user", "local", 0},
		{IN("<\"user@remote\"@local>"), NO_FLAGS, ADDR_OK, "\"user@remote\"",
		 "local", 0},
		{IN("<\"user@remote\">"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@remote@local>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@remote\"@local\">"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@local.>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@local..>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@remote>@local>"), NO_FLAGS, ADDR_OK, "user", "remote", 13},
		{IN("<user@local\0.remote>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@local\r\nRCPT TO:<x@y>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL,
		 NULL, 0},
		{IN("<@local:user@remote>"), NO_FLAGS, ADDR_OK, "user", "remote", 0},
		{IN("<user@[127.0.0.1]@remote>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL,
		 NULL, 0},
	};

	(void)state;
	RUN_PATHS(t);
}

static void test_null_path(void **state)
{
	static const struct path_case t[] = {
		{IN("<>"), NO_FLAGS, ADDR_ERR_NULL_NOT_ALLOWED, NULL, NULL, 0},
		{IN("<>"), U8 | PM, ADDR_ERR_NULL_NOT_ALLOWED, NULL, NULL, 0},
		{IN("<> SIZE=10"), NO_FLAGS, ADDR_ERR_NULL_NOT_ALLOWED, NULL, NULL, 0},
		{IN("< >"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"\">"), NULLP, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a:>"), NULLP, ADDR_ERR_MAILBOX, NULL, NULL, 0},
	};
	struct address a;
	size_t consumed = 0;

	(void)state;
	RUN_PATHS(t);
	assert_int_equal(addr_parse_path(IN("<>"), NULLP, &a, &consumed), ADDR_OK);
	assert_true(a.is_null);
	assert_string_equal(a.local, "");
	assert_string_equal(a.domain, "");
	assert_int_equal(consumed, 2);
	assert_int_equal(addr_parse_path(IN("<> BODY=8BITMIME"), NULLP, &a, &consumed),
			 ADDR_OK);
	assert_true(a.is_null);
	assert_int_equal(consumed, 2);
	/* A non-null path with the flag set is not null. */
	assert_int_equal(addr_parse_path(IN("<a@b>"), NULLP, &a, &consumed), ADDR_OK);
	assert_false(a.is_null);
}

static void test_postmaster(void **state)
{
	static const struct path_case t[] = {
		{IN("<postmaster>"), PM, ADDR_OK, "postmaster", "", 0},
		{IN("<Postmaster>"), PM, ADDR_OK, "Postmaster", "", 0},
		{IN("<POSTMASTER> x"), PM, ADDR_OK, "POSTMASTER", "", 12},
		{IN("<postmaster@example.org>"), PM, ADDR_OK, "postmaster",
		 "example.org", 0},
		{IN("<postmaster>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<postmaster>"), NULLP | U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<postmistress>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<postmaste>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<postmasters>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<root>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"postmaster\">"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<postmaster@>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<postmaster.>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a:postmaster>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<postmaster\0>"), PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
	};

	(void)state;
	RUN_PATHS(t);
}

static void test_source_routes(void **state)
{
	static const struct path_case t[] = {
		{IN("<@a,@b:u@c>"), NO_FLAGS, ADDR_OK, "u", "c", 0},
		{IN("<@a:u@c>"), NO_FLAGS, ADDR_OK, "u", "c", 0},
		{IN("<@relay.example,@x-y.example,@z:u.v@c.example>"), NO_FLAGS,
		 ADDR_OK, "u.v", "c.example", 0},
		{IN("<@a:\"q r\"@c>"), NO_FLAGS, ADDR_OK, "\"q r\"", "c", 0},
		{IN("<@a:u@[192.0.2.1]>"), NO_FLAGS, ADDR_OK, "u", "[192.0.2.1]", 0},
		{IN("<@a,@b:u@c> SIZE=1"), NO_FLAGS, ADDR_OK, "u", "c", 11},
		{IN("<@a>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a,@b>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a,b:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a,:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@,@b:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a::u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a:@b:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a.:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@-a:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a b:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a, @b:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@[192.0.2.1]:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a:u>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a:u@c.>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a,@b:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@a:>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<@bücher:u@c>"), U8, ADDR_OK, "u", "c", 0},
		{IN("<@bücher:u@c>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
	};

	(void)state;
	RUN_PATHS(t);
}

static void test_address_literals(void **state)
{
	static const struct path_case t[] = {
		{IN("<u@[192.0.2.1]>"), NO_FLAGS, ADDR_OK, "u", "[192.0.2.1]", 0},
		{IN("<u@[0.0.0.0]>"), NO_FLAGS, ADDR_OK, "u", "[0.0.0.0]", 0},
		{IN("<u@[255.255.255.255]>"), NO_FLAGS, ADDR_OK, "u",
		 "[255.255.255.255]", 0},
		{IN("<u@[IPv6:2001:db8::1]>"), NO_FLAGS, ADDR_OK, "u",
		 "[IPv6:2001:db8::1]", 0},
		{IN("<u@[ipv6:::1]>"), NO_FLAGS, ADDR_OK, "u", "[ipv6:::1]", 0},
		{IN("<u@[IPV6:1:2:3:4:5:6:7:8]>"), NO_FLAGS, ADDR_OK, "u",
		 "[IPV6:1:2:3:4:5:6:7:8]", 0},
		{IN("<u@[IPv6:::ffff:192.0.2.1]>"), NO_FLAGS, ADDR_OK, "u",
		 "[IPv6:::ffff:192.0.2.1]", 0},
		{IN("<u@[IPv6:::]>"), NO_FLAGS, ADDR_OK, "u", "[IPv6:::]", 0},
		{IN("<u@[256.1.1.1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.1.1.256]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[999.1.1.1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.4.5]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[.1.2.3]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1..2.3]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.1234]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.0004]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[010.0.0.1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[10.0.0.01]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[-1.2.3.4]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[+1.2.3.4]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[0x7f.0.0.1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[2130706433]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[a.b.c.d]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[ 1.2.3.4]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.4 ]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.4\0]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.4>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@1.2.3.4]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[[1.2.3.4]]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[1.2.3.4].org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x.[1.2.3.4]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:2001:db8::g]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:1:2:3:4:5:6:7:8:9]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL,
		 NULL, 0},
		{IN("<u@[IPv6:1::2::3]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:fe80::1%eth0]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:::1 ]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:192.0.2.1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000]>"),
		 NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:\0:1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:::1\0]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:2001:db8::\0junk]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL,
		 NULL, 0},
		{IN("<u@[IPv6:::1\n]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:+::1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6 :::1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[2001:db8::1]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		/* General-address-literal: no tag other than IPv6 is registered. */
		{IN("<u@[x400:abc]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv4:1.2.3.4]>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@[IPv6:::1]>"), U8, ADDR_OK, "u", "[IPv6:::1]", 0},
	};

	(void)state;
	RUN_PATHS(t);
}

static void test_utf8(void **state)
{
	static const struct path_case t[] = {
		{IN("<jöe@example.org>"), U8, ADDR_OK, "jöe", "example.org", 0},
		{IN("<jöe@example.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<joe@bücher.example>"), U8, ADDR_OK, "joe", "bücher.example", 0},
		{IN("<joe@bücher.example>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"jö e\"@x>"), U8, ADDR_OK, "\"jö e\"", "x", 0},
		{IN("<\"jö e\"@x>"), NULLP | PM, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<用户@例子.广告>"), U8, ADDR_OK, "用户", "例子.广告", 0},
		{IN("<\xf0\x9f\x98\x80@x>"), U8, ADDR_OK, "\xf0\x9f\x98\x80", "x", 0},
		{IN("<\xf4\x8f\xbf\xbf@x>"), U8, ADDR_OK, "\xf4\x8f\xbf\xbf", "x", 0},
		{IN("<\xc2\xa0@x>"), U8, ADDR_OK, "\xc2\xa0", "x", 0},
		{IN("<a@ü>"), U8, ADDR_OK, "a", "ü", 0},
		{IN("<a@ü-ü.x>"), U8, ADDR_OK, "a", "ü-ü.x", 0},
		/* Malformed UTF-8 is refused even with the flag. */
		{IN("<\x80@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a\xbf@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xc0\xaf@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xc1\xbf@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xe0\x80\xaf@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xe0\x9f\xbf@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xed\xa0\x80@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xed\xbf\xbf@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xf0\x80\x80\xaf@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xf4\x90\x80\x80@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xf5\x80\x80\x80@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xff@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\xfe@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a\xc3@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a\xe2\x82@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a\xf0\x9f\x98@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a\xc3\xc3\xa9@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a@x\xc3>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\xc3\"@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		/* C1 controls (U+0080-U+009F) are control characters too. */
		{IN("<a\xc2\x85@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\xc2\x80\"@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a@x\xc2\x9f.org>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		/* quoted-pairSMTP is ASCII only, even under SMTPUTF8. */
		{IN("<\"\\\xc3\xa9\"@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		/* No UTF-8 inside address literals. */
		{IN("<a@[IPv6:\xc3\xa9::1]>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a@[1.2.3.\xc3\xa9]>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		/* Labels still may not start or end with '-'. */
		{IN("<a@-ü.x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a@ü-.x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<a@ü.>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
	};

	(void)state;
	RUN_PATHS(t);
}

static void test_controls_and_nul(void **state)
{
	static const struct path_case t[] = {
		{IN("<u\0@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\0u@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@\0x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x\0>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x.\0org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\0>"), NULLP, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\0b\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\\\0\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"\\\x7f\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"\\\t\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\tb\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\rb\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\nb\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\"a\x7f\"@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u\t@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u\r\n@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u\x1b@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u\x7f@x>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x\x7f>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x\t>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u@x\r>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<u\0@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<\x01@x>"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
	};

	(void)state;
	RUN_PATHS(t);
}

/* Fills p[0..n) with c. */
static void fill(char *p, size_t n, char c)
{
	memset(p, c, n);
}

/* Writes a valid Domain of exactly n octets (labels of 49 or 50 octets). */
static void make_domain(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = i % 50 == 49 ? '.' : 'd';
	if (n > 0 && p[n - 1] == '.')
		p[n - 1] = 'd';
}

/* Builds "<" local(l octets) "@" domain(d octets) ">" into p; returns length. */
static size_t make_path(char *p, size_t l, size_t d)
{
	p[0] = '<';
	fill(p + 1, l, 'l');
	p[1 + l] = '@';
	make_domain(p + 2 + l, d);
	p[2 + l + d] = '>';
	return l + d + 3;
}

static enum addr_status parse_exact(const char *s, size_t n, unsigned flags,
				    struct address *a, size_t *consumed)
{
	char *in = exact_copy(s, n);
	enum addr_status st = addr_parse_path(in, n, flags, a, consumed);

	free(in);
	return st;
}

static void test_local_limit(void **state)
{
	char p[400];
	struct address a;
	size_t n, consumed;

	(void)state;
	n = make_path(p, 64, 10);
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	assert_int_equal(strlen(a.local), 64);
	assert_int_equal(consumed, n);
	n = make_path(p, 65, 10);
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
			 ADDR_ERR_LOCAL_TOO_LONG);
	n = make_path(p, 200, 10);
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
			 ADDR_ERR_LOCAL_TOO_LONG);
	/* Dots count towards the 64 octets too. */
	n = make_path(p, 64, 10);
	for (size_t i = 2; i < 64; i += 2)
		p[i] = '.';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	n = make_path(p, 65, 10);
	for (size_t i = 2; i < 65; i += 2)
		p[i] = '.';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
			 ADDR_ERR_LOCAL_TOO_LONG);
}

static void test_quoted_local_limit(void **state)
{
	char p[400];
	struct address a;
	size_t n, consumed;

	(void)state;
	/* The quotes count towards the 64 octets. */
	n = make_path(p, 64, 10);
	p[1] = p[64] = '"';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	assert_int_equal(strlen(a.local), 64);
	assert_int_equal(a.local[0], '"');
	n = make_path(p, 65, 10);
	p[1] = p[65] = '"';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
			 ADDR_ERR_LOCAL_TOO_LONG);
	/* A quoted-pair straddling the limit. */
	n = make_path(p, 64, 10);
	p[1] = p[64] = '"';
	p[62] = '\\';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	n = make_path(p, 65, 10);
	p[1] = p[65] = '"';
	p[63] = '\\';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
			 ADDR_ERR_LOCAL_TOO_LONG);
	/* UTF-8: the limit is in octets, not characters. */
	n = make_path(p, 64, 10);
	for (size_t i = 1; i < 65; i += 2)
		memcpy(p + i, "\xc3\xa9", 2);
	assert_int_equal(parse_exact(p, n, U8, &a, &consumed), ADDR_OK);
	n = make_path(p, 66, 10);
	for (size_t i = 1; i < 67; i += 2)
		memcpy(p + i, "\xc3\xa9", 2);
	assert_int_equal(parse_exact(p, n, U8, &a, &consumed),
			 ADDR_ERR_LOCAL_TOO_LONG);
}

static void test_path_limit(void **state)
{
	char p[600];
	struct address a;
	size_t n, consumed;

	(void)state;
	/* 1 + 64 + 1 + 189 + 1 = 256: exactly at the limit. */
	n = make_path(p, 64, 189);
	assert_int_equal(n, ADDR_PATH_MAX);
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	assert_int_equal(consumed, ADDR_PATH_MAX);
	assert_int_equal(strlen(a.domain), 189);
	memcpy(p + n, " SIZE=1", 7);
	assert_int_equal(parse_exact(p, n + 7, 0, &a, &consumed), ADDR_OK);
	assert_int_equal(consumed, ADDR_PATH_MAX);
	/* One over. */
	n = make_path(p, 64, 190);
	assert_int_equal(n, ADDR_PATH_MAX + 1);
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
			 ADDR_ERR_PATH_TOO_LONG);
	assert_int_equal(consumed, 0);
	memcpy(p + n, " SIZE=1", 7);
	assert_int_equal(parse_exact(p, n + 7, 0, &a, &consumed),
			 ADDR_ERR_PATH_TOO_LONG);
	/* A long domain with a short local part. */
	n = make_path(p, 1, 252);
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	n = make_path(p, 1, 253);
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
			 ADDR_ERR_PATH_TOO_LONG);
	/* Exactly 256 octets but with no '>' at all is just unterminated. */
	n = make_path(p, 64, 189);
	assert_int_equal(parse_exact(p, n - 1, 0, &a, &consumed),
			 ADDR_ERR_SYNTAX);
}

static void test_route_counts_towards_path_limit(void **state)
{
	char p[600];
	struct address a;
	size_t n, consumed;

	(void)state;
	/* "<@" route(r) ":" "u@x" ">": 1 + 1 + r + 1 + 3 + 1 = r + 7 octets. */
	for (size_t r = 248; r <= 250; r++) {
		p[0] = '<';
		p[1] = '@';
		make_domain(p + 2, r);
		memcpy(p + 2 + r, ":u@x>", 5);
		n = r + 7;
		assert_int_equal(parse_exact(p, n, 0, &a, &consumed),
				 n <= ADDR_PATH_MAX ? ADDR_OK
						    : ADDR_ERR_PATH_TOO_LONG);
	}
}

static void test_label_limit(void **state)
{
	char p[200];
	struct address a;
	size_t n, consumed;

	(void)state;
	n = make_path(p, 1, 63);
	fill(p + 3, 63, 'x');
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	n = make_path(p, 1, 64);
	fill(p + 3, 64, 'x');
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_ERR_MAILBOX);
	/* A 63-octet label in the middle, then one of 64. */
	n = make_path(p, 1, 67);
	fill(p + 3, 67, 'x');
	p[3 + 63] = '.';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_OK);
	n = make_path(p, 1, 68);
	fill(p + 3, 68, 'x');
	p[3 + 64] = '.';
	assert_int_equal(parse_exact(p, n, 0, &a, &consumed), ADDR_ERR_MAILBOX);
	/* U-labels count octets too: 31 two-octet characters + 1 = 63. */
	n = make_path(p, 1, 63);
	for (size_t i = 0; i < 62; i += 2)
		memcpy(p + 3 + i, "\xc3\xbc", 2);
	assert_int_equal(parse_exact(p, n, U8, &a, &consumed), ADDR_OK);
	n = make_path(p, 1, 64);
	for (size_t i = 0; i < 64; i += 2)
		memcpy(p + 3 + i, "\xc3\xbc", 2);
	assert_int_equal(parse_exact(p, n, U8, &a, &consumed), ADDR_ERR_MAILBOX);
}

static void test_huge_input(void **state)
{
	size_t n = 1u << 20;
	char *p = malloc(n);
	struct address a;
	size_t consumed;

	(void)state;
	assert_non_null(p);
	memset(p, 'a', n);
	p[0] = '<';
	assert_int_equal(addr_parse_path(p, n, 0, &a, &consumed),
			 ADDR_ERR_PATH_TOO_LONG);
	p[n - 1] = '>';
	assert_int_equal(addr_parse_path(p, n, 0, &a, &consumed),
			 ADDR_ERR_PATH_TOO_LONG);
	p[1] = '"';
	assert_int_equal(addr_parse_path(p, n, 0, &a, &consumed),
			 ADDR_ERR_PATH_TOO_LONG);
	/* A bare mailbox is bounded by its own limits. */
	assert_int_equal(addr_parse_mailbox(p + 2, n - 3, 0, &a),
			 ADDR_ERR_LOCAL_TOO_LONG);
	p[10] = '@';
	assert_int_equal(addr_parse_mailbox(p + 2, n - 3, 0, &a),
			 ADDR_ERR_DOMAIN_TOO_LONG);
	free(p);
}

/* Every proper prefix of a valid path lacks its '>' and must fail cleanly. */
static void test_truncations(void **state)
{
	static const char *const paths[] = {
		"<user@example.org>",
		"<@a,@b:\"q\\\"x\"@[IPv6:2001:db8::1]>",
		"<jöe@bücher.example>",
		"<u@[192.0.2.1]>",
		"<postmaster>",
	};
	struct address a;
	size_t consumed;

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		size_t full = strlen(paths[i]);
		unsigned flags = U8 | PM | NULLP;

		assert_int_equal(parse_exact(paths[i], full, flags, &a, &consumed),
				 ADDR_OK);
		assert_int_equal(consumed, full);
		for (size_t n = 0; n < full; n++)
			assert_int_not_equal(parse_exact(paths[i], n, flags, &a,
							 &consumed),
					     ADDR_OK);
	}
}

static void test_consumed_may_be_null(void **state)
{
	struct address a;

	(void)state;
	assert_int_equal(addr_parse_path(IN("<a@b> x"), 0, &a, NULL), ADDR_OK);
	assert_string_equal(a.local, "a");
	assert_int_equal(addr_parse_path(IN("<a@b"), 0, &a, NULL), ADDR_ERR_SYNTAX);
}

static void test_mailbox(void **state)
{
	static const struct path_case t[] = {
		{IN("user@example.org"), NO_FLAGS, ADDR_OK, "user", "example.org", 0},
		{IN("\"a b\"@example.org"), NO_FLAGS, ADDR_OK, "\"a b\"",
		 "example.org", 0},
		{IN("u@[192.0.2.1]"), NO_FLAGS, ADDR_OK, "u", "[192.0.2.1]", 0},
		{IN("u@[IPv6:::1]"), NO_FLAGS, ADDR_OK, "u", "[IPv6:::1]", 0},
		{IN("user%remote@local"), NO_FLAGS, ADDR_OK, "user%remote", "local", 0},
		{IN("\"user@remote\"@local"), NO_FLAGS, ADDR_OK, "\"user@remote\"",
		 "local", 0},
		{IN("jöe@bücher.example"), U8, ADDR_OK, "jöe", "bücher.example", 0},
		{IN("postmaster"), PM, ADDR_OK, "postmaster", "", 0},
		{IN("PostMaster"), PM, ADDR_OK, "PostMaster", "", 0},
		{IN("postmaster"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("jöe@bücher.example"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN(""), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN(""), NULLP, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("user"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("<user@example.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("user@example.org>"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("user@example.org "), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN(" user@example.org"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("user@example.org\n"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("user@example.org\0"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("user@remote@local"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("user@local."), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("@a:u@c"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("u..v@c"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("u@c,v@d"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("u@[1.2.3.256]"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("\"unterminated@x"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("u@x\xc3"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("u\xe2\x82"), U8, ADDR_ERR_MAILBOX, NULL, NULL, 0},
		{IN("\"\\"), NO_FLAGS, ADDR_ERR_MAILBOX, NULL, NULL, 0},
	};
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		failures += run_mailbox_case(&t[i], i);
	assert_int_equal(failures, 0);
}

static void test_mailbox_limits(void **state)
{
	char p[400];
	struct address a;
	char *in;

	(void)state;
	/* Domain exactly 255 octets: reachable only without the path limit. */
	p[0] = 'u';
	p[1] = '@';
	make_domain(p + 2, 255);
	in = exact_copy(p, 257);
	assert_int_equal(addr_parse_mailbox(in, 257, 0, &a), ADDR_OK);
	assert_int_equal(strlen(a.domain), 255);
	free(in);
	make_domain(p + 2, 256);
	in = exact_copy(p, 258);
	assert_int_equal(addr_parse_mailbox(in, 258, 0, &a),
			 ADDR_ERR_DOMAIN_TOO_LONG);
	free(in);
	/* Local part 64 and 65. */
	fill(p, 64, 'l');
	memcpy(p + 64, "@x", 2);
	in = exact_copy(p, 66);
	assert_int_equal(addr_parse_mailbox(in, 66, 0, &a), ADDR_OK);
	free(in);
	fill(p, 65, 'l');
	memcpy(p + 65, "@x", 2);
	in = exact_copy(p, 67);
	assert_int_equal(addr_parse_mailbox(in, 67, 0, &a),
			 ADDR_ERR_LOCAL_TOO_LONG);
	free(in);
	/* Both at their limits: the longest mailbox there is. */
	fill(p, 64, 'l');
	p[64] = '@';
	make_domain(p + 65, 255);
	in = exact_copy(p, ADDR_MAILBOX_MAX);
	assert_int_equal(addr_parse_mailbox(in, ADDR_MAILBOX_MAX, 0, &a), ADDR_OK);
	free(in);
}

struct bool_case {
	const char *in;
	size_t len;
	bool flag;
	bool want;
};

static void run_bool_table(const struct bool_case *t, size_t n,
			   bool (*fn)(const struct bool_case *c, const char *in),
			   const char *what)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		char *in = exact_copy(t[i].in, t[i].len);

		if (fn(&t[i], in) != t[i].want) {
			report(what, i, t[i].in, t[i].len,
			       t[i].want ? "rejected" : "accepted");
			failures++;
		}
		free(in);
	}
	assert_int_equal(failures, 0);
}

static bool call_valid_domain(const struct bool_case *c, const char *in)
{
	return addr_valid_domain(in, c->len, c->flag);
}

static bool call_valid_helo(const struct bool_case *c, const char *in)
{
	return addr_valid_helo(in, c->len);
}

static void test_valid_domain(void **state)
{
	static const struct bool_case t[] = {
		{IN("example.org"), false, true},
		{IN("a"), false, true},
		{IN("1"), false, true},
		{IN("123.45"), false, true},
		{IN("a-b.c"), false, true},
		{IN("A.B.C.D.E.F"), false, true},
		{IN("xn--bcher-kva.example"), false, true},
		{IN("bücher.example"), true, true},
		{IN("bücher.example"), false, false},
		{IN(""), false, false},
		{IN("."), false, false},
		{IN("example.org."), false, false},
		{IN(".example.org"), false, false},
		{IN("example..org"), false, false},
		{IN("-example.org"), false, false},
		{IN("example-.org"), false, false},
		{IN("exa_mple.org"), false, false},
		{IN("exa mple.org"), false, false},
		{IN("example.org\0"), false, false},
		{IN("exa\0mple.org"), false, false},
		{IN("[192.0.2.1]"), false, false},
		{IN("192.0.2.1"), false, true},
		{IN("example.org\r\n"), false, false},
		{IN("*.example.org"), false, false},
		{IN("\xc3"), true, false},
	};
	char p[300];

	(void)state;
	run_bool_table(t, sizeof(t) / sizeof(t[0]), call_valid_domain, "domain");
	make_domain(p, 255);
	assert_true(addr_valid_domain(p, 255, false));
	make_domain(p, 256);
	assert_false(addr_valid_domain(p, 256, false));
	fill(p, 63, 'x');
	assert_true(addr_valid_domain(p, 63, false));
	fill(p, 64, 'x');
	assert_false(addr_valid_domain(p, 64, false));
}

static void test_valid_helo(void **state)
{
	static const struct bool_case t[] = {
		{IN("mail.example.org"), false, true},
		{IN("localhost"), false, true},
		{IN("MAIL-1.Example.ORG"), false, true},
		{IN("[192.0.2.1]"), false, true},
		{IN("[IPv6:2001:db8::1]"), false, true},
		{IN("[IPv6:::1]"), false, true},
		{IN(""), false, false},
		{IN(" "), false, false},
		{IN("mail.example.org."), false, false},
		{IN("mail_1.example.org"), false, false},
		{IN("mail example"), false, false},
		{IN("mail.example.org "), false, false},
		{IN("bücher.example"), false, false},
		{IN("[300.1.1.1]"), false, false},
		{IN("[1.2.3]"), false, false},
		{IN("[192.0.2.1"), false, false},
		{IN("192.0.2.1]"), false, false},
		{IN("[IPv6:::g]"), false, false},
		{IN("[x400:abc]"), false, false},
		{IN("[]"), false, false},
		{IN("["), false, false},
		{IN("user@example.org"), false, false},
		{IN("<example.org>"), false, false},
		{IN("example.org\0"), false, false},
		{IN("-example.org"), false, false},
	};
	char p[300];

	(void)state;
	run_bool_table(t, sizeof(t) / sizeof(t[0]), call_valid_helo, "helo");
	make_domain(p, 255);
	assert_true(addr_valid_helo(p, 255));
	make_domain(p, 256);
	assert_false(addr_valid_helo(p, 256));
}

static void test_format(void **state)
{
	struct address a;
	char out[ADDR_MAILBOX_MAX + 1];

	(void)state;
	assert_int_equal(addr_parse_path(IN("<\"a b\"@example.org>"), 0, &a, NULL),
			 ADDR_OK);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 17);
	assert_string_equal(out, "\"a b\"@example.org");
	/* Exactly enough room, and one short. */
	assert_int_equal(addr_format(&a, out, 18), 17);
	assert_string_equal(out, "\"a b\"@example.org");
	assert_int_equal(addr_format(&a, out, 17), -1);
	assert_string_equal(out, "");
	out[0] = 'x';
	assert_int_equal(addr_format(&a, out, 0), -1);
	assert_int_equal(out[0], 'x');
	assert_int_equal(addr_parse_path(IN("<>"), NULLP, &a, NULL), ADDR_OK);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(addr_format(&a, out, 1), 0);
	assert_int_equal(addr_format(&a, out, 0), -1);
	assert_int_equal(addr_parse_path(IN("<Postmaster>"), PM, &a, NULL), ADDR_OK);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 10);
	assert_string_equal(out, "Postmaster");
	assert_int_equal(addr_parse_path(IN("<@r:u@[IPv6:::1]>"), 0, &a, NULL),
			 ADDR_OK);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 12);
	assert_string_equal(out, "u@[IPv6:::1]");
}

static void test_format_longest(void **state)
{
	char p[ADDR_MAILBOX_MAX + 1];
	char out[ADDR_MAILBOX_MAX + 1];
	struct address a;

	(void)state;
	fill(p, 64, 'l');
	p[64] = '@';
	make_domain(p + 65, 255);
	assert_int_equal(addr_parse_mailbox(p, ADDR_MAILBOX_MAX, 0, &a), ADDR_OK);
	assert_int_equal(addr_format(&a, out, sizeof(out)), ADDR_MAILBOX_MAX);
	assert_memory_equal(out, p, ADDR_MAILBOX_MAX);
	assert_int_equal(addr_format(&a, out, ADDR_MAILBOX_MAX), -1);
}

static void test_status_text(void **state)
{
	static const enum addr_status all[] = {
		ADDR_OK,
		ADDR_ERR_SYNTAX,
		ADDR_ERR_MAILBOX,
		ADDR_ERR_LOCAL_TOO_LONG,
		ADDR_ERR_DOMAIN_TOO_LONG,
		ADDR_ERR_PATH_TOO_LONG,
		ADDR_ERR_NULL_NOT_ALLOWED,
	};
	const size_t n = sizeof(all) / sizeof(all[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const char *s = addr_status_text(all[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		/* These end up in reply lines: no line breaks. */
		assert_null(strpbrk(s, "\r\n"));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, addr_status_text(all[j]));
	}
	assert_non_null(strstr(addr_status_text(ADDR_ERR_LOCAL_TOO_LONG), "64"));
	assert_non_null(strstr(addr_status_text(ADDR_ERR_DOMAIN_TOO_LONG), "255"));
	assert_non_null(strstr(addr_status_text(ADDR_ERR_PATH_TOO_LONG), "256"));
	assert_non_null(addr_status_text((enum addr_status)99));
}

/* A small deterministic PRNG (xorshift32) so failures reproduce. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Checks what must hold for any input, and that an accepted address
 * survives formatting and reparsing unchanged. */
static void check_invariants(const char *in, size_t n, unsigned flags)
{
	struct address a, b;
	size_t consumed;
	char text[ADDR_PATH_MAX + 2];
	int fl;

	if (addr_parse_path(in, n, flags, &a, &consumed) != ADDR_OK)
		return;
	assert_true(consumed >= 2 && consumed <= n && consumed <= ADDR_PATH_MAX);
	assert_int_equal(in[consumed - 1], '>');
	assert_true(strlen(a.local) <= ADDR_LOCAL_MAX);
	assert_true(strlen(a.domain) <= ADDR_DOMAIN_MAX);
	text[0] = '<';
	fl = addr_format(&a, text + 1, sizeof(text) - 2);
	assert_true(fl >= 0 && (size_t)fl + 2 <= consumed);
	text[fl + 1] = '>';
	assert_int_equal(addr_parse_path(text, (size_t)fl + 2, flags, &b, NULL),
			 ADDR_OK);
	assert_int_equal(a.is_null, b.is_null);
	assert_string_equal(a.local, b.local);
	assert_string_equal(a.domain, b.domain);
	assert_int_equal(addr_parse_mailbox(text + 1, (size_t)fl, flags, &b),
			 a.is_null ? ADDR_ERR_MAILBOX : ADDR_OK);
}

/* Mutates valid paths at random and feeds them through both parsers. */
static void test_random_mutations(void **state)
{
	static const char *const seeds[] = {
		"<user@example.org>", "<\"a b\"@x.y>", "<@a,@b:u@c>",
		"<u@[192.0.2.1]>", "<u@[IPv6:2001:db8::1]>", "<>",
		"<postmaster>", "<jöe@bücher.example>",
	};
	static const char alphabet[] = "<>@.\"\\:,[]- a0\x80\xc3\xa9\xff\0";
	uint32_t seed = 0x2545f491u;
	char buf[64];
	struct address a;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		const char *s = seeds[next_rand(&seed) % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t n = strlen(s);
		int edits = 1 + (int)(next_rand(&seed) % 4);
		unsigned flags = next_rand(&seed) % 8;
		char *in;

		memcpy(buf, s, n);
		for (int e = 0; e < edits; e++) {
			size_t at = next_rand(&seed) % (n + 1);
			uint32_t r = next_rand(&seed);
			char c = r % 4 ? alphabet[(r >> 2) % (sizeof(alphabet) - 1)]
				       : (char)(r >> 8);

			if (at < n && next_rand(&seed) % 2)
				buf[at] = c;
			else if (n < sizeof(buf)) {
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = c;
				n++;
			}
		}
		in = exact_copy(buf, n);
		check_invariants(in, n, flags);
		(void)addr_parse_mailbox(in, n, flags, &a);
		free(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_valid),
		cmocka_unit_test(test_path_syntax),
		cmocka_unit_test(test_path_mailbox_errors),
		cmocka_unit_test(test_open_relay_tricks),
		cmocka_unit_test(test_null_path),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_source_routes),
		cmocka_unit_test(test_address_literals),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_controls_and_nul),
		cmocka_unit_test(test_local_limit),
		cmocka_unit_test(test_quoted_local_limit),
		cmocka_unit_test(test_path_limit),
		cmocka_unit_test(test_route_counts_towards_path_limit),
		cmocka_unit_test(test_label_limit),
		cmocka_unit_test(test_huge_input),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_consumed_may_be_null),
		cmocka_unit_test(test_mailbox),
		cmocka_unit_test(test_mailbox_limits),
		cmocka_unit_test(test_valid_domain),
		cmocka_unit_test(test_valid_helo),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_longest),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_random_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
