/*
 * intake - the one way a message enters the spool: SMTP (server/conn.c),
 * the maildrop (queue/pickup.c) and Petrel's own reports (bounce/) all
 * build it here. The content streams into a draft (queue/draft.h), so it
 * is never held whole in memory; intake_submit then gives the message its
 * queue ID, puts the trace header (RFC 5321 4.4) and, for submission, a
 * missing Date and Message-ID (RFC 6409 8.2, 8.3) in front of the content,
 * marks it 8-bit when any octet is, and hands it to the spool. Signing
 * (DKIM) will go there too: every header it adds is in front of the
 * content, built once the content is complete.
 *
 * Loop thread only.
 */
#ifndef PETREL_QUEUE_INTAKE_H
#define PETREL_QUEUE_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue/spool.h"

struct intake;

/* Where the message came from, for its trace header. */
struct intake_origin {
	const char *by;          /* our host name */
	/* SMTP: the client's HELO and address and the RFC 3848 protocol name
	 * give "Received: from HELO ([ADDR]) by BY (Petrel) with PROTOCOL". */
	const char *helo;
	const char *client_addr;
	const char *protocol;
	const char *for_rcpt;    /* the single recipient, or NULL */
	/* Without a client address the message is local: "Received: by BY
	 * (Petrel[, from userid UID])", the uid when has_uid. */
	bool has_uid;
	uid_t uid;
	bool complete_headers;   /* submission: add a missing Date, Message-ID */
};

struct intake *intake_new(struct spool *sp);
/* Drops the message (its draft with it). */
void intake_free(struct intake *in);
/* Appends content: CRLF line ends, not dot-stuffed. */
void intake_write(struct intake *in, const void *p, size_t n);
/* Content octets written so far: the message as its source sent it, which
 * is the size logs and metrics give. */
uint64_t intake_len(const struct intake *in);

/*
 * Submits the message and frees in. m is the envelope (its id, body and
 * draft are filled in here, arrival when 0); id receives the new queue ID
 * before done can run. SPOOL_MSG_8BITMIME is added when any octet is over
 * 127. done runs as for spool_submit, possibly before this returns.
 */
void intake_submit(struct intake *in, const struct intake_origin *o, struct spool_new_msg *m,
		   char id[QUEUE_ID_LEN + 1], spool_done_fn done, void *arg);

#endif
