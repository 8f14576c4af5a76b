/*
 * agent - what a delivery agent offers the scheduler, and all it sees of
 * one: take a job, and hand it back through the done callback (loop
 * thread) once every recipient has a result. Two implement it: the local
 * agent (deliver/local.c: Maildir or LMTP, in its own worker pool) and the
 * remote agent (deliver/remote.c: SMTP to destinations, with its resolver,
 * TLS context and destination table). Agents know nothing of the
 * scheduler: the callback is the only way back up.
 */
#ifndef PETREL_DELIVER_AGENT_H
#define PETREL_DELIVER_AGENT_H

#include "config/config.h"
#include "deliver/job.h"

/* j is back: every recipient has a result, or (a cancelled job) none. */
typedef void (*agent_done_fn)(void *owner, struct job *j);

struct agent;

struct agent_ops {
	void (*submit)(struct agent *a, struct job *j);
	/* After a reload: new work uses cfg; work under way keeps its snapshot. */
	void (*set_config)(struct agent *a, const struct config *cfg);
	/* petrel flush: forget any backoff and cached routes. */
	void (*flush)(struct agent *a);
	/* Message id was deleted: its jobs not yet started come back at once
	 * through done; those under way finish as they will. */
	void (*cancel)(struct agent *a, const char *id);
	/* Stops and frees. What was delivered is handed back through done;
	 * what was not is freed unreported (it stays pending in the spool). */
	void (*stop)(struct agent *a);
};

struct agent {
	const struct agent_ops *ops;
};

static inline void agent_submit(struct agent *a, struct job *j)
{
	a->ops->submit(a, j);
}

static inline void agent_set_config(struct agent *a, const struct config *cfg)
{
	a->ops->set_config(a, cfg);
}

static inline void agent_flush(struct agent *a)
{
	a->ops->flush(a);
}

static inline void agent_cancel(struct agent *a, const char *id)
{
	a->ops->cancel(a, id);
}

static inline void agent_stop(struct agent *a)
{
	if (a)
		a->ops->stop(a);
}

#endif
