/*
 * dest - outbound destinations: one queue of jobs per recipient domain (or
 * per relay host), the route to it (relay host, static route, or the MX
 * records of RFC 5321 5.1 with our own backup-MX records pruned), at most
 * dest-concurrency connections per destination and max-outbound in all,
 * connections reused while the queue has work and kept idle for 2 s after
 * (idle ones of other destinations give way when max-outbound is reached),
 * and a destination that cannot be reached backed off as a whole: its jobs
 * are deferred at once instead of each one hammering it.
 */
#ifndef PETREL_SCHEDULE_DEST_H
#define PETREL_SCHEDULE_DEST_H

#include <event2/event.h>
#include <stdbool.h>

#include "config/config.h"
#include "dns/resolver.h"
#include "deliver/job.h"

struct dests;

/* done(owner, job) runs (loop thread) when every recipient of job has a result. */
typedef void (*dest_done_fn)(void *owner, struct job *j);

struct dests *dests_new(struct event_base *base, const struct config *cfg,
			struct dns_resolver *dns, dest_done_fn done, void *owner);
/* Queues job for the recipients' domain (all of job's recipients share it). */
void dests_submit(struct dests *ds, const char *domain, struct job *j);
/* Takes the queued jobs for message id out of their queues (a delete) and
 * hands each to cancelled(owner, job); jobs under way are left alone. */
void dests_cancel(struct dests *ds, const char *id, void (*cancelled)(void *owner, struct job *j));
/* Forgets every destination's backoff and cached route (petrel flush). */
void dests_flush(struct dests *ds);
/* Closes every connection at once; queued jobs are freed unrecorded (their
 * recipients stay pending in the spool). */
void dests_free(struct dests *ds);
/* After a reload: new connections and decisions use cfg; connections
 * already open keep the snapshot they began with. */
void dests_set_config(struct dests *ds, const struct config *cfg);

#endif
