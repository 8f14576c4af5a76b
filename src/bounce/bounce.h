/*
 * bounce - returning mail: turns failed, long-delayed or (DSN NOTIFY=SUCCESS)
 * delivered recipients of a queued message into an RFC 3464 report
 * (bounce/report.c) queued as a new message from the null reverse-path,
 * honouring the message's DSN RET and ENVID (RFC 3461 4.3, 4.4; which
 * recipients get reported, NOTIFY, is the caller's choice). Loop rules
 * (RFC 5321 6.1, 4.5.5, RFC 3461 5.2): mail from <> never gets a report; a
 * bounce of our own that fails goes to the postmaster once (a double
 * bounce); a failed double bounce is only logged.
 */
#ifndef PETREL_BOUNCE_BOUNCE_H
#define PETREL_BOUNCE_BOUNCE_H

#include <stddef.h>

#include "bounce/report.h"
#include "config/config.h"
#include "queue/spool.h"

/* Called with the new message's ID once it is durable. */
typedef void (*bounce_queued_fn)(void *arg, const char *queue_id);

/* Queues a report about rcpt[0..n) of msg (action: REPORT_FAILED, _DELAYED,
 * or _DELIVERED for a success report whose recipients may also be _RELAYED).
 * Returns 0 if queued (or deliberately not made, e.g. null sender), else -1. */
int bounce_send(struct spool *sp, const struct config *cfg, const struct spool_msg *msg,
		enum report_action action, const struct report_rcpt *rcpt, size_t n,
		bounce_queued_fn queued, void *arg);

#endif
