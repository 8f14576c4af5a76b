/*
 * conn - one client connection: bytes from the socket into the pure
 * session, its replies back out, its finished messages into the spool.
 * The connection's read side is paused while a message is being made
 * durable or the sender's domain looked up, so pipelined commands after
 * DATA or MAIL wait their turn (RFC 2920).
 *
 * A plain socket is read here, not by its bufferevent: libevent asks
 * FIONREAD before every read and then reads at most 4096 bytes
 * (EVBUFFER_MAX_READ), so a 4 KiB message took two loop turns and a 1 MiB
 * one 256. The bytes still go into the bufferevent's input buffer, and the
 * bufferevent still buffers output; TLS connections are read by theirs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/ratelimit.h"
#include "server/auth_check.h"
#include "server/policy.h"
#include "server/sender_check.h"
#include "server/server.h"
#include "queue/intake.h"
#include "smtp/received.h"
#include "util/bev_send.h"
#include "util/log.h"
#include "util/metrics.h"

struct conn {
	struct server *srv;
	const struct config *cfg;     /* the snapshot this session began under */
	struct session_limits lim;    /* derived from cfg */
	SSL_CTX *tls;                 /* the TLS context of that snapshot, or NULL */
	struct bufferevent *bev;
	struct event *rev;            /* plain sockets: our read event (else NULL) */
	bool reading;                 /* rev is added */
	struct timeval rd_timeout;    /* for rev */
	struct session *sess;
	struct policy_ctx pol;
	struct sockaddr_storage peer;
	char peer_text[INET6_ADDRSTRLEN + 8];
	struct conn *prev, *next;
	enum listen_mode mode;
	bool waiting;  /* a message is being made durable, or credentials checked */
	struct sender_lookup *lookup; /* the sender's domain is being looked up */
	bool dead;     /* the socket went away while waiting */
	bool closing;  /* flushing the last replies */
	bool handshake; /* TLS handshake under way */
	bool corked;    /* the last reply waits for the FIN (bev_send) */
	struct intake *in;  /* the message whose content is arriving, or NULL */
	char qid[QUEUE_ID_LEN + 1];
	uint64_t size;      /* of the message being made durable */
	int64_t cmd_start; /* monotonic ms: since when the next command is awaited */
};

static void pump(struct conn *c);
static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

/* Room offered to one recv: a command line fits many times over; in DATA,
 * big bites (the chain is freed once pump() has consumed it). */
#define READ_CMD 4000
#define READ_DATA 65000

static void set_reading(struct conn *c, bool on)
{
	if (!c->rev) {
		if (on)
			bufferevent_enable(c->bev, EV_READ);
		else
			bufferevent_disable(c->bev, EV_READ);
		return;
	}
	c->reading = on;
	if (on)
		event_add(c->rev, c->rd_timeout.tv_sec || c->rd_timeout.tv_usec ? &c->rd_timeout : NULL);
	else
		event_del(c->rev);
}

static void on_sock_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (what & EV_TIMEOUT) {
		on_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, c);
		return;
	}
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(in, session_in_data(c->sess) ? READ_DATA : READ_CMD, &v, 1) < 1) {
		on_event(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
		return;
	}
	ssize_t n = recv(fd, v.iov_base, v.iov_len, 0);
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		pump(c);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		on_event(c->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
	}
}

/* Frees the socket's events and closes it. */
static void close_socket(struct conn *c)
{
	if (c->rev)
		event_free(c->rev);
	c->rev = NULL;
	if (c->bev && c->corked)
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
}

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

/* A lookup's answer must never reach a connection that is going away. */
static void drop_lookup(struct conn *c)
{
	if (c->lookup)
		sender_check_cancel(c->lookup);
	c->lookup = NULL;
}

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	drop_lookup(c);
	log_info("disconnect from [%s]", c->peer_text);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	metrics_conn_closed((int)c->mode);
	close_socket(c);
	session_free(c->sess);
	free(c->pol.login);
	config_free(c->cfg);
	SSL_CTX_free(c->tls);
	free(c);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flush_output(struct conn *c)
{
	struct buf *out = session_output(c->sess);
	if (out->len) {
		c->corked = bev_send(c->bev, out->p, out->len,
				     session_event(c->sess) == SESSION_EV_CLOSE);
		c->cmd_start = mono_ms();
	}
	buf_reset(out);
}

/* RFC 5321 4.5.3.2.7: command-timeout is for the whole next command, not
 * for each read, or a client trickling a byte at a time would hold its
 * connection forever (slow loris); libevent restarts the read timeout at
 * every read, so it is set to what is left. In DATA the limit stays per
 * read, as 4.5.3.2.6 has it per data block. */
static void set_timeouts(struct conn *c)
{
	const struct config *cfg = c->cfg;
	int64_t left = (int64_t)cfg->command_timeout * 1000 - (mono_ms() - c->cmd_start);
	struct timeval rd = {(time_t)(left / 1000), (suseconds_t)(left % 1000 * 1000)};
	if (session_in_data(c->sess))
		rd = (struct timeval){cfg->data_timeout, 0};
	else if (left <= 0)
		rd = (struct timeval){0, 1}; /* due now; zero would mean none */
	struct timeval wr = {cfg->command_timeout, 0};
	bufferevent_set_timeouts(c->bev, &rd, &wr);
	c->rd_timeout = rd;
	if (c->reading)
		event_add(c->rev, &rd);
}

static void begin_close(struct conn *c)
{
	c->closing = true;
	drop_lookup(c);
	set_reading(c, false);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void committed(void *arg, int err)
{
	struct conn *c = arg;
	c->waiting = false;
	if (!err) {
		const struct envelope *env = session_envelope(c->sess);
		log_info("%s: client=[%s], helo=<%s>, from=<%s>, size=%" PRIu64 ", nrcpt=%zu, "
			 "status=queued", c->qid, c->peer_text, session_helo(c->sess), env->sender,
			 c->size, env->rcpt.n);
		metrics_received(false, (size_t)c->size);
		if (c->srv->msg_rate)
			ratelimit_fail(c->srv->msg_rate, c->peer_text, time(NULL));
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
	set_reading(c, true);
	pump(c);
}

/* The session's content goes straight into an intake (its draft): the
 * connection never holds the message whole. */
static void content_begin(void *arg)
{
	struct conn *c = arg;
	intake_free(c->in);
	c->in = intake_new(c->srv->spool);
}

static void content_write(void *arg, const char *p, size_t n)
{
	struct conn *c = arg;
	intake_write(c->in, p, n);
}

static void content_discard(void *arg)
{
	struct conn *c = arg;
	intake_free(c->in);
	c->in = NULL;
}

static const struct smtp_sink content_sink = {content_begin, content_write, content_discard};

static void submit(struct conn *c)
{
	const struct envelope *env = session_envelope(c->sess);
	struct intake_origin o = {
		.by = c->cfg->hostname, .helo = session_helo(c->sess), .client_addr = c->peer_text,
		.protocol = received_protocol(env->esmtp, session_tls_active(c->sess),
					      session_login(c->sess) != NULL, env->smtputf8),
		.for_rcpt = env->rcpt.n == 1 ? env->rcpt.v[0].orig : NULL,
		.complete_headers = c->mode != LISTEN_SMTP,
	};
	struct spool_new_msg m = {
		.sender = env->sender, .helo = session_helo(c->sess), .client = c->peer_text,
		.flags = (env->body_8bit ? SPOOL_MSG_8BITMIME : 0) |
			 (env->smtputf8 ? SPOOL_MSG_SMTPUTF8 : 0),
		.nrcpt = env->rcpt.n, .rcpt = env->rcpt.v, .envid = env->envid, .ret = env->ret,
	};
	set_reading(c, false);
	c->waiting = true;
	struct intake *in = c->in;
	c->in = NULL;
	c->size = intake_len(in);
	intake_submit(in, &o, &m, c->qid, committed, c);
}

/* Sends what is queued for the client before the socket changes hands;
 * it is a few reply lines, so a short wait for room is enough. (The bytes
 * are copied, not drained: a socket bufferevent's output is frozen.) */
static bool drain_output(struct bufferevent *bev, int fd)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len = evbuffer_get_length(out), sent = 0;
	const char *p = len ? (const char *)evbuffer_pullup(out, -1) : "";
	for (int tries = 0; sent < len && tries < 50; tries++) {
		ssize_t n = send(fd, p + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return false;
		} else {
			struct pollfd w = {fd, POLLOUT, 0};
			poll(&w, 1, 100);
		}
	}
	return sent == len;
}

/* After "220 Ready to start TLS": everything the client sent after STARTTLS
 * is thrown away unread (CVE-2011-0411), then the handshake starts on the
 * same socket, now owned by an OpenSSL bufferevent. */
static void start_tls(struct conn *c)
{
	int fd = bufferevent_getfd(c->bev);
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	SSL *ssl = drain_output(c->bev, fd) ? SSL_new(c->tls) : NULL;
	if (!ssl) {
		log_error("STARTTLS from [%s]: cannot set up TLS", c->peer_text);
		begin_close(c);
		return;
	}
	set_reading(c, false);
	event_free(c->rev);
	c->rev = NULL;
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	c->bev = bufferevent_openssl_socket_new(c->srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	c->handshake = true;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	set_timeouts(c);
}

static void tls_established(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	c->handshake = false;
	log_info("TLS from [%s]: %s %s", c->peer_text, SSL_get_version(ssl), SSL_get_cipher(ssl));
	metrics_tls_established(false);
	session_tls_started(c->sess);
	if (c->mode == LISTEN_SUBMISSIONS) {
		/* Implicit TLS: the greeting comes only now. */
		session_start(c->sess);
	}
	pump(c);
}

static void credentials_checked(void *arg, enum auth_result r)
{
	struct conn *c = arg;
	c->waiting = false;
	if (c->dead) {
		conn_free(c);
		return;
	}
	/* The name is decoded base64: any bytes at all, a newline included. */
	const char *user = session_auth_user(c->sess);
	char safe[256];
	log_info("auth from [%s]: user=<%s>, %s", c->peer_text,
		 log_safe(safe, sizeof safe, user, strlen(user)),
		 r == AUTH_OK ? "ok" : r == AUTH_BLOCKED ? "blocked (too many failures)" : "failed");
	metrics_auth_result((int)r);
	if (r == AUTH_OK)
		c->pol.login = xstrdup(session_auth_user(c->sess));
	session_auth_done(c->sess, r);
	if (c->srv->stopping)
		session_shutdown(c->sess);
	pump(c);
}

static void check_credentials(struct conn *c)
{
	if (!c->srv->auth) {
		session_auth_done(c->sess, AUTH_FAILED);
		pump(c);
		return;
	}
	c->waiting = true;
	auth_check_start(c->srv->auth, c->peer_text, session_auth_user(c->sess),
			 session_auth_pass(c->sess), credentials_checked, c);
}

static void sender_checked(void *arg, enum sender_result r, const char *reason)
{
	struct conn *c = arg;
	c->lookup = NULL;
	if (r != SENDER_OK)
		log_info("sender domain %s from [%s] refused: %s", session_sender_domain(c->sess),
			 c->peer_text, reason);
	/* Not stopping: conn_shutdown_all closed every session waiting here. */
	session_sender_done(c->sess, r);
	set_reading(c, true);
	pump(c);
}

/* Input stays unread meanwhile: the lookup is bounded, the input is not. */
static void check_sender(struct conn *c)
{
	set_reading(c, false);
	c->lookup = sender_check_start(c->srv->senders, session_sender_domain(c->sess),
				       sender_checked, c);
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
	case SESSION_EV_STARTTLS:
		start_tls(c);
		break;
	case SESSION_EV_AUTH:
		if (!c->waiting)
			check_credentials(c);
		break;
	case SESSION_EV_SENDER:
		if (!c->lookup)
			check_sender(c);
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
	if (what & BEV_EVENT_CONNECTED) {
		tls_established(c);
		return;
	}
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
		close_socket(c);
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

/* One client may not take every slot: its open connections, unless it is
 * a trusted (relay-from) network. */
static bool over_client_limit(const struct server *srv, const struct sockaddr *sa,
			      const char *peer)
{
	if (cidr_list_match(&srv->cfg->relay_from, sa))
		return false;
	unsigned n = 0;
	for (const struct conn *c = srv->conns; c; c = c->next)
		n += strcmp(c->peer_text, peer) == 0;
	return n >= srv->cfg->max_per_client;
}

void conn_accept(struct listener *li, int fd, const struct sockaddr *sa, int salen)
{
	struct server *srv = li->srv;
	char peer[INET6_ADDRSTRLEN + 8];
	peer_to_text(sa, peer, sizeof peer);
	const char *why = srv->stopping ? "Service shutting down"
			  : srv->nconns >= srv->cfg->max_connections ? "Too many connections"
			  : over_client_limit(srv, sa, peer) ? "Too many connections from your address"
							      : NULL;
	if (why) {
		log_warn("refused connection from [%s]: %s", peer, why);
		refuse(srv, fd, why);
		metrics_conn_refused();
		return;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->srv = srv;
	memcpy(&c->peer, sa, (size_t)salen < sizeof c->peer ? (size_t)salen : sizeof c->peer);
	snprintf(c->peer_text, sizeof c->peer_text, "%s", peer);
	c->mode = li->mode;
	c->cmd_start = mono_ms();
	/* A reload swaps srv->cfg; this session keeps the snapshot it began with. */
	c->cfg = config_ref(srv->cfg);
	if (srv->tls && SSL_CTX_up_ref(srv->tls))
		c->tls = srv->tls;
	server_limits(srv, li->mode, &c->lim);
	c->pol = (struct policy_ctx){c->cfg, (const struct sockaddr *)&c->peer, NULL,
				     c->peer_text, srv->msg_rate};
	c->sess = session_new(&c->lim, &receive_policy, &c->pol, &content_sink, c);
	if (li->mode == LISTEN_SUBMISSIONS) {
		/* RFC 8314 3.3: TLS from the first byte. */
		c->bev = bufferevent_openssl_socket_new(srv->base, fd, SSL_new(c->tls),
							BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
		c->handshake = true;
	} else {
		c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	metrics_conn_opened((int)li->mode);
	log_info("connect from [%s]", c->peer_text);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	if (li->mode == LISTEN_SUBMISSIONS) {
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	} else {
		/* The bufferevent only writes (bev_send enables EV_WRITE when it
		 * has to queue); reading is ours, into its input buffer, whose
		 * end a socket bufferevent keeps frozen for its own reads. */
		evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
		c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_sock_read, c);
		set_reading(c, true);
	}
	if (li->mode != LISTEN_SUBMISSIONS)
		session_start(c->sess);
	flush_output(c);
	set_timeouts(c);
}

void conn_shutdown_all(struct server *srv)
{
	struct conn *next;
	for (struct conn *c = srv->conns; c; c = next) {
		next = c->next;
		/* RFC 5321 3.8 lets the 421 come after the next command: a client
		 * in the middle of a message finishes it first (within
		 * shutdown-timeout) and gets the 421 after its reply. */
		if (c->waiting || c->closing || !c->bev || session_in_data(c->sess))
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
