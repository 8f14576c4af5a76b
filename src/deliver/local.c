/* local - the local delivery agent; see local.h. */
#include "deliver/local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/lmtp.h"
#include "deliver/maildir.h"
#include "smtp/headers.h"
#include "util/buf.h"
#include "util/workq.h"

struct local_agent {
	struct agent a;
	const struct config *cfg;
	struct workq *wq;
	struct event *wq_ev;
	agent_done_fn done;
	void *owner;
};

/* One job in a worker: the config it began under, maybe retired since. */
struct local_ctx {
	struct local_agent *la;
	const struct config *cfg;
	struct job *job;
};

char *local_mailbox_of(const struct config *cfg, const char *addr)
{
	const char *at = strrchr(addr, '@');
	if (!at || !config_is_local_domain(cfg, at + 1))
		return NULL;
	char *user = xstrndup(addr, (size_t)(at - addr));
	for (char *p = user; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return user;
}

static ssize_t read_body(void *ctx, void *dst, size_t len, uint64_t off)
{
	return job_read_body(ctx, dst, len, off);
}

/* Recipients were checked at RCPT time; one that is no mailbox now came
 * another way (a bounce, or the config changed since): bounced. */
static bool known_mailbox(const struct config *cfg, struct job_rcpt *r)
{
	if (config_find_user(cfg, r->user))
		return true;
	r->res = JOB_PERM;
	snprintf(r->status, sizeof r->status, "5.1.1");
	snprintf(r->text, sizeof r->text, "no such mailbox: %s", r->user);
	return false;
}

/* A Delivered-To: value names addr, with or without angle brackets. */
static bool names_address(const char *value, size_t n, const char *addr)
{
	if (n >= 2 && value[0] == '<' && value[n - 1] == '>') {
		value++;
		n -= 2;
	}
	return n == strlen(addr) && strncasecmp(value, addr, n) == 0;
}

static void refuse_if_named(struct local_ctx *lc, const struct header_scan *h)
{
	for (size_t i = 0; i < lc->job->n && !h->value_long; i++) {
		struct job_rcpt *r = &lc->job->r[i];
		if (r->res == JOB_PERM || !names_address(h->value, h->value_len, r->to.addr))
			continue;
		r->res = JOB_PERM;
		snprintf(r->status, sizeof r->status, "5.4.6");
		snprintf(r->text, sizeof r->text, "mail forwarding loop for %s", r->to.addr);
	}
}

/*
 * A message that already carries "Delivered-To: <this recipient>" was
 * delivered to this mailbox before and has come back: a forward pointing
 * back here, a filter or a user resending it as it is. Delivering it again
 * would go round for ever, a hop at a time too few to reach max-hops, so it
 * is returned (5.4.6, as Postfix's local delivery does; RFC 5321 6.3). Only
 * the header section is read, a chunk at a time.
 */
static void refuse_loops(struct local_ctx *lc)
{
	struct header_scan h;
	header_scan_init(&h, "Delivered-To");
	char chunk[4096];
	uint64_t off = 0;
	ssize_t n;
	while (!h.ended && (n = read_body(lc->job, chunk, sizeof chunk, off)) > 0) {
		off += (uint64_t)n;
		for (size_t used = 0; used < (size_t)n;) {
			bool field;
			used += header_scan_feed(&h, chunk + used, (size_t)n - used, &field);
			if (field)
				refuse_if_named(lc, &h);
		}
	}
	if (header_scan_end(&h))
		refuse_if_named(lc, &h);
}

/* Not refused as a loop, and a mailbox we have. */
static bool deliverable(const struct config *cfg, struct job_rcpt *r)
{
	return r->res != JOB_PERM && known_mailbox(cfg, r);
}

static void deliver_maildir(struct local_ctx *lc, size_t i)
{
	struct job *j = lc->job;
	struct job_rcpt *r = &j->r[i];
	struct maildir_msg m = {
		.return_path = j->sender, .delivered_to = r->to.addr,
		.size = j->body.len, .read = read_body, .read_ctx = j,
	};
	enum maildir_result res = maildir_deliver(lc->cfg->maildir_root, r->user,
						  lc->cfg->hostname, &m, r->text, sizeof r->text);
	static const enum job_result as_job[] = {
		[MAILDIR_OK] = JOB_OK, [MAILDIR_TEMPFAIL] = JOB_TEMP,
		[MAILDIR_PERMFAIL] = JOB_PERM, [MAILDIR_SHORTAGE] = JOB_LOCAL,
	};
	r->res = as_job[res];
	memcpy(r->status, res == MAILDIR_OK ? "2.0.0" : res == MAILDIR_PERMFAIL ? "5.1.1" : "4.2.0",
	       6);
	if (res == MAILDIR_OK)
		strcpy(r->text, "delivered to maildir");
}

/* The LMTP server's reply for one recipient: 2xx sent, 5xx bounced, 4xx
 * deferred; none at all (connection trouble) deferred too. */
/*
 * Every known recipient in one LMTP transaction. The address given to the
 * server is the mailbox's canonical one, user@<first local domain>: aliases
 * are already expanded, so the server only ever sees its own users, and a
 * server keyed by plain user names (Dovecot with auth_username_format = %Ln)
 * and one keyed by full addresses both find them.
 */
static void deliver_lmtp(struct local_ctx *lc)
{
	struct job *j = lc->job;
	const struct config *cfg = lc->cfg;
	size_t *idx = xcalloc(j->n, sizeof *idx);
	struct rcpt_list to = RCPT_LIST_INIT;
	for (size_t i = 0; i < j->n; i++) {
		if (!deliverable(cfg, &j->r[i]))
			continue;
		struct buf a = BUF_INIT;
		buf_printf(&a, "%s@%s", j->r[i].user, cfg->local_domains.v[0]);
		idx[to.n] = i;
		rcpt_list_add(&to, a.p, NULL, 0, NULL);
		buf_free(&a);
	}
	snprintf(j->relay, sizeof j->relay, "lmtp:%s", cfg->lmtp_target);
	if (to.n) {
		struct client_txn txn = {
			.sender = j->sender, .nrcpt = to.n, .rcpt = to.v,
			.size = j->body.len, .body_8bit = j->flags & SPOOL_MSG_8BITMIME,
			.result = xcalloc(to.n, sizeof *txn.result),
			.smtputf8 = j->flags & SPOOL_MSG_SMTPUTF8,
		};
		struct lmtp_msg m = {
			.target = cfg->lmtp_target, .helo_name = cfg->hostname,
			.connect_timeout = cfg->connect_timeout, .io_timeout = cfg->smtp_timeout,
			.txn = &txn, .read = read_body, .read_ctx = j,
		};
		bool attempted = lmtp_deliver(&m);
		for (size_t k = 0; k < to.n; k++) {
			job_set_reply(&j->r[idx[k]], txn.result[k].code, txn.result[k].text,
				      !txn.result[k].ours);
			/* Our shortage, like a Maildir's: held back, not tried. */
			if (!attempted)
				j->r[idx[k]].res = JOB_LOCAL;
		}
		free(txn.result);
	}
	rcpt_list_free(&to);
	free(idx);
}

static void local_run(void *arg)
{
	struct local_ctx *lc = arg;
	refuse_loops(lc);
	if (lc->cfg->lmtp_target) {
		deliver_lmtp(lc);
		return;
	}
	for (size_t i = 0; i < lc->job->n; i++)
		if (deliverable(lc->cfg, &lc->job->r[i]))
			deliver_maildir(lc, i);
}

static void local_done(void *arg)
{
	struct local_ctx *lc = arg;
	struct local_agent *la = lc->la;
	struct job *j = lc->job;
	config_free(lc->cfg);
	free(lc);
	la->done(la->owner, j);
}

static void local_submit(struct agent *a, struct job *j)
{
	struct local_agent *la = (struct local_agent *)a;
	struct local_ctx *lc = xcalloc(1, sizeof *lc);
	lc->la = la;
	lc->cfg = config_ref(la->cfg);
	lc->job = j;
	j->local = true;
	snprintf(j->relay, sizeof j->relay, "local");
	workq_submit(la->wq, local_run, local_done, lc);
}

static void local_set_config(struct agent *a, const struct config *cfg)
{
	config_replace(&((struct local_agent *)a)->cfg, cfg);
}

/* No backoff, no queue of its own: the workers take jobs as they come. */
static void local_flush(struct agent *a)
{
	(void)a;
}

static void local_cancel(struct agent *a, const char *id)
{
	(void)a;
	(void)id;
}

/* Deliveries under way and queued finish and are handed back. */
static void local_stop(struct agent *a)
{
	struct local_agent *la = (struct local_agent *)a;
	workq_free(la->wq);
	event_free(la->wq_ev);
	config_free(la->cfg);
	free(la);
}

static const struct agent_ops local_ops = {
	local_submit, local_set_config, local_flush, local_cancel, local_stop,
};

static void on_workq(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct local_agent *la = arg;
	workq_dispatch(la->wq);
}

struct agent *local_agent_new(struct event_base *base, const struct config *cfg,
			      agent_done_fn done, void *owner)
{
	struct workq *wq = workq_new(cfg->delivery_workers);
	if (!wq)
		return NULL;
	struct local_agent *la = xcalloc(1, sizeof *la);
	la->a.ops = &local_ops;
	la->cfg = config_ref(cfg);
	la->wq = wq;
	la->done = done;
	la->owner = owner;
	la->wq_ev = event_new(base, workq_notify_fd(wq), EV_READ | EV_PERSIST, on_workq, la);
	event_add(la->wq_ev, NULL);
	return &la->a;
}
