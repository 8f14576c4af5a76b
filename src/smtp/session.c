/*
 * session - input framing, state and dispatch of the pure SMTP server
 * session; see session.h. The verbs themselves live in commands.c.
 */
#include "smtp/session_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/reply.h"

struct session *session_new(const struct session_limits *lim, const struct smtp_policy *pol,
			    void *pol_ctx, const struct smtp_sink *sink, void *sink_ctx)
{
	struct session *s = xcalloc(1, sizeof *s);
	s->lim = lim;
	s->pol = pol;
	s->pol_ctx = pol_ctx;
	s->sink = sink;
	s->sink_ctx = sink_ctx;
	s->state = ST_FRESH;
	return s;
}

void session_reset_transaction(struct session *s)
{
	free(s->env.sender);
	rcpt_list_free(&s->env.rcpt);
	free(s->env.envid);
	s->env = (struct envelope){.esmtp = s->esmtp};
	buf_free(&s->content);
	s->content_len = 0;
	if (s->content_open)
		s->sink->discard(s->sink_ctx);
	s->content_open = false;
	s->bdat_used = false;
	s->bdat_cr = false;
	if (s->state == ST_MAIL || s->state == ST_DATA || s->state == ST_WAIT ||
	    s->state == ST_BDAT)
		s->state = ST_READY;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	session_reset_transaction(s);
	auth_clear(s);
	free(s->login);
	free(s->helo);
	buf_free(&s->out);
	buf_free(&s->line);
	free(s);
}

void session_reply(struct session *s, int code, const char *ext, const char *text)
{
	reply_add(&s->out, code, ext, text);
}

void session_replyf(struct session *s, int code, const char *ext, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	reply_add(&s->out, code, ext, text);
}

void session_close(struct session *s)
{
	s->state = ST_CLOSED;
	s->event = SESSION_EV_CLOSE;
}

void session_start(struct session *s)
{
	/* RFC 5321 4.2: the greeting; "ESMTP" tells clients EHLO is worth trying. */
	session_replyf(s, 220, NULL, "%s ESMTP Petrel", s->lim->hostname);
}

/* Counts a client error; past the limit the session ends (RFC 5321 4.3.2
 * allows 421 at any time when the server must close). */
void session_count_error(struct session *s)
{
	s->errors++;
	if (s->lim->max_errors && s->errors >= s->lim->max_errors && s->state != ST_CLOSED) {
		session_reply(s, 421, "4.7.0", "Too many errors, closing connection");
		session_close(s);
	}
}

bool session_no_progress(struct session *s)
{
	if (!s->lim->max_no_progress || ++s->no_progress <= s->lim->max_no_progress)
		return false;
	/* Address harvesting (refused RCPTs, VRFY, EXPN probing) never sends mail. */
	session_reply(s, 421, "4.7.0", "Too many commands without sending mail, closing connection");
	session_close(s);
	return true;
}

/* RFC 5321 4.5.3.1.4: 512 octets, CRLF included; DSN lengthens MAIL and RCPT. */
static void line_too_long(struct session *s)
{
	session_reply(s, 500, "5.5.2", "Line too long (RFC 5321 4.5.3.1.4)");
	session_count_error(s);
}

static void dispatch(struct session *s, const char *line, size_t len)
{
	if (memchr(line, '\0', len)) {
		session_reply(s, 500, "5.5.2", "NUL byte in command line");
		session_count_error(s);
		return;
	}
	size_t vlen = strcspn(line, " ");
	const struct smtp_command *cmd = command_lookup(line, vlen);
	if (!cmd) {
		session_reply(s, 500, "5.5.2", "Command unrecognized");
		session_count_error(s);
		return;
	}
	size_t max = CMD_LINE_MAX + (cmd->flags & CMD_DSN_MAIL ? CMD_LINE_DSN_MAIL : 0) +
		     (cmd->flags & CMD_DSN_RCPT ? CMD_LINE_DSN_RCPT : 0);
	if (len + 2 > max) {
		line_too_long(s);
		return;
	}
	const char *arg = line + vlen;
	while (*arg == ' ')
		arg++;
	if ((cmd->flags & CMD_NO_PROGRESS) && session_no_progress(s))
		return;
	size_t before = s->out.len;
	bool ok;
	if ((cmd->flags & CMD_NEEDS_ARG) && !*arg) {
		session_replyf(s, 501, "5.5.4", "Syntax: %s needs an argument", cmd->verb);
		ok = false;
	} else if ((cmd->flags & CMD_NO_ARG) && *arg) {
		session_replyf(s, 501, "5.5.4", "Syntax: %s takes no argument", cmd->verb);
		ok = false;
	} else if ((cmd->flags & CMD_NEEDS_HELO) && s->state == ST_FRESH) {
		session_reply(s, 503, "5.5.1", "Send HELO or EHLO first");
		ok = false;
	} else {
		ok = !cmd->check || cmd->check(s, arg);
	}
	if (ok) {
		cmd->proceed(s, arg);
		if (cmd->flags & CMD_ERROR)
			session_count_error(s);
	} else if (s->out.len > before && s->out.p[before] >= '4') {
		session_count_error(s);
	}
}

/* Assembles command lines. RFC 5321 2.3.8 wants CRLF; a bare LF is taken as
 * an end of line too (harmless outside DATA, and common in scripts). */
static size_t feed_command(struct session *s, const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	size_t take = nl ? (size_t)(nl - p) + 1 : n;
	if (!s->line_overflow) {
		if (s->line.len + take > CMD_LINE_BUF_MAX) {
			s->line_overflow = true;
			buf_reset(&s->line);
		} else {
			buf_append(&s->line, p, take);
		}
	}
	if (!nl)
		return take;
	if (s->line_overflow) {
		s->line_overflow = false;
		line_too_long(s);
		return take;
	}
	size_t len = s->line.len - 1;
	if (len && s->line.p[len - 1] == '\r')
		len--;
	s->line.p[len] = '\0';
	if (s->state == ST_AUTH_LINE)
		auth_response(s, s->line.p, len);
	else
		dispatch(s, s->line.p, len);
	buf_reset(&s->line);
	return take;
}

void session_content_start(struct session *s)
{
	buf_reset(&s->content);
	s->content_len = 0;
	s->content_open = true;
	s->sink->begin(s->sink_ctx);
	header_scan_init(&s->hops, "Received");
}

static void content_flush(struct session *s)
{
	if (s->content.len)
		s->sink->write(s->sink_ctx, s->content.p, s->content.len);
	buf_reset(&s->content);
}

/* Hops are counted as the content arrives, so the check costs nothing at
 * the end and no pass over a big message; the count stops at the end of
 * the header section. */
void session_content_added(struct session *s, size_t from)
{
	bool field;
	s->content_len += s->content.len - from;
	while (from < s->content.len && !s->hops.ended)
		from += header_scan_feed(&s->hops, s->content.p + from, s->content.len - from,
					 &field);
	if (s->content.len >= SESSION_CONTENT_CHUNK)
		content_flush(s);
}

void session_content_done(struct session *s)
{
	content_flush(s);
	/* RFC 5321 6.3: a message that has passed more relays than any real
	 * route has is going round in a loop; RFC 3463 X.4.6 is "routing loop
	 * detected". Without a check it would circle for ever. */
	if (s->lim->max_hops && s->hops.count > s->lim->max_hops) {
		session_replyf(s, 554, "5.4.6", "Too many hops: %u Received: header fields, "
			       "more than %u; mail loop? (RFC 5321 6.3)", s->hops.count,
			       s->lim->max_hops);
		session_count_error(s);
		session_reset_transaction(s);
		return;
	}
	s->state = ST_WAIT;
	s->event = SESSION_EV_MESSAGE;
}

static void data_finished(struct session *s)
{
	if (s->dr.too_big) {
		session_replyf(s, 552, "5.3.4", "Message size exceeds fixed limit of %llu bytes",
			       (unsigned long long)s->lim->max_message_size);
	} else if (s->dr.line_too_long) {
		session_reply(s, 554, "5.6.0",
			      "Message has a line over 1000 octets (RFC 5321 4.5.3.1.6)");
	} else {
		session_content_done(s);
		return;
	}
	session_count_error(s);
	session_reset_transaction(s);
}

size_t session_feed(struct session *s, const char *p, size_t n)
{
	size_t used = 0;
	while (used < n && s->event == SESSION_EV_NONE) {
		if (s->state == ST_DATA) {
			/* A bite at a time: bare line ends double in the content, which
			 * must stay within a few chunks. */
			bool done;
			size_t from = s->content.len, bite = n - used;
			if (bite > SESSION_CONTENT_CHUNK)
				bite = SESSION_CONTENT_CHUNK;
			used += data_reader_feed(&s->dr, p + used, bite, &s->content, &done);
			session_content_added(s, from);
			if (done)
				data_finished(s);
		} else if (s->state == ST_BDAT) {
			used += bdat_feed(s, p + used, n - used);
		} else {
			used += feed_command(s, p + used, n - used);
		}
	}
	return used;
}

struct buf *session_output(struct session *s)
{
	return &s->out;
}

enum session_event session_event(const struct session *s)
{
	return s->event;
}

const struct envelope *session_envelope(const struct session *s)
{
	return &s->env;
}

uint64_t session_content_len(const struct session *s)
{
	return s->content_len;
}

const char *session_helo(const struct session *s)
{
	return s->helo ? s->helo : "";
}

bool session_in_data(const struct session *s)
{
	return s->state == ST_DATA || s->state == ST_BDAT || (s->state == ST_MAIL && s->bdat_used);
}

void session_message_done(struct session *s, const char *queue_id, int err)
{
	if (s->state != ST_WAIT)
		return;
	s->event = SESSION_EV_NONE;
	if (queue_id) {
		s->no_progress = 0;
		session_replyf(s, 250, "2.0.0", "Ok: queued as %s", queue_id);
	}
	else if (err == ENOSPC)
		session_reply(s, 452, "4.3.1", "Insufficient system storage, try again later");
	else
		session_reply(s, 451, "4.3.0", "Local error in processing, try again later");
	session_reset_transaction(s);
}

void session_timeout(struct session *s)
{
	if (s->state == ST_CLOSED)
		return;
	session_reply(s, 421, "4.4.2", "Timeout exceeded, closing connection");
	session_close(s);
}

void session_shutdown(struct session *s)
{
	if (s->state == ST_CLOSED)
		return;
	session_replyf(s, 421, "4.3.2", "%s Service shutting down, closing connection",
		       s->lim->hostname);
	session_close(s);
}

void session_tls_started(struct session *s)
{
	/* RFC 3207 4.2: discard everything learnt before the handshake. */
	session_reset_transaction(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	s->tls = true;
	s->state = ST_FRESH;
	s->event = SESSION_EV_NONE;
}

bool session_tls_active(const struct session *s)
{
	return s->tls;
}

const char *session_auth_user(const struct session *s)
{
	return s->auth_user.p ? s->auth_user.p : "";
}

const char *session_auth_pass(const struct session *s)
{
	return s->auth_pass.p ? s->auth_pass.p : "";
}

void session_auth_done(struct session *s, enum auth_result r)
{
	if (s->state != ST_AUTH_WAIT)
		return;
	s->event = SESSION_EV_NONE;
	s->state = s->auth_return;
	if (r == AUTH_OK) {
		s->login = xstrdup(session_auth_user(s));
		session_reply(s, 235, "2.7.0", "Authentication successful");
	} else if (r == AUTH_BLOCKED) {
		session_reply(s, 454, "4.7.0", "Too many failed authentication attempts, try later");
		session_count_error(s);
	} else {
		session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
		session_count_error(s);
	}
	auth_clear(s);
}

const char *session_login(const struct session *s)
{
	return s->login;
}
