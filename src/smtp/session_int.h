/*
 * session_int - the session's private state, shared by session.c (input,
 * framing, dispatch) and commands.c (one check + proceed pair per verb).
 * Nothing outside src/smtp includes this.
 */
#ifndef PETREL_SMTP_SESSION_INT_H
#define PETREL_SMTP_SESSION_INT_H

#include "smtp/data_reader.h"
#include "smtp/session.h"

#define CMD_LINE_MAX 512 /* RFC 5321 4.5.3.1.4, CRLF included */

enum session_state {
	ST_FRESH,     /* no HELO/EHLO yet */
	ST_READY,     /* greeted, no transaction */
	ST_MAIL,      /* MAIL accepted */
	ST_DATA,      /* reading message content */
	ST_WAIT,      /* message complete, waiting for the spool */
	ST_CLOSED,
};

struct session {
	const struct session_limits *lim;
	const struct smtp_policy *pol;
	void *pol_ctx;
	enum session_state state;
	enum session_event event;
	bool esmtp;
	char *helo;
	struct buf out;
	struct buf line;        /* command line being assembled */
	bool line_overflow;     /* discarding the rest of an overlong line */
	unsigned errors;
	struct envelope env;
	struct address addr;    /* the path check_mail/check_rcpt parsed */
	bool mail_8bit;         /* BODY=8BITMIME seen by check_mail */
	struct buf body;
	struct data_reader dr;
};

/* Command flags (the dispatch table's columns). */
enum {
	CMD_NEEDS_ARG = 1,   /* 501 without an argument */
	CMD_NO_ARG = 2,      /* 501 with one */
	CMD_NEEDS_HELO = 4,  /* 503 before HELO/EHLO (RFC 5321 4.1.4) */
	CMD_ERROR = 8,       /* counts as a client error */
};

struct smtp_command {
	const char *verb;
	unsigned flags;
	/* Validates; on failure emits the 4xx/5xx reply and returns false. */
	bool (*check)(struct session *s, const char *arg);
	/* Acts and replies; only called after check passed. */
	void (*proceed)(struct session *s, const char *arg);
};

const struct smtp_command *command_lookup(const char *verb, size_t len);
void session_reply(struct session *s, int code, const char *ext, const char *text);
void session_replyf(struct session *s, int code, const char *ext, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void session_reset_transaction(struct session *s);
void session_close(struct session *s);

#endif
