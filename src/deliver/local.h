/*
 * local - the local delivery agent: a job's recipients into their Maildirs,
 * or, with "local-delivery lmtp", to an LMTP server (RFC 2033, deliver/lmtp.c)
 * in one transaction, each recipient getting the server's own reply. A
 * recipient the message already names in a Delivered-To: field is not
 * delivered again but returned (5.4.6): the mail has come back in a loop.
 * Jobs run in the agent's worker threads, so fsyncs never stall the loop:
 * blocking I/O, the body read with pread() through the job's pinned view
 * of the spool, touching no shared state; outcomes are handed back in the
 * loop thread.
 */
#ifndef PETREL_DELIVER_LOCAL_H
#define PETREL_DELIVER_LOCAL_H

#include <event2/event.h>

#include "config/config.h"
#include "deliver/agent.h"

/* The local mailbox name for addr when its domain is ours, else NULL. */
char *local_mailbox_of(const struct config *cfg, const char *addr);
/* The local agent (deliver/agent.h): delivery-workers threads; NULL when
 * they cannot start. A job's recipients carry their mailbox (job_add's
 * user). */
struct agent *local_agent_new(struct event_base *base, const struct config *cfg,
			      agent_done_fn done, void *owner);

#endif
