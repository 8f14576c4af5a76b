/*
 * remote - the remote delivery agent (deliver/agent.h): outbound
 * destinations, one queue of jobs per recipient domain (or per relay
 * host) in a hashed table that forgets destinations long unused; the route
 * to each (relay host, static route, or the MX records of RFC 5321 5.1
 * with our own backup-MX records pruned) from its own resolver; at most
 * dest-concurrency connections per destination and max-outbound in all,
 * connections reused while the queue has work and kept idle for 2 s after
 * (idle ones of other destinations give way when max-outbound is reached);
 * a destination that cannot be reached backed off as a whole (its jobs
 * are deferred at once instead of each one hammering it), while a
 * connection that fails for want of a local resource only pauses new
 * connections and hands the queue back (JOB_LOCAL).
 */
#ifndef PETREL_DELIVER_REMOTE_H
#define PETREL_DELIVER_REMOTE_H

#include <event2/event.h>

#include "config/config.h"
#include "deliver/agent.h"

/* NULL when its resolver cannot start. */
struct agent *remote_agent_new(struct event_base *base, const struct config *cfg,
			       agent_done_fn done, void *owner);

#endif
