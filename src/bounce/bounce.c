/* bounce - queueing delivery reports; see bounce.h. */
#include "bounce/bounce.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdio.h>

#include "queue/intake.h"
#include "smtp/address.h"
#include "util/dsn.h"
#include "util/log.h"
#include "util/metrics.h"

#define HEADERS_MAX 65536
/* RET=FULL returns the whole message up to this size, a bigger one only its
 * headers (RFC 6522 5 allows returning just the header section). */
#define FULL_MAX (UINT64_C(10) << 20)

struct pending {
	char id[QUEUE_ID_LEN + 1];      /* the report's */
	char about[QUEUE_ID_LEN + 1];   /* the original's */
	enum report_action action;
	bounce_queued_fn queued;
	void *arg;
};

/* Logged once the report is durable: the intake gives it its ID only as
 * it submits, and a failed submission may run this callback at once. */
static void on_committed(void *arg, int err)
{
	struct pending *p = arg;
	if (err) {
		log_error("%s: could not queue a delivery report: %s", p->about, strerror(err));
	} else {
		log_info("%s: sender %s notification: %s", p->about,
			 p->action == REPORT_DELAYED ? "delay"
			 : p->action == REPORT_FAILED ? "non-delivery" : "success", p->id);
		if (p->queued)
			p->queued(p->arg, p->id);
	}
	free(p);
}

/* The original, read from the spool a piece at a time. */
struct stored {
	struct spool *sp;
	const struct spool_msg *msg;
};

static ssize_t read_stored(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct stored *st = ctx;
	return spool_read_body(st->sp, st->msg, dst, len, off);
}

static void put_intake(void *ctx, const char *p, size_t n)
{
	intake_write(ctx, p, n);
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

/* A report to one of our own addresses follows its aliases, like any mail;
 * each target keeps `to` as the address it came from. */
static void resolve_to(const struct config *cfg, const char *to, struct rcpt_list *out)
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
			rcpt_list_add(out, res.targets.v[i], to, 0, NULL);
	else
		rcpt_list_add(out, to, to, 0, NULL);
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
	/* RFC 3464 2.2.1: the ENVID as the sender wrote it, i.e. decoded. */
	char envid[DSN_ENVID_MAX + 1];
	size_t elen;
	bool has_envid = msg->envid &&
			 xtext_decode(msg->envid, strlen(msg->envid), envid, sizeof envid, &elen);
	time_t now = time(NULL);
	struct stored st = {sp, msg};
	struct report_info ri = {
		.reporting_mta = cfg->hostname, .queue_id = msg->id, .to = to,
		.arrival = (time_t)msg->arrival, .now = now,
		.retry_hours = cfg->bounce_after / 3600, .rcpt = rcpt, .nrcpt = n,
		.original_len = full || msg->body_len < HEADERS_MAX ? msg->body_len : HEADERS_MAX,
		.read_original = read_stored, .read_ctx = &st, .full = full,
		.envid = has_envid ? envid : NULL,
	};
	struct intake *in = intake_new(sp);
	report_write(&ri, put_intake, in);
	struct rcpt_list rcpts = RCPT_LIST_INIT;
	resolve_to(cfg, to, &rcpts);
	struct pending *p = xcalloc(1, sizeof *p);
	memcpy(p->about, msg->id, sizeof p->about);
	p->action = action;
	p->queued = queued;
	p->arg = arg;
	/* Part 3 carries the original's headers, 8-bit ones included: the
	 * intake marks the report 8-bit when they are. */
	struct spool_new_msg m = {
		.arrival = now, .sender = "", .helo = cfg->hostname, .client = "127.0.0.1",
		.flags = flags, .nrcpt = rcpts.n, .rcpt = rcpts.v,
	};
	struct intake_origin o = {.by = cfg->hostname};
	/* A success report is all "delivered" or all "relayed" (one job's). */
	metrics_report_generated((int)(action == REPORT_DELIVERED && n ? rcpt[0].action : action));
	intake_submit(in, &o, &m, p->id, on_committed, p);
	rcpt_list_free(&rcpts);
	return 0;
}
