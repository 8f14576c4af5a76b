/* bounce - queueing delivery reports; see bounce.h. */
#include "bounce/bounce.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdio.h>

#include "smtp/address.h"
#include "util/dsn.h"
#include "util/log.h"
#include "util/metrics.h"

#define HEADERS_MAX 65536
/* RET=FULL returns the whole message up to this size, a bigger one only its
 * headers (RFC 6522 5 allows returning just the header section). */
#define FULL_MAX (UINT64_C(10) << 20)

struct pending {
	char id[QUEUE_ID_LEN + 1];
	bounce_queued_fn queued;
	void *arg;
};

static void on_committed(void *arg, int err)
{
	struct pending *p = arg;
	if (err)
		log_error("%s: could not queue a delivery report: %s", p->id, strerror(err));
	else if (p->queued)
		p->queued(p->arg, p->id);
	free(p);
}

/* Who gets the report, or NULL for nobody. */
static const char *report_to(const struct config *cfg, const struct spool_msg *msg, char *buf,
			     size_t bufsz, uint32_t *flags)
{
	if (msg->sender[0]) {
		*flags = SPOOL_MSG_BOUNCE;
		return msg->sender;
	}
	if ((msg->flags & SPOOL_MSG_BOUNCE) && !(msg->flags & SPOOL_MSG_DOUBLE_BOUNCE)) {
		const char *dom = cfg->local_domains.n ? cfg->local_domains.v[0] : cfg->hostname;
		snprintf(buf, bufsz, "postmaster@%s", dom);
		*flags = SPOOL_MSG_BOUNCE | SPOOL_MSG_DOUBLE_BOUNCE;
		return buf;
	}
	return NULL;
}

/* A report to one of our own addresses follows its aliases, like any mail. */
static void resolve_to(const struct config *cfg, const char *to, struct strlist *out)
{
	const char *at = strrchr(to, '@');
	struct resolution res = {0};
	if (at) {
		char local[ADDR_PATH_MAX + 1];
		snprintf(local, sizeof local, "%.*s", (int)(at - to), to);
		config_resolve(cfg, local, at + 1, &res);
	}
	if (at && (res.kind == RESOLVE_LOCAL || res.kind == RESOLVE_FORWARD) && res.targets.n)
		for (size_t i = 0; i < res.targets.n; i++)
			strlist_add(out, res.targets.v[i]);
	else
		strlist_add(out, to);
	resolution_free(&res);
}

int bounce_send(struct spool *sp, const struct config *cfg, const struct spool_msg *msg,
		enum report_action action, const struct report_rcpt *rcpt, size_t n,
		bounce_queued_fn queued, void *arg)
{
	char pm[300];
	uint32_t flags = 0;
	const char *to = report_to(cfg, msg, pm, sizeof pm, &flags);
	/* Only failures of our own reports go anywhere (to the postmaster). */
	if (!to || (action != REPORT_FAILED && !msg->sender[0])) {
		log_info("%s: no delivery report: the message came from the null sender", msg->id);
		return 0;
	}
	/* RFC 3461 4.3: RET=FULL asks for the whole message in a failure report;
	 * delay and success reports carry the headers only. */
	bool full = action == REPORT_FAILED && msg->ret == DSN_RET_FULL && msg->body_len <= FULL_MAX;
	size_t want = full || msg->body_len < HEADERS_MAX ? (size_t)msg->body_len : HEADERS_MAX;
	char *orig = xmalloc(want + 1);
	ssize_t got = spool_read_body(sp, msg, orig, want, 0);
	size_t olen = got <= 0 ? 0 : full ? (size_t)got : report_header_len(orig, (size_t)got);
	/* RFC 3464 2.2.1: the ENVID as the sender wrote it, i.e. decoded. */
	char envid[DSN_ENVID_MAX + 1];
	size_t elen;
	bool has_envid = msg->envid &&
			 xtext_decode(msg->envid, strlen(msg->envid), envid, sizeof envid, &elen);
	struct pending *p = xcalloc(1, sizeof *p);
	queue_id_next(p->id);
	p->queued = queued;
	p->arg = arg;
	time_t now = time(NULL);
	struct report_info ri = {
		.reporting_mta = cfg->hostname, .queue_id = msg->id, .to = to,
		.arrival = (time_t)msg->arrival, .now = now,
		.retry_hours = cfg->bounce_after / 3600, .rcpt = rcpt, .nrcpt = n,
		.original = orig, .original_len = olen, .full = full,
		.envid = has_envid ? envid : NULL,
	};
	struct buf body = BUF_INIT;
	report_compose(&body, &ri);
	free(orig);
	struct iovec iov = {body.p, body.len};
	struct strlist addr = STRLIST_INIT, asked = STRLIST_INIT;
	resolve_to(cfg, to, &addr);
	for (size_t i = 0; i < addr.n; i++)
		strlist_add(&asked, to);
	struct spool_new_msg m = {
		.id = p->id, .arrival = now, .sender = "", .helo = cfg->hostname,
		/* Part 3 carries the original's headers, 8-bit ones included. */
		.client = "127.0.0.1",
		.flags = flags | (mem_has_8bit(body.p, body.len) ? SPOOL_MSG_8BITMIME : 0),
		.nrcpt = addr.n,
		.rcpt_addr = (const char *const *)addr.v, .rcpt_orig = (const char *const *)asked.v,
		.body = &iov, .nbody = 1,
	};
	log_info("%s: sender %s notification: %s", msg->id,
		 action == REPORT_DELAYED ? "delay" : action == REPORT_FAILED ? "non-delivery"
									 : "success",
		 p->id);
	/* A success report is all "delivered" or all "relayed" (one job's). */
	metrics_report_generated((int)(action == REPORT_DELIVERED && n ? rcpt[0].action : action));
	spool_submit(sp, &m, on_committed, p);
	buf_free(&body);
	strlist_free(&addr);
	strlist_free(&asked);
	return 0;
}
