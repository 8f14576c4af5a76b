/*
 * Unit tests for the aliases and relocated tables and recipient resolution:
 * what RCPT TO gets (250 local, 251 forward, 551 relocated, 550 unknown, or
 * remote), alias lists and nesting, loops (dropped, or delivered to the
 * mailbox of the same name, as sendmail does), EXPN, and every way a table
 * is refused: programs and files, unknown members, duplicates, bad syntax
 * and expansions beyond the bounds.
 */
#include "test_util.h"

#include <string.h>

#include "config/aliases.h"
#include "config/relocated.h"
#include "config_fixture.h"

static const char conf[] =
	"listen 127.0.0.1:2525\n"
	"spool var/spool\n"
	"maildir-root var/mail\n"
	"domain example.test other.test\n"
	"mailbox alice \"Alice Liddell\"\n"
	"mailbox bob\n"
	"mailbox erin\n"
	"mailbox frank\n"
	"aliases aliases\n"
	"relocated relocated\n";

static const char good_aliases[] =
	"# the standard names\n"
	"postmaster: alice\n"
	"abuse: postmaster\n"
	"team: alice, bob\n"
	"all: team,\n"
	"     abuse  # a comment inside a continued entry\n"
	"\n"
	"\tdave@remote.test\n"
	"fwd: someone@Remote.Test\n"
	"bob: bob, bob@elsewhere.test\n"
	"loopa: loopb, alice\n"
	"loopb: loopa, erin\n"
	"Mixed : Alice@Example.Test\n"
	"quoted: \"john doe\"@remote.test\n"
	"dup: alice, alice, ALICE@other.test, team\n"
	"self: self, erin\n";

static const char good_relocated[] =
	"# moved users\n"
	"carol    carol@elsewhere.test\n"
	"Dan@Example.Test\tdan@new.test\n"
	"frank frank@new.test  # still has a mailbox, but moved\n";

static struct config *load(const char *aliases, const char *relocated, struct buf *err)
{
	scratch_write("aliases", aliases);
	scratch_write("relocated", relocated);
	return scratch_load(conf, err);
}

/* Loads the good tables once per test; the config lives on in memory after
 * its scratch directory is gone. */
static int setup_loaded(void **state)
{
	void *scratch;
	if (scratch_setup(&scratch) != 0)
		return -1;
	struct buf err = BUF_INIT;
	struct config *cfg = load(good_aliases, good_relocated, &err);
	if (!cfg)
		fprintf(stderr, "fixture config refused:\n%s", err.p);
	buf_free(&err);
	if (scratch_teardown(&scratch) != 0 || !cfg) {
		config_free(cfg);
		return -1;
	}
	*state = cfg;
	return 0;
}

static int teardown_loaded(void **state)
{
	config_free(*state);
	return 0;
}

struct resolve_case {
	const char *local, *domain;
	enum resolve_kind kind;
	const char *targets;  /* joined with ' ', in order */
	const char *relocated_to;
};

#define BOB_TEAM "alice@example.test bob@example.test bob@elsewhere.test"

static const struct resolve_case resolve_cases[] = {
	{"alice", "example.test", RESOLVE_LOCAL, "alice@example.test", NULL},
	{"ALICE", "EXAMPLE.TEST", RESOLVE_LOCAL, "alice@example.test", NULL},
	{"alice", "other.test", RESOLVE_LOCAL, "alice@example.test", NULL},
	{"erin", "example.test", RESOLVE_LOCAL, "erin@example.test", NULL},
	{"postmaster", "", RESOLVE_LOCAL, "alice@example.test", NULL},
	{"PostMaster", "", RESOLVE_LOCAL, "alice@example.test", NULL},
	{"postmaster", "other.test", RESOLVE_LOCAL, "alice@example.test", NULL},
	{"abuse", "example.test", RESOLVE_LOCAL, "alice@example.test", NULL},
	/* bob is also an alias (keeping a copy in his mailbox), and lists follow it. */
	{"team", "example.test", RESOLVE_LOCAL, BOB_TEAM, NULL},
	{"all", "example.test", RESOLVE_LOCAL, BOB_TEAM " dave@remote.test", NULL},
	{"fwd", "example.test", RESOLVE_FORWARD, "someone@remote.test", NULL},
	{"quoted", "example.test", RESOLVE_FORWARD, "\"john doe\"@remote.test", NULL},
	{"bob", "example.test", RESOLVE_LOCAL, "bob@example.test bob@elsewhere.test", NULL},
	{"loopa", "example.test", RESOLVE_LOCAL, "erin@example.test alice@example.test", NULL},
	{"loopb", "example.test", RESOLVE_LOCAL, "alice@example.test erin@example.test", NULL},
	{"self", "example.test", RESOLVE_LOCAL, "erin@example.test", NULL},
	{"mixed", "example.test", RESOLVE_LOCAL, "alice@example.test", NULL},
	{"dup", "example.test", RESOLVE_LOCAL, BOB_TEAM, NULL},
	{"carol", "example.test", RESOLVE_RELOCATED, "", "carol@elsewhere.test"},
	{"Carol", "other.test", RESOLVE_RELOCATED, "", "carol@elsewhere.test"},
	{"dan", "example.test", RESOLVE_RELOCATED, "", "dan@new.test"},
	{"frank", "example.test", RESOLVE_RELOCATED, "", "frank@new.test"},
	{"nobody", "example.test", RESOLVE_UNKNOWN, "", NULL},
	{"nobody", "", RESOLVE_UNKNOWN, "", NULL},
	{"alice", "", RESOLVE_UNKNOWN, "", NULL},
	{"john doe", "example.test", RESOLVE_UNKNOWN, "", NULL},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	 "example.test", RESOLVE_UNKNOWN, "", NULL},
	{"someone", "remote.test", RESOLVE_REMOTE, "someone@remote.test", NULL},
	{"Someone", "Remote.Test", RESOLVE_REMOTE, "Someone@remote.test", NULL},
	{"john doe", "remote.test", RESOLVE_REMOTE, "\"john doe\"@remote.test", NULL},
	{"a\"b\\c", "remote.test", RESOLVE_REMOTE, "\"a\\\"b\\\\c\"@remote.test", NULL},
	{"alice", "[192.0.2.1]", RESOLVE_REMOTE, "alice@[192.0.2.1]", NULL},
};

static void join(const struct strlist *l, struct buf *out)
{
	buf_reset(out);
	buf_puts(out, "");
	for (size_t i = 0; i < l->n; i++)
		buf_printf(out, "%s%s", i ? " " : "", l->v[i]);
}

static void test_resolve(void **state)
{
	const struct config *cfg = *state;
	struct buf got = BUF_INIT;
	for (size_t i = 0; i < sizeof resolve_cases / sizeof resolve_cases[0]; i++) {
		const struct resolve_case *c = &resolve_cases[i];
		struct resolution res;
		config_resolve(cfg, c->local, c->domain, &res);
		join(&res.targets, &got);
		if (res.kind != c->kind || strcmp(got.p, c->targets) != 0)
			fail_msg("%s@%s: kind %d [%s], expected %d [%s]", c->local, c->domain,
				 res.kind, got.p, c->kind, c->targets);
		if (c->relocated_to)
			assert_string_equal(res.relocated_to, c->relocated_to);
		else
			assert_null(res.relocated_to);
		resolution_free(&res);
		assert_null(res.relocated_to);
		assert_int_equal(res.targets.n, 0);
	}
	buf_free(&got);
}

struct expn_case {
	const char *name;
	bool found;
	const char *members;
};

static const struct expn_case expn_cases[] = {
	{"team", true, BOB_TEAM},
	{"TEAM", true, BOB_TEAM},
	{"all", true, BOB_TEAM " dave@remote.test"},
	{"bob", true, "bob@example.test bob@elsewhere.test"},
	{"fwd", true, "someone@remote.test"},
	{"postmaster", true, "alice@example.test"},
	{"alice", false, ""},
	{"nobody", false, ""},
	{"carol", false, ""},
};

static void test_expn(void **state)
{
	const struct config *cfg = *state;
	struct buf got = BUF_INIT;
	for (size_t i = 0; i < sizeof expn_cases / sizeof expn_cases[0]; i++) {
		const struct expn_case *c = &expn_cases[i];
		struct strlist out = STRLIST_INIT;
		bool found = config_expand_list(cfg, c->name, &out);
		join(&out, &got);
		if (found != c->found || strcmp(got.p, c->members) != 0)
			fail_msg("EXPN %s: %d [%s], expected %d [%s]", c->name, found, got.p,
				 c->found, c->members);
		strlist_free(&out);
	}
	buf_free(&got);
}

static void test_table_api(void **state)
{
	const struct config *cfg = *state;
	assert_true(aliases_exists(cfg->aliases, "mixed"));
	assert_false(aliases_exists(cfg->aliases, "alice"));
	struct strlist out = STRLIST_INIT;
	assert_int_equal(aliases_expand(cfg->aliases, cfg, "nobody", &out), ALIAS_NOT_FOUND);
	assert_int_equal(aliases_expand(cfg->aliases, cfg, "abuse", &out), ALIAS_OK);
	assert_int_equal(out.n, 1);
	strlist_free(&out);
	assert_null(relocated_lookup(cfg->relocated, "alice"));
	assert_string_equal(relocated_lookup(cfg->relocated, "dan"), "dan@new.test");

	struct aliases *none = aliases_empty();
	assert_int_equal(aliases_expand(none, cfg, "team", &out), ALIAS_NOT_FOUND);
	aliases_free(none);
	struct relocated *nobody = relocated_empty();
	assert_null(relocated_lookup(nobody, "carol"));
	relocated_free(nobody);
}

struct error_case {
	const char *aliases;
	const char *relocated;
	const char *want;  /* must appear in the error text */
};

#define PM "postmaster: alice\n"
#define OK_RELOC "carol carol@elsewhere.test\n"
#define NOT_SUPPORTED "delivery to programs/files is not supported"

static const struct error_case error_cases[] = {
	{PM "vacation: bob, \"|/usr/bin/vacation bob\"\n", OK_RELOC, "aliases:2: " NOT_SUPPORTED},
	{PM "pipe: |/bin/cat\n", OK_RELOC, "aliases:2: " NOT_SUPPORTED " ('|/bin/cat')"},
	{PM "log: /var/log/mail.log\n", OK_RELOC, "aliases:2: " NOT_SUPPORTED},
	{PM "list: :include:/etc/list\n", OK_RELOC, "aliases:2: " NOT_SUPPORTED},
	{PM "list: alice,\n  :INCLUDE:/etc/list\n", OK_RELOC, "aliases:2: " NOT_SUPPORTED},
	{PM "x: zed\n", OK_RELOC,
	 "aliases:2: alias 'x': unknown local member 'zed' (neither a mailbox nor an alias)"},
	{PM "x: zed@other.test\n", OK_RELOC, "aliases:2: alias 'x': unknown local member 'zed'"},
	{PM "x: carol\n", OK_RELOC, "aliases:2: alias 'x': unknown local member 'carol'"},
	{PM "team: alice\nTeam: bob\n", OK_RELOC,
	 "aliases:3: duplicate alias 'team' (first at line 2)"},
	{"postmaster alice\n", OK_RELOC, "aliases:1: expected 'name: member, member, ...'"},
	{PM "empty:\n", OK_RELOC, "aliases:2: alias 'empty' has no members"},
	{PM "two words: alice\n", OK_RELOC, "aliases:2: invalid alias name 'two words'"},
	{PM "../etc: alice\n", OK_RELOC, "aliases:2: invalid alias name '../etc'"},
	{PM "x: a@b@c\n", OK_RELOC, "aliases:2: invalid address 'a@b@c'"},
	{PM "x: alice@\n", OK_RELOC, "aliases:2: invalid address 'alice@'"},
	{PM "x: .alice\n", OK_RELOC, "aliases:2: invalid local name '.alice'"},
	{PM "x: \"al ice\"@example.test\n", OK_RELOC, "aliases:2: invalid local name"},
	{PM "x: \"alice\n", OK_RELOC, "aliases:2: unterminated quoted string"},
	{"  alice\n" PM, OK_RELOC, "aliases:1: continuation line without an entry to continue"},
	{PM "a: b\nb: a\n", OK_RELOC,
	 "aliases:2: alias 'a' expands to no address (it only loops back on itself)"},
	{PM "#\n\nteam: alice,\n\tbob,\n\tnobody\n", OK_RELOC,
	 "aliases:4: alias 'team': unknown local member 'nobody'"},
	{PM, "carol\n", "relocated:1: expected 'user new-address', found 1 word\n"},
	{PM, "carol a@b.test c@d.test\n", "relocated:1: expected 'user new-address', found 3 words"},
	{PM, "carol elsewhere\n", "relocated:1: invalid new address 'elsewhere'"},
	{PM, "x@remote.test y@new.test\n", "relocated:1: 'x@remote.test' is not in a local domain"},
	{PM, "a/b y@new.test\n", "relocated:1: invalid local name 'a/b'"},
	{PM, OK_RELOC "Carol@other.test c@new.test\n",
	 "relocated:2: duplicate relocated user 'carol' (first at line 1)"},
	{PM, "carol \"c@new.test\n", "relocated:1: unterminated quoted string"},
};

static void check_refused(const char *aliases, const char *relocated, const char *want)
{
	struct buf err = BUF_INIT;
	struct config *cfg = load(aliases, relocated, &err);
	if (cfg)
		fail_msg("tables loaded but should fail with \"%s\":\n%s%s", want, aliases, relocated);
	if (!strstr(err.p, want))
		fail_msg("expected \"%s\" in:\n%s", want, err.p);
	buf_free(&err);
}

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++)
		check_refused(error_cases[i].aliases, error_cases[i].relocated, error_cases[i].want);
}

/* Every problem in the file is reported, in file order within each kind. */
static void test_all_errors_reported(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	assert_null(load(PM "p: |x\nq: y\nr: z\nq: alice\n", OK_RELOC, &err));
	const char *lines[] = {
		"aliases:2: " NOT_SUPPORTED " ('|x')\n",
		"aliases:5: duplicate alias 'q' (first at line 3)\n",
		"aliases:3: alias 'q': unknown local member 'y'",
		"aliases:4: alias 'r': unknown local member 'z'",
	};
	const char *at = err.p;
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		const char *hit = strstr(at, lines[i]);
		if (!hit)
			fail_msg("expected \"%s\" after the previous line in:\n%s", lines[i], err.p);
		at = hit;
	}
	/* The alias left empty by its refused member is not reported again. */
	assert_null(strstr(err.p, "expands to"));
	buf_free(&err);
}

/* A chain a0 -> a1 -> ... -> aN -> alice. */
static void chain(struct buf *b, int n)
{
	buf_puts(b, PM);
	for (int i = 0; i < n; i++)
		buf_printf(b, "a%d: a%d\n", i, i + 1);
	buf_printf(b, "a%d: alice\n", n);
}

static void test_depth_bound(void **state)
{
	(void)state;
	struct buf text = BUF_INIT, err = BUF_INIT;
	chain(&text, ALIAS_DEPTH_MAX - 1);
	struct config *cfg = load(text.p, OK_RELOC, &err);
	if (!cfg)
		fail_msg("%d levels refused:\n%s", ALIAS_DEPTH_MAX, err.p);
	struct resolution res;
	config_resolve(cfg, "a0", "example.test", &res);
	assert_int_equal(res.kind, RESOLVE_LOCAL);
	assert_string_equal(res.targets.v[0], "alice@example.test");
	resolution_free(&res);
	config_free(cfg);

	buf_reset(&text);
	chain(&text, ALIAS_DEPTH_MAX);
	check_refused(text.p, OK_RELOC, "aliases:2: alias 'a0' nests more than 16 levels deep");
	buf_free(&text);
	buf_free(&err);
}

/* 40 lists of 40 addresses: each list is fine, the list of lists is not. */
static void test_size_bounds(void **state)
{
	(void)state;
	struct buf text = BUF_INIT;
	buf_puts(&text, PM "big:");
	for (int i = 0; i < 40; i++)
		buf_printf(&text, "%s l%d", i ? "," : "", i);
	buf_putc(&text, '\n');
	for (int i = 0; i < 40; i++) {
		buf_printf(&text, "l%d:", i);
		for (int j = 0; j < 40; j++)
			buf_printf(&text, "%s u%d@remote.test", j ? "," : "", j);
		buf_putc(&text, '\n');
	}
	check_refused(text.p, OK_RELOC, "aliases:2: alias 'big' expands to more than 1000 members");

	buf_reset(&text);
	buf_puts(&text, PM "huge: alice");
	for (int i = 0; i < ALIAS_MEMBERS_MAX; i++)
		buf_printf(&text, ",%su%d@remote.test", i % 100 ? " " : "\n\t", i);
	buf_putc(&text, '\n');
	check_refused(text.p, OK_RELOC, "aliases:2: alias 'huge' has more than 1000 members");
	buf_free(&text);
}

static void test_entry_too_long(void **state)
{
	(void)state;
	struct buf text = BUF_INIT;
	buf_puts(&text, PM "long: alice\n");
	for (int i = 0; i < 20; i++) {
		buf_putc(&text, '\t');
		for (int j = 0; j < 4000; j++)
			buf_putc(&text, 'x');
		buf_putc(&text, '\n');
	}
	check_refused(text.p, OK_RELOC, "aliases:2: entry longer than 65536 bytes\n");
	buf_free(&text);
}

#define SCRATCH_TEST(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)
#define LOADED_TEST(f) cmocka_unit_test_setup_teardown(f, setup_loaded, teardown_loaded)

int main(void)
{
	const struct CMUnitTest tests[] = {
		LOADED_TEST(test_resolve),
		LOADED_TEST(test_expn),
		LOADED_TEST(test_table_api),
		SCRATCH_TEST(test_errors),
		SCRATCH_TEST(test_all_errors_reported),
		SCRATCH_TEST(test_depth_bound),
		SCRATCH_TEST(test_size_bounds),
		SCRATCH_TEST(test_entry_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
