/*
 * Unit tests for util/metrics: hooks move exactly their own sample in the
 * Prometheus rendering (and ignore values out of range), the latency
 * histogram is cumulative with _count equal to +Inf, quantiles are bucket
 * bounds, and the status rendering shows the same figures.
 */
#include "test_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/metrics.h"

static const struct metrics_queue empty_queue = {0};

/* The value of one sample line "name value" in a fresh rendering; -1 if absent. */
static long long sample(const char *name)
{
	struct buf b = BUF_INIT;
	metrics_render_prometheus(&b, &empty_queue, 1000);
	long long v = -1;
	size_t n = strlen(name);
	for (const char *p = b.p; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			v = strtoll(p + n + 1, NULL, 10);
			break;
		}
	}
	buf_free(&b);
	return v;
}

static void test_counters_move_exactly(void **state)
{
	(void)state;
	long long smtp = sample("petrel_connections_total{mode=\"smtp\"}");
	long long subm = sample("petrel_connections_total{mode=\"submission\"}");
	long long open = sample("petrel_connections_open{mode=\"submission\"}");
	assert_true(smtp >= 0 && subm >= 0 && open >= 0);
	metrics_conn_opened(1);
	metrics_conn_opened(1);
	metrics_conn_closed(1);
	metrics_conn_opened(7);
	metrics_conn_closed(-1);
	assert_int_equal(sample("petrel_connections_total{mode=\"smtp\"}"), smtp);
	assert_int_equal(sample("petrel_connections_total{mode=\"submission\"}"), subm + 2);
	assert_int_equal(sample("petrel_connections_open{mode=\"submission\"}"), open + 1);

	long long r5 = sample("petrel_smtp_replies_total{class=\"5xx\"}");
	long long r2 = sample("petrel_smtp_replies_total{class=\"2xx\"}");
	metrics_reply(550);
	metrics_reply(554);
	metrics_reply(250);
	metrics_reply(99);
	metrics_reply(600);
	assert_int_equal(sample("petrel_smtp_replies_total{class=\"5xx\"}"), r5 + 2);
	assert_int_equal(sample("petrel_smtp_replies_total{class=\"2xx\"}"), r2 + 1);

	long long bytes = sample("petrel_received_bytes_total{source=\"maildrop\"}");
	metrics_received(true, 312);
	assert_int_equal(sample("petrel_received_bytes_total{source=\"maildrop\"}"), bytes + 312);
	assert_int_equal(sample("petrel_messages_received_total{source=\"maildrop\"}"), 1);

	metrics_auth_result(2);
	metrics_auth_result(3);
	assert_int_equal(sample("petrel_auth_total{result=\"blocked\"}"), 1);
	metrics_tls_established(true);
	assert_int_equal(sample("petrel_tls_sessions_total{direction=\"outbound\"}"), 1);
	assert_int_equal(sample("petrel_tls_sessions_total{direction=\"inbound\"}"), 0);
	metrics_report_generated(1);
	metrics_report_generated(9);
	assert_int_equal(sample("petrel_reports_total{action=\"delayed\"}"), 1);
}

static void test_histogram(void **state)
{
	(void)state;
	long long bounced = sample("petrel_deliveries_total{dest=\"remote\",status=\"bounced\"}");
	metrics_delivery(true, "sent", 0);
	metrics_delivery(false, "sent", 3);
	metrics_delivery(false, "sent", 100000);
	metrics_delivery(false, "bounced", 50);
	metrics_delivery(false, "unknown", 50);
	assert_int_equal(sample("petrel_deliveries_total{dest=\"local\",status=\"sent\"}"), 1);
	assert_int_equal(sample("petrel_deliveries_total{dest=\"remote\",status=\"sent\"}"), 2);
	assert_int_equal(sample("petrel_deliveries_total{dest=\"remote\",status=\"bounced\"}"),
			 bounced + 1);
	/* Only successes are latencies. */
	assert_int_equal(sample("petrel_delivery_latency_seconds_bucket{le=\"1\"}"), 1);
	assert_int_equal(sample("petrel_delivery_latency_seconds_bucket{le=\"5\"}"), 2);
	assert_int_equal(sample("petrel_delivery_latency_seconds_bucket{le=\"86400\"}"), 2);
	assert_int_equal(sample("petrel_delivery_latency_seconds_bucket{le=\"+Inf\"}"), 3);
	assert_int_equal(sample("petrel_delivery_latency_seconds_count"), 3);
	assert_int_equal(sample("petrel_delivery_latency_seconds_sum"), 100003);
}

static void test_quantiles(void **state)
{
	(void)state;
	uint64_t c[METRICS_LATENCY_BUCKETS + 1] = {0};
	assert_int_equal(metrics_quantile(c, 0.5), -1);
	c[0] = 90; /* <= 1 s */
	c[2] = 9;  /* <= 10 s */
	c[4] = 1;  /* <= 60 s */
	assert_int_equal(metrics_quantile(c, 0.5), 1);
	assert_int_equal(metrics_quantile(c, 0.9), 1);
	assert_int_equal(metrics_quantile(c, 0.95), 10);
	assert_int_equal(metrics_quantile(c, 0.99), 10);
	assert_int_equal(metrics_quantile(c, 0.999), 60);
	c[METRICS_LATENCY_BUCKETS] = 1000;
	assert_int_equal(metrics_quantile(c, 0.5), 0);
}

static void test_queue_and_format(void **state)
{
	(void)state;
	struct metrics_queue q = {.messages = 3, .recipients = 5, .held = 1, .oldest_arrival = 400};
	struct buf b = BUF_INIT;
	metrics_render_prometheus(&b, &q, 1000);
	assert_non_null(strstr(b.p, "\npetrel_queue_messages 3\n"));
	assert_non_null(strstr(b.p, "\npetrel_queue_recipients 5\n"));
	assert_non_null(strstr(b.p, "\npetrel_queue_held_messages 1\n"));
	assert_non_null(strstr(b.p, "\npetrel_queue_oldest_age_seconds 600\n"));
	assert_non_null(strstr(b.p, "# TYPE petrel_delivery_latency_seconds histogram\n"));
	/* Every line is a comment or "petrel_name[{labels}] integer". */
	for (char *l = strtok(b.p, "\n"); l; l = strtok(NULL, "\n")) {
		if (l[0] == '#') {
			assert_true(strncmp(l, "# HELP petrel_", 14) == 0 ||
				    strncmp(l, "# TYPE petrel_", 14) == 0);
			continue;
		}
		assert_int_equal(strncmp(l, "petrel_", 7), 0);
		const char *v = strrchr(l, ' ');
		assert_non_null(v);
		assert_true(v[1] == '-' || (v[1] >= '0' && v[1] <= '9'));
	}
	buf_free(&b);
	metrics_set_start(1000 - 3700);
	metrics_render_status(&b, &q, 1000);
	assert_non_null(strstr(b.p, "uptime              1h 01m\n"));
	assert_non_null(strstr(b.p, "queue               3 message(s), 5 recipient(s) pending, "
				    "1 held, oldest 10m 00s\n"));
	assert_non_null(strstr(b.p, "delivery latency    p50 <= 5s, p90 > 86400s, p99 > 86400s, "
				    "mean 33334.3s (3 delivered)\n"));
	buf_free(&b);
}

int main(void)
{
	/* Order matters: the figures are process-wide and accumulate. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_move_exactly),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_queue_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
