/* listener - binding the configured addresses and accepting; see server.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server.h"
#include "util/log.h"

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)l;
	conn_accept(arg, fd, sa, salen);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	/* EMFILE and friends: log and keep listening; libevent retries. */
	log_warn("accept: %s", strerror(errno));
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
	*li = (struct listener){srv, mode, NULL};
	li->l = evconnlistener_new_bind(srv->base, on_accept, li, flags, 1024, ai->ai_addr,
					(int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!li->l) {
		log_error("listen %s: %s", spec, strerror(errno));
		return false;
	}
	evconnlistener_set_error_cb(li->l, on_accept_error);
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
		.max_recipients = cfg->max_recipients, .max_errors = 20,
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
	for (size_t i = 0; i < srv->nlisteners; i++)
		evconnlistener_free(srv->listeners[i].l);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
	conn_shutdown_all(srv);
}
