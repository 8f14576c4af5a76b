/*
 * queue_view - the text a postmaster sees for the queue: the mailq-style
 * listing, its summary by destination, and the detailed "show" of one message, rendered from the spool
 * index. Used both by the daemon (answers on the control socket) and by the
 * command line when it opens the spool itself, so both paths print the same.
 *
 * Contract: every string that came from the network (sender, HELO, client,
 * recipients, errors, header lines) goes through queue_view_safe(), so no
 * byte that a terminal interprets (ESC, other controls, 8-bit C1 codes)
 * reaches the screen. Functions append to out and never fail (buf aborts on
 * allocation failure). now is the current unix time, a parameter so tests
 * get fixed ages. Loop thread only (they read the spool index).
 */
#ifndef PETREL_CONTROL_QUEUE_VIEW_H
#define PETREL_CONTROL_QUEUE_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "queue/pickup.h"
#include "queue/spool.h"
#include "util/buf.h"

/* At most this many bytes of a message are read to find its header section. */
#define QUEUE_VIEW_HEADER_MAX (64 * 1024)
/* The summary names at most this many destinations, and cuts their errors. */
#define QUEUE_VIEW_TOP 10
#define QUEUE_VIEW_ERROR_MAX 120

/* Appends s[0..len) with every byte outside printable ASCII (tab excepted)
 * written as \xNN. */
void queue_view_safe(struct buf *out, const char *s, size_t len);

/* One listing entry: "ID  SIZE bytes  AGE old  from <sender>[  [held]]",
 * then "  to <rcpt>" for each recipient not yet final, each followed by its
 * last error (and attempts) when it has one, then a blank line. */
void queue_view_entry(struct buf *out, const struct spool_msg *m, int64_t now);

/* The whole listing: every entry in index order, then one summary line
 * "-- N messages, B bytes, R recipients not yet final, H held";
 * "Mail queue is empty" when there is nothing. */
void queue_view_list(struct buf *out, struct spool *sp, int64_t now);

/* The figures of the listing's last line, and the oldest arrival. */
struct queue_view_totals {
	uint64_t msgs, bytes, rcpts, held;
	int64_t oldest;
};

/* The same listing a piece at a time, the loop running in between (the
 * daemon sends a piece whenever the socket has taken the last), so memory
 * is bounded whatever the queue's length: a message queued throughout is
 * listed once, one gone meanwhile may be missing, and the totals count
 * what was listed. */
struct queue_listing {
	struct spool *sp;
	struct spool_cursor cur;
	struct queue_view_totals t;
	int64_t now;
};
void queue_view_list_open(struct queue_listing *l, struct spool *sp, int64_t now);
/* Appends entries until out holds at least want bytes (it may then hold
 * one entry more), or the index ends: then the totals line, and true. */
bool queue_view_list_more(struct queue_listing *l, struct buf *out, size_t want);
void queue_view_list_close(struct queue_listing *l);

/* The summary alone, for a queue too long to list (petrel queue --count):
 * the listing's last line (or "Mail queue is empty"), then
 * "-- oldest AGE; pending recipients by destination, the K largest of D:"
 * and for each of the at most QUEUE_VIEW_TOP domains with the most pending
 * recipients "  COUNT  DOMAIN  N deferred[, e.g. ERROR]" (N: tried at least
 * once; ERROR: one of their last errors, at most QUEUE_VIEW_ERROR_MAX bytes),
 * then a line for recipients beyond the tally's domain cap, if any. Time is
 * linear in the index; output and memory are bounded (see queue_tally.h). */
void queue_view_count(struct buf *out, struct spool *sp, int64_t now);

/* After the listing, the maildrop files the daemon cannot read (n of them
 * in s, more beyond those): a heading, "  NAME  owner uid U, mode M, AGE
 * old: REASON" for each, and "-- N maildrop file(s) not imported"; nothing
 * when there are none. */
void queue_view_maildrop(struct buf *out, const struct maildrop_stuck *s, size_t n, size_t more,
			 int64_t now);

/* When recipient i of m is next tried, as the daemon's scheduler sees it:
 * a flush makes it due at once without writing the spool, so the spool's
 * recorded next_try alone would show the old time until the attempt. */
typedef int64_t queue_view_next_try_fn(void *arg, const struct spool_msg *m, size_t i);

/* Everything about one message: envelope, flags, hold state, each recipient
 * with state, attempts, next try (from next_try(arg, ...), or the spool's
 * when next_try is NULL: no daemon) and last error, then the header
 * section (read from the spool, at most QUEUE_VIEW_HEADER_MAX bytes). */
void queue_view_show(struct buf *out, struct spool *sp, const struct spool_msg *m, int64_t now,
		     queue_view_next_try_fn *next_try, void *arg);

#endif
