/* Unit tests for DSN (RFC 3461) on the receiving side: the xtext decoder and
 * the parameter validators of util/dsn.c, table-driven, and what the session
 * stores in the envelope for MAIL ... RET/ENVID and RCPT ... NOTIFY/ORCPT,
 * including alias targets sharing their RCPT's parameters. */
#include <string.h>

#include "smtp/session.h"
#include "smtp/sink_buf.h"
#include "util/dsn.h"
#include "test_util.h"

/* ---- xtext (RFC 3461 4) ---- */

struct xtext_case {
	const char *in;
	bool ok;
	const char *out; /* decoded, when ok */
	size_t n;        /* decoded length (may hold a NUL) */
};

static const struct xtext_case xtext_cases[] = {
	{"", true, "", 0},
	{"abc", true, "abc", 3},
	{"a+2Bb", true, "a+b", 3},
	{"+3D", true, "=", 1},
	{"+20x+7E", true, " x~", 3},
	{"+00", true, "", 1},                      /* a NUL octet decodes; validators refuse */
	{"+FF", true, "\xff", 1},
	{"!~", true, "!~", 2},
	{"a+2b", false, NULL, 0},                  /* hex must be upper case */
	{"a+2", false, NULL, 0},                   /* truncated hexchar */
	{"a+", false, NULL, 0},
	{"a+G0", false, NULL, 0},
	{"a=b", false, NULL, 0},                   /* "=" is not an xchar */
	{"a b", false, NULL, 0},                   /* nor is space */
	{"a\x7f", false, NULL, 0},
	{"caf\xc3\xa9", false, NULL, 0},           /* 8-bit */
	{"a\tb", false, NULL, 0},
};

static void test_xtext_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof xtext_cases / sizeof xtext_cases[0]; i++) {
		const struct xtext_case *c = &xtext_cases[i];
		char out[32];
		size_t n = 99;
		bool ok = xtext_decode(c->in, strlen(c->in), out, sizeof out, &n);
		if (ok != c->ok)
			fail_msg("case %zu (%s): got %d", i, c->in, ok);
		if (!ok)
			continue;
		assert_int_equal(n, c->n);
		assert_memory_equal(out, c->out, n);
		assert_int_equal(out[n], '\0');
		/* Validation only (no output) agrees. */
		assert_true(xtext_decode(c->in, strlen(c->in), NULL, 0, &n));
	}
}

static void test_xtext_capacity(void **state)
{
	(void)state;
	char out[4];
	size_t n;
	assert_true(xtext_decode("abc", 3, out, sizeof out, &n));
	assert_false(xtext_decode("abcd", 4, out, sizeof out, &n));
	assert_false(xtext_decode("ab+41c", 6, out, 3, &n));
}

struct valid_case {
	const char *v;
	bool ok;
};

/* The encoder (sendmail -V) gives what the decoder takes back. */
static void test_xtext_encode(void **state)
{
	(void)state;
	char out[64], back[64];
	size_t n;
	assert_true(xtext_encode("a b+c=d~!", 9, out, sizeof out));
	assert_string_equal(out, "a+20b+2Bc+3Dd~!");
	assert_true(xtext_decode(out, strlen(out), back, sizeof back, &n));
	assert_int_equal(n, 9);
	assert_string_equal(back, "a b+c=d~!");
	assert_true(xtext_encode("", 0, out, 1));
	assert_string_equal(out, "");
	assert_false(xtext_encode("ab", 2, out, 2));
	assert_false(xtext_encode(" ", 1, out, 3));
	assert_true(xtext_encode(" ", 1, out, 4));
	assert_false(xtext_encode("", 0, out, 0));
}

static void test_envid_table(void **state)
{
	(void)state;
	char hundred[101], hundred_one[102], coded[301];
	memset(hundred, 'e', 100);
	hundred[100] = '\0';
	memset(hundred_one, 'e', 101);
	hundred_one[101] = '\0';
	for (int i = 0; i < 100; i++)
		memcpy(coded + 3 * i, "+41", 3);
	coded[300] = '\0';
	const struct valid_case cases[] = {
		{"QQ314159", true}, {"a+20b", true}, {hundred, true}, {coded, true},
		{hundred_one, false}, {"", false}, {"a+0Db", false}, {"a+00", false},
		{"a+7F", false}, {"a+80", false}, {"a=b", false}, {"a+2", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (dsn_envid_valid(cases[i].v, strlen(cases[i].v)) != cases[i].ok)
			fail_msg("ENVID case %zu (%.20s) should be %d", i, cases[i].v, cases[i].ok);
}

static void test_orcpt_table(void **state)
{
	(void)state;
	char big[502];
	memcpy(big, "rfc822;", 7);
	memset(big + 7, 'x', sizeof big - 8);
	big[501] = '\0'; /* 501 characters */
	const struct valid_case ascii[] = {
		{"rfc822;bob@example.org", true}, {"RFC822;b+2Bc@x", true},
		{"x400;c+3Dus+3Ba+3Dx", true}, {"unknown;whatever", true},
		{big + 1, true},          /* "fc822;...", exactly 500 */
		{big, false},             /* 501 */
		{"rfc822", false}, {";bob@x", false}, {"rfc822;", false},
		{"rfc 822;bob@x", false}, {"rfc822;bob x", false}, {"rfc822;b=c", false},
		{"rfc822;a+2", false}, {"utf-8;j+C3+BCrgen@x", false},
	};
	for (size_t i = 0; i < sizeof ascii / sizeof ascii[0]; i++)
		if (dsn_orcpt_valid(ascii[i].v, strlen(ascii[i].v), false) != ascii[i].ok)
			fail_msg("ORCPT case %zu (%.30s) should be %d", i, ascii[i].v, ascii[i].ok);
	/* RFC 6533: the utf-8 type with SMTPUTF8 (utf-8-addr-xtext is xtext). */
	assert_true(dsn_orcpt_valid("utf-8;j\\x{FC}rgen@x", strlen("utf-8;j\\x{FC}rgen@x"), true));
	assert_true(dsn_orcpt_valid("UTF-8;j\\x{FC}rgen@x", strlen("UTF-8;j\\x{FC}rgen@x"), true));
}

struct notify_case {
	const char *v;
	bool ok;
	uint8_t flags;
	const char *text;
};

static void test_notify_table(void **state)
{
	(void)state;
	static const struct notify_case cases[] = {
		{"NEVER", true, DSN_NOTIFY_NEVER, "NEVER"},
		{"never", true, DSN_NOTIFY_NEVER, "NEVER"},
		{"SUCCESS", true, DSN_NOTIFY_SUCCESS, "SUCCESS"},
		{"DELAY,FAILURE", true, DSN_NOTIFY_DELAY | DSN_NOTIFY_FAILURE, "FAILURE,DELAY"},
		{"Success,Failure,Delay", true, DSN_NOTIFY_ALL & ~DSN_NOTIFY_NEVER,
		 "SUCCESS,FAILURE,DELAY"},
		{"", false, 0, NULL},
		{"NEVER,SUCCESS", false, 0, NULL},
		{"SUCCESS,NEVER", false, 0, NULL},
		{"SUCCESS,", false, 0, NULL},
		{",SUCCESS", false, 0, NULL},
		{"SUCCESS,,DELAY", false, 0, NULL},
		{"SUCCESS,SUCCESS", false, 0, NULL},
		{"SOMETIMES", false, 0, NULL},
		{"SUCCESS DELAY", false, 0, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t f = 0xee;
		bool ok = dsn_notify_parse(cases[i].v, strlen(cases[i].v), &f);
		if (ok != cases[i].ok)
			fail_msg("NOTIFY case %zu (%s): got %d", i, cases[i].v, ok);
		if (!ok)
			continue;
		assert_int_equal(f, cases[i].flags);
		char text[DSN_NOTIFY_TEXT_MAX];
		dsn_notify_text(f, text, sizeof text);
		assert_string_equal(text, cases[i].text);
	}
}

static void test_wants(void **state)
{
	(void)state;
	/* RFC 3461 4.1: no NOTIFY is FAILURE,DELAY. */
	assert_true(dsn_wants(0, DSN_NOTIFY_FAILURE));
	assert_true(dsn_wants(0, DSN_NOTIFY_DELAY));
	assert_false(dsn_wants(0, DSN_NOTIFY_SUCCESS));
	assert_false(dsn_wants(DSN_NOTIFY_NEVER, DSN_NOTIFY_FAILURE));
	assert_false(dsn_wants(DSN_NOTIFY_NEVER, DSN_NOTIFY_DELAY));
	assert_false(dsn_wants(DSN_NOTIFY_FAILURE, DSN_NOTIFY_DELAY));
	assert_true(dsn_wants(DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY, DSN_NOTIFY_DELAY));
	char text[DSN_NOTIFY_TEXT_MAX];
	dsn_notify_text(0, text, sizeof text);
	assert_string_equal(text, "");
}

/* ---- the session ---- */

/* "team" expands to two targets, like an alias; everything else is itself. */
static void fake_rcpt(void *ctx, const struct address *a, struct smtp_verdict *v,
		      struct strlist *targets)
{
	(void)ctx;
	v->code = 250;
	v->ext = "2.1.5";
	buf_puts(&v->text, "Ok");
	if (strcmp(a->local, "team") == 0) {
		strlist_add(targets, "ann@y.test");
		strlist_add(targets, "ben@y.test");
		return;
	}
	char t[300];
	addr_format(a, t, sizeof t);
	strlist_add(targets, t);
}

static const struct smtp_policy policy = {fake_rcpt, NULL, NULL, NULL, NULL};
static const struct session_limits limits = {
	.hostname = "mx.test", .max_message_size = 1000, .max_recipients = 10,
	.max_errors = 50,
};

static struct sink_buf content;

static struct session *start(const char *input)
{
	struct session *s = session_new(&limits, &policy, NULL, &sink_buf, &content);
	session_start(s);
	session_feed(s, input, strlen(input));
	return s;
}

static void test_session_stores_parameters(void **state)
{
	(void)state;
	struct session *s = start(
		"EHLO c\r\nMAIL FROM:<a@x.test> RET=hdrs ENVID=QQ+2B1 SIZE=10\r\n"
		"RCPT TO:<b@y.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@y.test\r\n"
		"RCPT TO:<team@y.test> NOTIFY=NEVER\r\n"
		"RCPT TO:<c@y.test>\r\nDATA\r\n");
	const char *out = session_output(s)->p;
	assert_non_null(strstr(out, "250-SMTPUTF8\r\n250 DSN\r\n"));
	assert_null(strstr(out, "\r\n5"));
	const struct envelope *e = session_envelope(s);
	assert_string_equal(e->envid, "QQ+2B1");
	assert_int_equal(e->ret, DSN_RET_HDRS);
	assert_int_equal(e->rcpt.n, 4);
	assert_int_equal(e->rcpt.v[0].notify, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
	assert_string_equal(e->rcpt.v[0].orcpt, "rfc822;b@y.test");
	/* Both alias targets carry their RCPT's NOTIFY. */
	assert_string_equal(e->rcpt.v[2].addr, "ben@y.test");
	assert_int_equal(e->rcpt.v[1].notify, DSN_NOTIFY_NEVER);
	assert_int_equal(e->rcpt.v[2].notify, DSN_NOTIFY_NEVER);
	assert_null(e->rcpt.v[1].orcpt);
	assert_int_equal(e->rcpt.v[3].notify, 0);
	assert_null(e->rcpt.v[3].orcpt);
	session_free(s);
}

static void test_session_rejects_and_resets(void **state)
{
	(void)state;
	struct session *s = start(
		"EHLO c\r\nMAIL FROM:<a@x.test> RET=FULL RET=HDRS\r\n"
		"MAIL FROM:<a@x.test> ENVID=a=b\r\n"
		"MAIL FROM:<a@x.test> RET=FULL\r\n"
		"RCPT TO:<b@y.test> NOTIFY=NEVER,DELAY\r\n"
		"RCPT TO:<b@y.test> ORCPT=rfc822;x ORCPT=rfc822;y\r\n"
		"RCPT TO:<b@y.test> ORCPT=utf-8;x\r\n"
		"RCPT TO:<b@y.test> X-FOO=1\r\n"
		"RCPT TO:<b@y.test>\r\nRSET\r\nMAIL FROM:<a@x.test>\r\n");
	const char *out = session_output(s)->p;
	assert_non_null(strstr(out, "501 5.5.4 Duplicate RET parameter\r\n"));
	assert_non_null(strstr(out, "501 5.5.4 Syntax: ENVID="));
	assert_non_null(strstr(out, "501 5.5.4 Syntax: NOTIFY="));
	assert_non_null(strstr(out, "501 5.5.4 Duplicate ORCPT parameter\r\n"));
	assert_non_null(strstr(out, "501 5.5.4 Syntax: ORCPT="));
	assert_non_null(strstr(out, "555 5.5.4 Unsupported RCPT parameter X-FOO\r\n"));
	/* After RSET the new transaction starts without the old RET. */
	const struct envelope *e = session_envelope(s);
	assert_int_equal(e->ret, DSN_RET_UNSET);
	assert_null(e->envid);
	assert_int_equal(e->rcpt.n, 0);
	session_free(s);
}

static void test_parameters_need_ehlo(void **state)
{
	(void)state;
	struct session *s = start("HELO c\r\nMAIL FROM:<a@x.test>\r\n"
				  "RCPT TO:<b@y.test> NOTIFY=NEVER\r\n");
	assert_non_null(strstr(session_output(s)->p, "555 5.5.4 Parameters need EHLO\r\n"));
	session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xtext_table),
		cmocka_unit_test(test_xtext_capacity),
		cmocka_unit_test(test_xtext_encode),
		cmocka_unit_test(test_envid_table),
		cmocka_unit_test(test_orcpt_table),
		cmocka_unit_test(test_notify_table),
		cmocka_unit_test(test_wants),
		cmocka_unit_test(test_session_stores_parameters),
		cmocka_unit_test(test_session_rejects_and_resets),
		cmocka_unit_test(test_parameters_need_ehlo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
