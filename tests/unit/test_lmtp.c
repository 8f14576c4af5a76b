/*
 * Unit tests for deliver/lmtp.c: how a failed connection is classified. A
 * server that cannot be reached is an attempt that failed (deferred, the
 * server's or the config's trouble); a socket we could not even make for
 * want of descriptors is our own shortage: nothing was attempted.
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "deliver/lmtp.h"
#include "util/rcpt.h"

static ssize_t no_body(void *ctx, void *dst, size_t len, uint64_t off)
{
	(void)ctx;
	(void)dst;
	(void)len;
	(void)off;
	return 0;
}

/* Delivers to target with one recipient; returns lmtp_deliver's answer and
 * the recipient's result in r. */
static bool deliver_to(const char *target, struct client_reply *r)
{
	struct rcpt_list to = RCPT_LIST_INIT;
	rcpt_list_add(&to, "alice@example.test", NULL, 0, NULL);
	struct client_txn txn = {.sender = "s@example.org", .nrcpt = 1, .rcpt = to.v,
				 .result = r};
	struct lmtp_msg m = {.target = target, .helo_name = "mx.example.test",
			     .connect_timeout = 5, .io_timeout = 5, .txn = &txn,
			     .read = no_body};
	bool attempted = lmtp_deliver(&m);
	rcpt_list_free(&to);
	return attempted;
}

static void test_lmtp_out_of_descriptors_is_a_local_shortage(void **state)
{
	(void)state;
	struct client_reply r;
	struct drought dr;
	descriptors_gone(&dr);
	bool attempted = deliver_to("unix:/nonexistent/lmtp", &r);
	descriptors_back(&dr);
	assert_false(attempted);
	assert_int_equal(r.code, 0);
	if (!strstr(r.text, "lmtp unix:/nonexistent/lmtp: socket: Too many open files"))
		fail_msg("reason \"%s\"", r.text);
}

static void test_lmtp_server_not_there_is_an_attempt(void **state)
{
	(void)state;
	struct client_reply r;
	assert_true(deliver_to("unix:/nonexistent/lmtp", &r));
	assert_int_equal(r.code, 0);
	if (!strstr(r.text, "connect: No such file or directory"))
		fail_msg("reason \"%s\"", r.text);
	/* A TCP port nobody listens on: refused, also an attempt. */
	assert_true(deliver_to("127.0.0.1:1", &r));
	assert_int_equal(r.code, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lmtp_out_of_descriptors_is_a_local_shortage),
		cmocka_unit_test(test_lmtp_server_not_there_is_an_attempt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
