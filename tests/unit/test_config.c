/*
 * Unit tests for config/config: a complete configuration and the bundled
 * example load into the expected snapshot; defaults apply when settings are
 * left out; every kind of mistake is reported as "file:line: reason" and all
 * mistakes of one file are reported together; durations and sizes parse
 * with their units and refuse junk and overflow.
 */
#include "test_util.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#include "config/aliases.h"
#include "config/relocated.h"
#include "config_fixture.h"
#include "util/log.h"

#define BASE "listen 127.0.0.1:2525\nspool var/spool\n"
#define LOCAL BASE "maildir-root var/mail\ndomain example.test\nmailbox postmaster\n"

static const char good_conf[] =
	"# a comment line\n"
	"hostname MX.Example.Test   # trailing comment\n"
	"listen 127.0.0.1:2525 [::1]:2525\n"
	"listen 127.0.0.2:2526\n"
	"\n"
	"   spool /var/spool/petrel\n"
	"maildir-root mail\n"
	"domain Example.Test other.test\n"
	"domain third.test\n"
	"mailbox alice \"Alice Liddell\"\n"
	"mailbox Bob \"Bob \\\"The Builder\\\" #1\"\n"
	"mailbox erin\n"
	"aliases aliases\n"
	"relocated relocated\n"
	"relay-from 127.0.0.1/32 ::1/128\n"
	"relay-from 10.0.0.0/8\n"
	"max-message-size 20M\n"
	"max-recipients 50\n"
	"max-connections 7\n"
	"command-timeout 2m\n"
	"data-timeout 1h\n"
	"vrfy off\n"
	"expn off\n"
	"retry-initial 30s\n"
	"retry-max 1d\n"
	"delivery-workers 8\n"
	"log-level debug\r\n";

static void write_tables(void)
{
	scratch_write("aliases", "postmaster: alice\nteam: alice, bob\n");
	scratch_write("relocated", "carol carol@elsewhere.test\n");
}

static void test_good_config(void **state)
{
	(void)state;
	char cwd[PATH_MAX], want[PATH_MAX + 64];
	assert_non_null(getcwd(cwd, sizeof cwd));
	write_tables();
	struct buf err = BUF_INIT;
	struct config *cfg = scratch_load(good_conf, &err);
	if (!cfg)
		fail_msg("unexpected errors:\n%s", err.p);
	snprintf(want, sizeof want, "%s/petrel.conf", cwd);
	assert_string_equal(cfg->path, want);
	assert_string_equal(cfg->hostname, "mx.example.test");
	assert_int_equal(cfg->listen.n, 3);
	assert_string_equal(cfg->listen.v[1], "[::1]:2525");
	assert_string_equal(cfg->spool_dir, "/var/spool/petrel");
	snprintf(want, sizeof want, "%s/mail", cwd);
	assert_string_equal(cfg->maildir_root, want);
	assert_int_equal(cfg->local_domains.n, 3);
	assert_string_equal(cfg->local_domains.v[0], "example.test");
	assert_int_equal(cfg->nusers, 3);
	assert_string_equal(cfg->users[1].name, "bob");
	assert_string_equal(cfg->users[1].fullname, "Bob \"The Builder\" #1");
	assert_null(cfg->users[2].fullname);
	assert_int_equal(cfg->relay_from.n, 3);
	assert_int_equal(cfg->max_message_size, 20u << 20);
	assert_int_equal(cfg->max_recipients, 50);
	assert_int_equal(cfg->max_connections, 7);
	assert_int_equal(cfg->command_timeout, 120);
	assert_int_equal(cfg->data_timeout, 3600);
	assert_false(cfg->vrfy);
	assert_false(cfg->expn);
	assert_int_equal(cfg->retry_initial, 30);
	assert_int_equal(cfg->retry_max, 86400);
	assert_int_equal(cfg->delivery_workers, 8);
	assert_int_equal(cfg->log_level, LOG_LVL_DEBUG);
	assert_true(aliases_exists(cfg->aliases, "team"));
	assert_string_equal(relocated_lookup(cfg->relocated, "carol"), "carol@elsewhere.test");
	assert_int_equal(err.len, 0);
	config_free(cfg);
	buf_free(&err);
}

static void test_lookups(void **state)
{
	(void)state;
	write_tables();
	struct buf err = BUF_INIT;
	struct config *cfg = scratch_load(good_conf, &err);
	assert_non_null(cfg);
	assert_true(config_is_local_domain(cfg, "other.test"));
	assert_true(config_is_local_domain(cfg, "OTHER.Test"));
	assert_false(config_is_local_domain(cfg, "elsewhere.test"));
	assert_false(config_is_local_domain(cfg, ""));
	const struct mailbox_user *u = config_find_user(cfg, "ALICE");
	assert_non_null(u);
	assert_string_equal(u->fullname, "Alice Liddell");
	assert_null(config_find_user(cfg, "carol"));
	config_free(cfg);
	buf_free(&err);
}

static void test_defaults(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	struct config *cfg = scratch_load(BASE, &err);
	if (!cfg)
		fail_msg("unexpected errors:\n%s", err.p);
	char host[HOST_NAME_MAX + 1];
	assert_int_equal(gethostname(host, sizeof host), 0);
	host[HOST_NAME_MAX] = '\0';
	assert_int_equal(strcasecmp(cfg->hostname, host), 0);
	assert_null(cfg->maildir_root);
	assert_int_equal(cfg->local_domains.n, 0);
	assert_int_equal(cfg->nusers, 0);
	assert_int_equal(cfg->relay_from.n, 0);
	assert_non_null(cfg->aliases);
	assert_non_null(cfg->relocated);
	assert_false(aliases_exists(cfg->aliases, "postmaster"));
	assert_null(relocated_lookup(cfg->relocated, "carol"));
	assert_int_equal(cfg->max_message_size, 10u << 20);
	assert_int_equal(cfg->max_recipients, 100);
	assert_int_equal(cfg->max_connections, 1000);
	assert_int_equal(cfg->command_timeout, 300);
	assert_int_equal(cfg->data_timeout, 600);
	assert_true(cfg->vrfy);
	assert_true(cfg->expn);
	assert_int_equal(cfg->retry_initial, 60);
	assert_int_equal(cfg->retry_max, 900);
	assert_int_equal(cfg->delivery_workers, 4);
	assert_int_equal(cfg->log_level, LOG_LVL_INFO);
	assert_string_equal(cfg->run_user, "petrel");
	assert_int_equal(cfg->shutdown_timeout, 30);
	assert_null(cfg->metrics_listen);
	assert_false(cfg->log_json);
	assert_null(cfg->lmtp_target);
	config_free(cfg);
	buf_free(&err);
}

/* The production settings: who to run as, how to stop, what to expose. */
static void test_production_settings(void **state)
{
	(void)state;
	char cwd[PATH_MAX], want[PATH_MAX + 64];
	assert_non_null(getcwd(cwd, sizeof cwd));
	struct buf err = BUF_INIT;
	struct config *cfg = scratch_load(BASE "user mail\nshutdown-timeout 2m\n"
					  "metrics-listen [::1]:9925\nlog-format json\n"
					  "local-delivery lmtp unix:run/lmtp\n", &err);
	if (!cfg)
		fail_msg("unexpected errors:\n%s", err.p);
	assert_string_equal(cfg->run_user, "mail");
	assert_int_equal(cfg->shutdown_timeout, 120);
	assert_string_equal(cfg->metrics_listen, "[::1]:9925");
	assert_true(cfg->log_json);
	snprintf(want, sizeof want, "unix:%s/run/lmtp", cwd);
	assert_string_equal(cfg->lmtp_target, want);
	config_free(cfg);
	cfg = scratch_load(BASE "local-delivery lmtp 127.0.0.1:24\nmetrics-listen 127.0.0.9:1\n",
			   &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->lmtp_target, "127.0.0.1:24");
	config_free(cfg);
	buf_free(&err);
}

/* A reference taken by a session or delivery keeps the snapshot alive. */
static void test_reference_counting(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	struct config *cfg = scratch_load(BASE, &err);
	assert_non_null(cfg);
	const struct config *held = config_ref(cfg);
	config_free(cfg);
	assert_string_equal(held->listen.v[0], "127.0.0.1:2525");
	config_free(held);
	buf_free(&err);
}

/* The bundled example must load from the top of the source tree, where
 * "make run" starts petrel with it. __FILE__ is that tree's
 * tests/unit/test_config.c, absolute or relative to where the test started. */
static void test_bundled_example(void **state)
{
	const struct scratch *s = *state;
	char root[PATH_MAX];
	const char *tail = strstr(__FILE__, "tests/unit/test_config.c");
	assert_non_null(tail);
	snprintf(root, sizeof root, "%.*s.", (int)(tail - __FILE__), __FILE__);
	assert_int_equal(fchdir(s->oldcwd), 0);
	int rc = chdir(root);
	struct buf err = BUF_INIT;
	struct config *cfg = rc == 0 ? config_load("etc/petrel.conf", &err) : NULL;
	assert_int_equal(chdir(s->dir), 0);
	if (!cfg)
		fail_msg("etc/petrel.conf does not load from %s:\n%s", root, err.p ? err.p : "");
	assert_string_equal(cfg->hostname, "mx.example.test");
	assert_int_equal(cfg->listen.n, 1);
	assert_string_equal(cfg->listen.v[0], "127.0.0.1:2525");
	assert_int_equal(cfg->local_domains.n, 1);
	assert_int_equal(cfg->nusers, 2);
	assert_string_equal(config_find_user(cfg, "bob")->fullname, "Bob Builder");
	assert_int_equal(cfg->relay_from.n, 2);
	assert_true(aliases_exists(cfg->aliases, "postmaster"));
	assert_true(aliases_exists(cfg->aliases, "team"));
	assert_non_null(relocated_lookup(cfg->relocated, "carol"));
	config_free(cfg);
	buf_free(&err);
}

struct error_case {
	const char *conf;
	const char *want;  /* must appear in the error text */
};

/* LOCAL takes lines 1-5, so the first line of each case is line 6. */
static const struct error_case error_cases[] = {
	{LOCAL "frobnicate 1\n", "petrel.conf:6: unknown keyword 'frobnicate'\n"},
	{LOCAL "metrics-listen 0.0.0.0:9925\n",
	 ":6: metrics-listen: '0.0.0.0:9925' is not a loopback address"},
	{LOCAL "metrics-listen 127.0.0.1\n", ":6: metrics-listen: '127.0.0.1' is not IPv4:port"},
	{LOCAL "metrics-listen 127.example.com:9\n", ":6: metrics-listen: '127.example.com:9' is not"},
	{LOCAL "metrics-listen localhost:9\n", ":6: metrics-listen: 'localhost:9' is not"},
	{LOCAL "log-format yaml\n", ":6: log-format: expected text or json, not 'yaml'"},
	{LOCAL "local-delivery mbox\n", ":6: local-delivery: usage: local-delivery maildir"},
	{LOCAL "local-delivery lmtp\n", ":6: local-delivery: usage: local-delivery maildir"},
	{LOCAL "local-delivery lmtp unix:\n", ":6: local-delivery: 'unix:' is not HOST:PORT"},
	{LOCAL "shutdown-timeout 0\n", ":6: shutdown-timeout: '0' is out of range"},
	{LOCAL "user a b\n", ":6: user: too many arguments"},
	{LOCAL "hostname\n", "petrel.conf:6: hostname: missing argument (usage: hostname NAME)\n"},
	{LOCAL "max-recipients 10 20\n", "petrel.conf:6: max-recipients: too many arguments"},
	{LOCAL "mailbox carol Carol Jones\n",
	 "petrel.conf:6: mailbox: too many arguments (usage: mailbox NAME [\"Full Name\"])\n"},
	{LOCAL "max-recipients ten\n", "petrel.conf:6: max-recipients: 'ten' is not a whole number"},
	{LOCAL "max-recipients -1\n", "petrel.conf:6: max-recipients: '-1' is not a whole number"},
	{LOCAL "max-recipients 0\n", "petrel.conf:6: max-recipients: '0' is out of range (1 to 100000)"},
	{LOCAL "max-connections 99999999999999999999999\n", ":6: max-connections: '9999"},
	{LOCAL "delivery-workers 5000\n", ":6: delivery-workers: '5000' is out of range"},
	{LOCAL "command-timeout 5x\n", "petrel.conf:6: command-timeout: '5x' is not a duration"},
	{LOCAL "data-timeout 2d\n", "petrel.conf:6: data-timeout: '2d' is out of range (1 to 86400)"},
	{LOCAL "retry-initial 0\n", "petrel.conf:6: retry-initial: '0' is out of range"},
	{LOCAL "max-message-size 10T\n", "petrel.conf:6: max-message-size: '10T' is not a size"},
	{LOCAL "max-message-size 0\n", "petrel.conf:6: max-message-size: '0' is out of range"},
	{LOCAL "relay-from 10.0.0.1/8\n", "petrel.conf:6: relay-from: '10.0.0.1/8' is not an address"},
	{LOCAL "relay-from 127.0.0.1 300.1.1.1\n", ":6: relay-from: '300.1.1.1' is not an address"},
	{LOCAL "relay-from ::1/129\n", ":6: relay-from: '::1/129' is not an address"},
	{LOCAL "vrfy maybe\n", "petrel.conf:6: vrfy: expected on or off, not 'maybe'"},
	{LOCAL "expn\n", "petrel.conf:6: expn: missing argument"},
	{LOCAL "log-level loud\n", ":6: log-level: expected debug, info, warning or error, not 'loud'"},
	{LOCAL "listen 127.0.0.1\n", "petrel.conf:6: listen: '127.0.0.1' is not IPv4:port or [IPv6]:port"},
	{LOCAL "listen [::1]:0\n", "petrel.conf:6: listen: '[::1]:0' is not IPv4:port or [IPv6]:port"},
	{LOCAL "listen localhost:25\n",
	 "petrel.conf:6: listen: 'localhost:25' is not IPv4:port or [IPv6]:port"},
	{LOCAL "dns-server ns.example:53\n", ":6: dns-server: 'ns.example:53' is not an IP address"},
	{LOCAL "listen ::1:25\n", "petrel.conf:6: listen: '::1:25' is not IPv4:port or [IPv6]:port"},
	{LOCAL "listen [::1]:25x\n", "petrel.conf:6: listen: '[::1]:25x' is not IPv4:port or [IPv6]:port"},
	{LOCAL "listen [nonsense]:25\n", "petrel.conf:6: listen: '[nonsense]:25' is not"},
	{LOCAL "listen 127.0.0.1:2525\n", "petrel.conf:6: listen: '127.0.0.1:2525' is listed twice"},
	{LOCAL "hostname -bad-\n", "petrel.conf:6: hostname: '-bad-' is not a valid domain name"},
	{LOCAL "hostname a.test\nhostname b.test\n", "petrel.conf:7: hostname: already set at line 6"},
	{LOCAL "spool other\n", "petrel.conf:6: spool: already set at line 2"},
	{LOCAL "domain bad..domain\n", "petrel.conf:6: domain: 'bad..domain' is not a valid domain"},
	{LOCAL "domain EXAMPLE.test\n", "petrel.conf:6: domain: 'example.test' is listed twice"},
	{LOCAL "mailbox ..\n", "petrel.conf:6: mailbox: '..' is not a valid mailbox name"},
	{LOCAL "mailbox ../../etc\n", "petrel.conf:6: mailbox: '../../etc' is not a valid mailbox"},
	{LOCAL "mailbox a/b\n", "petrel.conf:6: mailbox: 'a/b' is not a valid mailbox name"},
	{LOCAL "mailbox .hidden\n", "petrel.conf:6: mailbox: '.hidden' is not a valid mailbox name"},
	{LOCAL "mailbox a..b\n", "petrel.conf:6: mailbox: 'a..b' is not a valid mailbox name"},
	{LOCAL "mailbox \"a b\"\n", "petrel.conf:6: mailbox: 'a b' is not a valid mailbox name"},
	{LOCAL "mailbox Postmaster\n", "petrel.conf:6: mailbox: 'postmaster' is defined twice"},
	{LOCAL "mailbox carol \"Carol\n", "petrel.conf:6: unterminated quoted string"},
	{LOCAL "mailbox carol \"Zo\xc3\xab\"\n", "petrel.conf:6: mailbox: full name 'Zo"},
	{LOCAL "mailbox carol \"Ca\x01rol\"\n", "petrel.conf:6: control character in line"},
	{LOCAL "aliases nonexistent\n", "petrel.conf:6: aliases: cannot read '"},
	{LOCAL "aliases nonexistent\n", "/nonexistent': No such file or directory\n"},
	{LOCAL "relocated adir\n", "petrel.conf:6: relocated: cannot read '"},
	{LOCAL "relocated adir\n", "/adir': Is a directory\n"},
	{LOCAL "aliases \"\"\n", "petrel.conf:6: aliases: empty path"},
	{LOCAL "retry-initial 10m\nretry-max 5m\n",
	 "petrel.conf:7: retry-max (300s) is shorter than retry-initial (600s)"},
	{LOCAL "  \n\t# only a comment\n\nfrobnicate\n", "petrel.conf:9: unknown keyword"},
	{"spool s\n", "petrel.conf: missing 'listen'"},
	{"listen 127.0.0.1:25\n", "petrel.conf: missing 'spool'"},
	{BASE "domain example.test\nmailbox postmaster\n", "petrel.conf: missing 'maildir-root'"},
	{BASE "mailbox alice\n", "petrel.conf:3: mailbox: needs at least one 'domain'"},
	{BASE "maildir-root m\ndomain example.test\n",
	 "petrel.conf: no mailbox or alias named 'postmaster'"},
};

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(mkdir("adir", 0700), 0);
	for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
		const struct error_case *c = &error_cases[i];
		struct buf err = BUF_INIT;
		struct config *cfg = scratch_load(c->conf, &err);
		if (cfg)
			fail_msg("case %zu loaded but should fail with \"%s\"", i, c->want);
		if (!err.p || !strstr(err.p, c->want))
			fail_msg("case %zu: expected \"%s\" in:\n%s", i, c->want, err.p ? err.p : "");
		buf_free(&err);
	}
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* All errors of a file come out of one run, in file order, and text already
 * in the buffer is kept. */
static void test_all_errors_reported(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	buf_puts(&err, "earlier\n");
	struct config *cfg = scratch_load(LOCAL "frobnicate\nvrfy maybe\nmax-recipients x\n", &err);
	assert_null(cfg);
	assert_string_equal(err.p, "earlier\n"
			    "petrel.conf:6: unknown keyword 'frobnicate'\n"
			    "petrel.conf:7: vrfy: expected on or off, not 'maybe'\n"
			    "petrel.conf:8: max-recipients: 'x' is not a whole number\n");
	assert_int_equal(count_lines(err.p), 4);
	buf_free(&err);
}

static void test_long_line(void **state)
{
	(void)state;
	struct buf conf = BUF_INIT;
	buf_puts(&conf, LOCAL "hostname ");
	for (int i = 0; i < 5000; i++)
		buf_putc(&conf, 'a');
	buf_puts(&conf, "\nfrobnicate\n");
	struct buf err = BUF_INIT;
	assert_null(scratch_load(conf.p, &err));
	assert_string_equal(err.p, "petrel.conf:6: line longer than 4096 bytes\n"
			    "petrel.conf:7: unknown keyword 'frobnicate'\n");
	buf_free(&err);
	buf_free(&conf);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	assert_null(config_load("nope.conf", &err));
	assert_string_equal(err.p, "nope.conf: cannot open: No such file or directory\n");
	buf_free(&err);
}

struct duration_case {
	const char *text;
	bool ok;
	unsigned secs;
};

static const struct duration_case duration_cases[] = {
	{"30", true, 30},        {"30s", true, 30},        {"5m", true, 300},
	{"2h", true, 7200},      {"5d", true, 432000},     {"0", true, 0},
	{"49710d", true, 4294944000u}, {"4294967295", true, UINT_MAX},
	{"4294967296", false, 0}, {"49711d", false, 0},   {"", false, 0},
	{"m", false, 0},         {"5x", false, 0},         {"5mm", false, 0},
	{"5M", false, 0},        {"-5", false, 0},         {"+5", false, 0},
	{" 5", false, 0},        {"5 ", false, 0},         {"1.5h", false, 0},
	{"99999999999999999999999", false, 0},
};

static void test_durations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof duration_cases / sizeof duration_cases[0]; i++) {
		const struct duration_case *c = &duration_cases[i];
		unsigned v = 12345;
		bool ok = config_parse_duration(c->text, &v);
		if (ok != c->ok || (ok && v != c->secs))
			fail_msg("duration \"%s\": got %d/%u, expected %d/%u", c->text, ok, v, c->ok,
				 c->secs);
		if (!ok)
			assert_int_equal(v, 12345);
	}
}

struct size_case {
	const char *text;
	bool ok;
	uint64_t bytes;
};

static const struct size_case size_cases[] = {
	{"1000", true, 1000},
	{"0", true, 0},
	{"10k", true, 10240},
	{"10K", true, 10240},
	{"10M", true, 10485760},
	{"10m", true, 10485760},
	{"1G", true, 1073741824},
	{"16777215G", true, (uint64_t)16777215 << 30},
	{"18446744073709551615", true, UINT64_MAX},
	{"18446744073709551616", false, 0},
	{"17179869184G", false, 0},
	{"", false, 0},
	{"k", false, 0},
	{"10T", false, 0},
	{"10MB", false, 0},
	{"-1", false, 0},
	{"1 k", false, 0},
};

static void test_sizes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof size_cases / sizeof size_cases[0]; i++) {
		const struct size_case *c = &size_cases[i];
		uint64_t v = 12345;
		bool ok = config_parse_size(c->text, &v);
		if (ok != c->ok || (ok && v != c->bytes))
			fail_msg("size \"%s\": got %d/%llu, expected %d/%llu", c->text, ok,
				 (unsigned long long)v, c->ok, (unsigned long long)c->bytes);
	}
}

#define SCRATCH_TEST(f) cmocka_unit_test_setup_teardown(f, scratch_setup, scratch_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		SCRATCH_TEST(test_good_config),
		SCRATCH_TEST(test_lookups),
		SCRATCH_TEST(test_defaults),
		SCRATCH_TEST(test_production_settings),
		SCRATCH_TEST(test_reference_counting),
		SCRATCH_TEST(test_bundled_example),
		SCRATCH_TEST(test_errors),
		SCRATCH_TEST(test_all_errors_reported),
		SCRATCH_TEST(test_long_line),
		SCRATCH_TEST(test_missing_file),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
