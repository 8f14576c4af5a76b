/* metrics - lock-free counters and their renderings; see metrics.h. */
#include "util/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define NSTATUS 4

const unsigned metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
	1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400,
};

static const char *const mode_names[METRICS_MODES] = {"smtp", "submission", "submissions"};
static const char *const status_names[NSTATUS] = {"sent", "deferred", "bounced", "expired"};
static const char *const auth_names[METRICS_AUTHS] = {"ok", "failed", "blocked"};
static const char *const reply_classes[4] = {"2xx", "3xx", "4xx", "5xx"};
static const char *const action_names[METRICS_ACTIONS] = {"failed", "delayed", "delivered",
							   "relayed"};

/* The one table; static storage starts at zero. */
static struct {
	_Atomic int64_t start;
	_Atomic uint64_t conn_total[METRICS_MODES];
	_Atomic int64_t conn_open[METRICS_MODES];
	_Atomic uint64_t conn_refused;
	_Atomic uint64_t tls[2];            /* inbound, outbound */
	_Atomic uint64_t auth[METRICS_AUTHS];
	_Atomic uint64_t replies[4];        /* 2xx..5xx */
	_Atomic uint64_t received[2];       /* smtp, maildrop */
	_Atomic uint64_t received_bytes[2];
	_Atomic uint64_t delivery[2][NSTATUS]; /* remote, local */
	_Atomic uint64_t reports[METRICS_ACTIONS];
	_Atomic uint64_t latency[METRICS_LATENCY_BUCKETS + 1];
	_Atomic uint64_t latency_sum;
	_Atomic uint64_t maildrop_stuck;    /* a gauge, set by the pickup */
} m;

static void inc(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static bool valid_mode(int mode)
{
	return mode >= 0 && mode < METRICS_MODES;
}

void metrics_set_start(time_t now)
{
	atomic_store_explicit(&m.start, (int64_t)now, memory_order_relaxed);
}

void metrics_conn_opened(int mode)
{
	if (!valid_mode(mode))
		return;
	inc(&m.conn_total[mode], 1);
	atomic_fetch_add_explicit(&m.conn_open[mode], 1, memory_order_relaxed);
}

void metrics_conn_closed(int mode)
{
	if (valid_mode(mode))
		atomic_fetch_sub_explicit(&m.conn_open[mode], 1, memory_order_relaxed);
}

void metrics_conn_refused(void)
{
	inc(&m.conn_refused, 1);
}

void metrics_tls_established(bool outbound)
{
	inc(&m.tls[outbound], 1);
}

void metrics_auth_result(int result)
{
	if (result >= 0 && result < METRICS_AUTHS)
		inc(&m.auth[result], 1);
}

void metrics_reply(int code)
{
	if (code >= 200 && code < 600)
		inc(&m.replies[code / 100 - 2], 1);
}

void metrics_received(bool maildrop, uint64_t bytes)
{
	inc(&m.received[maildrop], 1);
	inc(&m.received_bytes[maildrop], bytes);
}

static void observe_latency(int64_t delay)
{
	uint64_t d = delay > 0 ? (uint64_t)delay : 0;
	size_t i = 0;
	while (i < METRICS_LATENCY_BUCKETS && d > metrics_latency_bounds[i])
		i++;
	inc(&m.latency[i], 1);
	inc(&m.latency_sum, d);
}

void metrics_delivery(bool local, const char *status, int64_t delay)
{
	for (size_t s = 0; s < NSTATUS; s++) {
		if (strcmp(status, status_names[s]) != 0)
			continue;
		inc(&m.delivery[local][s], 1);
		/* Latency is acceptance to final delivery: successes only. */
		if (s == 0)
			observe_latency(delay);
	}
}

void metrics_maildrop_stuck(uint64_t files)
{
	atomic_store_explicit(&m.maildrop_stuck, files, memory_order_relaxed);
}

void metrics_report_generated(int action)
{
	if (action >= 0 && action < METRICS_ACTIONS)
		inc(&m.reports[action], 1);
}

/* A consistent view of the histogram: per-bucket counts and their total. */
static uint64_t latency_counts(uint64_t counts[METRICS_LATENCY_BUCKETS + 1])
{
	uint64_t total = 0;
	for (size_t i = 0; i <= METRICS_LATENCY_BUCKETS; i++)
		total += counts[i] = get(&m.latency[i]);
	return total;
}

long metrics_quantile(const uint64_t counts[METRICS_LATENCY_BUCKETS + 1], double q)
{
	uint64_t total = 0;
	for (size_t i = 0; i <= METRICS_LATENCY_BUCKETS; i++)
		total += counts[i];
	if (total == 0)
		return -1;
	/* The smallest bucket holding at least q of the observations. */
	double rank = q * (double)total, cum = 0;
	for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		cum += (double)counts[i];
		if (cum >= rank)
			return (long)metrics_latency_bounds[i];
	}
	return 0;
}

/* ---- Prometheus text exposition format 0.0.4 ---- */

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP petrel_%s %s\n# TYPE petrel_%s %s\n", name, help, name, type);
}

/* One sample; label is "" or "key=\"value\"" (our own fixed words only). */
static void sample(struct buf *b, const char *name, const char *label, int64_t v)
{
	buf_printf(b, "petrel_%s%s%s%s %" PRId64 "\n", name, *label ? "{" : "", label,
		   *label ? "}" : "", v);
}

static void labelled(struct buf *b, const char *name, const char *key, const char *value,
		     int64_t v)
{
	char label[64];
	snprintf(label, sizeof label, "%s=\"%s\"", key, value);
	sample(b, name, label, v);
}

/* A counter family with one sample per label value: name{key="names[i]"} c[i]. */
static void counter_set(struct buf *b, const char *name, const char *help, const char *key,
			const char *const *names, _Atomic uint64_t *c, size_t n)
{
	family(b, name, "counter", help);
	for (size_t i = 0; i < n; i++)
		labelled(b, name, key, names[i], (int64_t)get(&c[i]));
}

static void prom_connections(struct buf *b)
{
	static const char *const direction[2] = {"inbound", "outbound"};
	counter_set(b, "connections_total", "SMTP connections accepted, by listener mode.", "mode",
		    mode_names, m.conn_total, METRICS_MODES);
	family(b, "connections_open", "gauge", "SMTP connections open now, by listener mode.");
	for (size_t i = 0; i < METRICS_MODES; i++)
		labelled(b, "connections_open", "mode", mode_names[i],
			 atomic_load_explicit(&m.conn_open[i], memory_order_relaxed));
	family(b, "connections_refused_total", "counter",
	       "Connections refused with 421 (connection limits, shutting down).");
	sample(b, "connections_refused_total", "", (int64_t)get(&m.conn_refused));
	counter_set(b, "tls_sessions_total",
		    "TLS handshakes completed: inbound (STARTTLS, implicit TLS) and outbound.",
		    "direction", direction, m.tls, 2);
	counter_set(b, "auth_total", "AUTH attempts, by result.", "result", auth_names, m.auth,
		    METRICS_AUTHS);
	counter_set(b, "smtp_replies_total", "SMTP replies sent to clients, by class.", "class",
		    reply_classes, m.replies, 4);
}

static void prom_messages(struct buf *b)
{
	static const char *const source[2] = {"smtp", "maildrop"};
	counter_set(b, "messages_received_total", "Messages accepted into the queue.", "source",
		    source, m.received, 2);
	counter_set(b, "received_bytes_total", "Bytes of messages accepted.", "source", source,
		    m.received_bytes, 2);
	family(b, "deliveries_total", "counter",
	       "Delivery attempt outcomes per recipient, by destination and status.");
	for (size_t l = 0; l < 2; l++) {
		for (size_t s = 0; s < NSTATUS; s++) {
			char label[64];
			snprintf(label, sizeof label, "dest=\"%s\",status=\"%s\"",
				 l ? "local" : "remote", status_names[s]);
			sample(b, "deliveries_total", label, (int64_t)get(&m.delivery[l][s]));
		}
	}
	counter_set(b, "reports_total", "Delivery status notifications generated, by RFC 3464 action.",
		    "action", action_names, m.reports, METRICS_ACTIONS);
}

static void prom_latency(struct buf *b)
{
	uint64_t counts[METRICS_LATENCY_BUCKETS + 1];
	uint64_t total = latency_counts(counts), cum = 0;
	family(b, "delivery_latency_seconds", "histogram",
	       "Seconds from acceptance to successful delivery, per recipient.");
	for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		char le[16];
		snprintf(le, sizeof le, "%u", metrics_latency_bounds[i]);
		cum += counts[i];
		labelled(b, "delivery_latency_seconds_bucket", "le", le, (int64_t)cum);
	}
	labelled(b, "delivery_latency_seconds_bucket", "le", "+Inf", (int64_t)total);
	sample(b, "delivery_latency_seconds_sum", "", (int64_t)get(&m.latency_sum));
	sample(b, "delivery_latency_seconds_count", "", (int64_t)total);
}

static int64_t oldest_age(const struct metrics_queue *q, time_t now)
{
	return q->oldest_arrival && now > q->oldest_arrival ? now - q->oldest_arrival : 0;
}

static void prom_queue(struct buf *b, const struct metrics_queue *q, time_t now)
{
	family(b, "queue_messages", "gauge", "Messages in the queue.");
	sample(b, "queue_messages", "", (int64_t)q->messages);
	family(b, "queue_recipients", "gauge", "Recipients in the queue not yet final.");
	sample(b, "queue_recipients", "", (int64_t)q->recipients);
	family(b, "queue_held_messages", "gauge", "Messages on administrator hold.");
	sample(b, "queue_held_messages", "", (int64_t)q->held);
	family(b, "queue_oldest_age_seconds", "gauge",
	       "Age of the oldest queued message (0 when empty).");
	sample(b, "queue_oldest_age_seconds", "", oldest_age(q, now));
	family(b, "maildrop_unimportable_files", "gauge",
	       "Files in the maildrop the daemon cannot read (listed by petrel queue).");
	sample(b, "maildrop_unimportable_files", "", (int64_t)get(&m.maildrop_stuck));
}

void metrics_render_prometheus(struct buf *out, const struct metrics_queue *q, time_t now)
{
	int64_t start = atomic_load_explicit(&m.start, memory_order_relaxed);
	family(out, "start_time_seconds", "gauge", "When the daemon started, unix seconds.");
	sample(out, "start_time_seconds", "", start);
	prom_connections(out);
	prom_messages(out);
	prom_latency(out);
	prom_queue(out, q, now);
}

/* ---- for a person ---- */

static void duration(struct buf *b, int64_t s)
{
	if (s >= 86400)
		buf_printf(b, "%" PRId64 "d %02" PRId64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		buf_printf(b, "%" PRId64 "h %02" PRId64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		buf_printf(b, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
	else
		buf_printf(b, "%" PRId64 "s", s < 0 ? 0 : s);
}

#define ROW "%-19s "

static void status_connections(struct buf *b)
{
	uint64_t total = 0;
	int64_t open = 0;
	for (size_t i = 0; i < METRICS_MODES; i++) {
		total += get(&m.conn_total[i]);
		open += atomic_load_explicit(&m.conn_open[i], memory_order_relaxed);
	}
	buf_printf(b, ROW "%" PRIu64 " total, %" PRId64 " open, %" PRIu64 " refused (", "connections",
		   total, open, get(&m.conn_refused));
	for (size_t i = 0; i < METRICS_MODES; i++)
		buf_printf(b, "%s%s %" PRIu64, i ? ", " : "", mode_names[i], get(&m.conn_total[i]));
	buf_printf(b, ")\n" ROW "%" PRIu64 " inbound, %" PRIu64 " outbound sessions\n", "tls",
		   get(&m.tls[0]), get(&m.tls[1]));
	buf_printf(b, ROW "%" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " blocked\n", "auth",
		   get(&m.auth[0]), get(&m.auth[1]), get(&m.auth[2]));
	buf_printf(b, ROW "%" PRIu64 " (5xx), %" PRIu64 " (4xx)\n", "rejections",
		   get(&m.replies[3]), get(&m.replies[2]));
}

static void status_messages(struct buf *b)
{
	buf_printf(b, ROW "%" PRIu64 " (smtp %" PRIu64 ", maildrop %" PRIu64 "), %" PRIu64
		   " bytes\n", "messages received", get(&m.received[0]) + get(&m.received[1]),
		   get(&m.received[0]), get(&m.received[1]),
		   get(&m.received_bytes[0]) + get(&m.received_bytes[1]));
	for (size_t s = 0; s < NSTATUS; s++)
		buf_printf(b, ROW "local %" PRIu64 ", remote %" PRIu64 "\n", status_names[s],
			   get(&m.delivery[1][s]), get(&m.delivery[0][s]));
	buf_printf(b, ROW, "reports generated");
	for (size_t i = 0; i < METRICS_ACTIONS; i++)
		buf_printf(b, "%s%s %" PRIu64, i ? ", " : "", action_names[i], get(&m.reports[i]));
	buf_putc(b, '\n');
}

static void status_latency(struct buf *b)
{
	static const double qs[3] = {0.5, 0.9, 0.99};
	uint64_t counts[METRICS_LATENCY_BUCKETS + 1];
	uint64_t total = latency_counts(counts);
	buf_printf(b, ROW, "delivery latency");
	if (!total) {
		buf_puts(b, "no deliveries yet\n");
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		long at_most = metrics_quantile(counts, qs[i]);
		if (at_most > 0)
			buf_printf(b, "p%g <= %lds, ", qs[i] * 100, at_most);
		else
			buf_printf(b, "p%g > %us, ", qs[i] * 100,
				   metrics_latency_bounds[METRICS_LATENCY_BUCKETS - 1]);
	}
	buf_printf(b, "mean %.1fs (%" PRIu64 " delivered)\n",
		   (double)get(&m.latency_sum) / (double)total, total);
}

void metrics_render_status(struct buf *out, const struct metrics_queue *q, time_t now)
{
	int64_t start = atomic_load_explicit(&m.start, memory_order_relaxed);
	buf_printf(out, ROW, "uptime");
	duration(out, start ? now - start : 0);
	buf_putc(out, '\n');
	status_connections(out);
	status_messages(out);
	buf_printf(out, ROW "%" PRIu64 " message(s), %" PRIu64 " recipient(s) pending, %" PRIu64
		   " held", "queue", q->messages, q->recipients, q->held);
	if (q->messages) {
		buf_puts(out, ", oldest ");
		duration(out, oldest_age(q, now));
	}
	buf_printf(out, "\n" ROW "%" PRIu64 " file(s) the daemon cannot read%s\n", "maildrop",
		   get(&m.maildrop_stuck), get(&m.maildrop_stuck) ? " (see petrel queue)" : "");
	status_latency(out);
}
