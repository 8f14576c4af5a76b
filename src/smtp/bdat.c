/*
 * bdat - CHUNKING (RFC 3030): message content sent as counted chunks,
 * "BDAT <size> [LAST]". The octets of a chunk are always read, even when
 * the command is refused, so that message content can never be taken for
 * commands. Content has no dot-stuffing; bare CR and bare LF are stored as
 * CRLF, as with DATA (docs/smtp.md), so nothing downstream sees them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/session_int.h"

bool check_bdat(struct session *s, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(arg, &end, 10);
	bool last = strcasecmp(end, " LAST") == 0;
	if (arg[0] < '0' || arg[0] > '9' || errno || (*end && !last)) {
		/* Without a size we cannot tell content from commands: stop here. */
		session_reply(s, 421, "4.5.4", "Malformed BDAT, closing connection");
		session_close(s);
		return false;
	}
	s->bdat_left = n;
	s->bdat_last = last;
	return true;
}

static void owe(struct session *s, int code, const char *ext, const char *text)
{
	if (!s->bdat_error) {
		s->bdat_error = code;
		s->bdat_ext = ext;
		s->bdat_text = text;
	}
}

void proceed_bdat(struct session *s, const char *arg)
{
	(void)arg;
	s->bdat_error = 0;
	s->bdat_prev = s->state == ST_FRESH ? ST_FRESH : ST_READY;
	if (s->state != ST_MAIL)
		owe(s, 503, "5.5.1", "Need MAIL and RCPT before BDAT");
	else if (!s->env.rcpt.n)
		owe(s, 554, "5.5.1", "No valid recipients");
	if (!s->bdat_error && !s->bdat_used) {
		s->bdat_used = true;
		s->bdat_cr = false;
		session_content_start(s);
	}
	s->state = ST_BDAT;
	if (s->bdat_left == 0)
		bdat_feed(s, "", 0);
}

/* Appends content, turning bare CR and bare LF into CRLF. */
static void store(struct session *s, const char *p, size_t n)
{
	uint64_t max = s->lim->max_message_size;
	size_t added = s->content.len, from = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->bdat_cr) {
			s->bdat_cr = false;
			buf_append(&s->content, "\r\n", 2);
			if (p[i] == '\n') {
				from = i + 1;
				continue;
			}
		}
		if (p[i] == '\r' || p[i] == '\n') {
			buf_append(&s->content, p + from, i - from);
			from = i + 1;
			if (p[i] == '\r')
				s->bdat_cr = true;
			else
				buf_append(&s->content, "\r\n", 2);
		}
	}
	buf_append(&s->content, p + from, n - from);
	session_content_added(s, added);
	if (max && s->content_len > max) {
		owe(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		buf_reset(&s->content);
	}
}

static void chunk_done(struct session *s)
{
	if (s->bdat_error) {
		session_reply(s, s->bdat_error, s->bdat_ext, s->bdat_text);
		session_count_error(s);
		session_reset_transaction(s);
		s->state = s->bdat_prev;
		return;
	}
	if (!s->bdat_last) {
		s->state = ST_MAIL;
		session_reply(s, 250, "2.0.0", "Chunk received");
		return;
	}
	if (s->bdat_cr) {
		size_t from = s->content.len;
		buf_append(&s->content, "\r\n", 2);
		session_content_added(s, from);
	}
	session_content_done(s);
}

size_t bdat_feed(struct session *s, const char *p, size_t n)
{
	/* A bite at a time, as for DATA: the content stays within a few chunks. */
	size_t take = n < s->bdat_left ? n : (size_t)s->bdat_left;
	if (take > SESSION_CONTENT_CHUNK)
		take = SESSION_CONTENT_CHUNK;
	if (!s->bdat_error)
		store(s, p, take);
	s->bdat_left -= take;
	if (s->bdat_left == 0)
		chunk_done(s);
	return take;
}
