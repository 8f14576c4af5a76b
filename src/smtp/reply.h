/*
 * reply - formatting of SMTP replies (RFC 5321 4.2) with enhanced status
 * codes (RFC 3463, announced per RFC 2034).
 *
 * Text may hold several lines separated by '\n'; they become a multi-line
 * reply ("250-first", ..., "250 last"). Each line is cut to the RFC 5321
 * 4.5.3.1.5 reply-line limit (512 octets with CRLF), and control characters
 * in the text are replaced so nothing a peer supplied can forge a reply line.
 */
#ifndef PETREL_SMTP_REPLY_H
#define PETREL_SMTP_REPLY_H

#include "util/buf.h"

#define REPLY_LINE_MAX 512

/* ext is the enhanced status code ("2.1.5") or NULL for none. */
void reply_add(struct buf *out, int code, const char *ext, const char *text);
void reply_addf(struct buf *out, int code, const char *ext, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
