/* scheduler - what to deliver when; see scheduler.h. */
#include "schedule/scheduler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver/local.h"
#include "util/log.h"
#include "util/workq.h"

struct scheduler {
	struct event_base *base;
	struct spool *sp;
	const struct config *cfg;
	struct workq *wq;
	struct event *wq_ev;
	struct event *tick;
	unsigned running;   /* jobs whose outcomes are not all durable yet */
};

unsigned scheduler_backoff(unsigned initial, unsigned max, uint32_t attempts)
{
	uint64_t d = initial ? initial : 1;
	for (uint32_t i = 1; i < attempts && d < max; i++)
		d *= 2;
	return d > max ? max : (unsigned)d;
}

static void try_start(struct scheduler *sch, struct spool_msg *msg, int64_t now);

static void on_workq(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct scheduler *sch = arg;
	workq_dispatch(sch->wq);
}

/* Every second: recipients whose retry time has come. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct scheduler *sch = arg;
	int64_t now = time(NULL);
	for (struct spool_msg *m = spool_first(sch->sp); m; m = spool_next(sch->sp, m))
		try_start(sch, m, now);
}

struct scheduler *scheduler_new(struct event_base *base, struct spool *sp,
				const struct config *cfg)
{
	struct scheduler *sch = xcalloc(1, sizeof *sch);
	sch->base = base;
	sch->sp = sp;
	sch->cfg = cfg;
	sch->wq = workq_new(cfg->delivery_workers);
	if (!sch->wq) {
		free(sch);
		return NULL;
	}
	sch->wq_ev = event_new(base, workq_notify_fd(sch->wq), EV_READ | EV_PERSIST, on_workq, sch);
	event_add(sch->wq_ev, NULL);
	sch->tick = event_new(base, -1, EV_PERSIST, on_tick, sch);
	struct timeval one = {1, 0};
	event_add(sch->tick, &one);
	return sch;
}

void scheduler_free(struct scheduler *sch)
{
	if (!sch)
		return;
	event_free(sch->tick);
	event_free(sch->wq_ev);
	workq_free(sch->wq);
	free(sch);
}

bool scheduler_idle(const struct scheduler *sch)
{
	return sch->running == 0;
}

static void outcome_recorded(void *arg, int err)
{
	struct local_job *j = arg;
	struct scheduler *sch = j->owner;
	if (err)
		log_error("%s: could not record a delivery outcome: %s", j->id, strerror(err));
	if (--j->updates_pending)
		return;
	/* Last record durable: the message may be picked again (or leaves the
	 * index right after this callback when every recipient is final). */
	j->msg->inflight = 0;
	sch->running--;
	local_job_free(j);
}

static void log_outcome(const struct local_job *j, const struct local_result *r, double delay,
			const char *status)
{
	const struct spool_rcpt *rc = &j->msg->rcpt[r->rcpt];
	log_info("%s: to=<%s>, orig_to=<%s>, relay=local, delay=%.2f, status=%s (%s)", j->id,
		 rc->addr, rc->orig, delay, status,
		 r->res == MAILDIR_OK ? "delivered to maildir" : r->err);
}

static void job_done(void *arg)
{
	struct local_job *j = arg;
	struct scheduler *sch = j->owner;
	int64_t now = time(NULL);
	double delay = (double)(now - j->msg->arrival);
	j->updates_pending = (unsigned)j->n;
	for (size_t i = 0; i < j->n; i++) {
		struct local_result *r = &j->r[i];
		struct spool_rcpt *rc = &j->msg->rcpt[r->rcpt];
		uint32_t attempts = rc->attempts + 1;
		if (r->res == MAILDIR_OK) {
			log_outcome(j, r, delay, "sent");
			spool_update_rcpt(sch->sp, j->msg, r->rcpt, RCPT_DELIVERED, attempts, 0, NULL,
					  outcome_recorded, j);
		} else if (r->res == MAILDIR_PERMFAIL) {
			log_outcome(j, r, delay, "bounced");
			spool_update_rcpt(sch->sp, j->msg, r->rcpt, RCPT_BOUNCED, attempts, 0, r->err,
					  outcome_recorded, j);
		} else {
			int64_t next = now + scheduler_backoff(sch->cfg->retry_initial,
							       sch->cfg->retry_max, attempts);
			log_outcome(j, r, delay, "deferred");
			spool_update_rcpt(sch->sp, j->msg, r->rcpt, RCPT_PENDING, attempts, next, r->err,
					  outcome_recorded, j);
		}
	}
}

static void try_start(struct scheduler *sch, struct spool_msg *msg, int64_t now)
{
	if (msg->held || msg->inflight)
		return;
	struct local_job *j = NULL;
	for (size_t i = 0; i < msg->nrcpt; i++) {
		struct spool_rcpt *rc = &msg->rcpt[i];
		if (rc->state != RCPT_PENDING || rc->next_try > now)
			continue;
		char *user = local_mailbox_of(sch->cfg, rc->addr);
		if (!user)
			continue; /* remote: waits for the outbound agent */
		if (!j)
			j = local_job_new(sch->sp, msg, sch->cfg);
		if (!j) {
			log_error("%s: cannot read the queued message: %s", msg->id, strerror(errno));
			free(user);
			return;
		}
		local_job_add(j, i, user);
		free(user);
	}
	if (!j)
		return;
	j->owner = sch;
	msg->inflight = 1;
	sch->running++;
	workq_submit(sch->wq, local_job_run, job_done, j);
}

void scheduler_enqueue(struct scheduler *sch, const char *queue_id)
{
	struct spool_msg *m = spool_find(sch->sp, queue_id);
	if (m)
		try_start(sch, m, time(NULL));
}

void scheduler_start(struct scheduler *sch)
{
	on_tick(-1, 0, sch);
}
