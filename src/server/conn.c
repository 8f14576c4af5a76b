/*
 * conn - one client connection: bytes from the socket into the pure
 * session, its replies back out, its finished messages into the spool.
 * The connection's read side is paused while a message is being made
 * durable, so pipelined commands after DATA wait their turn (RFC 2920).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "schedule/scheduler.h"
#include "server/policy.h"
#include "server/server.h"
#include "smtp/received.h"
#include "util/log.h"

struct conn {
	struct server *srv;
	struct bufferevent *bev;
	struct session *sess;
	struct policy_ctx pol;
	struct sockaddr_storage peer;
	char peer_text[INET6_ADDRSTRLEN + 8];
	struct conn *prev, *next;
	bool waiting;  /* a message is being made durable */
	bool dead;     /* the socket went away while waiting */
	bool closing;  /* flushing the last replies */
	char qid[QUEUE_ID_LEN + 1];
};

static void pump(struct conn *c);

static void peer_to_text(const struct sockaddr *sa, char *out, size_t outsz)
{
	char a[INET6_ADDRSTRLEN] = "unknown";
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof a);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof a);
	/* RFC 5321 4.1.3: IPv6 address literals carry the "IPv6:" tag. */
	snprintf(out, outsz, "%s%s", sa->sa_family == AF_INET6 ? "IPv6:" : "", a);
}

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	log_info("disconnect from [%s]", c->peer_text);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	if (c->bev)
		bufferevent_free(c->bev);
	session_free(c->sess);
	free(c);
}

static void flush_output(struct conn *c)
{
	struct buf *out = session_output(c->sess);
	if (out->len)
		bufferevent_write(c->bev, out->p, out->len);
	buf_reset(out);
}

static void set_timeouts(struct conn *c)
{
	const struct config *cfg = c->srv->cfg;
	struct timeval rd = {session_in_data(c->sess) ? cfg->data_timeout : cfg->command_timeout, 0};
	struct timeval wr = {cfg->command_timeout, 0};
	bufferevent_set_timeouts(c->bev, &rd, &wr);
}

static void begin_close(struct conn *c)
{
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void committed(void *arg, int err)
{
	struct conn *c = arg;
	c->waiting = false;
	if (!err) {
		const struct envelope *env = session_envelope(c->sess);
		log_info("%s: client=[%s], helo=<%s>, from=<%s>, size=%zu, nrcpt=%zu, status=queued",
			 c->qid, c->peer_text, session_helo(c->sess), env->sender,
			 session_body(c->sess)->len, env->rcpt_addr.n);
		scheduler_enqueue(c->srv->sched, c->qid);
	} else {
		log_error("%s: client=[%s], not queued: %s", c->qid, c->peer_text, strerror(err));
	}
	if (c->dead) {
		conn_free(c);
		return;
	}
	session_message_done(c->sess, err ? NULL : c->qid, err);
	if (c->srv->stopping)
		session_shutdown(c->sess);
	bufferevent_enable(c->bev, EV_READ);
	pump(c);
}

static void submit(struct conn *c)
{
	const struct envelope *env = session_envelope(c->sess);
	const struct buf *body = session_body(c->sess);
	struct buf hdr = BUF_INIT;
	queue_id_next(c->qid);
	time_t now = time(NULL);
	struct received_info ri = {
		.helo = session_helo(c->sess), .client_addr = c->peer_text,
		.by = c->srv->cfg->hostname, .protocol = env->esmtp ? "ESMTP" : "SMTP",
		.queue_id = c->qid, .for_rcpt = env->rcpt_orig.n == 1 ? env->rcpt_orig.v[0] : NULL,
		.when = now,
	};
	received_header(&hdr, &ri);
	struct iovec iov[2] = {{hdr.p, hdr.len}, {body->p, body->len}};
	struct spool_new_msg m = {
		.id = c->qid, .arrival = now, .sender = env->sender,
		.helo = session_helo(c->sess), .client = c->peer_text,
		.flags = env->body_8bit ? SPOOL_MSG_8BITMIME : 0,
		.nrcpt = env->rcpt_addr.n,
		.rcpt_addr = (const char *const *)env->rcpt_addr.v,
		.rcpt_orig = (const char *const *)env->rcpt_orig.v,
		.body = iov, .nbody = body->len ? 2 : 1,
	};
	bufferevent_disable(c->bev, EV_READ);
	c->waiting = true;
	spool_submit(c->srv->spool, &m, committed, c);
	buf_free(&hdr);
}

/* Feeds everything buffered into the session until it raises an event. */
static void pump(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (session_event(c->sess) == SESSION_EV_NONE) {
		struct evbuffer_iovec v[8];
		int nv = evbuffer_peek(in, -1, NULL, v, 8);
		if (nv <= 0)
			break;
		size_t used = 0;
		for (int i = 0; i < nv && i < 8; i++) {
			size_t u = session_feed(c->sess, v[i].iov_base, v[i].iov_len);
			used += u;
			if (u < v[i].iov_len)
				break;
		}
		evbuffer_drain(in, used);
	}
	flush_output(c);
	switch (session_event(c->sess)) {
	case SESSION_EV_MESSAGE:
		if (!c->waiting)
			submit(c);
		break;
	case SESSION_EV_CLOSE:
		begin_close(c);
		break;
	case SESSION_EV_NONE:
		set_timeouts(c);
		break;
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pump(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (c->closing)
		conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing && !c->waiting) {
		log_info("timeout from [%s]", c->peer_text);
		session_timeout(c->sess);
		flush_output(c);
		begin_close(c);
		return;
	}
	if (c->waiting) {
		/* The spool callback still holds c: let it free the connection. */
		c->dead = true;
		bufferevent_free(c->bev);
		c->bev = NULL;
		return;
	}
	conn_free(c);
}

/* Over the limit or stopping: a one-line 421 and close, without a session. */
static void refuse(struct server *srv, int fd, const char *why)
{
	char line[300];
	int n = snprintf(line, sizeof line, "421 4.7.0 %s %s, try again later\r\n",
			 srv->cfg->hostname, why);
	if (n > 0 && send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("refuse: %s", strerror(errno));
	close(fd);
}

void conn_accept(struct server *srv, int fd, const struct sockaddr *sa, int salen)
{
	char peer[INET6_ADDRSTRLEN + 8];
	peer_to_text(sa, peer, sizeof peer);
	if (srv->stopping || srv->nconns >= srv->cfg->max_connections) {
		log_warn("refused connection from [%s]: %s", peer,
			 srv->stopping ? "shutting down" : "too many connections");
		refuse(srv, fd, srv->stopping ? "Service shutting down" : "Too many connections");
		return;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->srv = srv;
	memcpy(&c->peer, sa, (size_t)salen < sizeof c->peer ? (size_t)salen : sizeof c->peer);
	snprintf(c->peer_text, sizeof c->peer_text, "%s", peer);
	c->pol = (struct policy_ctx){srv->cfg, (const struct sockaddr *)&c->peer};
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->sess = session_new(&srv->lim, &receive_policy, &c->pol);
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	log_info("connect from [%s]", c->peer_text);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	session_start(c->sess);
	flush_output(c);
	set_timeouts(c);
}

void conn_shutdown_all(struct server *srv)
{
	struct conn *next;
	for (struct conn *c = srv->conns; c; c = next) {
		next = c->next;
		if (c->waiting || c->closing || !c->bev)
			continue;
		session_shutdown(c->sess);
		flush_output(c);
		begin_close(c);
	}
}

void conn_free_all(struct server *srv)
{
	while (srv->conns)
		conn_free(srv->conns);
}
