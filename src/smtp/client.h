/*
 * client - the SMTP client protocol as a pure state machine (RFC 5321 3, 4;
 * RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3207 STARTTLS,
 * RFC 4954 AUTH PLAIN/LOGIN toward a relay host), and in LMTP mode the
 * local delivery variant (RFC 2033: LHLO, one reply per recipient after DATA).
 *
 * The shell connects, feeds every byte the server sends to client_feed(),
 * writes whatever accumulates in client_output(), and acts on the event the
 * client raises: do the TLS handshake, stream the message body through
 * client_body_write(), read a finished transaction's per-recipient results,
 * start the next transaction on the same connection, or close. The client
 * never touches a socket, a clock or a file.
 */
#ifndef PETREL_SMTP_CLIENT_H
#define PETREL_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/rcpt.h"

#define CLIENT_TEXT_MAX 512

struct smtp_client;

struct client_opts {
	const char *helo_name;
	bool starttls;          /* use STARTTLS when the server offers it */
	const char *auth_user;  /* AUTH toward a relay host, or NULL */
	const char *auth_pass;
	bool auth_in_clear;     /* the peer is on loopback: AUTH may go without TLS */
	bool lmtp;              /* RFC 2033: LHLO, no HELO fallback, a reply per recipient */
};

/* One server reply as the outcome of a recipient or a connection. */
struct client_reply {
	int code;                       /* 0: no reply (connection lost) */
	char text[CLIENT_TEXT_MAX];     /* "550 5.1.1 <x>: unknown user" (first line) */
	const char *stage;              /* "MAIL FROM", "RCPT TO", "DATA", "end of data"... */
	bool ours;                      /* made up by the client: the server said nothing */
};

struct client_txn {
	const char *sender;             /* "" for the null reverse-path */
	size_t nrcpt;
	/* Where to: each one's address, and its NOTIFY and ORCPT (RFC 3461)
	 * passed on only to a server that offers DSN. */
	const struct rcpt *rcpt;
	uint64_t size;
	bool body_8bit;                 /* BODY=8BITMIME to a server that offers it */
	struct client_reply *result;    /* nrcpt entries, filled by the client */
	bool smtputf8;                  /* needs the server's SMTPUTF8 (RFC 6531) */
	/* RFC 3461 parameters to pass on, only to a server that offers DSN;
	 * NULL/0 when the sender gave none. */
	const char *envid;              /* ENVID, xtext as received */
	uint8_t ret;                    /* enum dsn_ret */
	bool peer_dsn;                  /* out: the server offers DSN; they went along */
	/* A reply of our own ("554 5.6.3 ...") that ends the transaction before
	 * MAIL FROM, for every recipient: the shell found the message cannot
	 * go to this server. NULL: send it. */
	const char *refusal;
};

enum client_event {
	CLIENT_EV_NONE,       /* waiting for the server */
	CLIENT_EV_STARTTLS,   /* do the handshake, then client_tls_done() */
	CLIENT_EV_READY,      /* greeted (and TLS/AUTH done): client_start() a transaction */
	CLIENT_EV_BODY,       /* stream the body: client_body_write()... client_body_end() */
	CLIENT_EV_TXN_DONE,   /* every txn->result[] is set; then client_next() */
	CLIENT_EV_FAILED,     /* the session failed: client_failure() says why; close */
	CLIENT_EV_CLOSED,     /* QUIT answered; close */
};

struct smtp_client *client_new(const struct client_opts *opts);
void client_free(struct smtp_client *c);

/* Bytes from the server; returns the event now pending. */
enum client_event client_feed(struct smtp_client *c, const char *p, size_t n);
enum client_event client_event(const struct smtp_client *c);
struct buf *client_output(struct smtp_client *c);

void client_tls_done(struct smtp_client *c);
bool client_tls_active(const struct smtp_client *c);
/* RFC 6152 3: the body of txn is 8-bit and the server does not offer
 * 8BITMIME, so the shell must send it converted to 7-bit (or refuse). */
bool client_needs_7bit(const struct smtp_client *c, const struct client_txn *txn);
/* Starts a transaction; txn must stay valid until CLIENT_EV_TXN_DONE. A
 * transaction the server cannot take (SMTPUTF8, SIZE, txn->refusal) is done
 * at once, nothing sent: the event is then CLIENT_EV_TXN_DONE. */
void client_start(struct smtp_client *c, struct client_txn *txn);
/* The stored message (CRLF lines, not dot-stuffed), in any pieces. */
void client_body_write(struct smtp_client *c, const char *p, size_t n);
void client_body_end(struct smtp_client *c);
/* After TXN_DONE: ready for another transaction (may send RSET first). */
void client_next(struct smtp_client *c);
/* Ends politely with QUIT. */
void client_quit(struct smtp_client *c);
/* The connection dropped or timed out: every unanswered recipient of the
 * current transaction gets code 0 with reason (in LMTP mode a recipient
 * whose own reply to the final dot came keeps it); the event becomes FAILED. */
void client_abort(struct smtp_client *c, const char *reason);

/* Why the session failed (greeting, EHLO, STARTTLS, AUTH, protocol error). */
const struct client_reply *client_failure(const struct smtp_client *c);
/* The server's SIZE limit (0 if none) and whether it offers an extension. */
uint64_t client_size_limit(const struct smtp_client *c);
bool client_has_ext(const struct smtp_client *c, const char *ext);

#endif
