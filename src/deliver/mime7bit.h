/*
 * mime7bit - 8-bit message content made 7-bit for a server that does not
 * offer 8BITMIME (RFC 6152 3: the client converts such content or does not
 * send it).
 *
 * Pure and streaming in bounded memory: the stored message (CRLF lines, not
 * dot-stuffed) is fed twice, in pieces of any size. A part's
 * Content-Transfer-Encoding has to be written before its body, but whether
 * the body holds 8-bit octets is known only after it - hence two passes
 * over the spooled copy instead of holding a part in memory.
 *
 * The scan walks the header sections and the MIME structure (RFC 2045,
 * RFC 2046 5.1: multipart boundaries nested up to MIME7_DEPTH_MAX levels,
 * message/rfc822 parts) and notes which parts need converting. The
 * conversion then writes:
 * - every leaf part whose body holds 8-bit octets, or that is declared 8bit
 *   or binary, as quoted-printable (RFC 2045 6.7), its
 *   Content-Transfer-Encoding replaced; one without Content-Type gets
 *   "text/plain; charset=utf-8" (or unknown-8bit, RFC 1428, when its octets
 *   are not UTF-8), a message without MIME-Version gets "1.0";
 * - a composite part (multipart, message/rfc822) never encoded itself
 *   (RFC 2045 6.4) but walked into, a declared 8bit or binary made 7bit;
 * - everything else byte for byte, so a 7-bit part keeps its signature.
 *
 * Not convertible (the scan says why; the recipients bounce with 5.6.3):
 * 8-bit octets in a header field (they need SMTPUTF8, RFC 6531), in a part
 * already declared base64 or quoted-printable, outside every part of a
 * multipart (preamble, epilogue, delimiter lines) or in a message type that
 * may not be encoded (RFC 2046 5.2), in a multipart without a usable
 * boundary or nested too deep, or in more than MIME7_PARTS_MAX parts.
 */
#ifndef PETREL_DELIVER_MIME7BIT_H
#define PETREL_DELIVER_MIME7BIT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define MIME7_DEPTH_MAX 16     /* nested multipart and message/rfc822 levels */
#define MIME7_PARTS_MAX 1024   /* header sections (the message, parts, nested messages) */
#define MIME7_BOUNDARY_MAX 200 /* RFC 2046 5.1.1 says 70; some mailers write longer */

enum mime7_result {
	MIME7_OK,
	MIME7_8BIT_HEADER,
	MIME7_8BIT_ENCODED,
	MIME7_8BIT_OUTSIDE,
	MIME7_BAD_MULTIPART,
	MIME7_TOO_DEEP,
	MIME7_TOO_MANY_PARTS,
};

struct mime7;

struct mime7 *mime7_new(void);
void mime7_free(struct mime7 *m);

/* Pass 1: the whole message, in order. */
void mime7_scan(struct mime7 *m, const char *p, size_t n);
/* Ends the scan. MIME7_OK: the message can be sent 7-bit, and *needed says
 * whether the conversion changes anything at all. */
enum mime7_result mime7_scan_end(struct mime7 *m, bool *needed);
/* One line of text for a reply: what could not be converted. */
const char *mime7_reason(enum mime7_result r);

/* Pass 2, only after MIME7_OK: the same message again from its first
 * octet; appends the 7-bit result to out. */
void mime7_convert(struct mime7 *m, const char *p, size_t n, struct buf *out);
void mime7_convert_end(struct mime7 *m, struct buf *out);

#endif
