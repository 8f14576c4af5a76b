/*
 * local - the local delivery agent: a job's recipients into their Maildirs,
 * or, with "local-delivery lmtp", to an LMTP server (RFC 2033, deliver/lmtp.c)
 * in one transaction, each recipient getting the server's own reply. A
 * recipient the message already names in a Delivered-To: field is not
 * delivered again but returned (5.4.6): the mail has come back in a loop.
 * local_run() runs in a worker thread: blocking I/O, the body read with
 * pread() through the job's pinned view of the spool, touching no shared
 * state.
 */
#ifndef PETREL_DELIVER_LOCAL_H
#define PETREL_DELIVER_LOCAL_H

#include "config/config.h"
#include "deliver/job.h"

struct local_ctx {
	const struct config *cfg;
	struct job *job;
};

/* The local mailbox name for addr when its domain is ours, else NULL. */
char *local_mailbox_of(const struct config *cfg, const char *addr);
/* Worker thread: delivers every recipient of ctx->job. */
void local_run(void *ctx);

#endif
