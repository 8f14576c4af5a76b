/*
 * Unit tests for util/log's JSON lines: the string escaper (quotes,
 * backslashes, control bytes, UTF-8 kept, malformed UTF-8 as \u00XX, never
 * a split escape when out of room) and the line format (fixed fields,
 * queue_id, key=value fields of queued and delivery lines, refusal of
 * ambiguous or hostile pair lists, bounded output); deferred writing
 * (lines collect until flushed, a warning flushes them, order is kept).
 */
#include "test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static const struct timeval when = {1795472203, 123456}; /* 2026-11-23T22:16:43.123Z */

static void expect_escape(const char *in, size_t len, const char *want)
{
	char out[256];
	size_t n = log_json_escape(out, sizeof out, in, len);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_escape_specials(void **state)
{
	(void)state;
	expect_escape("plain text", 10, "plain text");
	expect_escape("a\"b\\c", 5, "a\\\"b\\\\c");
	expect_escape("l1\nl2\r\t", 7, "l1\\nl2\\r\\t");
	expect_escape("\x01\x1b[0m\x7f", 6, "\\u0001\\u001b[0m\\u007f");
	expect_escape("nul\0byte", 8, "nul\\u0000byte");
	expect_escape("</script>", 9, "</script>");
}

static void test_escape_utf8(void **state)
{
	(void)state;
	/* Well-formed UTF-8 passes as it is. */
	expect_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", 14,
		      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7");
	/* Lone bytes, a truncated sequence, an overlong '/', a surrogate, and
	 * a code point above U+10FFFF are each escaped byte by byte. */
	expect_escape("\xe9t\xe9", 3, "\\u00e9t\\u00e9");
	expect_escape("\xe2\x82", 2, "\\u00e2\\u0082");
	expect_escape("\xc0\xaf", 2, "\\u00c0\\u00af");
	expect_escape("\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080");
	expect_escape("\xf4\x90\x80\x80", 4, "\\u00f4\\u0090\\u0080\\u0080");
	expect_escape("\xff\xfe", 2, "\\u00ff\\u00fe");
}

static void test_escape_never_splits(void **state)
{
	(void)state;
	char out[8];
	/* "ab" (2) + "\u0001" (6) would need 9 bytes with the NUL. */
	size_t n = log_json_escape(out, sizeof out, "ab\x01z", 4);
	assert_string_equal(out, "ab");
	assert_int_equal(n, 2);
	n = log_json_escape(out, sizeof out, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9);
	assert_string_equal(out, "\xe2\x82\xac\xe2\x82\xac");
	assert_int_equal(n, 6);
}

static char line[LOG_JSON_MAX];

static const char *json(enum log_level lvl, const char *msg)
{
	size_t n = log_format_json(line, sizeof line, &when, lvl, 4242, msg);
	assert_int_equal(n, strlen(line));
	return line;
}

static void test_line_plain(void **state)
{
	(void)state;
	assert_string_equal(json(LOG_LVL_INFO, "connect from [127.0.0.1]"),
			    "{\"ts\":\"2026-11-23T22:16:43.123Z\",\"level\":\"info\",\"pid\":4242,"
			    "\"msg\":\"connect from [127.0.0.1]\"}");
	assert_string_equal(json(LOG_LVL_WARN, "x=1, y=2"),
			    "{\"ts\":\"2026-11-23T22:16:43.123Z\",\"level\":\"warning\",\"pid\":4242,"
			    "\"msg\":\"x=1, y=2\"}");
}

#define HEAD "{\"ts\":\"2026-11-23T22:16:43.123Z\",\"level\":\"info\",\"pid\":4242,"

static void test_line_delivery_fields(void **state)
{
	(void)state;
	assert_string_equal(
		json(LOG_LVL_INFO, "0SGFHWPY6B200000: to=<alice@example.test>, "
				   "orig_to=<postmaster@example.test>, relay=local, delay=0, "
				   "status=sent (delivered to maildir)"),
		HEAD "\"queue_id\":\"0SGFHWPY6B200000\",\"msg\":\"0SGFHWPY6B200000: "
		     "to=<alice@example.test>, orig_to=<postmaster@example.test>, relay=local, "
		     "delay=0, status=sent (delivered to maildir)\",\"to\":\"alice@example.test\","
		     "\"orig_to\":\"postmaster@example.test\",\"relay\":\"local\",\"delay\":0,"
		     "\"status\":\"sent\",\"detail\":\"delivered to maildir\"}");
	assert_string_equal(
		json(LOG_LVL_INFO, "0SGFHWPY6B200000: client=[IPv6:::1], helo=<x>y>, from=<>, "
				   "size=0312, nrcpt=2, status=queued"),
		HEAD "\"queue_id\":\"0SGFHWPY6B200000\",\"msg\":\"0SGFHWPY6B200000: "
		     "client=[IPv6:::1], helo=<x>y>, from=<>, size=0312, nrcpt=2, status=queued\","
		     "\"client\":\"IPv6:::1\",\"helo\":\"x>y\",\"from\":\"\",\"size\":\"0312\","
		     "\"nrcpt\":2,\"status\":\"queued\"}");
}

/* A quoted local part may hold ", key=" and '>'; the remote's text after
 * status= may hold anything. Neither invents or displaces a field. */
static void test_line_hostile_values(void **state)
{
	(void)state;
	json(LOG_LVL_INFO, "0SGFHWPY6B200000: to=<\"a>, relay=evil\\\" x\"@d.test>, relay=local, "
			   "status=deferred (451 x, to=<y>)");
	assert_non_null(strstr(line, ",\"to\":\"\\\"a>, relay=evil\\\\\\\" x\\\"@d.test\","
				     "\"relay\":\"local\",\"status\":\"deferred\","
				     "\"detail\":\"451 x, to=<y>\"}"));
	/* A quote that opens in one value and closes in the next: no fields. */
	json(LOG_LVL_INFO, "0SGFHWPY6B200000: helo=<\">, from=<\"a\\\"b\"@d>, size=1, status=queued");
	assert_null(strstr(line, "\"helo\""));
	assert_null(strstr(line, "\"size\""));
}

static void test_line_refused_pairs(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"0SGFHWPY6B200000: removed by the administrator",
		"0SGFHWPY6B200000: to=<a@b>: unknown; queued so that delivery returns it",
		"0SGFHWPY6B200000: to=<a@b>, to=<c@d>, status=sent",
		"0SGFHWPY6B200000: msg=forged, status=sent",
		"0SGFHWPY6B200000: queue_id=X, status=sent",
		"0SGFHWPY6B200000: Key=value",
		"0SGFHWPY6B200000: to=<unterminated, status=sent",
	};
	for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
		json(LOG_LVL_INFO, msgs[i]);
		const char *end = strstr(line, "\",\"msg\":");
		assert_non_null(end);
		/* Only the queue ID and the message; the line ends with msg. */
		assert_int_equal(line[strlen(line) - 2], '"');
		assert_null(strstr(line, "\"status\":"));
	}
	/* Not a queue ID: lower case, too short, no ": " after it. */
	json(LOG_LVL_INFO, "0sgfhwpy6b200000: to=<a@b>");
	assert_null(strstr(line, "queue_id"));
	json(LOG_LVL_INFO, "0SGFHWPY6B20000: to=<a@b>");
	assert_null(strstr(line, "queue_id"));
	json(LOG_LVL_INFO, "0SGFHWPY6B200000 to=<a@b>");
	assert_null(strstr(line, "queue_id"));
}

static void test_line_escapes_message(void **state)
{
	(void)state;
	json(LOG_LVL_ERROR, "auth from [127.0.0.1]: user=<\"x\\\n{\"level\":\"forged\x01\xff>, failed");
	assert_string_equal(line, "{\"ts\":\"2026-11-23T22:16:43.123Z\",\"level\":\"error\","
				  "\"pid\":4242,\"msg\":\"auth from [127.0.0.1]: user=<\\\"x\\\\\\n"
				  "{\\\"level\\\":\\\"forged\\u0001\\u00ff>, failed\"}");
	assert_null(strchr(line, '\n'));
}

/* The longest message of the worst bytes still makes a whole line; the
 * fields are dropped when they no longer fit. */
static void test_line_bounded(void **state)
{
	(void)state;
	char msg[LOG_LINE_MAX];
	int n = snprintf(msg, sizeof msg, "0SGFHWPY6B200000: to=<");
	memset(msg + n, '\x01', sizeof msg - (size_t)n - 3);
	memcpy(msg + sizeof msg - 3, ">", 2);
	json(LOG_LVL_INFO, msg);
	assert_true(strlen(line) < LOG_JSON_MAX);
	assert_int_equal(line[strlen(line) - 1], '}');
	memset(msg, '\x01', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	json(LOG_LVL_INFO, msg);
	assert_int_equal(strlen(line), strlen(HEAD "\"msg\":\"") + 6 * (LOG_LINE_MAX - 1) + 2);
	/* Too small a buffer, or an over-long message, gives an empty line. */
	char small[64];
	assert_int_equal(log_format_json(small, sizeof small, &when, LOG_LVL_INFO, 1, "x"), 0);
	assert_string_equal(small, "");
}

static int arms;

static void count_arm(void *arg)
{
	(void)arg;
	arms++;
}

/* What stderr (redirected to fd) has received so far, NUL-terminated. */
static char *written(int fd)
{
	static char got[4096];
	ssize_t n = pread(fd, got, sizeof got - 1, 0);
	assert_true(n >= 0);
	got[n] = '\0';
	return got;
}

/* Sends stderr to a fresh unlinked file, returned; *saved keeps the old one. */
static int capture_stderr(int *saved)
{
	char path[] = "/tmp/petrel-logtest-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	return fd;
}

static void release_stderr(int fd, int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
}

static void test_deferred_lines(void **state)
{
	(void)state;
	int saved;
	int fd = capture_stderr(&saved);

	log_defer(count_arm, NULL);
	log_info("first");
	log_info("second");
	assert_int_equal(arms, 1);
	assert_string_equal(written(fd), "");
	log_flush();
	assert_non_null(strstr(written(fd), "info: second\n"));
	log_info("third");
	assert_int_equal(arms, 2);
	assert_null(strstr(written(fd), "third"));
	/* A warning goes out at once, after what was waiting. */
	log_warn("fourth");
	const char *all = written(fd);
	char *third = strstr(all, "third"), *fourth = strstr(all, "fourth");
	assert_non_null(third);
	assert_non_null(fourth);
	assert_true(third < fourth);
	log_info("fifth");
	log_defer(NULL, NULL);
	assert_non_null(strstr(written(fd), "fifth"));
	log_info("sixth");
	assert_non_null(strstr(written(fd), "sixth"));
	assert_int_equal(arms, 3);

	release_stderr(fd, saved);
}

/* A storm of one error costs one line, then one with the count. */
static void test_repeated_error_logged_once_with_a_count(void **state)
{
	(void)state;
	int saved;
	int fd = capture_stderr(&saved);

	struct log_repeat lr = {0};
	for (int i = 0; i < 1000; i++)
		log_repeated(&lr, LOG_LVL_WARN, "short of %s", "descriptors");
	assert_int_equal(occurrences(written(fd), "short of descriptors"), 1);
	log_repeat_tick(&lr, time(NULL) + 1); /* the window is not over */
	assert_int_equal(occurrences(written(fd), "short of descriptors"), 1);
	log_repeat_tick(&lr, time(NULL) + LOG_REPEAT_WINDOW);
	assert_non_null(strstr(written(fd), "warning: short of descriptors (999 more times in "));
	log_repeated(&lr, LOG_LVL_WARN, "short of %s", "memory");
	assert_int_equal(occurrences(written(fd), "short of memory"), 1);
	assert_int_equal(occurrences(written(fd), "\n"), 3);

	release_stderr(fd, saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_specials),
		cmocka_unit_test(test_escape_utf8),
		cmocka_unit_test(test_escape_never_splits),
		cmocka_unit_test(test_line_plain),
		cmocka_unit_test(test_line_delivery_fields),
		cmocka_unit_test(test_line_hostile_values),
		cmocka_unit_test(test_line_refused_pairs),
		cmocka_unit_test(test_line_escapes_message),
		cmocka_unit_test(test_line_bounded),
		cmocka_unit_test(test_deferred_lines),
		cmocka_unit_test(test_repeated_error_logged_once_with_a_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
