/* remote - the remote delivery agent: destinations, their queues and
 * connections; see remote.h. */
#include "deliver/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deliver/smtp_conn.h"
#include "util/backoff.h"
#include "util/log.h"

#define MX_CACHE_SECONDS 60
/* How long a connection with no work stays open for the next message (as
 * Postfix's smtp_connection_cache_time_limit): mail arriving one message at
 * a time then costs no connect, greeting, EHLO and QUIT each, here or at
 * the peer. Short, so a peer's session slots are not held for long. */
#define IDLE_KEEP_SECONDS 2
/* After a connect failed for want of a local resource, no new connection
 * is opened for this long; those open go on working through the queues. */
#define SHORTAGE_PAUSE_SECONDS 1
/* A destination with nothing queued, no connection and no backoff in force
 * is forgotten after this long unused (its cached route with it), so the
 * table holds the destinations in use, not every domain ever mailed. */
#define DEST_EXPIRE_SECONDS 300
#define DEST_TAB_MIN 256

struct dest {
	struct dests *ds;
	char *domain;            /* recipient domain; "" for the relay host */
	struct job *head, *tail;
	size_t queued;
	unsigned active;         /* connections open or opening */
	bool resolving;
	bool have_mx;
	struct mx_list mx;
	int64_t mx_until;
	int64_t dead_until;      /* unreachable: defer without trying until then */
	unsigned failures;
	int64_t last_used;
	char reason[1024];
	struct dest *hnext;      /* hash chain */
};

struct dconn {
	struct dest *d;
	struct smtp_conn *sc;
	struct job *job;
	struct outbound_txn ot;
	/* the current transaction's recipients: the job's, borrowed */
	struct rcpt *rcpts;
	bool was_ready;
	bool idle;               /* ready, no job; closed when idle_timer fires */
	struct event *idle_timer;
	struct dconn *next;
};

struct dests {
	struct agent a;
	struct event_base *base;
	const struct config *cfg;
	struct dns_resolver *dns;
	SSL_CTX *tls;
	agent_done_fn done;
	void *owner;
	struct dest **tab;       /* hashed by domain, case-insensitively */
	size_t tabsz, ndests;
	struct event *expire;    /* forgets destinations long unused */
	struct dconn *conns;
	unsigned active;
	int64_t short_until;     /* a local shortage: open no connection before */
	struct strlist self;     /* our names, for backup-MX pruning */
};

static void pump(struct dest *d);

static size_t hash_domain(const char *domain, size_t tabsz)
{
	uint64_t h = 1469598103934665603u;
	for (const char *p = domain; *p; p++) {
		unsigned char c = (unsigned char)*p;
		h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32u : c)) * 1099511628211u;
	}
	return (size_t)(h & (tabsz - 1));
}

static void grow_tab(struct dests *ds)
{
	size_t nsz = ds->tabsz * 2;
	struct dest **nt = xcalloc(nsz, sizeof *nt);
	for (size_t i = 0; i < ds->tabsz; i++) {
		while (ds->tab[i]) {
			struct dest *d = ds->tab[i];
			ds->tab[i] = d->hnext;
			size_t h = hash_domain(d->domain, nsz);
			d->hnext = nt[h];
			nt[h] = d;
		}
	}
	free(ds->tab);
	ds->tab = nt;
	ds->tabsz = nsz;
}

static struct dest *find_dest(struct dests *ds, const char *domain)
{
	struct dest *d = ds->tab[hash_domain(domain, ds->tabsz)];
	while (d && strcasecmp(d->domain, domain) != 0)
		d = d->hnext;
	if (d)
		return d;
	if (ds->ndests + 1 > ds->tabsz)
		grow_tab(ds);
	d = xcalloc(1, sizeof *d);
	d->ds = ds;
	d->domain = xstrdup(domain);
	size_t h = hash_domain(domain, ds->tabsz);
	d->hnext = ds->tab[h];
	ds->tab[h] = d;
	ds->ndests++;
	return d;
}

static void dest_free(struct dest *d)
{
	mx_list_free(&d->mx);
	free(d->domain);
	free(d);
}

/* Unused for a while and holding nothing: no job, no connection, no lookup
 * under way (whose callback has d), no backoff to remember. */
static bool expired(const struct dest *d, int64_t now)
{
	return !d->queued && !d->active && !d->resolving && d->dead_until <= now &&
	       d->last_used + DEST_EXPIRE_SECONDS <= now;
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dests *ds = arg;
	int64_t now = time(NULL);
	for (size_t i = 0; i < ds->tabsz; i++) {
		struct dest **pp = &ds->tab[i];
		while (*pp) {
			struct dest *d = *pp;
			if (!expired(d, now)) {
				pp = &d->hnext;
				continue;
			}
			*pp = d->hnext;
			ds->ndests--;
			dest_free(d);
		}
	}
}

static struct job *pop(struct dest *d)
{
	struct job *j = d->head;
	if (j) {
		d->head = j->next;
		if (!d->head)
			d->tail = NULL;
		j->next = NULL;
		d->queued--;
	}
	return j;
}

/* Every queued job gets the same outcome (unreachable, no such domain...). */
static void settle_all(struct dest *d, enum job_result res, const char *status)
{
	struct job *j;
	while ((j = pop(d))) {
		snprintf(j->relay, sizeof j->relay, "%s", d->domain[0] ? d->domain : "relay-host");
		job_set_all(j, res, status, d->reason);
		d->ds->done(d->ds->owner, j);
	}
}

static void mark_dead(struct dest *d, const char *reason)
{
	const struct config *cfg = d->ds->cfg;
	d->failures++;
	d->dead_until = time(NULL) + backoff_delay(cfg->retry_initial, cfg->retry_max,
						       d->failures);
	snprintf(d->reason, sizeof d->reason, "%s", reason);
	log_info("destination %s: unreachable (%s); deferring its mail for %lld s",
		 d->domain[0] ? d->domain : "the relay host", reason,
		 (long long)(d->dead_until - time(NULL)));
	settle_all(d, JOB_TEMP, "4.4.1");
}

/* Our own shortage (descriptors, buffers, memory) says nothing about the
 * destination: no new connection for a moment, and unless connections of
 * its own are still open to work through the queue (open), what is queued
 * goes back to the scheduler unattempted, to be tried again shortly. */
static void held_back(struct dest *d, const char *reason, unsigned open)
{
	d->ds->short_until = time(NULL) + SHORTAGE_PAUSE_SECONDS;
	snprintf(d->reason, sizeof d->reason, "%s", reason);
	if (!open)
		settle_all(d, JOB_LOCAL, "4.3.0");
}

static void on_resolved(void *arg, enum dns_status st, const struct mx_list *mx,
			const char *reason)
{
	struct dest *d = arg;
	d->resolving = false;
	switch (st) {
	case DNS_OK:
		mx_list_free(&d->mx);
		mx_list_copy(&d->mx, mx);
		/* RFC 5321 5.1: as a backup MX, only better exchangers may have it. */
		if (d->domain[0] && mx_prune_self(&d->mx, &d->ds->self) && d->mx.n == 0) {
			snprintf(d->reason, sizeof d->reason,
				 "mail for %s loops back to myself (we are its best MX)", d->domain);
			settle_all(d, JOB_PERM, "5.4.6");
			return;
		}
		d->have_mx = true;
		d->mx_until = time(NULL) + MX_CACHE_SECONDS;
		pump(d);
		return;
	case DNS_NULL_MX:
		snprintf(d->reason, sizeof d->reason,
			 "domain %s does not accept mail (null MX, RFC 7505)", d->domain);
		settle_all(d, JOB_PERM, "5.1.10");
		return;
	case DNS_NOT_FOUND:
		snprintf(d->reason, sizeof d->reason, "%s", reason);
		/* A relay host or route that does not resolve is our own
		 * misconfiguration: keep the mail. */
		settle_all(d, d->domain[0] && !config_find_route(d->ds->cfg, d->domain) &&
				       !d->ds->cfg->relay_host ? JOB_PERM : JOB_TEMP, "5.1.2");
		return;
	case DNS_TEMPFAIL:
		mark_dead(d, reason);
		return;
	case DNS_LOCAL:
		held_back(d, reason, 0);
		return;
	}
}

/* The relay host or static route for d's mail; NULL: route by MX. */
static const char *dest_hostport(const struct dest *d)
{
	const struct config *cfg = d->ds->cfg;
	if (!d->domain[0])
		return cfg->relay_host;
	const struct route *rt = config_find_route(cfg, d->domain);
	return rt ? rt->hostport : NULL;
}

/* Where the destination's mail goes: relay host, static route, or MX. */
static void resolve(struct dest *d)
{
	const char *hostport = dest_hostport(d);
	if (!d->domain[0] && !hostport) {
		/* A reload took the relay host away: each message is routed
		 * afresh, by its own domain, on its next try. */
		snprintf(d->reason, sizeof d->reason, "the relay host is no longer configured");
		settle_all(d, JOB_TEMP, "4.3.5");
		return;
	}
	d->resolving = true;
	if (!hostport) {
		dns_resolve_mx(d->ds->dns, d->domain, on_resolved, d);
		return;
	}
	char host[300];
	const char *colon = strrchr(hostport, ':');
	snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
	dns_resolve_host(d->ds->dns, host, on_resolved, d);
}

static unsigned dest_port(const struct dest *d)
{
	const char *hostport = dest_hostport(d);
	return hostport ? (unsigned)atoi(strrchr(hostport, ':') + 1) : d->ds->cfg->smtp_port;
}

static void txn_arrays_free(struct dconn *dc)
{
	free(dc->rcpts);
	free(dc->ot.txn.result);
	dc->rcpts = NULL;
	dc->ot.txn.result = NULL;
}

static void conn_free(struct dconn *dc)
{
	event_free(dc->idle_timer);
	txn_arrays_free(dc);
	free(dc);
}

/* Forgets a connection that is gone or being closed. */
static void conn_unlink(struct dconn *dc)
{
	struct dests *ds = dc->d->ds;
	struct dconn **pp = &ds->conns;
	while (*pp != dc)
		pp = &(*pp)->next;
	*pp = dc->next;
	dc->d->active--;
	ds->active--;
	conn_free(dc);
}

static void conn_gone(struct dconn *dc)
{
	struct dests *ds = dc->d->ds;
	conn_unlink(dc);
	/* A freed slot may let another destination go. */
	for (size_t i = 0; i < ds->tabsz; i++)
		for (struct dest *d = ds->tab[i]; d; d = d->hnext)
			if (d->queued)
				pump(d);
}

static void start_txn(struct dconn *dc, struct job *j)
{
	dc->job = j;
	dc->rcpts = xcalloc(j->n, sizeof *dc->rcpts);
	for (size_t i = 0; i < j->n; i++)
		dc->rcpts[i] = j->r[i].to;
	dc->ot = (struct outbound_txn){
		.txn = {.sender = j->sender, .nrcpt = j->n, .rcpt = dc->rcpts, .size = j->body.len,
			.body_8bit = (j->flags & SPOOL_MSG_8BITMIME) != 0,
			.result = xcalloc(j->n, sizeof(struct client_reply)),
			.smtputf8 = (j->flags & SPOOL_MSG_SMTPUTF8) != 0,
			.envid = j->envid, .ret = j->ret},
		.body_fd = j->body.fd, .body_off = j->body.off, .body_len = j->body.len,
	};
	smtp_conn_send(dc->sc, &dc->ot);
}

static void finish_txn(struct dconn *dc)
{
	struct job *j = dc->job;
	snprintf(j->relay, sizeof j->relay, "%s", smtp_conn_peer(dc->sc));
	for (size_t i = 0; i < j->n; i++) {
		const struct client_reply *r = &dc->ot.txn.result[i];
		job_set_reply(&j->r[i], r->code,
			      r->code || r->text[0] ? r->text : smtp_conn_reason(dc->sc), !r->ours);
		/* RFC 3461 6.2.1: a DSN-capable next hop reports from now on. */
		j->r[i].peer_dsn = dc->ot.txn.peer_dsn && r->code / 100 == 2;
	}
	txn_arrays_free(dc);
	dc->job = NULL;
	dc->d->failures = 0;
	dc->d->ds->done(dc->d->ds->owner, j);
}

/* Starts the destination's next job on a ready connection, if there is one. */
static bool give_job(struct dconn *dc)
{
	struct dest *d = dc->d;
	struct job *j = d->dead_until > time(NULL) ? NULL : pop(d);
	if (!j)
		return false;
	if (dc->idle)
		evtimer_del(dc->idle_timer);
	dc->idle = false;
	start_txn(dc, j);
	return true;
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dconn *dc = arg;
	smtp_conn_close(dc->sc);
	conn_gone(dc);
}

/* Closes another destination's idle connection to free an outbound slot. */
static bool close_idle_elsewhere(struct dests *ds, const struct dest *d)
{
	for (struct dconn *dc = ds->conns; dc; dc = dc->next) {
		if (dc->idle && dc->d != d) {
			smtp_conn_close(dc->sc);
			conn_unlink(dc);
			return true;
		}
	}
	return false;
}

static void on_conn(struct smtp_conn *sc, enum smtp_conn_event ev, void *arg)
{
	struct dconn *dc = arg;
	struct dest *d = dc->d;
	switch (ev) {
	case SMTP_CONN_READY:
		dc->was_ready = true;
		if (give_job(dc))
			break;
		if (d->dead_until > time(NULL)) {
			smtp_conn_close(sc);
			conn_gone(dc);
			break;
		}
		dc->idle = true;
		const struct timeval keep = {IDLE_KEEP_SECONDS, 0};
		evtimer_add(dc->idle_timer, &keep);
		break;
	case SMTP_CONN_TXN_DONE:
		finish_txn(dc);
		break;
	case SMTP_CONN_FAILED:
		if (smtp_conn_local_failure(sc))
			held_back(d, smtp_conn_reason(sc), d->active - 1);
		else if (!dc->was_ready)
			mark_dead(d, smtp_conn_reason(sc));
		conn_gone(dc);
		break;
	}
}

static void open_conn(struct dest *d)
{
	struct dests *ds = d->ds;
	const struct config *cfg = ds->cfg;
	struct dconn *dc = xcalloc(1, sizeof *dc);
	dc->d = d;
	dc->idle_timer = evtimer_new(ds->base, on_idle_timeout, dc);
	dc->next = ds->conns;
	ds->conns = dc;
	d->active++;
	ds->active++;
	bool relay = !d->domain[0];
	struct smtp_conn_opts o = {
		.base = ds->base, .cfg = cfg, .tls = ds->tls, .port = dest_port(d),
		.auth_user = relay ? cfg->relay_auth_user : NULL,
		.auth_pass = relay ? cfg->relay_auth_pass : NULL,
	};
	dc->sc = smtp_conn_new(&o, &d->mx, on_conn, dc);
}

static void pump(struct dest *d)
{
	const struct config *cfg = d->ds->cfg;
	int64_t now = time(NULL);
	if (!d->queued)
		return;
	if (d->dead_until > now) {
		settle_all(d, JOB_TEMP, "4.4.1");
		return;
	}
	if (d->resolving)
		return;
	if (!d->have_mx || d->mx_until < now) {
		d->have_mx = false;
		resolve(d);
		return;
	}
	struct dests *ds = d->ds;
	for (struct dconn *dc = ds->conns; dc && d->queued; dc = dc->next)
		if (dc->d == d && dc->idle)
			give_job(dc);
	size_t want = d->queued < cfg->dest_concurrency ? d->queued : cfg->dest_concurrency;
	while (d->active < want && now >= ds->short_until &&
	       (ds->active < cfg->max_outbound || close_idle_elsewhere(ds, d)))
		open_conn(d);
}

/* Queues j for its recipients' domain (all of j's recipients share it). */
static void remote_submit(struct agent *a, struct job *j)
{
	struct dests *ds = (struct dests *)a;
	const char *at = strrchr(j->r[0].to.addr, '@');
	struct dest *d = find_dest(ds, ds->cfg->relay_host || !at ? "" : at + 1);
	d->last_used = time(NULL);
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	d->queued++;
	pump(d);
}

/* Takes message id's jobs out of d's queue and hands them back. */
static void cancel_in(struct dest *d, const char *id)
{
	struct job **pp = &d->head, *prev = NULL;
	while (*pp) {
		struct job *j = *pp;
		if (strcmp(j->id, id) != 0) {
			prev = j;
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		if (d->tail == j)
			d->tail = prev;
		d->queued--;
		d->ds->done(d->ds->owner, j);
	}
}

static void remote_cancel(struct agent *a, const char *id)
{
	struct dests *ds = (struct dests *)a;
	for (size_t i = 0; i < ds->tabsz; i++)
		for (struct dest *d = ds->tab[i]; d; d = d->hnext)
			cancel_in(d, id);
}

/* Forgets every destination's backoff and cached route. */
static void remote_flush(struct agent *a)
{
	struct dests *ds = (struct dests *)a;
	for (size_t i = 0; i < ds->tabsz; i++) {
		for (struct dest *d = ds->tab[i]; d; d = d->hnext) {
			d->dead_until = 0;
			d->have_mx = false;
		}
	}
	ds->short_until = 0;
}

/* Closes every connection at once; jobs are freed unreported (their
 * recipients stay pending in the spool and are tried after a restart). */
static void remote_stop(struct agent *a)
{
	struct dests *ds = (struct dests *)a;
	/* First: a lookup it ends may still call back into the table. */
	dns_free(ds->dns);
	while (ds->conns) {
		struct dconn *dc = ds->conns;
		ds->conns = dc->next;
		smtp_conn_destroy(dc->sc);
		if (dc->job)
			job_free(dc->job);
		conn_free(dc);
	}
	for (size_t i = 0; i < ds->tabsz; i++) {
		while (ds->tab[i]) {
			struct dest *d = ds->tab[i];
			ds->tab[i] = d->hnext;
			struct job *j;
			while ((j = pop(d)))
				job_free(j);
			dest_free(d);
		}
	}
	free(ds->tab);
	event_free(ds->expire);
	strlist_free(&ds->self);
	SSL_CTX_free(ds->tls);
	config_free(ds->cfg);
	free(ds);
}

static void remote_set_config(struct agent *a, const struct config *cfg)
{
	struct dests *ds = (struct dests *)a;
	config_replace(&ds->cfg, cfg);
	strlist_free(&ds->self);
	strlist_add(&ds->self, cfg->hostname);
}

static const struct agent_ops remote_ops = {
	remote_submit, remote_set_config, remote_flush, remote_cancel, remote_stop,
};

struct agent *remote_agent_new(struct event_base *base, const struct config *cfg,
			       agent_done_fn done, void *owner)
{
	struct dns_resolver *dns = dns_new(base, &cfg->dns_servers, 2000, 2);
	if (!dns)
		return NULL;
	struct dests *ds = xcalloc(1, sizeof *ds);
	ds->a.ops = &remote_ops;
	ds->base = base;
	ds->cfg = config_ref(cfg);
	ds->dns = dns;
	ds->done = done;
	ds->owner = owner;
	ds->tls = smtp_conn_tls_context();
	ds->tabsz = DEST_TAB_MIN;
	ds->tab = xcalloc(ds->tabsz, sizeof *ds->tab);
	ds->expire = event_new(base, -1, EV_PERSIST, on_expire, ds);
	const struct timeval minute = {60, 0};
	event_add(ds->expire, &minute);
	strlist_add(&ds->self, cfg->hostname);
	return &ds->a;
}
