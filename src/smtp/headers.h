/*
 * headers - looking into a message's header section (RFC 5322 2.2), pure.
 *
 * The header section is the lines up to the first empty one, or up to the
 * first line that is neither a header field ("name:" with a printable name,
 * white space before the colon tolerated, RFC 5322 4.5) nor the
 * continuation of one (it starts with a space or a tab, 2.2.3). Names
 * compare without regard to case.
 *
 * header_scan follows the section as the message streams by, a piece at a
 * time, in fixed memory: it counts the fields of one name (the Received:
 * fields of a hop count, RFC 5321 6.3) and hands over the value of each,
 * unfolded and trimmed, for checks like a Delivered-To: loop. It stops
 * looking at the end of the section, so a body line is never a field.
 */
#ifndef PETREL_SMTP_HEADERS_H
#define PETREL_SMTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest value header_scan hands over (an address with room to spare);
 * a longer one is flagged, not cut. */
#define HEADER_VALUE_MAX 512

struct header_scan {
	const char *name;      /* the field name looked for */
	unsigned count;        /* fields of that name seen so far */
	bool ended;            /* the header section is over */
	/* see header_scan_feed: value_len octets (any but CR and LF, NUL
	 * included), then a NUL */
	char value[HEADER_VALUE_MAX + 1];
	size_t value_len;
	bool value_long;       /* the value did not fit: value is empty */
	/* private */
	uint8_t state;
	size_t matched;        /* octets of name matched so far */
};

/* Starts a scan for fields called name (the string must outlive the scan). */
void header_scan_init(struct header_scan *h, const char *name);
/*
 * Takes the next n octets of the message (any line ends: CRLF, bare LF).
 * Returns how many it used: all of them, unless a field called name
 * became complete, in which case *field is set and h->value (h->value_len
 * octets) holds its value until the next call (feed the rest after looking
 * at it).
 */
size_t header_scan_feed(struct header_scan *h, const char *p, size_t n, bool *field);
/* The message is over; true when that completed a field called name (its
 * value in h->value). */
bool header_scan_end(struct header_scan *h);

/* How many fields called name the header section of msg has. */
unsigned header_count(const char *msg, size_t len, const char *name);
/* True when the header section of msg has a field called name. */
bool header_has(const char *msg, size_t len, const char *name);

#endif
