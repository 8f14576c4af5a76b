/*
 * job - one delivery attempt for some recipients of one queued message,
 * made by the scheduler and carried out by a delivery agent (local Maildir
 * or LMTP, remote SMTP), which fills in one result per recipient.
 *
 * A job names its message by queue ID and its recipients by index, and
 * carries its own copies of what an agent needs (envelope, addresses, DSN
 * fields) plus a pinned view of the body in the spool: it never points
 * into the spool's index, so a message deleted or finished meanwhile
 * cannot leave a job with a dangling pointer. Whoever records the outcome
 * looks the message up again by ID.
 */
#ifndef PETREL_DELIVER_JOB_H
#define PETREL_DELIVER_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/spool.h"

enum job_result {
	JOB_OK,    /* delivered */
	JOB_TEMP,  /* try again later */
	JOB_PERM,  /* failed for good: bounce */
	/* Not attempted: we ran short of a local resource (descriptors,
	 * memory, buffers). Nobody else is to blame and nothing is recorded:
	 * the scheduler tries again shortly. */
	JOB_LOCAL,
};

struct job_rcpt {
	size_t rcpt;               /* index of the recipient in its message */
	struct rcpt to;            /* a copy of it: address, original, DSN fields */
	char *user;                /* local jobs: the mailbox name */
	enum job_result res;
	char status[16];           /* RFC 3463 code, e.g. "5.1.1" */
	char text[600];            /* the reply or the reason, one line */
	/* text is what the server (job relay) replied - not a reason of our
	 * own, e.g. that no server answered: only then is there a Remote-MTA
	 * to name in a report (RFC 3464 2.3.5). */
	bool remote;
	/* Set by the SMTP agent when the peer announced DSN (RFC 3461 3) and the
	 * recipient's DSN parameters were passed on with it: the peer reports
	 * from now on, so no "relayed" notice is owed (RFC 3461 6.2.1). */
	bool peer_dsn;
};

struct job {
	char id[QUEUE_ID_LEN + 1];
	char *sender;              /* "" for the null reverse-path */
	char *envid;               /* DSN ENVID, or NULL */
	uint8_t ret;               /* DSN RET */
	uint32_t flags;            /* the message's SPOOL_MSG_* */
	char relay[320];           /* "local" or the peer that answered */
	bool local;                /* the local agent's (vs an SMTP destination's) */
	size_t n;
	struct job_rcpt *r;
	struct spool *sp;
	struct spool_body body;    /* pread() it from any thread */
	void *owner;               /* the scheduler */
	unsigned flushes;          /* the scheduler's flush count when it started */
	struct job *next;          /* an agent's queue link */
	unsigned updates_pending;
};

/* NULL (errno set) when the body cannot be opened. */
struct job *job_new(struct spool *sp, const struct spool_msg *msg);
/* Adds recipient rcpt of msg (user: the local mailbox, or NULL). */
void job_add(struct job *j, const struct spool_msg *msg, size_t rcpt, const char *user);
/* Sets every recipient still without a result. */
void job_set_all(struct job *j, enum job_result res, const char *status, const char *text);
/* Result from an SMTP reply code and text ("550 5.1.1 ..."): 2xx OK, 5xx PERM,
 * anything else TEMP; the enhanced code is taken from the text when
 * present. Code 0 (no reply: the connection broke) is TEMP 4.4.2 with text
 * as the reason. remote: the reply came from the server. */
void job_set_reply(struct job_rcpt *r, int code, const char *text, bool remote);
/* Reads up to len bytes of the body from off (any thread); 0 at the end. */
ssize_t job_read_body(const struct job *j, void *dst, size_t len, uint64_t off);
/* Loop thread: unpins the body. */
void job_free(struct job *j);

#endif
