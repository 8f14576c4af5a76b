/*
 * data_reader - the DATA phase byte stream, pure (RFC 5321 4.1.1.4, 4.5.2).
 *
 * Feeds wire bytes after the 354 reply and yields the message content:
 * - the message ends only at <CRLF>.<CRLF> exactly (the CRLF ending the DATA
 *   command line counts as the first CRLF, so ".<CRLF>" alone is an empty
 *   message);
 * - transparency: a line starting with '.' loses that first '.' (4.5.2);
 * - SMTP smuggling defence: a bare CR or bare LF never ends a line as far as
 *   the end-of-data and dot rules are concerned, and each one is normalised to
 *   CRLF in the stored content, so "\n.\n", "\r.\r", "\n.\r\n" and friends
 *   are just text and nothing downstream can read them as an end of data;
 * - limits: content beyond max_size is counted but not kept (552 at the end);
 *   a text line over 1000 octets (4.5.3.1.6) is flagged;
 * - every other byte, 8-bit and NUL included, is kept exactly.
 */
#ifndef PETREL_SMTP_DATA_READER_H
#define PETREL_SMTP_DATA_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define DATA_LINE_MAX 1000 /* RFC 5321 4.5.3.1.6, CRLF included */

struct data_reader {
	int state;
	uint64_t max_size;
	uint64_t size;        /* content octets seen (kept or not) */
	size_t line_len;      /* wire octets in the current line */
	bool too_big;
	bool line_too_long;
	unsigned long bare;   /* bare CR/LF normalised */
};

void data_reader_init(struct data_reader *r, uint64_t max_size);
/* Consumes bytes up to and including the end-of-data mark, appending content
 * to out. Returns the number of bytes consumed; *done is set when the end was
 * reached (bytes after it are left to the caller). */
size_t data_reader_feed(struct data_reader *r, const char *p, size_t n, struct buf *out,
			bool *done);

#endif
