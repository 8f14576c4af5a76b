/* intake - the one way into the spool; see intake.h. RFC 5321 4.4, RFC 6409 8. */
#include "queue/intake.h"

#include <stdlib.h>
#include <time.h>

#include "queue/draft.h"
#include "smtp/headers.h"
#include "smtp/received.h"

struct intake {
	struct spool *sp;
	struct draft *draft;
	/* The content's Date: and Message-ID: fields, followed as it streams
	 * (the header section may be longer than the draft's memory part). */
	struct header_scan date, msgid;
};

struct intake *intake_new(struct spool *sp)
{
	struct intake *in = xcalloc(1, sizeof *in);
	in->sp = sp;
	in->draft = draft_new(spool_directory(sp));
	header_scan_init(&in->date, "Date");
	header_scan_init(&in->msgid, "Message-ID");
	return in;
}

void intake_free(struct intake *in)
{
	if (!in)
		return;
	draft_free(in->draft);
	free(in);
}

static void scan(struct header_scan *h, const char *p, size_t n)
{
	bool field;
	for (size_t at = 0; at < n && !h->ended;)
		at += header_scan_feed(h, p + at, n - at, &field);
}

void intake_write(struct intake *in, const void *p, size_t n)
{
	scan(&in->date, p, n);
	scan(&in->msgid, p, n);
	draft_write(in->draft, p, n);
}

uint64_t intake_len(const struct intake *in)
{
	return draft_len(in->draft);
}

/* RFC 5321 4.4: the trace header; a message from no network peer gets the
 * "by" part only. */
static void trace(struct buf *out, const struct intake_origin *o, const char *id, time_t now)
{
	if (o->client_addr) {
		struct received_info ri = {
			.helo = o->helo, .client_addr = o->client_addr, .by = o->by,
			.protocol = o->protocol, .queue_id = id, .for_rcpt = o->for_rcpt,
			.when = now,
		};
		received_header(out, &ri);
		return;
	}
	buf_printf(out, "Received: by %s (Petrel", o->by);
	if (o->has_uid)
		buf_printf(out, ", from userid %u", (unsigned)o->uid);
	buf_printf(out, ")\r\n\tid %s; ", id);
	rfc5322_date(out, now);
	buf_puts(out, "\r\n");
}

/* RFC 6409 8.2, 8.3: a submission server adds a missing Date and Message-ID. */
static void complete_headers(struct intake *in, struct buf *out, const char *id,
			     const char *host, time_t now)
{
	header_scan_end(&in->date);
	header_scan_end(&in->msgid);
	if (!in->date.count) {
		buf_puts(out, "Date: ");
		rfc5322_date(out, now);
		buf_puts(out, "\r\n");
	}
	if (!in->msgid.count)
		buf_printf(out, "Message-ID: <%s@%s>\r\n", id, host);
}

void intake_submit(struct intake *in, const struct intake_origin *o, struct spool_new_msg *m,
		   char id[QUEUE_ID_LEN + 1], spool_done_fn done, void *arg)
{
	struct buf head = BUF_INIT;
	time_t now = time(NULL);
	queue_id_next(id);
	trace(&head, o, id, now);
	if (o->complete_headers)
		complete_headers(in, &head, id, o->by, now);
	struct iovec iov = {head.p, head.len};
	m->id = id;
	if (!m->arrival)
		m->arrival = now;
	m->body = &iov;
	m->nbody = 1;
	m->draft = in->draft;
	/* 8-bit when found, not only when declared (BODY=8BITMIME): a client
	 * may send 8-bit octets without saying so, and a relay to a server
	 * without 8BITMIME must then convert them all the same (RFC 6152 3). */
	if (mem_has_8bit(head.p, head.len) || draft_8bit(in->draft))
		m->flags |= SPOOL_MSG_8BITMIME;
	struct spool *sp = in->sp;
	free(in);
	spool_submit(sp, m, done, arg);
	buf_free(&head);
}
