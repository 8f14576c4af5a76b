/* control - the control socket in the daemon; see control.h. */
#include "control/control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control/metrics_http.h"
#include "control/queue_view.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/metrics.h"

#define WAIT_TICK_MS 10
#define IO_TIMEOUT 30
/* A listing goes out this much at a time, the next piece made only when
 * the socket has taken the last down to this much: a connection holds at
 * most about two pieces and one entry, whatever the queue's length. */
#define LIST_PIECE (64 * 1024)

enum verb { VERB_DELETE, VERB_HOLD, VERB_RELEASE };

/* One client connection: read a request, answer, close. */
struct ctl_conn {
	struct control *ctl;
	struct bufferevent *bev;
	struct event *wait;   /* re-checks the index until an action shows */
	unsigned ticks;
	enum verb verb;
	char id[QUEUE_ID_LEN + 1];
	struct queue_listing *list; /* a listing being sent, a piece at a time */
	struct ctl_conn *prev, *next;
};

struct control {
	struct spool *sp;
	struct scheduler *sch;
	const struct pickup *pickup;
	struct evconnlistener *lev;
	struct ctl_conn *conns;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

bool control_socket_path(const char *spool_dir, char *out, size_t outsz)
{
	struct sockaddr_un sa;
	int n = snprintf(out, outsz, "%s/%s", spool_dir, CONTROL_SOCKET);
	return n > 0 && (size_t)n < outsz && (size_t)n < sizeof sa.sun_path;
}

static void conn_free(struct ctl_conn *cc)
{
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		cc->ctl->conns = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	if (cc->wait)
		event_free(cc->wait);
	if (cc->list) {
		queue_view_list_close(cc->list);
		free(cc->list);
	}
	bufferevent_free(cc->bev);
	free(cc);
}

/* Sends text and closes once it has left (see on_write). Writing is enabled
 * only here: libevent calls the write callback for an empty output too, and
 * that must not end the exchange before there is an answer. */
static void answer(struct ctl_conn *cc, const struct buf *text)
{
	bufferevent_disable(cc->bev, EV_READ);
	bufferevent_write(cc->bev, text->p, text->len);
	bufferevent_enable(cc->bev, EV_WRITE);
}

static void answer_fmt(struct ctl_conn *cc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void answer_fmt(struct ctl_conn *cc, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	answer(cc, &b);
	buf_free(&b);
}

static bool has_pending(const struct spool_msg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state == RCPT_PENDING)
			return true;
	}
	return false;
}

static const char *const verb_done[] = {"deleted", "held", "released"};
static const char *const verb_name[] = {"delete", "hold", "release"};

/* The scheduler's actions become durable asynchronously; the index shows
 * them once they are, which is when the postmaster gets the answer. */
static void on_wait(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct ctl_conn *cc = arg;
	struct spool_msg *m = spool_find(cc->ctl->sp, cc->id);
	bool done = !m || (cc->verb == VERB_DELETE ? !has_pending(m)
						   : m->held == (cc->verb == VERB_HOLD));
	if (done && !m && cc->verb != VERB_DELETE) {
		answer_fmt(cc, "ok\n%s: no longer in the queue\n", cc->id);
	} else if (done) {
		answer_fmt(cc, "ok\n%s: %s\n", cc->id, verb_done[cc->verb]);
	} else if (++cc->ticks >= CONTROL_WAIT_MAX * 1000 / WAIT_TICK_MS) {
		answer_fmt(cc, "ok\n%s: %s requested, not yet recorded\n", cc->id,
			   verb_name[cc->verb]);
	} else {
		struct timeval tick = {0, WAIT_TICK_MS * 1000};
		evtimer_add(cc->wait, &tick);
	}
}

static void start_action(struct ctl_conn *cc, const char *id, enum verb v)
{
	struct control *ctl = cc->ctl;
	int err = v == VERB_DELETE ? scheduler_delete(ctl->sch, id)
				   : scheduler_hold(ctl->sch, id, v == VERB_HOLD);
	if (err) {
		answer_fmt(cc, "error: no such message: %s\n", id);
		return;
	}
	snprintf(cc->id, sizeof cc->id, "%s", id);
	cc->verb = v;
	cc->wait = evtimer_new(bufferevent_get_base(cc->bev), on_wait, cc);
	on_wait(-1, 0, cc);
}

/* The next piece of a listing (on_write: the socket took the last one);
 * after the last entries the totals and the maildrop files. */
static void send_piece(struct ctl_conn *cc)
{
	struct buf b = BUF_INIT;
	if (queue_view_list_more(cc->list, &b, LIST_PIECE)) {
		size_t n, more;
		const struct maildrop_stuck *stuck = pickup_stuck(cc->ctl->pickup, &n, &more);
		queue_view_maildrop(&b, stuck, n, more, cc->list->now);
		queue_view_list_close(cc->list);
		free(cc->list);
		cc->list = NULL;
		/* Back to the end of an answer: on_write once all has left. */
		bufferevent_setwatermark(cc->bev, EV_WRITE, 0, 0);
	}
	bufferevent_write(cc->bev, b.p, b.len);
	buf_free(&b);
}

/* The listing is sent as the client reads it, never built whole: a million
 * messages would make 140 MB, and the loop would build it while SMTP
 * waits. */
static void req_list(struct ctl_conn *cc, const char *id)
{
	(void)id;
	cc->list = xmalloc(sizeof *cc->list);
	queue_view_list_open(cc->list, cc->ctl->sp, time(NULL));
	bufferevent_setwatermark(cc->bev, EV_WRITE, LIST_PIECE, 0);
	answer_fmt(cc, "ok\n");
}

/* The summary: bounded output however long the queue (queue_view_count). */
static void req_count(struct ctl_conn *cc, const char *id)
{
	(void)id;
	struct buf b = BUF_INIT;
	buf_puts(&b, "ok\n");
	queue_view_count(&b, cc->ctl->sp, time(NULL));
	answer(cc, &b);
	buf_free(&b);
}

static void req_show(struct ctl_conn *cc, const char *id)
{
	struct spool_msg *m = spool_find(cc->ctl->sp, id);
	if (!m) {
		answer_fmt(cc, "error: no such message: %s\n", id);
		return;
	}
	struct buf b = BUF_INIT;
	buf_puts(&b, "ok\n");
	queue_view_show(&b, cc->ctl->sp, m, time(NULL), scheduler_next_try, cc->ctl->sch);
	answer(cc, &b);
	buf_free(&b);
}

static void req_flush(struct ctl_conn *cc, const char *id)
{
	(void)id;
	scheduler_flush(cc->ctl->sch);
	log_info("flush requested by the administrator");
	answer_fmt(cc, "ok\nevery pending recipient is due now (%zu message(s) queued)\n",
		   spool_count(cc->ctl->sp));
}

/* The daemon's figures for a person (petrel status). */
static void req_status(struct ctl_conn *cc, const char *id)
{
	(void)id;
	struct metrics_queue q;
	metrics_sample_queue(cc->ctl->sp, &q);
	struct buf b = BUF_INIT;
	buf_puts(&b, "ok\n");
	metrics_render_status(&b, &q, time(NULL));
	answer(cc, &b);
	buf_free(&b);
}

static void req_delete(struct ctl_conn *cc, const char *id)
{
	start_action(cc, id, VERB_DELETE);
}

static void req_hold(struct ctl_conn *cc, const char *id)
{
	start_action(cc, id, VERB_HOLD);
}

static void req_release(struct ctl_conn *cc, const char *id)
{
	start_action(cc, id, VERB_RELEASE);
}

static const struct request {
	const char *verb;
	bool takes_id;
	void (*run)(struct ctl_conn *cc, const char *id);
} requests[] = {
	{"list", false, req_list},     {"show", true, req_show},
	{"flush", false, req_flush},   {"delete", true, req_delete},
	{"hold", true, req_hold},      {"release", true, req_release},
	{"status", false, req_status}, {"count", false, req_count},
};

static void run_request(struct ctl_conn *cc, char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		const struct request *r = &requests[i];
		if (strcmp(line, r->verb) != 0 || r->takes_id != (arg != NULL))
			continue;
		if (arg && !queue_id_valid(arg)) {
			struct buf b = BUF_INIT;
			buf_puts(&b, "error: no such message: ");
			queue_view_safe(&b, arg, strlen(arg));
			buf_putc(&b, '\n');
			answer(cc, &b);
			buf_free(&b);
			return;
		}
		r->run(cc, arg);
		return;
	}
	answer_fmt(cc, "error: unknown request\n");
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t eol_len;
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos < 0 && evbuffer_get_length(in) <= CONTROL_LINE_MAX)
		return;
	if (eol.pos < 0 || (size_t)eol.pos > CONTROL_LINE_MAX) {
		answer_fmt(cc, "error: request too long\n");
		return;
	}
	char line[CONTROL_LINE_MAX + 1];
	size_t n = (size_t)eol.pos;
	evbuffer_remove(in, line, n);
	line[n] = '\0';
	if (n && line[n - 1] == '\r')
		line[n - 1] = '\0';
	/* One request per connection: whatever follows is ignored. */
	bufferevent_disable(bev, EV_READ);
	run_request(cc, line);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg);
}

static void on_discard(struct bufferevent *bev, void *arg)
{
	(void)arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* The answer has left. EOF tells the client it is complete; then input is
 * read and dropped until the client closes (or the timeout): closing with
 * unread input would reset the connection and could destroy the answer
 * before the client has read it. */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;
	if (cc->list) {
		send_piece(cc);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_setcb(bev, on_discard, NULL, on_event, arg);
	bufferevent_enable(bev, EV_READ);
	on_discard(bev, arg);
}

/* Only root and the daemon's own user may run queue commands; the socket's
 * mode says the same, this also holds if the spool's modes are loosened. */
static bool peer_allowed(evutil_socket_t fd)
{
	struct ucred cr;
	socklen_t len = sizeof cr;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)sa;
	(void)salen;
	struct control *ctl = arg;
	struct ctl_conn *cc = xcalloc(1, sizeof *cc);
	cc->ctl = ctl;
	cc->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
					 BEV_OPT_CLOSE_ON_FREE);
	if (!cc->bev) {
		evutil_closesocket(fd);
		free(cc);
		return;
	}
	cc->next = ctl->conns;
	if (cc->next)
		cc->next->prev = cc;
	ctl->conns = cc;
	struct timeval tmo = {IO_TIMEOUT, 0};
	bufferevent_set_timeouts(cc->bev, &tmo, &tmo);
	bufferevent_setwatermark(cc->bev, EV_READ, 0, CONTROL_LINE_MAX + 2);
	bufferevent_setcb(cc->bev, on_read, on_write, on_event, cc);
	bufferevent_enable(cc->bev, EV_READ);
	if (!peer_allowed(fd))
		answer_fmt(cc, "error: permission denied\n");
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	log_warn("control socket accept: %s", strerror(errno));
}

/* Binds under a temporary name, restricts it to the owner, then renames it
 * into place: the socket is never reachable with looser permissions, and the
 * rename replaces a stale socket left by a daemon that died. */
static int bind_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s.new", path);
	if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(sa.sun_path, 0600) < 0 ||
	    rename(sa.sun_path, path) < 0) {
		int err = errno;
		unlink(sa.sun_path);
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

struct control *control_start(struct event_base *base, struct spool *sp, struct scheduler *sch,
			      const struct pickup *pickup, const struct config *cfg)
{
	struct control *ctl = xcalloc(1, sizeof *ctl);
	ctl->sp = sp;
	ctl->sch = sch;
	ctl->pickup = pickup;
	int fd = -1;
	if (!control_socket_path(cfg->spool_dir, ctl->path, sizeof ctl->path))
		errno = ENAMETOOLONG;
	else
		fd = bind_socket(ctl->path);
	if (fd >= 0) {
		ctl->lev = evconnlistener_new(base, on_accept, ctl, LEV_OPT_CLOSE_ON_FREE, 16, fd);
		if (!ctl->lev) {
			close(fd);
			unlink(ctl->path);
		}
	}
	if (!ctl->lev) {
		int err = errno ? errno : EIO;
		log_error("control socket %s: %s", ctl->path, strerror(err));
		free(ctl);
		errno = err;
		return NULL;
	}
	evconnlistener_set_error_cb(ctl->lev, on_accept_error);
	/* Uptime counts from here: the spool is recovered, the daemon answers. */
	metrics_set_start(time(NULL));
	return ctl;
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	evconnlistener_free(c->lev);
	unlink(c->path);
	while (c->conns)
		conn_free(c->conns);
	free(c);
}
