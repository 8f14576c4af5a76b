/* lmtp - local delivery over LMTP (RFC 2033); see lmtp.h. */
#include "deliver/lmtp.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/fsutil.h"

#define BODY_CHUNK 16384 /* the output never holds more than one stuffed chunk */
#define READ_CHUNK 4096

struct lmtp_conn {
	int fd;
	unsigned io_timeout;
	char reason[CLIENT_TEXT_MAX]; /* why the connection failed, when it did */
	bool shortage;                /* it failed for want of something of ours */
};

/* reason = "what: <strerror(e)>" (strerror_r: this runs in worker threads). */
static void sys_reason(struct lmtp_conn *lc, const char *what, int e)
{
	char eb[128];
	lc->shortage = fsutil_shortage(e);
	snprintf(lc->reason, sizeof lc->reason, "%s: %s", what, strerror_r(e, eb, sizeof eb));
}

/* Waits until fd is ready for events; false (with reason) on timeout. */
static bool wait_fd(struct lmtp_conn *lc, short events, unsigned timeout)
{
	struct pollfd p = {.fd = lc->fd, .events = events};
	int ms = timeout < INT_MAX / 1000 ? (int)timeout * 1000 : INT_MAX;
	int n;
	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return true;
	if (n == 0)
		snprintf(lc->reason, sizeof lc->reason, "timeout talking to the LMTP server");
	else
		sys_reason(lc, "poll", errno);
	return false;
}

/* A non-blocking connect that gives up after timeout seconds. */
static bool connect_addr(struct lmtp_conn *lc, const struct sockaddr *sa, socklen_t len,
			 unsigned timeout)
{
	lc->shortage = false;
	lc->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lc->fd < 0) {
		sys_reason(lc, "socket", errno);
		return false;
	}
	int err = connect(lc->fd, sa, len) == 0 ? 0 : errno;
	if (err == EINPROGRESS) {
		if (!wait_fd(lc, POLLOUT, timeout)) {
			close(lc->fd);
			lc->fd = -1;
			return false;
		}
		socklen_t elen = sizeof err;
		if (getsockopt(lc->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
	}
	if (err == 0)
		return true;
	sys_reason(lc, "connect", err);
	close(lc->fd);
	lc->fd = -1;
	return false;
}

static bool connect_unix(struct lmtp_conn *lc, const char *path, unsigned timeout)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(lc->reason, sizeof lc->reason, "socket path too long");
		return false;
	}
	strcpy(sun.sun_path, path);
	return connect_addr(lc, (const struct sockaddr *)&sun, sizeof sun, timeout);
}

/* "host:port" or "[v6]:port": every address of host in turn. */
static bool connect_inet(struct lmtp_conn *lc, const char *hostport, unsigned timeout)
{
	char host[256];
	bool v6 = hostport[0] == '[';
	const char *colon = v6 ? strstr(hostport, "]:") : strrchr(hostport, ':');
	size_t hlen = colon ? (size_t)(colon - hostport) - v6 : 0;
	if (!colon || hlen >= sizeof host) {
		snprintf(lc->reason, sizeof lc->reason, "bad LMTP target");
		return false;
	}
	memcpy(host, hostport + v6, hlen);
	host[hlen] = '\0';
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int gai = getaddrinfo(host, colon + 1 + v6, &hints, &ai);
	if (gai == EAI_SYSTEM) {
		sys_reason(lc, "getaddrinfo", errno);
		return false;
	}
	if (gai != 0) {
		lc->shortage = gai == EAI_MEMORY;
		snprintf(lc->reason, sizeof lc->reason, "%s", gai_strerror(gai));
		return false;
	}
	bool ok = false;
	for (struct addrinfo *a = ai; a && !ok; a = a->ai_next)
		ok = connect_addr(lc, a->ai_addr, a->ai_addrlen, timeout);
	freeaddrinfo(ai);
	return ok;
}

/* Sends and empties out; false (with reason) when the server is gone. */
static bool send_all(struct lmtp_conn *lc, struct buf *out)
{
	size_t off = 0;
	while (off < out->len) {
		ssize_t n = send(lc->fd, out->p + off, out->len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_fd(lc, POLLOUT, lc->io_timeout))
				return false;
		} else {
			sys_reason(lc, "write to the LMTP server", errno);
			return false;
		}
	}
	buf_reset(out);
	return true;
}

/* Waits for the server's next bytes and feeds them to the client. */
static bool read_some(struct lmtp_conn *lc, struct smtp_client *cl)
{
	char in[READ_CHUNK];
	if (!wait_fd(lc, POLLIN, lc->io_timeout))
		return false;
	ssize_t n = recv(lc->fd, in, sizeof in, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n == 0)
		snprintf(lc->reason, sizeof lc->reason, "the LMTP server closed the connection");
	else if (n < 0)
		sys_reason(lc, "read from the LMTP server", errno);
	if (n <= 0)
		return false;
	client_feed(cl, in, (size_t)n);
	return true;
}

/* The body in chunks, each sent before the next is read: bounded memory. */
static bool send_body(struct lmtp_conn *lc, struct smtp_client *cl, const struct lmtp_msg *m)
{
	char chunk[BODY_CHUNK];
	for (uint64_t off = 0; off < m->txn->size;) {
		ssize_t n = m->read(m->read_ctx, chunk, sizeof chunk, off);
		if (n <= 0) {
			snprintf(lc->reason, sizeof lc->reason, "cannot read the queued message");
			return false;
		}
		client_body_write(cl, chunk, (size_t)n);
		off += (uint64_t)n;
		if (!send_all(lc, client_output(cl)))
			return false;
	}
	client_body_end(cl);
	return true;
}

/* Drives the client until QUIT is answered or something fails; true once
 * every recipient has its result. */
static bool converse(struct lmtp_conn *lc, struct smtp_client *cl, const struct lmtp_msg *m)
{
	bool done = false;
	for (;;) {
		if (!send_all(lc, client_output(cl)))
			return done;
		switch (client_event(cl)) {
		case CLIENT_EV_READY:
			client_start(cl, m->txn);
			break;
		case CLIENT_EV_BODY:
			if (!send_body(lc, cl, m))
				return false;
			break;
		case CLIENT_EV_TXN_DONE:
			done = true;
			client_quit(cl);
			break;
		case CLIENT_EV_NONE:
			if (!read_some(lc, cl))
				return done;
			break;
		case CLIENT_EV_FAILED:
			snprintf(lc->reason, sizeof lc->reason, "%.*s", (int)sizeof lc->reason - 1,
				 client_failure(cl)->text);
			return done;
		default: /* CLOSED, or STARTTLS, which LMTP mode never asks for */
			return done;
		}
	}
}

/* Recipients still unanswered (all of them when the transaction never
 * started) get no reply but the reason: the caller defers them. */
static void fail_unanswered(struct smtp_client *cl, const struct lmtp_msg *m, const char *why)
{
	struct buf reason = BUF_INIT;
	buf_printf(&reason, "lmtp %s: %s", m->target, why);
	client_abort(cl, reason.p);
	for (size_t i = 0; i < m->txn->nrcpt; i++)
		if (m->txn->result[i].code == 0)
			snprintf(m->txn->result[i].text, sizeof m->txn->result[i].text, "%s", reason.p);
	buf_free(&reason);
}

bool lmtp_deliver(const struct lmtp_msg *m)
{
	struct lmtp_conn lc = {.fd = -1, .io_timeout = m->io_timeout};
	struct client_opts o = {.helo_name = m->helo_name, .lmtp = true};
	struct smtp_client *cl = client_new(&o);
	for (size_t i = 0; i < m->txn->nrcpt; i++)
		m->txn->result[i] = (struct client_reply){.code = 0, .stage = "connection"};
	bool connected = strncmp(m->target, "unix:", 5) == 0
				 ? connect_unix(&lc, m->target + 5, m->connect_timeout)
				 : connect_inet(&lc, m->target, m->connect_timeout);
	if (!connected || !converse(&lc, cl, m))
		fail_unanswered(cl, m, lc.reason);
	if (lc.fd >= 0)
		close(lc.fd);
	client_free(cl);
	return connected || !lc.shortage;
}
