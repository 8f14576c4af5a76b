/* smtp_conn - one outbound SMTP connection; see smtp_conn.h. */
#include "deliver/smtp_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/mime7bit.h"
#include "util/bev_send.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/metrics.h"

#define BODY_CHUNK 65536
#define OUT_HIGH (256 * 1024) /* stop reading the spool above this much unsent */
#define SCAN_STEP 16          /* chunks the 7-bit scan reads per loop turn */

struct smtp_conn {
	struct smtp_conn_opts o;
	struct mx_list mx;
	size_t mxi, addri;       /* the address tried next */
	struct bufferevent *bev;
	struct smtp_client *cl;
	struct client_opts copts;
	smtp_conn_fn cb;
	void *arg;
	struct outbound_txn *txn;
	uint64_t body_sent;
	bool streaming;
	/* RFC 6152 3: an 8-bit body for a server without 8BITMIME is scanned,
	 * a few chunks per loop turn, then sent converted (or refused). */
	struct mime7 *conv;
	struct event *later_ev;  /* the scan's next step; a transaction done at once */
	uint64_t scanned;
	struct buf conv_out;
	char refusal[CLIENT_TEXT_MAX];
	bool tls_pending;        /* handshake under way */
	bool ready_once;         /* greeted: later failures end the connection */
	bool dead;               /* freed at the next loop turn; no more callbacks */
	bool starting;           /* inside smtp_conn_new: a failure waits a turn */
	bool fail_pending;       /* failed while starting: reported by later() */
	bool local;              /* failed for want of a local resource */
	char reason[1024];
	char peer[320];
};

static void try_next(struct smtp_conn *sc);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void later(evutil_socket_t fd, short what, void *arg);

SSL_CTX *smtp_conn_tls_context(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* RFC 7435 opportunistic security: encrypt when offered, do not
	 * authenticate (an MX's certificate rarely names what DNS gave us). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* The transaction is over: its conversion state goes. */
static void txn_clear(struct smtp_conn *sc)
{
	sc->txn = NULL;
	event_del(sc->later_ev);
	mime7_free(sc->conv);
	sc->conv = NULL;
	buf_free(&sc->conv_out);
}

static void free_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct smtp_conn *sc = arg;
	txn_clear(sc);
	event_free(sc->later_ev);
	if (sc->bev)
		bufferevent_free(sc->bev);
	client_free(sc->cl);
	mx_list_free(&sc->mx);
	config_free(sc->o.cfg);
	free(sc);
}

/* Frees at the next loop turn so callers up the stack may still look at sc. */
static void kill_conn(struct smtp_conn *sc)
{
	if (sc->dead)
		return;
	sc->dead = true;
	if (sc->bev)
		bufferevent_disable(sc->bev, EV_READ | EV_WRITE);
	struct timeval now = {0, 0};
	event_base_once(sc->o.base, -1, EV_TIMEOUT, free_later, sc, &now);
}

static void emit(struct smtp_conn *sc, enum smtp_conn_event ev)
{
	if (!sc->dead && sc->cb)
		sc->cb(sc, ev, sc->arg);
}

static void fail_final(struct smtp_conn *sc, const char *reason)
{
	if (reason && reason != sc->reason)
		snprintf(sc->reason, sizeof sc->reason, "%s", reason);
	if (sc->starting) {
		/* The owner has not even got sc back yet. */
		sc->fail_pending = true;
		event_active(sc->later_ev, EV_TIMEOUT, 0);
		return;
	}
	if (sc->txn) {
		client_abort(sc->cl, sc->reason);
		txn_clear(sc);
		emit(sc, SMTP_CONN_TXN_DONE);
	}
	emit(sc, SMTP_CONN_FAILED);
	kill_conn(sc);
}

static void flush(struct smtp_conn *sc)
{
	struct buf *o = client_output(sc->cl);
	if (o->len && sc->bev)
		bev_send(sc->bev, o->p, o->len, false);
	buf_reset(o);
}

/* The next chunk of the queued body from offset at, or -1. */
static ssize_t read_body(struct smtp_conn *sc, char *chunk, uint64_t at)
{
	const struct outbound_txn *t = sc->txn;
	uint64_t left = t->body_len - at;
	size_t want = left < BODY_CHUNK ? (size_t)left : BODY_CHUNK;
	ssize_t n = pread(t->body_fd, chunk, want, (off_t)(t->body_off + at));
	return n > 0 ? n : -1;
}

/* Body octets as stored, or converted to 7-bit; n 0: the end. */
static void body_write(struct smtp_conn *sc, const char *p, size_t n)
{
	if (!sc->conv) {
		client_body_write(sc->cl, p, n);
		return;
	}
	buf_reset(&sc->conv_out);
	if (n)
		mime7_convert(sc->conv, p, n, &sc->conv_out);
	else
		mime7_convert_end(sc->conv, &sc->conv_out);
	client_body_write(sc->cl, sc->conv_out.p, sc->conv_out.len);
}

static void pump_body(struct smtp_conn *sc)
{
	static char chunk[BODY_CHUNK];
	struct outbound_txn *t = sc->txn;
	while (sc->streaming && evbuffer_get_length(bufferevent_get_output(sc->bev)) < OUT_HIGH) {
		if (sc->body_sent == t->body_len) {
			sc->streaming = false;
			body_write(sc, "", 0);
			client_body_end(sc->cl);
			break;
		}
		ssize_t n = read_body(sc, chunk, sc->body_sent);
		if (n < 0) {
			sc->streaming = false;
			fail_final(sc, "cannot read the queued message");
			return;
		}
		body_write(sc, chunk, (size_t)n);
		sc->body_sent += (uint64_t)n;
		/* Whole chunks go out as they fill; a short message and its
		 * final dot leave together in one send. */
		if (client_output(sc->cl)->len >= BODY_CHUNK)
			flush(sc);
	}
	flush(sc);
}

/* Acts once on the event the client raised. */
static void act(struct smtp_conn *sc)
{
	switch (client_event(sc->cl)) {
	case CLIENT_EV_NONE:
	case CLIENT_EV_CLOSED:
		break;
	case CLIENT_EV_STARTTLS: {
		SSL *ssl = SSL_new(sc->o.tls);
		const struct mx_host *h = &sc->mx.v[sc->mxi];
		SSL_set_tlsext_host_name(ssl, h->name);
		struct bufferevent *f = bufferevent_openssl_filter_new(
			sc->o.base, sc->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (!f) {
			fail_final(sc, "STARTTLS: cannot set up TLS");
			return;
		}
		sc->bev = f;
		sc->tls_pending = true;
		bufferevent_setcb(f, NULL, NULL, on_event, sc);
		bufferevent_enable(f, EV_READ | EV_WRITE);
		break;
	}
	case CLIENT_EV_READY:
		sc->ready_once = true;
		emit(sc, SMTP_CONN_READY);
		break;
	case CLIENT_EV_BODY:
		sc->streaming = true;
		sc->body_sent = 0;
		pump_body(sc);
		break;
	case CLIENT_EV_TXN_DONE:
		txn_clear(sc);
		emit(sc, SMTP_CONN_TXN_DONE);
		if (!sc->dead)
			client_next(sc->cl);
		break;
	case CLIENT_EV_FAILED: {
		const struct client_reply *f = client_failure(sc->cl);
		snprintf(sc->reason, sizeof sc->reason, "host %s said: %.400s (in reply to %s)",
			 sc->peer, f->text, f->stage);
		if (f->code == 0)
			snprintf(sc->reason, sizeof sc->reason, "host %s: %.400s", sc->peer, f->text);
		/* RFC 5321 5.1: before any transaction, the next address may do. */
		if (!sc->ready_once)
			try_next(sc);
		else
			fail_final(sc, sc->reason);
		break;
	}
	}
}

/* Acts on the client's events until it waits for the server (replies it
 * already holds, e.g. pipelined ones, are worked through first) or for
 * someone else: the owner, the body stream, a TLS handshake. */
static void step(struct smtp_conn *sc)
{
	for (;;) {
		flush(sc);
		enum client_event ev = client_event(sc->cl);
		if (ev == CLIENT_EV_NONE && client_feed(sc->cl, "", 0) == CLIENT_EV_NONE)
			return;
		if (ev == CLIENT_EV_CLOSED || client_event(sc->cl) == CLIENT_EV_CLOSED) {
			kill_conn(sc);
			return;
		}
		ev = client_event(sc->cl);
		act(sc);
		if (sc->dead || client_event(sc->cl) == ev)
			return;
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *sc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[4];
	int nv;
	while (!sc->dead && (nv = evbuffer_peek(in, -1, NULL, v, 4)) > 0) {
		size_t used = 0;
		for (int i = 0; i < nv && i < 4; i++) {
			client_feed(sc->cl, v[i].iov_base, v[i].iov_len);
			used += v[i].iov_len;
		}
		evbuffer_drain(in, used);
		step(sc);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct smtp_conn *sc = arg;
	if (sc->streaming)
		pump_body(sc);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct smtp_conn *sc = arg;
	if (what & BEV_EVENT_CONNECTED) {
		tcp_nodelay(bufferevent_getfd(sc->bev));
		struct timeval t = {sc->o.cfg->smtp_timeout, 0};
		bufferevent_set_timeouts(sc->bev, &t, &t);
		bufferevent_setcb(sc->bev, on_read, on_write, on_event, sc);
		bufferevent_setwatermark(sc->bev, EV_WRITE, OUT_HIGH / 4, 0);
		if (sc->tls_pending) {
			sc->tls_pending = false;
			client_tls_done(sc->cl);
			metrics_tls_established(true);
			flush(sc);
		}
		return;
	}
	if (client_event(sc->cl) == CLIENT_EV_CLOSED) {
		kill_conn(sc);
		return;
	}
	const char *why = (what & BEV_EVENT_TIMEOUT) ? "conversation timed out"
			  : (what & BEV_EVENT_EOF) ? "lost connection"
			  : sc->tls_pending ? "TLS handshake failed"
					    : strerror(EVUTIL_SOCKET_ERROR());
	snprintf(sc->reason, sizeof sc->reason, "host %s: %s", sc->peer, why);
	if (!sc->ready_once && !sc->txn)
		try_next(sc);
	else
		fail_final(sc, sc->reason);
}

/* Connects to the next address of the MX list, or gives up. */
/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104: bytes that never leave the host. */
static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static void try_next(struct smtp_conn *sc)
{
	if (sc->bev) {
		bufferevent_free(sc->bev);
		sc->bev = NULL;
	}
	client_free(sc->cl);
	sc->cl = NULL;
	sc->tls_pending = false;
	while (sc->mxi < sc->mx.n && sc->addri >= sc->mx.v[sc->mxi].naddrs) {
		sc->mxi++;
		sc->addri = 0;
	}
	if (sc->mxi >= sc->mx.n) {
		fail_final(sc, sc->reason[0] ? sc->reason : "no usable mail exchanger");
		return;
	}
	const struct mx_host *h = &sc->mx.v[sc->mxi];
	struct sockaddr_storage ss = h->addrs[sc->addri++];
	char ip[INET6_ADDRSTRLEN] = "?";
	socklen_t len;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_port = htons((uint16_t)sc->o.port);
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_port = htons((uint16_t)sc->o.port);
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		len = sizeof *a;
	}
	snprintf(sc->peer, sizeof sc->peer, "%s[%s]:%u", h->name, ip, sc->o.port);
	sc->copts.auth_in_clear = is_loopback(&ss);
	sc->cl = client_new(&sc->copts);
	sc->bev = bufferevent_socket_new(sc->o.base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(sc->bev, on_read, on_write, on_event, sc);
	struct timeval ct = {sc->o.cfg->connect_timeout, 0};
	bufferevent_set_timeouts(sc->bev, &ct, &ct);
	bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(sc->bev, (struct sockaddr *)&ss, (int)len) < 0) {
		int err = errno;
		snprintf(sc->reason, sizeof sc->reason, "host %s: connect: %s", sc->peer,
			 strerror(err));
		/* Our own shortage: no other address would fare better. */
		sc->local = fsutil_shortage(err);
		if (sc->local)
			fail_final(sc, sc->reason);
		else
			try_next(sc);
	}
}

struct smtp_conn *smtp_conn_new(const struct smtp_conn_opts *o, const struct mx_list *mx,
				smtp_conn_fn on_event_fn, void *arg)
{
	struct smtp_conn *sc = xcalloc(1, sizeof *sc);
	sc->o = *o;
	/* A reload may retire the config; this connection keeps its own. */
	sc->o.cfg = config_ref(o->cfg);
	sc->cb = on_event_fn;
	sc->arg = arg;
	sc->later_ev = event_new(o->base, -1, 0, later, sc);
	mx_list_copy(&sc->mx, mx);
	sc->copts = (struct client_opts){
		.helo_name = o->cfg->hostname, .starttls = o->tls != NULL,
		.auth_user = o->auth_user, .auth_pass = o->auth_pass,
	};
	sc->starting = true;
	try_next(sc);
	sc->starting = false;
	return sc;
}

/* The 7-bit scan, SCAN_STEP chunks a turn so a big message does not hold
 * up the loop; at the end the transaction starts, refused when the body
 * cannot be converted (RFC 3463 5.6.3), sent as it is when nothing needs
 * converting. */
static void scan_more(struct smtp_conn *sc)
{
	static char chunk[BODY_CHUNK];
	struct outbound_txn *t = sc->txn;
	for (int i = 0; i < SCAN_STEP && sc->scanned < t->body_len; i++) {
		ssize_t n = read_body(sc, chunk, sc->scanned);
		if (n < 0) {
			fail_final(sc, "cannot read the queued message");
			return;
		}
		mime7_scan(sc->conv, chunk, (size_t)n);
		sc->scanned += (uint64_t)n;
	}
	if (sc->scanned < t->body_len) {
		event_active(sc->later_ev, EV_TIMEOUT, 0);
		return;
	}
	bool needed;
	enum mime7_result r = mime7_scan_end(sc->conv, &needed);
	if (r != MIME7_OK) {
		snprintf(sc->refusal, sizeof sc->refusal,
			 "554 5.6.3 %s offers no 8BITMIME and the message cannot be made 7-bit: %s",
			 sc->peer, mime7_reason(r));
		t->txn.refusal = sc->refusal;
	}
	if (r != MIME7_OK || !needed) {
		mime7_free(sc->conv);
		sc->conv = NULL;
	}
	client_start(sc->cl, &t->txn);
	step(sc);
}

/* What waits for the next loop turn: a failure while starting, a scan not
 * finished (its transaction
 * not begun, so the client is still ready), or a transaction client_start
 * ended at once, which nothing would look at when smtp_conn_send was not
 * called from within step(). */
static void later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct smtp_conn *sc = arg;
	if (!sc->dead && sc->fail_pending) {
		sc->fail_pending = false;
		fail_final(sc, NULL);
		return;
	}
	if (sc->dead || !sc->txn)
		return;
	if (client_event(sc->cl) == CLIENT_EV_READY && sc->conv)
		scan_more(sc);
	else if (client_event(sc->cl) == CLIENT_EV_TXN_DONE)
		step(sc);
}

void smtp_conn_send(struct smtp_conn *sc, struct outbound_txn *t)
{
	sc->txn = t;
	if (client_needs_7bit(sc->cl, &t->txn)) {
		sc->conv = mime7_new();
		sc->scanned = 0;
		event_active(sc->later_ev, EV_TIMEOUT, 0);
		return;
	}
	client_start(sc->cl, &t->txn);
	flush(sc);
	if (client_event(sc->cl) == CLIENT_EV_TXN_DONE)
		event_active(sc->later_ev, EV_TIMEOUT, 0);
}

void smtp_conn_close(struct smtp_conn *sc)
{
	if (sc->dead)
		return;
	sc->cb = NULL;
	if (sc->cl && client_event(sc->cl) == CLIENT_EV_READY) {
		/* A transaction still being scanned never began: it goes. */
		txn_clear(sc);
		/* Polite QUIT; the connection frees itself on the answer or EOF. */
		client_quit(sc->cl);
		flush(sc);
		return;
	}
	kill_conn(sc);
}

void smtp_conn_destroy(struct smtp_conn *sc)
{
	if (!sc->dead)
		free_later(-1, 0, sc);
}

bool smtp_conn_local_failure(const struct smtp_conn *sc)
{
	return sc->local;
}

const char *smtp_conn_reason(const struct smtp_conn *sc)
{
	return sc->reason;
}

const char *smtp_conn_peer(const struct smtp_conn *sc)
{
	return sc->peer;
}
