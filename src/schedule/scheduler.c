/* scheduler - what to deliver when; see scheduler.h. Which reports each
 * outcome gives (failure, delay, success) follows the recipient's DSN
 * NOTIFY (RFC 3461 4.1, 6.2): see file_outcome(). */
#include "schedule/scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bounce/bounce.h"
#include "deliver/agent.h"
#include "deliver/job.h"
#include "deliver/local.h"
#include "deliver/remote.h"
#include "schedule/timetable.h"
#include "util/backoff.h"
#include "util/dsn.h"
#include "util/log.h"
#include "util/metrics.h"

/* How long a job that found us short of a local resource (descriptors,
 * memory) waits before its message is tried again: briefly, since the
 * shortage is ours and passes as other work finishes. */
#define LOCAL_RETRY_SECONDS 5

struct scheduler {
	struct event_base *base;
	struct spool *sp;
	const struct config *cfg;
	struct event *tick;
	struct event *kick;  /* runs what is due soon, outside any callback */
	struct agent *local;
	struct agent *remote;
	struct timetable *tt;
	unsigned running;   /* jobs whose outcomes are not all durable yet */
	unsigned flushes;   /* petrel flush requests so far */
	bool stopping;
	struct log_repeat local_short;
};

/* Only the recipient's durable mark and the time of this outcome count:
 * neither where the retry grid puts the attempts nor how long one took can
 * step over warn-after, and a flush or a restart cannot warn twice. */
bool scheduler_warn_due(const struct spool_rcpt *rc, int64_t arrival, unsigned warn_after,
			int64_t now)
{
	return !rc->warned && now - arrival >= (int64_t)warn_after;
}

static void job_done(void *owner, struct job *j);
static void run_due(struct scheduler *sch);

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct scheduler *sch = arg;
	log_repeat_tick(&sch->local_short, time(NULL));
	run_due(sch);
}

/* Runs run_due from the loop soon: callers may be deep in a spool or
 * destination callback that must not see new jobs start under it. */
static void kick(struct scheduler *sch)
{
	if (!sch->stopping)
		event_active(sch->kick, EV_TIMEOUT, 0);
}

struct scheduler *scheduler_new(struct event_base *base, struct spool *sp,
				const struct config *cfg)
{
	struct scheduler *sch = xcalloc(1, sizeof *sch);
	sch->base = base;
	sch->sp = sp;
	sch->cfg = config_ref(cfg);
	sch->local = local_agent_new(base, cfg, job_done, sch);
	sch->remote = remote_agent_new(base, cfg, job_done, sch);
	if (!sch->local || !sch->remote) {
		agent_stop(sch->local);
		agent_stop(sch->remote);
		config_free(sch->cfg);
		free(sch);
		return NULL;
	}
	sch->tt = tt_new();
	sch->tick = event_new(base, -1, EV_PERSIST, on_tick, sch);
	sch->kick = evtimer_new(base, on_tick, sch);
	struct timeval one = {1, 0};
	event_add(sch->tick, &one);
	return sch;
}

void scheduler_stop(struct scheduler *sch)
{
	sch->stopping = true;
	event_del(sch->tick);
	event_del(sch->kick);
	/* Local deliveries that happened get recorded; remote ones in flight are
	 * dropped unrecorded: their recipients stay pending and are tried again. */
	agent_stop(sch->local);
	sch->local = NULL;
	agent_stop(sch->remote);
	sch->remote = NULL;
}

void scheduler_free(struct scheduler *sch)
{
	if (!sch)
		return;
	if (!sch->stopping)
		scheduler_stop(sch);
	event_free(sch->tick);
	event_free(sch->kick);
	tt_free(sch->tt);
	config_free(sch->cfg);
	free(sch);
}

void scheduler_set_config(struct scheduler *sch, const struct config *cfg)
{
	config_replace(&sch->cfg, cfg);
	agent_set_config(sch->local, cfg);
	agent_set_config(sch->remote, cfg);
	kick(sch); /* max-jobs may have grown */
}

bool scheduler_idle(const struct scheduler *sch)
{
	return sch->running == 0;
}

/* Puts e back in the timetable for its next due recipient, or forgets it
 * when its message has nothing left to do (gone, deleted, no recipient
 * pending). A held message stays out until released. */
static void reschedule(struct scheduler *sch, struct tt_entry *e)
{
	if (e->inflight)
		return;
	const struct spool_msg *m = e->deleted ? NULL : spool_find(sch->sp, e->id);
	int64_t due = INT64_MAX;
	for (size_t i = 0; m && i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING && m->rcpt[i].next_try < due)
			due = m->rcpt[i].next_try;
	if (due == INT64_MAX) {
		tt_remove(sch->tt, e);
		return;
	}
	if (e->held)
		return;
	if (e->due_all)
		due = 0;
	tt_schedule(sch->tt, e, due > e->not_before ? due : e->not_before);
}

static void finish_job(struct scheduler *sch, struct job *j)
{
	/* Last record durable: the message may be picked again (or leaves the
	 * index right after this callback when every recipient is final). A
	 * flush asked for while the job ran or its outcomes were being recorded
	 * still means "due now" for what it left pending: the postmaster may
	 * have fixed what made it fail. */
	struct tt_entry *e = tt_get(sch->tt, j->id);
	if (e) {
		if (j->flushes != sch->flushes)
			e->due_all = true;
		e->inflight--;
		reschedule(sch, e);
	}
	sch->running--;
	job_free(j);
	kick(sch);
}

/* A spool write that failed (ENOSPC, EIO) leaves the recipient as it was,
 * due: held back briefly, so a full disk is not met by a delivery loop, and
 * logged once for however many outcomes it costs. */
static void outcome_recorded(void *arg, int err)
{
	struct job *j = arg;
	struct scheduler *sch = j->owner;
	if (err) {
		struct tt_entry *e = tt_get(sch->tt, j->id);
		if (e)
			e->not_before = time(NULL) + LOCAL_RETRY_SECONDS;
		log_repeated(&sch->local_short, LOG_LVL_ERROR,
			     "could not record delivery outcomes: %s; retrying in %d s", strerror(err),
			     LOCAL_RETRY_SECONDS);
	}
	if (--j->updates_pending == 0)
		finish_job(j->owner, j);
}

/* One line per recipient and attempt, Postfix-style, greppable by queue ID. */
static void log_outcome(const struct job *j, const struct spool_msg *m, const struct job_rcpt *r,
			const char *status)
{
	const struct spool_rcpt *rc = &m->rcpt[r->rcpt];
	char text[sizeof r->text];
	log_safe(text, sizeof text, r->text, strlen(r->text));
	log_info("%s: to=<%s>, orig_to=<%s>, relay=%s, delay=%lld, status=%s (%s)", j->id,
		 rc->to.addr, rc->to.orig, j->relay, (long long)(time(NULL) - m->arrival), status, text);
	metrics_delivery(j->local, status, time(NULL) - m->arrival);
}

/* Decides one recipient's new state; adds it to the failed/delayed reports. */
static enum rcpt_state decide(struct scheduler *sch, struct job *j, const struct spool_msg *m,
			      struct job_rcpt *r, int64_t now, int64_t *next,
			      struct report_rcpt *rep, bool *warn)
{
	const struct config *cfg = sch->cfg;
	const struct spool_rcpt *rc = &m->rcpt[r->rcpt];
	*rep = (struct report_rcpt){
		.to = &rc->to, .action = REPORT_FAILED, .status = r->status,
		.remote_mta = j->local || !r->remote ? NULL : j->relay, .diagnostic = r->text,
		.last_attempt = (time_t)now,
	};
	*warn = false;
	if (r->res == JOB_OK) {
		log_outcome(j, m, r, "sent");
		return RCPT_DELIVERED;
	}
	if (r->res == JOB_PERM) {
		log_outcome(j, m, r, "bounced");
		return RCPT_BOUNCED;
	}
	int64_t age = now - m->arrival;
	if (age >= cfg->bounce_after) {
		/* The seeds' "return the mail after days": give up. */
		snprintf(r->status, sizeof r->status, "4.4.7");
		log_outcome(j, m, r, "expired");
		return RCPT_BOUNCED;
	}
	*next = now + backoff_delay(cfg->retry_initial, cfg->retry_max, rc->attempts + 1);
	*warn = scheduler_warn_due(rc, m->arrival, cfg->warn_after, now);
	rep->action = REPORT_DELAYED;
	log_outcome(j, m, r, "deferred");
	return RCPT_PENDING;
}

/* The reports one job gives rise to, indexed by REPORT_FAILED, _DELAYED and
 * _DELIVERED (a success report, which also holds the relayed ones). */
struct reports {
	struct report_rcpt *r[3];
	size_t n[3];
};

/* Files rep under report kind if the recipient asked for that kind of
 * report (RFC 3461 4.1 NOTIFY; not given = FAILURE,DELAY). */
static void file_report(const struct job *j, const struct spool_rcpt *rc,
			const struct report_rcpt *rep, enum report_action kind, struct reports *out)
{
	static const unsigned want[] = {DSN_NOTIFY_FAILURE, DSN_NOTIFY_DELAY, DSN_NOTIFY_SUCCESS};
	static const char *const name[] = {"non-delivery", "delay", "success"};
	if (dsn_wants(rc->to.notify, want[kind])) {
		out->r[kind][out->n[kind]++] = *rep;
	} else if (kind != REPORT_DELIVERED) {
		char notify[DSN_NOTIFY_TEXT_MAX];
		dsn_notify_text(rc->to.notify, notify, sizeof notify);
		log_info("%s: to=<%s>, no %s notification (NOTIFY=%s)", j->id, rc->to.addr,
			 name[kind], notify);
	}
}

/* Which report, if any, the recipient's new state calls for. RFC 3461
 * 6.2.1: a success is "delivered" into a mailbox here, "relayed" to a peer
 * that does not report successes itself (one that took NOTIFY does). */
static void file_outcome(const struct job *j, const struct job_rcpt *r,
			 const struct spool_rcpt *rc, enum rcpt_state st, bool warn,
			 struct report_rcpt *rep, struct reports *out)
{
	if (st == RCPT_BOUNCED) {
		file_report(j, rc, rep, REPORT_FAILED, out);
	} else if (warn) {
		file_report(j, rc, rep, REPORT_DELAYED, out);
	} else if (st == RCPT_DELIVERED && (j->local || !r->peer_dsn)) {
		rep->action = j->local ? REPORT_DELIVERED : REPORT_RELAYED;
		file_report(j, rc, rep, REPORT_DELIVERED, out);
	}
}

/* One recipient's new state, decided before anything is recorded. */
struct outcome {
	bool skip;       /* nothing to record: no longer pending, or not attempted */
	enum rcpt_state st;
	int64_t next;
	bool warned;
};

/* A local shortage stopped the job before it reached anyone: nothing is
 * recorded (no attempt was made), the message is tried again shortly, and
 * the shortage is logged once for however many jobs it stops. */
static void local_shortage(struct scheduler *sch, struct job *j, const struct job_rcpt *r)
{
	struct tt_entry *e = tt_get(sch->tt, j->id);
	if (e)
		e->not_before = time(NULL) + LOCAL_RETRY_SECONDS;
	log_repeated(&sch->local_short, LOG_LVL_WARN,
		     "delivery held back for %d s: short of a local resource (%s)",
		     LOCAL_RETRY_SECONDS, r->text);
}

/* Whether job j's outcomes are to be recorded: not when the message was
 * deleted or finished meanwhile (then the job was the last to know). */
static const struct spool_msg *still_wanted(struct scheduler *sch, const struct job *j)
{
	const struct tt_entry *e = tt_get(sch->tt, j->id);
	const struct spool_msg *m = e && !e->deleted ? spool_find(sch->sp, j->id) : NULL;
	if (!m)
		log_info("%s: delivery outcome discarded: the message was removed meanwhile", j->id);
	return m;
}

/* Decides and files every recipient's outcome; returns the array of them. */
static struct outcome *decide_all(struct scheduler *sch, struct job *j, const struct spool_msg *m,
				  struct reports *reps)
{
	int64_t now = time(NULL);
	struct outcome *out = xcalloc(j->n, sizeof *out);
	for (size_t i = 0; i < j->n; i++) {
		struct job_rcpt *r = &j->r[i];
		const struct spool_rcpt *rc = &m->rcpt[r->rcpt];
		out[i].skip = rc->state != RCPT_PENDING || r->res == JOB_LOCAL;
		if (r->res == JOB_LOCAL)
			local_shortage(sch, j, r);
		if (out[i].skip)
			continue;
		struct report_rcpt rep;
		bool warn;
		out[i].st = decide(sch, j, m, r, now, &out[i].next, &rep, &warn);
		out[i].warned = rc->warned || warn;
		file_outcome(j, r, rc, out[i].st, warn, &rep, reps);
	}
	return out;
}

static void job_done(void *owner, struct job *j)
{
	struct scheduler *sch = owner;
	const struct spool_msg *m = sch->stopping && !j->local ? NULL : still_wanted(sch, j);
	if (!m) {
		finish_job(sch, j);
		return;
	}
	struct reports reps = {0};
	for (size_t k = 0; k < 3; k++)
		reps.r[k] = xcalloc(j->n, sizeof *reps.r[k]);
	struct outcome *out = decide_all(sch, j, m, &reps);
	/* Reports first: the spool writes in submission order, so an outcome
	 * that calls for a report (bounced, warned) never becomes durable in
	 * an earlier batch than the report itself. */
	for (size_t k = 0; k < 3; k++) {
		if (reps.n[k])
			bounce_send(sch->sp, sch->cfg, m, (enum report_action)k, reps.r[k],
				    reps.n[k], NULL, NULL);
		free(reps.r[k]);
	}
	j->updates_pending = 1; /* held until every update is issued */
	struct spool_msg *msg = spool_find(sch->sp, j->id);
	for (size_t i = 0; i < j->n; i++) {
		const struct job_rcpt *r = &j->r[i];
		if (out[i].skip)
			continue;
		j->updates_pending++;
		spool_update_rcpt(sch->sp, msg, r->rcpt, out[i].st, msg->rcpt[r->rcpt].attempts + 1,
				  out[i].next, out[i].st == RCPT_DELIVERED ? NULL : r->text,
				  out[i].warned, outcome_recorded, j);
	}
	free(out);
	if (--j->updates_pending == 0)
		finish_job(sch, j);
}

/* A job for msg, counted as under way for its entry; NULL (logged once per
 * shortage, the message held back briefly) when its body cannot be opened. */
static struct job *new_job(struct scheduler *sch, struct tt_entry *e, const struct spool_msg *msg)
{
	struct job *j = job_new(sch->sp, msg);
	if (!j) {
		e->not_before = time(NULL) + LOCAL_RETRY_SECONDS;
		log_repeated(&sch->local_short, LOG_LVL_ERROR, "cannot open a queued message: %s",
			     strerror(errno));
		return NULL;
	}
	j->owner = sch;
	j->flushes = sch->flushes;
	e->inflight++;
	sch->running++;
	return j;
}

/* Whether recipient i is to be tried now (all: flushed or released). */
static bool rcpt_due(const struct spool_msg *m, size_t i, bool all, int64_t now)
{
	return m->rcpt[i].state == RCPT_PENDING && (all || m->rcpt[i].next_try <= now);
}

/* The domain of recipient i when it is remote and due, else NULL. */
static const char *remote_due(struct scheduler *sch, const struct spool_msg *m, size_t i,
			      bool all, int64_t now)
{
	const char *dom = strrchr(m->rcpt[i].to.addr, '@');
	if (!dom || !rcpt_due(m, i, all, now) || config_is_local_domain(sch->cfg, dom + 1))
		return NULL;
	return dom;
}

/* The remote recipients due now, one job per domain. */
static void start_remote(struct scheduler *sch, struct tt_entry *e, const struct spool_msg *m,
			 bool all, int64_t now)
{
	for (size_t i = 0; i < m->nrcpt; i++) {
		const char *dom = remote_due(sch, m, i, all, now);
		if (!dom)
			continue;
		/* Only the first recipient of each domain opens a job. */
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++) {
			const char *od = remote_due(sch, m, k, all, now);
			seen = od && strcasecmp(od, dom) == 0;
		}
		if (seen)
			continue;
		struct job *j = new_job(sch, e, m);
		if (!j)
			return;
		for (size_t k = i; k < m->nrcpt; k++) {
			const char *od = remote_due(sch, m, k, all, now);
			if (od && strcasecmp(od, dom) == 0)
				job_add(j, m, k, NULL);
		}
		agent_submit(sch->remote, j);
	}
}

/* Hands what is due of e's message to the agents; e is unscheduled. */
static void try_start(struct scheduler *sch, struct tt_entry *e, int64_t now)
{
	const struct spool_msg *m = spool_find(sch->sp, e->id);
	unsigned out = e->inflight;
	if (m && !e->held && !e->deleted && now >= e->not_before) {
		bool all = e->due_all;
		e->due_all = false;
		struct job *local = NULL;
		for (size_t i = 0; i < m->nrcpt; i++) {
			if (!rcpt_due(m, i, all, now))
				continue;
			char *user = local_mailbox_of(sch->cfg, m->rcpt[i].to.addr);
			if (user && !local)
				local = new_job(sch, e, m);
			if (user && local)
				job_add(local, m, i, user);
			free(user);
		}
		if (local)
			agent_submit(sch->local, local);
		start_remote(sch, e, m, all, now);
	}
	/* Due yet nothing to start (a recipient no agent takes): not again
	 * this second, so run_due cannot spin on it. */
	if (e->inflight == out && e->not_before <= now)
		e->not_before = now + 1;
	reschedule(sch, e);
}

/* Starts what is due, oldest due first, while jobs are below max-jobs:
 * what is beyond waits in the timetable, and a tick costs what it starts. */
static void run_due(struct scheduler *sch)
{
	int64_t now = time(NULL);
	struct tt_entry *e;
	while (!sch->stopping && sch->running < sch->cfg->max_jobs &&
	       (e = tt_pop_due(sch->tt, now)))
		try_start(sch, e, now);
}

/* A message the timetable does not know yet: rebuilt from the spool. */
static void learn(struct scheduler *sch, const struct spool_msg *m)
{
	if (tt_get(sch->tt, m->id))
		return;
	struct tt_entry *e = tt_add(sch->tt, m->id);
	e->held = m->held;
	reschedule(sch, e);
}

void scheduler_on_durable(void *arg, const char *queue_id)
{
	struct scheduler *sch = arg;
	const struct spool_msg *m = spool_find(sch->sp, queue_id);
	if (m && !sch->stopping) {
		learn(sch, m);
		run_due(sch);
	}
}

void scheduler_start(struct scheduler *sch)
{
	for (struct spool_msg *m = spool_first(sch->sp); m; m = spool_next(sch->sp, m))
		learn(sch, m);
	run_due(sch);
}

void scheduler_flush(struct scheduler *sch)
{
	sch->flushes++;
	tt_flush(sch->tt);
	agent_flush(sch->local);
	agent_flush(sch->remote);
	run_due(sch);
}

static void admin_recorded(void *arg, int err)
{
	if (err)
		log_error("%s: could not record an administrative change: %s", (char *)arg,
			  strerror(err));
	free(arg);
}

int scheduler_delete(struct scheduler *sch, const char *id)
{
	struct spool_msg *m = spool_find(sch->sp, id);
	if (!m)
		return ENOENT;
	log_info("%s: removed by the administrator", id);
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == RCPT_PENDING)
			spool_update_rcpt(sch->sp, m, i, RCPT_DELETED, m->rcpt[i].attempts, 0,
					  "deleted by the administrator", m->rcpt[i].warned,
					  admin_recorded,
					  xstrdup(id));
	/* Outcomes of jobs under way are discarded when they come back
	 * (job_done); jobs still waiting for a connection never start. */
	struct tt_entry *e = tt_get(sch->tt, id);
	if (!e)
		return 0;
	e->deleted = true;
	if (e->inflight) {
		/* Jobs not started come back at once; the last one back forgets e. */
		agent_cancel(sch->local, id);
		agent_cancel(sch->remote, id);
	} else
		tt_remove(sch->tt, e);
	return 0;
}

int64_t scheduler_next_try(void *arg, const struct spool_msg *m, size_t i)
{
	const struct scheduler *sch = arg;
	const struct tt_entry *e = tt_get(sch->tt, m->id);
	int64_t t = m->rcpt[i].next_try;
	if (!e)
		return t;
	if (e->due_all)
		t = 0;
	return t > e->not_before ? t : e->not_before;
}

int scheduler_hold(struct scheduler *sch, const char *id, bool hold)
{
	struct spool_msg *m = spool_find(sch->sp, id);
	if (!m)
		return ENOENT;
	log_info("%s: %s by the administrator", id, hold ? "held" : "released");
	spool_set_held(sch->sp, m, hold, admin_recorded, xstrdup(id));
	struct tt_entry *e = tt_get(sch->tt, id);
	if (!e)
		e = tt_add(sch->tt, id);
	e->held = hold;
	if (hold) {
		tt_unschedule(sch->tt, e);
		return 0;
	}
	e->due_all = true;
	e->not_before = 0;
	reschedule(sch, e);
	kick(sch);
	return 0;
}
