/* sink_buf - message content kept in memory; see sink_buf.h. */
#include "smtp/sink_buf.h"

static void begin(void *ctx)
{
	struct sink_buf *b = ctx;
	buf_reset(&b->content);
	b->begins++;
}

static void write_piece(void *ctx, const char *p, size_t n)
{
	struct sink_buf *b = ctx;
	buf_append(&b->content, p, n);
	if (n > b->largest)
		b->largest = n;
}

static void discard(void *ctx)
{
	struct sink_buf *b = ctx;
	buf_reset(&b->content);
	b->discards++;
}

const struct smtp_sink sink_buf = {begin, write_piece, discard};

void sink_buf_free(struct sink_buf *b)
{
	buf_free(&b->content);
}
