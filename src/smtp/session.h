/*
 * session - the SMTP server protocol as a pure state machine (RFC 5321,
 * with RFC 1870 SIZE, RFC 2920 PIPELINING, RFC 6152 8BITMIME, RFC 2034/3463
 * enhanced status codes, RFC 3461 DSN).
 *
 * The session never touches a socket, clock or file. The I/O shell feeds it
 * the bytes a client sent (session_feed) and sends whatever accumulates in
 * session_output(); replies come out in command order, which is all
 * PIPELINING needs. Decisions that need the world (who is local, who may
 * relay, what VRFY says) are asked through struct smtp_policy.
 *
 * A MAIL from a sender whose domain the policy wants looked up raises
 * SESSION_EV_SENDER and waits the same way: the shell asks the DNS and
 * answers with session_sender_done(), which replies to the MAIL.
 *
 * Message content is never held whole: the session hands it, as it
 * arrives, to the shell's struct smtp_sink in pieces of about
 * SESSION_CONTENT_CHUNK octets, so its memory does not grow with the
 * message. When the client ends a message the session stops consuming
 * input and raises SESSION_EV_MESSAGE; the shell makes the message durable and then
 * calls session_message_done(), which emits the 250 (or the 4xx) and lets
 * input flow again. SESSION_EV_CLOSE asks the shell to flush the output and
 * close the connection.
 */
#ifndef PETREL_SMTP_SESSION_H
#define PETREL_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/address.h"
#include "util/buf.h"
#include "util/rcpt.h"
#include "util/strlist.h"

struct session;

/* A policy answer: a reply code, its enhanced code and text ('\n' separates
 * the lines of a multi-line reply). */
struct smtp_verdict {
	int code;
	const char *ext;
	struct buf text;
};

struct smtp_policy {
	/* RCPT TO: decide the reply; on 2xx append the final delivery addresses
	 * to targets (alias expansion happens here). */
	void (*rcpt)(void *ctx, const struct address *rcpt, struct smtp_verdict *v,
		     struct strlist *targets);
	/* VRFY / EXPN with the argument as given (already known to be enabled). */
	void (*vrfy)(void *ctx, const char *arg, struct smtp_verdict *v);
	void (*expn)(void *ctx, const char *arg, struct smtp_verdict *v);
	/* MAIL FROM (may be NULL): may this client send now, and may login
	 * (NULL when not logged in) use sender? */
	void (*mail)(void *ctx, const char *login, const struct address *sender,
		     struct smtp_verdict *v);
	/* MAIL FROM, once mail allowed it (may be NULL): must the sender's
	 * domain be looked up before the reply (SESSION_EV_SENDER)? */
	bool (*sender_lookup)(void *ctx, const char *login, const struct address *sender);
};

/* Message content (CRLF line ends, not dot-stuffed) as it arrives. */
struct smtp_sink {
	/* A message's content begins (DATA, or the first BDAT chunk). */
	void (*begin)(void *ctx);
	/* The next n octets of it. */
	void (*write)(void *ctx, const char *p, size_t n);
	/* The content begun will not be handed over (refused, reset, closed);
	 * also called after a handed-over message is answered. */
	void (*discard)(void *ctx);
};

/* The session passes content on once it holds this much. */
#define SESSION_CONTENT_CHUNK (8u << 10)

struct session_limits {
	const char *hostname;       /* our name for the banner and EHLO */
	uint64_t max_message_size;  /* RFC 1870 SIZE; 0 = unlimited */
	unsigned max_recipients;    /* per transaction, 452 beyond (RFC 5321 4.5.3.1.8) */
	unsigned max_hops;          /* 554 5.4.6 for more Received: fields (RFC 5321 6.3); 0 = no limit */
	unsigned max_errors;        /* 421 and close after this many errors; 0 = no limit */
	unsigned max_no_progress;   /* 421 after this many commands without a message; 0 = none */
	bool vrfy;                  /* off: VRFY answers 252 */
	bool expn;                  /* off: EXPN answers 502 */
	bool starttls;              /* offer STARTTLS (RFC 3207) when not yet under TLS */
	bool auth;                  /* offer AUTH (RFC 4954), only ever under TLS */
	bool submission;            /* RFC 6409: a transaction needs AUTH first */
};

/* The transaction handed over at SESSION_EV_MESSAGE. */
struct envelope {
	char *sender;               /* "" for the null reverse-path */
	bool body_8bit;             /* BODY=8BITMIME */
	bool smtputf8;              /* SMTPUTF8 (RFC 6531) */
	bool esmtp;                 /* EHLO (vs HELO): "with ESMTP" in Received */
	/* Final delivery addresses, deduplicated, each with the RCPT TO
	 * address it came from and that command's DSN parameters. */
	struct rcpt_list rcpt;
	unsigned naccepted;         /* accepted RCPT commands */
	unsigned nover;             /* RCPT commands past max-recipients */
	/* DSN (RFC 3461), in wire form; see util/dsn.h. */
	char *envid;                /* ENVID as given (xtext), or NULL */
	uint8_t ret;                /* enum dsn_ret */
};

enum session_event {
	SESSION_EV_NONE,
	SESSION_EV_MESSAGE,  /* envelope + body complete: make it durable */
	SESSION_EV_CLOSE,    /* flush output, then close */
	SESSION_EV_STARTTLS, /* flush output, drop unread input, handshake, session_tls_started() */
	SESSION_EV_AUTH,     /* check session_auth_user()/_pass(), then session_auth_done() */
	SESSION_EV_SENDER,   /* look up session_sender_domain(), then session_sender_done() */
};

enum auth_result { AUTH_OK, AUTH_FAILED, AUTH_BLOCKED };

/* What the DNS says about the sender's domain: mail can be returned to it,
 * the lookup failed for now, the domain does not exist or mail to it would
 * find no server with an address, or it has a null MX (RFC 7505). */
enum sender_result { SENDER_OK, SENDER_TEMPFAIL, SENDER_UNKNOWN, SENDER_NULL_MX };

struct session *session_new(const struct session_limits *lim, const struct smtp_policy *pol,
			    void *pol_ctx, const struct smtp_sink *sink, void *sink_ctx);
void session_free(struct session *s);

/* Emits the 220 greeting. */
void session_start(struct session *s);
/* Consumes client bytes; returns how many were used. Stops early while an
 * event is pending: the caller keeps the rest and feeds it again later. */
size_t session_feed(struct session *s, const char *p, size_t n);
/* Replies waiting to be sent; the caller sends and then buf_reset()s it. */
struct buf *session_output(struct session *s);
enum session_event session_event(const struct session *s);

const struct envelope *session_envelope(const struct session *s);
/* Octets of the current message's content so far (at SESSION_EV_MESSAGE:
 * all of it, every one already written to the sink). */
uint64_t session_content_len(const struct session *s);
const char *session_helo(const struct session *s);

/* Result of making the message durable: queue_id on success, or NULL with
 * err set (an errno; ENOSPC gives 452 4.3.1, anything else 451 4.3.0). */
void session_message_done(struct session *s, const char *queue_id, int err);
/* The client was silent too long (RFC 5321 4.5.3.2): 421 and close. */
void session_timeout(struct session *s);
/* The server is stopping: 421 and close. */
void session_shutdown(struct session *s);
/* True while the client is sending a message's content: inside DATA, or
 * between the BDAT chunks of one transaction. Such a session gets the data
 * timeout and may finish its message when the server is stopping. */
bool session_in_data(const struct session *s);

/* The TLS handshake succeeded (after STARTTLS, or at once on an implicit-TLS
 * listener): RFC 3207 4.2, the session starts over, the client greets again. */
void session_tls_started(struct session *s);
bool session_tls_active(const struct session *s);
/* The credentials of a pending SESSION_EV_AUTH (valid until session_auth_done). */
const char *session_auth_user(const struct session *s);
const char *session_auth_pass(const struct session *s);
/* The verdict on them: 235, 535, or 454 when the client is rate-limited. */
void session_auth_done(struct session *s, enum auth_result r);
/* The logged-in user, or NULL. */
const char *session_login(const struct session *s);

/* The domain of the pending SESSION_EV_SENDER (valid until session_sender_done). */
const char *session_sender_domain(const struct session *s);
/* The verdict on it: 250 to the MAIL, or its refusal (450 4.1.8, 550
 * 5.1.8, 550 5.7.27). */
void session_sender_done(struct session *s, enum sender_result r);

#endif
