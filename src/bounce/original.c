/* original - the returned message in a report, a piece at a time; see original.h. */
#include "bounce/original.h"

#include <stdlib.h>
#include <string.h>

enum { HE_BOL, HE_BOL_CR, HE_MID };

/* A line is empty when it is "\n" or "\r\n"; only LF ends a line here. */
void header_end_feed(struct header_end *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !h->found; i++) {
		char c = p[i];
		if (c == '\n' && h->state != HE_MID) {
			h->found = true;
			h->len = h->seen + i + 1;
		} else if (c == '\n') {
			h->state = HE_BOL;
		} else {
			h->state = c == '\r' && h->state == HE_BOL ? HE_BOL_CR : HE_MID;
		}
	}
	h->seen += n;
}

/* Reads the pieces of o[0..n) in turn into a buffer of ORIGINAL_PIECE;
 * each() gets them; stops early when each() returns false or a read fails
 * (a message that cannot be read is returned as far as it could be). */
static void each_piece(const struct original *o, uint64_t n,
		       bool (*each)(void *arg, const char *p, size_t len), void *arg)
{
	char *piece = xmalloc(ORIGINAL_PIECE);
	for (uint64_t at = 0; at < n;) {
		size_t want = n - at < ORIGINAL_PIECE ? (size_t)(n - at) : ORIGINAL_PIECE;
		ssize_t k = o->read(o->ctx, piece, want, at);
		if (k <= 0 || !each(arg, piece, (size_t)k))
			break;
		at += (uint64_t)k;
	}
	free(piece);
}

static bool feed_header_end(void *arg, const char *p, size_t n)
{
	struct header_end *h = arg;
	header_end_feed(h, p, n);
	return !h->found;
}

uint64_t original_header_len(const struct original *o)
{
	struct header_end h = {0};
	each_piece(o, o->len, feed_header_end, &h);
	return h.found ? h.len : h.seen;
}

/* ---- the boundary's prefix ---- */

/* The w digits at p (before end) as a number no greater than limit. */
static bool read_number(const char *p, const char *end, size_t w, size_t limit, size_t *val)
{
	*val = 0;
	if ((size_t)(end - p) < w)
		return false;
	for (size_t i = 0; i < w; i++) {
		if (p[i] < '0' || p[i] > '9' || *val > limit / 10)
			return false;
		*val = *val * 10 + (size_t)(p[i] - '0');
	}
	return *val <= limit;
}

void prefix_scan_init(struct prefix_scan *s, const struct buf *prefix, size_t w,
		      unsigned char *taken, size_t limit)
{
	*s = (struct prefix_scan){.prefix = prefix, .w = w, .taken = taken, .limit = limit};
}

/* Octets an occurrence and its number span, less one: the window keeps
 * this many, so an occurrence split between pieces is seen whole, once. */
static size_t span(const struct prefix_scan *s)
{
	return s->prefix->len + s->w - 1;
}

/* Counts (and marks) the occurrences that start before upto. */
static void scan_window(struct prefix_scan *s, size_t upto)
{
	if (!s->window.len)
		return;
	const char *p = s->window.p, *end = p + s->window.len, *at = p, *hit;
	while (at < p + upto &&
	       (hit = memmem(at, (size_t)(end - at), s->prefix->p, s->prefix->len)) &&
	       hit < p + upto) {
		size_t val;
		s->count++;
		if (s->taken && read_number(hit + s->prefix->len, end, s->w, s->limit, &val))
			s->taken[val / 8] |= (unsigned char)(1u << (val % 8));
		at = hit + 1;
	}
}

void prefix_scan_feed(struct prefix_scan *s, const char *p, size_t n)
{
	buf_append(&s->window, p, n);
	if (s->window.len > span(s)) {
		size_t done = s->window.len - span(s);
		scan_window(s, done);
		buf_consume(&s->window, done);
	}
}

size_t prefix_scan_end(struct prefix_scan *s)
{
	scan_window(s, s->window.len);
	buf_free(&s->window);
	return s->count;
}

struct scan_state {
	struct prefix_scan *scan;
	bool eight;
};

static bool feed_scan(void *arg, const char *p, size_t n)
{
	struct scan_state *st = arg;
	st->eight = st->eight || mem_has_8bit(p, n);
	if (st->scan)
		prefix_scan_feed(st->scan, p, n);
	return true;
}

bool original_scan(const struct original *o, uint64_t n, struct prefix_scan *scan)
{
	struct scan_state st = {scan, false};
	each_piece(o, n, feed_scan, &st);
	return st.eight;
}

/* ---- the copy ---- */

struct norm {
	size_t max;
	size_t col;        /* octets in the current output line */
	bool header;       /* still in the header section */
	bool cr;           /* the last octet was a CR, already put out as CRLF */
	struct buf out;
	original_put_fn put;
	void *ctx;
};

/* Line ends become CRLF - a CR's LF, when it comes in the next piece, is
 * dropped then - and a line reaching max octets is cut. */
static bool normalise(void *arg, const char *p, size_t n)
{
	struct norm *z = arg;
	for (size_t i = 0; i < n;) {
		if (z->cr) {
			z->cr = false;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		size_t run = 0;
		while (i + run < n && p[i + run] != '\r' && p[i + run] != '\n' &&
		       z->col + run < z->max)
			run++;
		buf_append(&z->out, p + i, run);
		i += run;
		z->col += run;
		if (i == n)
			break;
		if (p[i] == '\r' || p[i] == '\n') {
			z->header = z->header && z->col > 0;
			z->cr = p[i++] == '\r';
			buf_puts(&z->out, "\r\n");
			z->col = 0;
		} else {
			buf_puts(&z->out, z->header ? "\r\n " : "\r\n");
			z->col = z->header ? 1 : 0;
		}
	}
	z->put(z->ctx, z->out.p, z->out.len);
	buf_reset(&z->out);
	return true;
}

void original_put(const struct original *o, uint64_t n, size_t max, original_put_fn put,
		  void *ctx)
{
	struct norm z = {.max = max, .header = true, .put = put, .ctx = ctx};
	each_piece(o, n, normalise, &z);
	if (z.col > 0)
		put(ctx, "\r\n", 2);
	buf_free(&z.out);
}
