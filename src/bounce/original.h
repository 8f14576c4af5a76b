/*
 * original - the returned message inside a report (RFC 6522 part 3), handled
 * a piece at a time so that a report carrying a whole message (RFC 3461
 * RET=FULL) never holds it in memory: finding the end of its header section,
 * scanning it for the boundary's prefix (RFC 2046 5.1.1) and copying it with
 * its line ends made CRLF and its long lines cut. Pure: the caller supplies
 * the octets through a read function.
 */
#ifndef PETREL_BOUNCE_ORIGINAL_H
#define PETREL_BOUNCE_ORIGINAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

/* Octets read and written at a time. */
#define ORIGINAL_PIECE (64u << 10)

/* Reads up to len octets at off into dst: how many (0 at the end), or -1. */
typedef ssize_t (*original_read_fn)(void *ctx, void *dst, size_t len, uint64_t off);
/* Takes the next n octets of output. */
typedef void (*original_put_fn)(void *ctx, const char *p, size_t n);

struct original {
	original_read_fn read;
	void *ctx;
	uint64_t len;   /* octets of the message to use */
};

/* Finds where a header section ends (after its empty line, CRLF or bare LF),
 * fed a piece at a time. */
struct header_end {
	uint64_t seen;   /* octets fed */
	uint64_t len;    /* the section's length once found */
	bool found;
	uint8_t state;
};
void header_end_feed(struct header_end *h, const char *p, size_t n);

/* The length of o's header section (all of o when it has no empty line). */
uint64_t original_header_len(const struct original *o);

/* Counts the places prefix occurs in a stream fed a piece at a time and,
 * when taken is set, marks the w-digit number after each (when no greater
 * than limit) in that bit set. */
struct prefix_scan {
	const struct buf *prefix;
	size_t w;
	unsigned char *taken;
	size_t limit;
	size_t count;
	struct buf window;  /* the last prefix + w - 1 octets, then a piece */
};
void prefix_scan_init(struct prefix_scan *s, const struct buf *prefix, size_t w,
		      unsigned char *taken, size_t limit);
void prefix_scan_feed(struct prefix_scan *s, const char *p, size_t n);
/* The stream is over: returns the count and frees the window. */
size_t prefix_scan_end(struct prefix_scan *s);

/* Feeds the first n octets of o to scan (when not NULL); true when any of
 * them is over 127. */
bool original_scan(const struct original *o, uint64_t n, struct prefix_scan *scan);

/* Puts out the first n octets of o with every line end made CRLF (a bare CR
 * or LF counts as one) and any line longer than max cut - in the header
 * section as a fold, so the cut adds white space but never a new field.
 * Ends with CRLF. */
void original_put(const struct original *o, uint64_t n, size_t max, original_put_fn put,
		  void *ctx);

#endif
