/* bounce - queueing delivery reports; see bounce.h. */
#include "bounce/bounce.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdio.h>
#include "util/log.h"

#define HEADERS_MAX 65536

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

int bounce_send(struct spool *sp, const struct config *cfg, const struct spool_msg *msg,
		enum report_action action, const struct report_rcpt *rcpt, size_t n,
		bounce_queued_fn queued, void *arg)
{
	char pm[300];
	uint32_t flags = 0;
	const char *to = report_to(cfg, msg, pm, sizeof pm, &flags);
	if (!to || (action == REPORT_DELAYED && !msg->sender[0])) {
		log_info("%s: no delivery report: the message came from the null sender", msg->id);
		return 0;
	}
	size_t want = msg->body_len < HEADERS_MAX ? (size_t)msg->body_len : HEADERS_MAX;
	char *orig = xmalloc(want + 1);
	ssize_t got = spool_read_body(sp, msg, orig, want, 0);
	size_t hlen = got > 0 ? report_header_len(orig, (size_t)got) : 0;
	struct pending *p = xcalloc(1, sizeof *p);
	queue_id_next(p->id);
	p->queued = queued;
	p->arg = arg;
	time_t now = time(NULL);
	struct report_info ri = {
		.reporting_mta = cfg->hostname, .queue_id = msg->id, .to = to,
		.arrival = (time_t)msg->arrival, .now = now,
		.retry_hours = cfg->bounce_after / 3600, .rcpt = rcpt, .nrcpt = n,
		.original = orig, .original_len = hlen,
	};
	struct buf body = BUF_INIT;
	report_compose(&body, &ri);
	free(orig);
	struct iovec iov = {body.p, body.len};
	const char *addr[1] = {to};
	struct spool_new_msg m = {
		.id = p->id, .arrival = now, .sender = "", .helo = cfg->hostname,
		.client = "127.0.0.1", .flags = flags, .nrcpt = 1, .rcpt_addr = addr,
		.rcpt_orig = addr, .body = &iov, .nbody = 1,
	};
	log_info("%s: sender %s notification: %s", msg->id,
		 action == REPORT_DELAYED ? "delay" : "non-delivery", p->id);
	spool_submit(sp, &m, on_committed, p);
	buf_free(&body);
	return 0;
}
