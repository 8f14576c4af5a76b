/*
 * session_int - the session's private state, shared by session.c (input,
 * framing, dispatch) and commands.c (one check + proceed pair per verb).
 * Nothing outside src/smtp includes this.
 */
#ifndef PETREL_SMTP_SESSION_INT_H
#define PETREL_SMTP_SESSION_INT_H

#include "smtp/data_reader.h"
#include "smtp/headers.h"
#include "smtp/session.h"
#include "util/dsn.h"

#define CMD_LINE_MAX 512 /* RFC 5321 4.5.3.1.4, CRLF included */
/* RFC 3461 4: DSN's RET and ENVID may make MAIL 100 octets longer, NOTIFY
 * and ORCPT RCPT 500; the line buffer holds the longest. */
#define CMD_LINE_DSN_MAIL 100
#define CMD_LINE_DSN_RCPT 500
#define CMD_LINE_BUF_MAX (CMD_LINE_MAX + CMD_LINE_DSN_RCPT)
/* RCPTs past max-recipients answered 452 before each further one counts as
 * an error: far more than a pipelining client's real list (as Postfix's
 * smtpd_recipient_overshoot_limit). */
#define RCPT_OVERSHOOT_MAX 1000

enum session_state {
	ST_FRESH,     /* no HELO/EHLO yet */
	ST_READY,     /* greeted, no transaction */
	ST_SENDER,    /* MAIL: the sender's domain is being looked up */
	ST_MAIL,      /* MAIL accepted */
	ST_DATA,      /* reading message content */
	ST_WAIT,      /* message complete, waiting for the spool */
	ST_BDAT,      /* reading a BDAT chunk's octets (RFC 3030) */
	ST_AUTH_LINE, /* AUTH: the next line is a response, not a command */
	ST_AUTH_WAIT, /* AUTH: credentials out for checking */
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
	unsigned no_progress;   /* commands since the last accepted message */
	struct envelope env;
	struct address addr;    /* the path check_mail/check_rcpt parsed */
	bool mail_8bit;         /* BODY=8BITMIME seen by check_mail */
	bool mail_utf8;         /* SMTPUTF8 seen by check_mail */
	/* DSN parameters (RFC 3461) check_mail/check_rcpt parsed, in wire form */
	uint8_t mail_ret;       /* enum dsn_ret */
	char mail_envid[3 * DSN_ENVID_MAX + 1]; /* "" when not given */
	uint8_t rcpt_notify;    /* DSN_NOTIFY_* bits, 0 when not given */
	char rcpt_orcpt[DSN_ORCPT_MAX + 1];     /* "" when not given */
	/* BDAT (RFC 3030) */
	uint64_t bdat_left;     /* octets of the current chunk still to read */
	bool bdat_last;         /* the current chunk is the LAST one */
	bool bdat_used;         /* this transaction sends its content by BDAT */
	bool bdat_cr;           /* a CR ended the previous piece */
	enum session_state bdat_prev; /* state before a refused chunk */
	int bdat_error;         /* reply code owed once the chunk is read, or 0 */
	const char *bdat_ext;
	const char *bdat_text;
	bool tls;               /* under TLS */
	char *login;            /* authenticated user */
	enum session_state auth_return; /* state to resume after AUTH */
	int auth_step;          /* AUTH LOGIN: 0 user, 1 password; -1 PLAIN */
	struct buf auth_user;
	struct buf auth_pass;
	const struct smtp_sink *sink;
	void *sink_ctx;
	struct buf content;     /* content not yet written to the sink */
	uint64_t content_len;   /* content octets of this message so far */
	bool content_open;      /* the sink has had begin, not yet discard */
	struct data_reader dr;
	struct header_scan hops; /* the body's Received: fields (RFC 5321 6.3) */
};

/* Command flags (the dispatch table's columns). */
enum {
	CMD_NEEDS_ARG = 1,   /* 501 without an argument */
	CMD_NO_ARG = 2,      /* 501 with one */
	CMD_NEEDS_HELO = 4,  /* 503 before HELO/EHLO (RFC 5321 4.1.4) */
	CMD_ERROR = 8,       /* counts as a client error */
	CMD_NO_PROGRESS = 16, /* VRFY, EXPN, RCPT...: harvesting if it never ends in a message */
	CMD_DSN_MAIL = 32,   /* line may be CMD_LINE_DSN_MAIL longer */
	CMD_DSN_RCPT = 64,   /* line may be CMD_LINE_DSN_RCPT longer */
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
/* auth.c: one line of an AUTH exchange (ST_AUTH_LINE). */
void auth_response(struct session *s, const char *line, size_t len);
void auth_clear(struct session *s);
/* bdat.c */
bool check_bdat(struct session *s, const char *arg);
void proceed_bdat(struct session *s, const char *arg);
size_t bdat_feed(struct session *s, const char *p, size_t n);
void session_count_error(struct session *s);
/* Counts a command that did not bring mail closer; true when it closed the session. */
bool session_no_progress(struct session *s);
bool check_auth(struct session *s, const char *arg);
void proceed_auth(struct session *s, const char *arg);
void session_reply(struct session *s, int code, const char *ext, const char *text);
void session_replyf(struct session *s, int code, const char *ext, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void session_reset_transaction(struct session *s);
/* A new message's content begins: an empty body, nothing counted. */
void session_content_start(struct session *s);
/* Looks at what was appended to s->content from octet from on, and passes
 * the content to the sink once there is enough of it. */
void session_content_added(struct session *s, size_t from);
/* The content is complete: SESSION_EV_MESSAGE, or refused when it loops. */
void session_content_done(struct session *s);
void session_close(struct session *s);

#endif
