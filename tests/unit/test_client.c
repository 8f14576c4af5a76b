/* Unit tests for the pure SMTP client: a scripted server, checking the
 * commands sent and the per-recipient outcomes; in SMTP and LMTP mode. */
#include <string.h>

#include "smtp/client.h"
#include "util/dsn.h"
#include "test_util.h"

static const struct client_opts opts = {.helo_name = "petrel.test", .starttls = true};

static struct smtp_client *greeted(const char *ehlo_reply)
{
	struct smtp_client *c = client_new(&opts);
	client_feed(c, "220 peer ESMTP\r\n", 16);
	assert_string_equal(client_output(c)->p, "EHLO petrel.test\r\n");
	buf_reset(client_output(c));
	client_feed(c, ehlo_reply, strlen(ehlo_reply));
	return c;
}

static void expect_out(struct smtp_client *c, const char *want)
{
	struct buf *o = client_output(c);
	assert_string_equal(o->p ? o->p : "", want);
	buf_reset(o);
}

static const struct rcpt rcpts[] = {
	{.addr = "a@x.test"}, {.addr = "b@x.test"}, {.addr = "c@x.test"},
};

static void test_pipelined_transaction(void **state)
{
	(void)state;
	struct smtp_client *c = greeted("250-peer\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
					"250 8BITMIME\r\n");
	assert_int_equal(client_event(c), CLIENT_EV_READY);
	struct client_reply res[3];
	struct client_txn t = {.sender = "s@y.test", .nrcpt = 3, .rcpt = rcpts, .size = 100,
			       .body_8bit = true, .result = res};
	client_start(c, &t);
	expect_out(c, "MAIL FROM:<s@y.test> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<a@x.test>\r\n"
		      "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n");
	const char *r = "250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n451 4.3.0 later\r\n354 go\r\n";
	assert_int_equal(client_feed(c, r, strlen(r)), CLIENT_EV_BODY);
	client_body_write(c, ".hidden\r\nline\r\n.", 16);
	client_body_write(c, "x\r\n", 3);
	client_body_end(c);
	expect_out(c, "..hidden\r\nline\r\n..x\r\n.\r\n");
	assert_int_equal(client_feed(c, "250 queued\r\n", 12), CLIENT_EV_TXN_DONE);
	assert_int_equal(res[0].code, 250);
	assert_string_equal(res[0].stage, "end of data");
	assert_int_equal(res[1].code, 550);
	assert_string_equal(res[1].text, "550 5.1.1 no such user");
	assert_false(res[1].ours);
	assert_int_equal(res[2].code, 451);
	client_next(c);
	assert_int_equal(client_event(c), CLIENT_EV_READY);
	client_quit(c);
	expect_out(c, "QUIT\r\n");
	assert_int_equal(client_feed(c, "221 bye\r\n", 9), CLIENT_EV_CLOSED);
	client_free(c);
}

/* RFC 3461 5.2.1: the DSN parameters go along to a server that offers DSN,
 * and only to one that does. */
static void test_dsn_parameters_passed_on(void **state)
{
	(void)state;
	static const struct rcpt dsn[] = {
		{.addr = "a@x.test", .notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE,
		 .orcpt = "rfc822;a+2Bx@orig.test"},
		{.addr = "b@x.test"},
	};
	for (int offered = 0; offered < 2; offered++) {
		struct smtp_client *c = greeted(offered ? "250-peer\r\n250-PIPELINING\r\n250 DSN\r\n"
						      : "250-peer\r\n250 PIPELINING\r\n");
		struct client_reply res[2];
		struct client_txn t = {.sender = "s@y.test", .nrcpt = 2, .rcpt = dsn, .size = 10,
				       .result = res, .envid = "QQ+2B1", .ret = DSN_RET_HDRS};
		client_start(c, &t);
		expect_out(c, offered ? "MAIL FROM:<s@y.test> RET=HDRS ENVID=QQ+2B1\r\n"
					"RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE "
					"ORCPT=rfc822;a+2Bx@orig.test\r\n"
					"RCPT TO:<b@x.test>\r\nDATA\r\n"
				      : "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\n"
					"RCPT TO:<b@x.test>\r\nDATA\r\n");
		assert_int_equal(t.peer_dsn, offered);
		client_free(c);
	}
}

static void test_lockstep_without_pipelining(void **state)
{
	(void)state;
	struct smtp_client *c = greeted("250 peer\r\n");
	struct client_reply res[2];
	struct client_txn t = {.sender = "", .nrcpt = 2, .rcpt = rcpts,
			       .size = 10, .body_8bit = false, .result = res};
	client_start(c, &t);
	expect_out(c, "MAIL FROM:<>\r\n");
	client_feed(c, "250 ok\r\n", 8);
	expect_out(c, "RCPT TO:<a@x.test>\r\n");
	client_feed(c, "550 no\r\n", 8);
	expect_out(c, "RCPT TO:<b@x.test>\r\n");
	/* Every recipient refused: no DATA, RSET before the next transaction. */
	assert_int_equal(client_feed(c, "550 no\r\n", 8), CLIENT_EV_TXN_DONE);
	expect_out(c, "");
	client_next(c);
	expect_out(c, "RSET\r\n");
	assert_int_equal(client_feed(c, "250 ok\r\n", 8), CLIENT_EV_READY);
	client_free(c);
}

static void test_mail_refused_applies_to_all(void **state)
{
	(void)state;
	struct smtp_client *c = greeted("250-peer\r\n250 PIPELINING\r\n");
	struct client_reply res[2];
	struct client_txn t = {.sender = "s@y.test", .nrcpt = 2, .rcpt = rcpts,
			       .size = 10, .body_8bit = false, .result = res};
	client_start(c, &t);
	buf_reset(client_output(c));
	const char *r = "553 5.7.1 sender refused\r\n503 no mail\r\n503 no mail\r\n503 no mail\r\n";
	assert_int_equal(client_feed(c, r, strlen(r)), CLIENT_EV_TXN_DONE);
	assert_int_equal(res[0].code, 553);
	assert_int_equal(res[1].code, 553);
	assert_string_equal(res[1].stage, "MAIL FROM");
	client_free(c);
}

static void test_helo_fallback_and_failures(void **state)
{
	(void)state;
	struct smtp_client *c = greeted("502 what\r\n");
	expect_out(c, "HELO petrel.test\r\n");
	assert_int_equal(client_feed(c, "250 hi\r\n", 8), CLIENT_EV_READY);
	client_free(c);
	c = client_new(&opts);
	assert_int_equal(client_feed(c, "421 busy\r\n", 10), CLIENT_EV_FAILED);
	assert_int_equal(client_failure(c)->code, 421);
	client_free(c);
	c = client_new(&opts);
	assert_int_equal(client_feed(c, "hello\r\n", 7), CLIENT_EV_FAILED);
	assert_int_equal(client_failure(c)->code, 0);
	client_free(c);
}

static void test_starttls_then_ehlo_again(void **state)
{
	(void)state;
	struct smtp_client *c = greeted("250-peer\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
	expect_out(c, "STARTTLS\r\n");
	assert_int_equal(client_feed(c, "220 go ahead\r\n", 14), CLIENT_EV_STARTTLS);
	client_tls_done(c);
	expect_out(c, "EHLO petrel.test\r\n");
	assert_false(client_has_ext(c, "PIPELINING"));
	assert_int_equal(client_feed(c, "250 peer\r\n", 10), CLIENT_EV_READY);
	assert_true(client_tls_active(c));
	client_free(c);
}

static void test_auth_plain_and_login(void **state)
{
	(void)state;
	struct client_opts o = {.helo_name = "h", .auth_user = "u", .auth_pass = "p"};
	/* Without TLS and off loopback the password stays home. */
	struct smtp_client *c = client_new(&o);
	client_feed(c, "220 x\r\n", 7);
	buf_reset(client_output(c));
	assert_int_equal(client_feed(c, "250-x\r\n250 AUTH LOGIN PLAIN\r\n", 29), CLIENT_EV_FAILED);
	expect_out(c, "");
	assert_non_null(strstr(client_failure(c)->text, "not sent in the clear"));
	client_free(c);
	o.auth_in_clear = true;
	c = client_new(&o);
	client_feed(c, "220 x\r\n", 7);
	buf_reset(client_output(c));
	client_feed(c, "250-x\r\n250 AUTH LOGIN PLAIN\r\n", 29);
	expect_out(c, "AUTH PLAIN AHUAcA==\r\n");
	assert_int_equal(client_feed(c, "235 ok\r\n", 8), CLIENT_EV_READY);
	client_free(c);
	c = client_new(&o);
	client_feed(c, "220 x\r\n", 7);
	buf_reset(client_output(c));
	client_feed(c, "250-x\r\n250 AUTH LOGIN\r\n", 23);
	expect_out(c, "AUTH LOGIN\r\n");
	client_feed(c, "334 VXNlcm5hbWU6\r\n", 18);
	expect_out(c, "dQ==\r\n");
	client_feed(c, "334 UGFzc3dvcmQ6\r\n", 18);
	expect_out(c, "cA==\r\n");
	assert_int_equal(client_feed(c, "535 5.7.8 no\r\n", 14), CLIENT_EV_FAILED);
	client_free(c);
}

static void test_size_limit_and_abort(void **state)
{
	(void)state;
	struct smtp_client *c = greeted("250-peer\r\n250 SIZE 50\r\n");
	struct client_reply res[1];
	struct client_txn t = {.sender = "s@y.test", .nrcpt = 1, .rcpt = rcpts,
			       .size = 51, .body_8bit = false, .result = res};
	client_start(c, &t);
	assert_int_equal(client_event(c), CLIENT_EV_TXN_DONE);
	assert_int_equal(res[0].code, 552);
	expect_out(c, "");
	client_next(c);
	t.size = 10;
	client_start(c, &t);
	client_feed(c, "250 ok\r\n", 8);
	client_feed(c, "250 ok\r\n", 8);
	client_feed(c, "354 go\r\n", 8);
	client_abort(c, "lost connection");
	assert_int_equal(res[0].code, 0);
	assert_int_equal(client_event(c), CLIENT_EV_FAILED);
	client_free(c);
}

/* RFC 6152 3: 8-bit content goes with BODY=8BITMIME to a server that
 * offers it; to one that does not, the shell must convert it (no BODY=) or
 * refuse it - a refusal ends the transaction before MAIL, for everyone. */
static void test_8bit_to_peer_without_8bitmime_is_converted_or_refused(void **state)
{
	(void)state;
	struct smtp_client *c = greeted("250-peer\r\n250 PIPELINING\r\n");
	struct client_reply res[2];
	struct client_txn t = {.sender = "s@y.test", .nrcpt = 2, .rcpt = rcpts, .size = 10,
			       .body_8bit = true, .result = res};
	assert_true(client_needs_7bit(c, &t));
	t.refusal = "554 5.6.3 cannot be converted";
	client_start(c, &t);
	assert_int_equal(client_event(c), CLIENT_EV_TXN_DONE);
	expect_out(c, "");
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(res[i].code, 554);
		assert_string_equal(res[i].text, "554 5.6.3 cannot be converted");
		assert_true(res[i].ours); /* no Remote-MTA said it */
	}
	client_next(c);
	t.refusal = NULL;
	client_start(c, &t);
	expect_out(c, "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
		      "DATA\r\n");
	client_free(c);
	c = greeted("250-peer\r\n250 8BITMIME\r\n");
	assert_false(client_needs_7bit(c, &t));
	t.body_8bit = false;
	assert_false(client_needs_7bit(c, &t));
	client_free(c);
}

static const struct client_opts lmtp_opts = {.helo_name = "petrel.test", .lmtp = true};

/* RFC 2033 4.1: LHLO, and a refused LHLO is not retried as HELO. */
static void test_lmtp_lhlo(void **state)
{
	(void)state;
	struct smtp_client *c = client_new(&lmtp_opts);
	client_feed(c, "220 lmtp ready\r\n", 16);
	expect_out(c, "LHLO petrel.test\r\n");
	assert_int_equal(client_feed(c, "500 5.5.1 what\r\n", 17), CLIENT_EV_FAILED);
	assert_int_equal(client_failure(c)->code, 500);
	expect_out(c, "");
	client_free(c);
}

/* One LMTP transaction with alice, bob and carol: the replies to MAIL,
 * the RCPTs and DATA, then those to the final dot (one per accepted
 * recipient, RFC 2033 4.2), maybe cut short by a lost connection. */
struct lmtp_case {
	const char *name;
	const char *pipelined;   /* replies to MAIL, 3 RCPT, DATA */
	const char *after_dot;   /* replies to the final dot */
	enum client_event end;   /* the event after them */
	bool abort;              /* then the connection drops */
	int code[3];
	const char *stage[3];
};

static const struct lmtp_case lmtp_cases[] = {
	{"each accepted recipient its own reply",
	 "250 ok\r\n250 ok\r\n550 5.1.1 no bob\r\n250 ok\r\n354 go\r\n",
	 "250 2.0.0 <alice> saved\r\n452 4.2.2 <carol> over quota\r\n", CLIENT_EV_TXN_DONE, false,
	 {250, 550, 452}, {"end of data", "RCPT TO", "end of data"}},
	{"all accepted, mixed outcomes",
	 "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
	 "552 5.2.2 <alice> full\r\n250 <bob> ok\r\n451 4.3.0 <carol> later\r\n",
	 CLIENT_EV_TXN_DONE, false, {552, 250, 451}, {"end of data", "end of data", "end of data"}},
	{"connection lost after the first reply",
	 "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
	 "250 <alice> ok\r\n", CLIENT_EV_NONE, true,
	 {250, 0, 0}, {"end of data", "connection", "connection"}},
	{"garbage after the first reply",
	 "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
	 "250 <alice> ok\r\nnonsense\r\n", CLIENT_EV_FAILED, true,
	 {250, 0, 0}, {"end of data", "connection", "connection"}},
	{"DATA refused: one reply for all",
	 "250 ok\r\n250 ok\r\n250 ok\r\n550 5.1.1 no carol\r\n554 5.3.0 no data\r\n", NULL,
	 CLIENT_EV_TXN_DONE, false, {554, 554, 550}, {"DATA", "DATA", "RCPT TO"}},
};

static void run_lmtp_case(const struct lmtp_case *tc)
{
	struct smtp_client *c = client_new(&lmtp_opts);
	client_feed(c, "220 lmtp ready\r\n", 16);
	buf_reset(client_output(c));
	const char *lhlo = "250-lmtp\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
	assert_int_equal(client_feed(c, lhlo, strlen(lhlo)), CLIENT_EV_READY);
	struct client_reply res[3];
	struct client_txn t = {.sender = "s@y.test", .nrcpt = 3, .rcpt = rcpts,
			       .size = 10, .body_8bit = false, .result = res};
	client_start(c, &t);
	expect_out(c, "MAIL FROM:<s@y.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
		      "RCPT TO:<c@x.test>\r\nDATA\r\n");
	enum client_event ev = client_feed(c, tc->pipelined, strlen(tc->pipelined));
	if (tc->after_dot) {
		assert_int_equal(ev, CLIENT_EV_BODY);
		client_body_write(c, "x\r\n", 3);
		client_body_end(c);
		expect_out(c, "x\r\n.\r\n");
		/* byte by byte: the client waits until the last reply */
		size_t n = strlen(tc->after_dot);
		for (size_t i = 0; i < n; i++) {
			ev = client_feed(c, tc->after_dot + i, 1);
			assert_int_equal(ev, i + 1 == n ? tc->end : CLIENT_EV_NONE);
		}
	} else {
		assert_int_equal(ev, tc->end);
	}
	if (tc->abort)
		client_abort(c, "connection lost");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].code, tc->code[i]);
		assert_string_equal(res[i].stage, tc->stage[i]);
	}
	client_free(c);
}

static void test_lmtp_per_recipient_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof lmtp_cases / sizeof lmtp_cases[0]; i++) {
		print_message("case: %s\n", lmtp_cases[i].name);
		run_lmtp_case(&lmtp_cases[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_transaction),
		cmocka_unit_test(test_dsn_parameters_passed_on),
		cmocka_unit_test(test_lockstep_without_pipelining),
		cmocka_unit_test(test_mail_refused_applies_to_all),
		cmocka_unit_test(test_helo_fallback_and_failures),
		cmocka_unit_test(test_starttls_then_ehlo_again),
		cmocka_unit_test(test_auth_plain_and_login),
		cmocka_unit_test(test_size_limit_and_abort),
		cmocka_unit_test(test_8bit_to_peer_without_8bitmime_is_converted_or_refused),
		cmocka_unit_test(test_lmtp_lhlo),
		cmocka_unit_test(test_lmtp_per_recipient_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
