/*
 * server - the I/O shell around the pure SMTP session: libevent listeners
 * (IPv4 and IPv6), one bufferevent per connection, RFC 5321 4.5.3.2
 * timeouts, the connection limit (421), and the hand-over of finished
 * messages to the spool. One process, one event loop, thousands of sessions.
 */
#ifndef PETREL_SERVER_SERVER_H
#define PETREL_SERVER_SERVER_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "queue/spool.h"
#include "smtp/session.h"

struct conn;
struct auth_check;
struct sender_check;

/* Told of every config a reload makes current. The server declares it and
 * knows nothing of who listens: main.c, the composition root, passes it on
 * to the scheduler and the maildrop importer, so nothing in server/ calls
 * up into the layers that deliver mail. */
typedef void server_config_fn(void *arg, const struct config *cfg);

struct listener {
	struct server *srv;
	enum listen_mode mode;
	struct evconnlistener *l;
	struct event *resume;  /* accepting paused for want of descriptors */
	bool starved;          /* accept failed since the last success: logged */
};

struct server {
	struct event_base *base;
	const struct config *cfg;     /* the current snapshot; a reload swaps it */
	SSL_CTX *tls;                 /* NULL without tls-cert */
	struct auth_check *auth;      /* NULL without passwd-file */
	struct sender_check *senders; /* looks up the domains of MAIL FROM */
	struct ratelimit *msg_rate;   /* accepted messages per client address */
	struct spool *spool;
	server_config_fn *on_config;  /* after a reload, with the new snapshot */
	void *on_config_arg;
	struct listener *listeners;
	size_t nlisteners;
	struct conn *conns;       /* every open connection */
	unsigned nconns;
	bool stopping;
	struct event *drain;      /* while stopping: exit once everything is done */
};

/* The session limits for a listener of mode: what to offer (STARTTLS with a
 * certificate, AUTH with a passwd file) and what to demand (AUTH on
 * submission). srv->tls and srv->auth must be set up already. */
void server_limits(const struct server *srv, enum listen_mode mode, struct session_limits *lim);

/* Binds every "listen" address; false (with a log line) if one fails. */
bool server_listen(struct server *srv);
/* Starts stopping: a new connection gets 421 and is closed, every session
 * not sending a message gets 421, the others may finish their message. */
void server_stop(struct server *srv);
/* Closes the listening sockets (at exit). */
void server_unlisten(struct server *srv);

/* Frees the credential checker; checks under way complete first (their
 * sessions answered, none started anew). */
void server_drop_auth(struct server *srv);

/* reload.c: SIGHUP. Loads the config file again and, only if it and every
 * file it names are good, makes it current; else logs why and changes
 * nothing. */
void server_reload(struct server *srv);

/* conn.c: takes over an accepted socket. */
void conn_accept(struct listener *li, int fd, const struct sockaddr *sa, int salen);
/* conn.c: ends every session (421) as the server stops. */
void conn_shutdown_all(struct server *srv);
/* conn.c: frees whatever connections remain once the loop has ended. */
void conn_free_all(struct server *srv);

#endif
