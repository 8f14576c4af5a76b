/*
 * sink_buf - a struct smtp_sink that keeps a message's content in memory,
 * for the dialogue runner, the unit tests and the fuzzers, whose messages
 * are small; the server writes content into the spool (queue/intake.h).
 * It also counts what the session did with it, for checks.
 */
#ifndef PETREL_SMTP_SINK_BUF_H
#define PETREL_SMTP_SINK_BUF_H

#include <stddef.h>

#include "smtp/session.h"
#include "util/buf.h"

struct sink_buf {
	struct buf content;   /* the current message's content so far */
	unsigned begins;      /* begin calls */
	unsigned discards;    /* discard calls */
	size_t largest;       /* the largest piece written */
};

extern const struct smtp_sink sink_buf;

void sink_buf_free(struct sink_buf *b);

#endif
