/*
 * smtp_conn - one outbound SMTP connection: the I/O shell around the pure
 * client (smtp/client.c). It walks the exchangers of an MX list in order
 * (RFC 5321 5.1: next address on connect failure or a 4xx/5xx greeting),
 * upgrades to TLS when the server offers STARTTLS (opportunistic, RFC 3207),
 * streams a queued message's body from the spool, and keeps the connection
 * for the next transaction to the same destination.
 */
#ifndef PETREL_DELIVER_SMTP_CONN_H
#define PETREL_DELIVER_SMTP_CONN_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "dns/resolver.h"
#include "smtp/client.h"

struct smtp_conn;

enum smtp_conn_event {
	SMTP_CONN_READY,     /* idle and usable: smtp_conn_send() or smtp_conn_close() */
	SMTP_CONN_TXN_DONE,  /* the transaction's results are filled in; then READY or FAILED follows */
	SMTP_CONN_FAILED,    /* unusable: smtp_conn_reason() says why; free it */
};

/* One transaction: the message and its recipients for this destination. */
struct outbound_txn {
	struct client_txn txn;     /* sender, recipients, size, results */
	int body_fd;               /* the spooled body (spool_body_open): pread() only */
	uint64_t body_off;
	uint64_t body_len;
};

typedef void (*smtp_conn_fn)(struct smtp_conn *sc, enum smtp_conn_event ev, void *arg);

struct smtp_conn_opts {
	struct event_base *base;
	const struct config *cfg;
	SSL_CTX *tls;              /* NULL: never STARTTLS */
	unsigned port;
	const char *auth_user;     /* relay host AUTH, or NULL */
	const char *auth_pass;
};

/* Takes a copy of mx. Connecting starts at once; on_event reports. */
struct smtp_conn *smtp_conn_new(const struct smtp_conn_opts *o, const struct mx_list *mx,
				smtp_conn_fn on_event, void *arg);
void smtp_conn_send(struct smtp_conn *sc, struct outbound_txn *t);
/* QUIT (when idle) and free; safe at any time, even from its own callback.
 * No callback follows. */
void smtp_conn_close(struct smtp_conn *sc);
/* Frees at once (server shutdown); never from within its own callback. */
void smtp_conn_destroy(struct smtp_conn *sc);
const char *smtp_conn_reason(const struct smtp_conn *sc);
/* It failed for want of a local resource (descriptors, memory, buffers):
 * nothing is known about the peer. */
bool smtp_conn_local_failure(const struct smtp_conn *sc);
/* "mx.example.org[192.0.2.1]:25" of the current server, for logs. */
const char *smtp_conn_peer(const struct smtp_conn *sc);

/* A client TLS context for opportunistic STARTTLS (TLS 1.2+). */
SSL_CTX *smtp_conn_tls_context(void);

#endif
