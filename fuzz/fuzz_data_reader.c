/*
 * fuzz_data_reader - the DATA byte stream (src/smtp/data_reader.c).
 *
 * Input: byte 0 picks the size limit (0: none, else a small one so the
 * too-big path runs), byte 1 the largest chunk, bytes 2-3 seed the chunk
 * sizes; the rest is the wire stream after "354".
 * Checked:
 * - every feed consumes at most what it was given, and everything unless it
 *   reports the end (bytes after the end are left to the caller);
 * - chunking does not matter: fed whole and fed in random pieces, the
 *   stream gives the same end position, size and flags, and the same content
 *   unless it is too big (then it is refused and none of it is used);
 * - the content holds no bare CR or LF (SMTP smuggling defence: everything
 *   is stored with real CRLFs), ends with CRLF when non-empty and ended, and
 *   its size is what the reader counted;
 * - transparency round trip: the content dot-stuffed again, followed by
 *   ".CRLF", reads back as exactly the same content, ending at the very last
 *   byte, with no bare line break seen.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/data_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	struct buf content;
	size_t end;       /* bytes consumed through the end mark, or n */
	bool done;
	struct data_reader r;
};

/* memcmp with a NULL pointer is undefined even for 0 bytes, and an empty
 * buf has p == NULL. */
static bool same_buf(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* Feeds p[0..n) in pieces of 1..maxchunk bytes (all at once when 0). */
static void run(const char *p, size_t n, uint64_t max, unsigned maxchunk, uint32_t seed,
		struct result *res)
{
	data_reader_init(&res->r, max);
	buf_init(&res->content);
	res->done = false;
	size_t off = 0;
	while (off < n && !res->done) {
		size_t piece = n - off;
		if (maxchunk) {
			size_t want = 1 + next_rand(&seed) % maxchunk;
			piece = want < piece ? want : piece;
		}
		size_t used = data_reader_feed(&res->r, p + off, piece, &res->content, &res->done);
		if (used > piece || (!res->done && used != piece))
			abort();
		off += used;
	}
	res->end = off;
}

/* Content is stored with CRLF line ends only. */
static void check_no_bare(const struct buf *c)
{
	for (size_t i = 0; i < c->len; i++) {
		if (c->p[i] == '\r' && (i + 1 == c->len || c->p[i + 1] != '\n'))
			abort();
		if (c->p[i] == '\n' && (i == 0 || c->p[i - 1] != '\r'))
			abort();
	}
}

/* RFC 5321 4.5.2: a line starting with '.' gets one more, then ".CRLF". */
static void stuff(const struct buf *c, struct buf *wire)
{
	bool bol = true;
	for (size_t i = 0; i < c->len; i++) {
		if (bol && c->p[i] == '.')
			buf_putc(wire, '.');
		buf_putc(wire, c->p[i]);
		bol = c->p[i] == '\n';
	}
	buf_append(wire, ".\r\n", 3);
}

static void check_round_trip(const struct buf *content)
{
	struct buf wire = BUF_INIT;
	stuff(content, &wire);
	struct result again;
	run(wire.p, wire.len, UINT64_MAX, 0, 0, &again);
	if (!again.done || again.end != wire.len || again.r.bare != 0 ||
	    !same_buf(&again.content, content))
		abort();
	buf_free(&again.content);
	buf_free(&wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint64_t max = data[0] ? (uint64_t)data[0] * 8 : UINT64_MAX;
	unsigned maxchunk = data[1];
	uint32_t seed = (uint32_t)data[2] << 8 | data[3];
	size_t n = size - 4;
	char *p = malloc(n ? n : 1);
	memcpy(p, data + 4, n);

	struct result whole, pieces;
	run(p, n, max, 0, 0, &whole);
	run(p, n, max, maxchunk, seed, &pieces);
	/* Past the limit the content is refused anyway, so how much of it was
	 * kept before the reader noticed may depend on the pieces. */
	if (whole.done != pieces.done || whole.end != pieces.end || whole.r.size != pieces.r.size ||
	    whole.r.too_big != pieces.r.too_big || whole.r.line_too_long != pieces.r.line_too_long ||
	    whole.r.bare != pieces.r.bare ||
	    (!whole.r.too_big && !same_buf(&whole.content, &pieces.content)))
		abort();
	if (!whole.r.too_big) {
		check_no_bare(&whole.content);
		if (whole.r.size != whole.content.len)
			abort();
		if (whole.done) {
			size_t len = whole.content.len;
			if (len && (len < 2 || memcmp(whole.content.p + len - 2, "\r\n", 2) != 0))
				abort();
			check_round_trip(&whole.content);
		}
	} else if (whole.r.size <= max) {
		abort();
	}
	buf_free(&whole.content);
	buf_free(&pieces.content);
	free(p);
	return 0;
}
