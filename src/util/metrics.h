/*
 * metrics - the daemon's counters, gauges and delivery-latency histogram,
 * and their two renderings: the Prometheus text exposition format 0.0.4
 * (served by control/metrics_http.c) and aligned lines for a person
 * (`petrel status`, over the control socket).
 *
 * Every figure is a C11 atomic in one process-wide table, updated with
 * relaxed increments: hooks are one-line calls from any thread (the loop,
 * delivery workers, the spool writer) and never take a lock. A snapshot is
 * not one instant across counters; each counter on its own is exact, and a
 * histogram's _count is computed from its buckets so the two always agree.
 *
 * Figures about the queue are not counted here: they are sampled from the
 * spool index when rendered (struct metrics_queue), which keeps them right
 * across restarts and administrator actions.
 */
#ifndef PETREL_UTIL_METRICS_H
#define PETREL_UTIL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/buf.h"

/* Hooks take the other layers' enums as ints, in their order, so this bottom
 * layer needs none of their headers. Listener modes: enum listen_mode. */
#define METRICS_MODES 3
/* Report actions, in the order of enum report_action (bounce/report.h). */
#define METRICS_ACTIONS 4
/* AUTH results, in the order of enum auth_result (smtp/session.h). */
#define METRICS_AUTHS 3
/* Delivery-latency buckets (upper bounds, seconds); +Inf is implicit. */
#define METRICS_LATENCY_BUCKETS 10

/* Hooks, callable from any thread. local says the recipient was local. */
void metrics_set_start(time_t now);
void metrics_conn_opened(int mode);
void metrics_conn_closed(int mode);
void metrics_conn_refused(void);
void metrics_tls_established(bool outbound);
void metrics_auth_result(int result);
void metrics_reply(int code);
void metrics_received(bool maildrop, uint64_t bytes);
/* status is the word the delivery log line carries: sent, deferred,
 * bounced or expired; delay is seconds since the message was accepted. */
void metrics_delivery(bool local, const char *status, int64_t delay);
/* action is an enum report_action (bounce/report.h): the RFC 3464 2.3.3
 * action the report tells of (failed, delayed, delivered, relayed). */
void metrics_report_generated(int action);
/* How many maildrop files the daemon cannot read now (a gauge: the
 * pickup sets it after each full scan). */
void metrics_maildrop_stuck(uint64_t files);

/* What the spool index holds right now; filled by the caller. */
struct metrics_queue {
	uint64_t messages;
	uint64_t recipients;     /* pending recipients */
	uint64_t held;           /* messages on administrator hold */
	int64_t oldest_arrival;  /* unix seconds; 0 when the queue is empty */
};

/* Appends every metric in the Prometheus text format, version 0.0.4. */
void metrics_render_prometheus(struct buf *out, const struct metrics_queue *q, time_t now);
/* Appends the same figures as aligned lines for `petrel status`. */
void metrics_render_status(struct buf *out, const struct metrics_queue *q, time_t now);

/* The q-quantile (0 < q < 1) of the latency histogram as the upper bound of
 * the bucket it falls in: "at most N seconds", no more precise than the
 * buckets are. counts[i] are per-bucket (not cumulative), the last one being
 * +Inf, for which 0 is returned; -1 when there are no observations. */
long metrics_quantile(const uint64_t counts[METRICS_LATENCY_BUCKETS + 1], double q);
extern const unsigned metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

#endif
