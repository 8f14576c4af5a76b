/*
 * job - one delivery attempt for some recipients of one queued message,
 * shared by the scheduler (which makes jobs and records their outcomes)
 * and the delivery agents (local Maildir, remote SMTP) which fill in one
 * result per recipient.
 */
#ifndef PETREL_SCHEDULE_JOB_H
#define PETREL_SCHEDULE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/spool.h"

enum job_result {
	JOB_OK,    /* delivered */
	JOB_TEMP,  /* try again later */
	JOB_PERM,  /* failed for good: bounce */
};

struct job_rcpt {
	size_t rcpt;               /* index into msg->rcpt */
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
	struct spool_msg *msg;     /* loop thread only */
	char id[QUEUE_ID_LEN + 1];
	char relay[320];           /* "local" or the peer that answered */
	bool local;                /* the local agent's (vs an SMTP destination's) */
	size_t n;
	struct job_rcpt *r;
	/* the body, for agents working off the loop thread */
	int body_fd;
	uint64_t body_off;
	uint64_t body_len;
	void *owner;               /* the scheduler */
	unsigned flushes;          /* the scheduler's flush count when it started */
	struct job *next;          /* destination queue link */
	unsigned updates_pending;
};

/* NULL (errno set) when the body cannot be opened. */
struct job *job_new(struct spool *sp, struct spool_msg *msg);
void job_add(struct job *j, size_t rcpt, const char *user);
/* Sets every recipient still without a result. */
void job_set_all(struct job *j, enum job_result res, const char *status, const char *text);
/* Result from an SMTP reply code and text ("550 5.1.1 ..."): 2xx OK, 5xx PERM,
 * anything else TEMP; the enhanced code is taken from the text when
 * present. Code 0 (no reply: the connection broke) is TEMP 4.4.2 with text
 * as the reason. remote: the reply came from the server. */
void job_set_reply(struct job_rcpt *r, int code, const char *text, bool remote);
void job_free(struct job *j);

#endif
