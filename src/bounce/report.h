/*
 * report - delivery status notifications as RFC 3464 multipart/report
 * messages (RFC 6522): failures (bounces), delay warnings and, for DSN
 * NOTIFY=SUCCESS, successes. Pure: composes bytes, the caller queues them
 * as a new message from the null reverse-path.
 */
#ifndef PETREL_BOUNCE_REPORT_H
#define PETREL_BOUNCE_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "util/buf.h"
#include "util/rcpt.h"

/* RFC 3464 2.3.3: delivered (into a mailbox here), relayed (to a peer that
 * will not report success, RFC 3461 6.2.1). */
enum report_action { REPORT_FAILED, REPORT_DELAYED, REPORT_DELIVERED, REPORT_RELAYED };

struct report_rcpt {
	/* The recipient: final address, original (orig may be NULL), ORCPT
	 * "addr-type;xtext" as given, or NULL. */
	const struct rcpt *to;
	enum report_action action;
	const char *status;       /* RFC 3463 code, e.g. "5.1.1" */
	const char *remote_mta;   /* host that answered, or NULL */
	const char *diagnostic;   /* the remote reply or our reason, one line */
	time_t last_attempt;
};

struct report_info {
	const char *reporting_mta;   /* our hostname */
	const char *queue_id;        /* of the original message */
	const char *envid;           /* DSN ENVID, decoded from xtext, or NULL */
	const char *to;              /* where the report goes: the original sender */
	time_t arrival;
	time_t now;
	unsigned retry_hours;        /* for delay warnings: how long we keep trying */
	const struct report_rcpt *rcpt;
	size_t nrcpt;
	/* The original message, original_len octets: in memory at original,
	 * or, when read_original is set, read through it a piece at a time
	 * (see bounce/original.h) so that it is never held whole. */
	const char *original;
	uint64_t original_len;
	ssize_t (*read_original)(void *ctx, void *dst, size_t len, uint64_t off);
	void *read_ctx;
	int full;                    /* return the whole message, not its headers */
};

/* Takes the next n octets of a report being written. */
typedef void (*report_put_fn)(void *ctx, const char *p, size_t n);

/* Diagnostic text longer than this is cut (and marked " ..."), so a hostile
 * server's endless reply cannot bloat the report. */
#define REPORT_DIAG_MAX 2048

/*
 * Appends the whole report message (headers + MIME body, CRLF line ends,
 * no line over 998 octets). The kind (Subject, Message-ID) is the worst
 * outcome among the recipients: failed, else delayed, else delivered
 * (relayed counts as delivered). Original-Recipient is the ORCPT when there
 * is one (an rfc822 one xtext-decoded when that gives printable ASCII,
 * otherwise as given), else orig (RFC 3461 6.3, RFC 3464 2.3.1).
 * Network values are made safe: an address that is not printable ASCII is
 * written as RFC 6533 "utf-8;" utf-8-addr-xtext, text has controls turned
 * into spaces and non-ASCII into '?', host names keep [A-Za-z0-9-._:[]].
 * Diagnostic-Code is "smtp;" when remote_mta is set (the text is the remote
 * reply), else "X-Petrel;" (a reason of our own). An invalid status becomes
 * 5.0.0, 4.0.0 or 2.0.0 by action. A `to` that is not one printable address
 * gives "To: undisclosed-recipients:;". When the original holds 8-bit octets
 * the report is labelled Content-Transfer-Encoding: 8bit and must be relayed
 * with BODY=8BITMIME. Without `full`, only report_header_len() of original
 * is used.
 */
void report_compose(struct buf *out, const struct report_info *ri);
/* The same, the report handed to put a piece at a time: the original is
 * read three times (twice to choose the boundary, once to copy it), never
 * held whole, so a report returning a big message costs fixed memory. */
void report_write(const struct report_info *ri, report_put_fn put, void *ctx);

/* Length of the header section of msg (up to and including the first empty
 * line, ended by CRLF or a bare LF), or len when there is no empty line. */
size_t report_header_len(const char *msg, size_t len);

#endif
