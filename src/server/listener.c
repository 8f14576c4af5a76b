/* listener - binding the configured addresses and accepting; see server.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/auth_check.h"
#include "server/server.h"
#include "util/bev_send.h"
#include "util/log.h"

#define ACCEPT_PAUSE_MS 250

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)l;
	struct listener *li = arg;
	li->starved = false;
	conn_accept(li, fd, sa, salen);
}

static void resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct listener *li = arg;
	evconnlistener_enable(li->l);
}

/* EMFILE and friends. The pending connection stays in the backlog, so the
 * socket stays readable: retrying at once would spin the loop (and log)
 * until a descriptor frees up. Pause instead, and log once per shortage. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct listener *li = arg;
	if (!li->starved)
		log_warn("accept: %s; retrying every %d ms", strerror(errno), ACCEPT_PAUSE_MS);
	li->starved = true;
	evconnlistener_disable(l);
	const struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};
	evtimer_add(li->resume, &pause);
}

/* Splits "host:port" / "[v6]:port" into host and port. */
static bool split_hostport(const char *s, char *host, size_t hsz, char *port, size_t psz)
{
	const char *colon;
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return false;
		snprintf(host, hsz, "%.*s", (int)(rb - s - 1), s + 1);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		snprintf(host, hsz, "%.*s", (int)(colon - s), s);
	}
	snprintf(port, psz, "%s", colon + 1);
	return true;
}

static bool listen_one(struct server *srv, const char *spec, enum listen_mode mode)
{
	char host[256], port[32];
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM}, *ai;
	if (!split_hostport(spec, host, sizeof host, port, sizeof port) ||
	    getaddrinfo(host, port, &hints, &ai) != 0) {
		log_error("listen %s: not a numeric host:port", spec);
		return false;
	}
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
	if (ai->ai_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	struct listener *li = &srv->listeners[srv->nlisteners];
	*li = (struct listener){.srv = srv, .mode = mode};
	li->l = evconnlistener_new_bind(srv->base, on_accept, li, flags, 1024, ai->ai_addr,
					(int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!li->l) {
		log_error("listen %s: %s", spec, strerror(errno));
		return false;
	}
	/* Accepted sockets inherit TCP_NODELAY from the listening one on Linux:
	 * one setsockopt here instead of one per connection. */
	tcp_nodelay(evconnlistener_get_fd(li->l));
	evconnlistener_set_error_cb(li->l, on_accept_error);
	li->resume = evtimer_new(srv->base, resume_accepting, li);
	srv->nlisteners++;
	static const char *const names[] = {"smtp", "submission", "submissions"};
	log_info("listening on %s (%s)", spec, names[mode]);
	return true;
}

void server_limits(const struct server *srv, enum listen_mode mode, struct session_limits *lim)
{
	const struct config *cfg = srv->cfg;
	*lim = (struct session_limits){
		.hostname = cfg->hostname, .max_message_size = cfg->max_message_size,
		.max_recipients = cfg->max_recipients, .max_hops = cfg->max_hops, .max_errors = 20,
		.max_no_progress = cfg->max_no_progress,
		.vrfy = cfg->vrfy, .expn = cfg->expn,
		.starttls = srv->tls != NULL && mode != LISTEN_SUBMISSIONS,
		.auth = srv->auth != NULL,
		.submission = mode != LISTEN_SMTP,
	};
}

bool server_listen(struct server *srv)
{
	/* Allocated once: each listener's address is its accept callback's argument. */
	srv->listeners = xcalloc(srv->cfg->listen.n, sizeof *srv->listeners);
	for (size_t i = 0; i < srv->cfg->listen.n; i++)
		if (!listen_one(srv, srv->cfg->listen.v[i], srv->cfg->listen_mode[i]))
			return false;
	return true;
}

void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	conn_shutdown_all(srv);
}

void server_drop_auth(struct server *srv)
{
	/* Detached first: a completion run by auth_check_free must not reach
	 * the checker being freed (a pipelined AUTH would start one there). */
	struct auth_check *ac = srv->auth;
	srv->auth = NULL;
	auth_check_free(ac);
}

void server_unlisten(struct server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		evconnlistener_free(srv->listeners[i].l);
		event_free(srv->listeners[i].resume);
	}
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}
