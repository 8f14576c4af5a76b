/*
 * received - the trace header a server prepends when it accepts a message
 * (RFC 5321 4.4, RFC 5322 3.6.7), pure: the caller supplies the clock.
 */
#ifndef PETREL_SMTP_RECEIVED_H
#define PETREL_SMTP_RECEIVED_H

#include <stdbool.h>
#include <time.h>

#include "util/buf.h"

struct received_info {
	const char *helo;        /* client's HELO/EHLO argument */
	const char *client_addr; /* "192.0.2.1" or "IPv6:2001:db8::1" */
	const char *by;          /* our hostname */
	const char *protocol;    /* "SMTP", "ESMTP" (RFC 3848 names) */
	const char *queue_id;
	const char *for_rcpt;    /* the single recipient, or NULL */
	time_t when;
};

/* The "with" protocol name (RFC 3848, RFC 6531 3.7.3): SMTP or ESMTP, with
 * S for TLS, A for an authenticated client, UTF8 in front for SMTPUTF8. */
const char *received_protocol(bool esmtp, bool tls, bool auth, bool utf8);

/* Appends "Received: ...\r\n" (folded, CRLF) to out. */
void received_header(struct buf *out, const struct received_info *ri);
/* Appends an RFC 5322 3.3 date-time in UTC, e.g. "Mon, 23 Nov 2026 19:40:00 +0000". */
void rfc5322_date(struct buf *out, time_t when);

#endif
