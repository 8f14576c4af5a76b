/*
 * auth - the AUTH command of the server session (RFC 4954) with the PLAIN
 * (RFC 4616) and LOGIN mechanisms, offered only under TLS. The session
 * collects the credentials and raises SESSION_EV_AUTH; checking them (slow
 * crypt(3) hashes, rate limits) is the shell's job.
 */
#include <string.h>
#include <strings.h>

#include "smtp/session_int.h"
#include "util/base64.h"

#define CRED_MAX 255

void auth_clear(struct session *s)
{
	/* Do not leave passwords lying around in freed memory. */
	if (s->auth_pass.p)
		explicit_bzero(s->auth_pass.p, s->auth_pass.cap);
	buf_free(&s->auth_pass);
	buf_free(&s->auth_user);
}

static void auth_fail(struct session *s, int code, const char *ext, const char *text)
{
	auth_clear(s);
	s->state = s->auth_return;
	session_reply(s, code, ext, text);
}

/* Credentials complete: hand them to the shell. */
static void submit_creds(struct session *s)
{
	s->state = ST_AUTH_WAIT;
	s->event = SESSION_EV_AUTH;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static void plain_response(struct session *s, const struct buf *dec)
{
	const char *p = dec->p ? dec->p : "";
	const char *n1 = memchr(p, '\0', dec->len);
	const char *n2 = n1 ? memchr(n1 + 1, '\0', dec->len - (size_t)(n1 + 1 - p)) : NULL;
	if (!n2) {
		auth_fail(s, 501, "5.5.2", "Malformed PLAIN response");
		return;
	}
	size_t zlen = (size_t)(n1 - p), ulen = (size_t)(n2 - n1 - 1);
	size_t plen = dec->len - (size_t)(n2 + 1 - p);
	/* Acting as somebody else (an authzid differing from the login) is not offered. */
	if (!ulen || ulen > CRED_MAX || plen > CRED_MAX || memchr(n2 + 1, '\0', plen) ||
	    (zlen && (zlen != ulen || memcmp(p, n1 + 1, ulen) != 0))) {
		auth_fail(s, 535, "5.7.8", "Authentication credentials invalid");
		return;
	}
	buf_append(&s->auth_user, n1 + 1, ulen);
	buf_append(&s->auth_pass, n2 + 1, plen);
	submit_creds(s);
}

/* One base64 line from the client, for the mechanism under way. */
void auth_response(struct session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		auth_fail(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	struct buf dec = BUF_INIT;
	bool ok = base64_decode(&dec, line, len);
	/* LOGIN: a NUL inside a name or password is never legitimate. */
	if (ok && s->auth_step >= 0 && memchr(dec.p ? dec.p : "", '\0', dec.len))
		ok = false;
	if (!ok) {
		buf_free(&dec);
		auth_fail(s, 501, "5.5.2", "Invalid base64 data");
		return;
	}
	if (s->auth_step < 0) {
		plain_response(s, &dec);
	} else if (dec.len > CRED_MAX) {
		auth_fail(s, 535, "5.7.8", "Authentication credentials invalid");
	} else if (s->auth_step == 0 && dec.len == 0) {
		auth_fail(s, 535, "5.7.8", "Authentication credentials invalid");
	} else if (s->auth_step == 0) {
		buf_append(&s->auth_user, dec.p ? dec.p : "", dec.len);
		s->auth_step = 1;
		session_reply(s, 334, NULL, "UGFzc3dvcmQ6"); /* "Password:" */
	} else {
		buf_append(&s->auth_pass, dec.p ? dec.p : "", dec.len);
		submit_creds(s);
	}
	if (dec.p)
		explicit_bzero(dec.p, dec.cap);
	buf_free(&dec);
}

bool check_auth(struct session *s, const char *arg)
{
	if (!s->lim->auth) {
		session_reply(s, 502, "5.5.1", "AUTH not available");
		return false;
	}
	if (!s->tls) {
		/* RFC 4954 4: never ask for a password in the clear. */
		session_reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return false;
	}
	if (s->login) {
		session_reply(s, 503, "5.5.1", "Already authenticated");
		return false;
	}
	if (s->state != ST_READY) {
		session_reply(s, 503, "5.5.1", "AUTH not allowed during a mail transaction");
		return false;
	}
	size_t n = strcspn(arg, " ");
	if (!((n == 5 && strncasecmp(arg, "PLAIN", 5) == 0) ||
	      (n == 5 && strncasecmp(arg, "LOGIN", 5) == 0))) {
		session_reply(s, 504, "5.5.4", "Unrecognized authentication type");
		return false;
	}
	return true;
}

void proceed_auth(struct session *s, const char *arg)
{
	bool plain = strncasecmp(arg, "PLAIN", 5) == 0;
	const char *initial = arg + 5;
	while (*initial == ' ')
		initial++;
	auth_clear(s);
	s->auth_return = s->state;
	s->auth_step = plain ? -1 : 0;
	s->state = ST_AUTH_LINE;
	if (*initial) {
		/* RFC 4954 4: "=" stands for an empty initial response. */
		auth_response(s, strcmp(initial, "=") == 0 ? "" : initial,
			      strcmp(initial, "=") == 0 ? 0 : strlen(initial));
		return;
	}
	session_reply(s, 334, NULL, plain ? "" : "VXNlcm5hbWU6"); /* "Username:" */
}
