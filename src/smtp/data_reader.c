/* data_reader - the DATA byte stream; see data_reader.h. RFC 5321 4.1.1.4, 4.5.2. */
#include "smtp/data_reader.h"

enum { DR_BOL, DR_DOT, DR_DOT_CR, DR_MID, DR_CR };

void data_reader_init(struct data_reader *r, uint64_t max_size)
{
	*r = (struct data_reader){.state = DR_BOL, .max_size = max_size};
}

static void emit(struct data_reader *r, struct buf *out, const char *p, size_t n)
{
	r->size += n;
	if (r->size > r->max_size)
		r->too_big = true;
	if (!r->too_big)
		buf_append(out, p, n);
}

static void count(struct data_reader *r, size_t n)
{
	r->line_len += n;
	if (r->line_len > DATA_LINE_MAX)
		r->line_too_long = true;
}

/* A line ended by a real CRLF: the next byte is at the beginning of a line. */
static void crlf(struct data_reader *r, struct buf *out)
{
	emit(r, out, "\r\n", 2);
	r->line_len = 0;
}

/* A bare CR or LF: stored as CRLF, but deliberately NOT a beginning of line
 * for the dot rules, so it can never take part in an end-of-data mark. */
static void bare_break(struct data_reader *r, struct buf *out)
{
	crlf(r, out);
	r->bare++;
	r->state = DR_MID;
}

/* Copies the run of ordinary bytes at p; returns its length. */
static size_t span(struct data_reader *r, const char *p, size_t n, struct buf *out)
{
	size_t j = 0;
	while (j < n && p[j] != '\r' && p[j] != '\n')
		j++;
	count(r, j);
	emit(r, out, p, j);
	return j;
}

size_t data_reader_feed(struct data_reader *r, const char *p, size_t n, struct buf *out,
			bool *done)
{
	size_t i = 0;
	*done = false;
	while (i < n) {
		char c = p[i];
		switch (r->state) {
		case DR_MID:
			if (c != '\r' && c != '\n') {
				i += span(r, p + i, n - i, out);
				continue;
			}
			count(r, 1);
			i++;
			if (c == '\r')
				r->state = DR_CR;
			else
				bare_break(r, out);
			break;
		case DR_BOL:
			if (c == '.' || c == '\r') {
				count(r, 1);
				i++;
				r->state = c == '.' ? DR_DOT : DR_CR;
			} else if (c == '\n') {
				count(r, 1);
				i++;
				bare_break(r, out);
			} else {
				r->state = DR_MID;
			}
			break;
		case DR_DOT:
			if (c == '\r') {
				count(r, 1);
				i++;
				r->state = DR_DOT_CR;
			} else if (c == '\n') {
				/* ".<LF>": not an end mark; the dot is content. */
				count(r, 1);
				i++;
				emit(r, out, ".", 1);
				bare_break(r, out);
			} else {
				/* RFC 5321 4.5.2: a leading dot followed by more text is removed. */
				r->state = DR_MID;
			}
			break;
		case DR_DOT_CR:
			if (c == '\n') {
				/* <CRLF>.<CRLF>: the only end of data. */
				r->state = DR_BOL;
				r->line_len = 0;
				*done = true;
				return i + 1;
			}
			emit(r, out, ".", 1);
			bare_break(r, out);
			break;
		case DR_CR:
			if (c == '\n') {
				count(r, 1);
				i++;
				crlf(r, out);
				r->state = DR_BOL;
			} else {
				/* The pending CR was bare; c is looked at again in DR_MID
				 * (or DR_CR again when it is another CR). */
				bare_break(r, out);
				if (c == '\r') {
					count(r, 1);
					i++;
					r->state = DR_CR;
				}
			}
			break;
		}
	}
	return i;
}
