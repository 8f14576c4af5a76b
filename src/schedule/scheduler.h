/*
 * scheduler - decides what to deliver when. A message enters when the spool
 * has made it durable (scheduler_on_durable) or when it was recovered at
 * start-up (scheduler_start) and is kept in the scheduler's own timetable
 * (schedule/timetable.h) until it is done; every recipient still pending
 * whose retry time has come is handed to its delivery agent, at most
 * max-jobs jobs at once; each outcome is made durable in the spool before
 * the recipient counts as done (spool invariant 3). Temporary failures are
 * retried with exponential backoff from retry-initial up to retry-max.
 *
 * Local recipients go to the local agent (deliver/local.c); remote ones,
 * one job per message and domain, to the remote agent (deliver/remote.c).
 * Jobs name their message by queue ID: an outcome for a message deleted or
 * finished meanwhile is discarded.
 * Final failures and expiry (bounce-after) produce a bounce; the first
 * deferral at or past warn-after produces a delay warning (bounce/bounce.c),
 * once per recipient: the mark that it was sent is recorded with the
 * outcome, after the warning itself has been queued.
 */
#ifndef PETREL_SCHEDULE_SCHEDULER_H
#define PETREL_SCHEDULE_SCHEDULER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "queue/spool.h"

struct scheduler;

struct scheduler *scheduler_new(struct event_base *base, struct spool *sp,
				const struct config *cfg);
/* Stops delivering: local deliveries under way finish and their outcomes are
 * submitted to the spool (so call this before spool_close); remote ones are
 * abandoned unrecorded (retried after restart). */
void scheduler_stop(struct scheduler *sch);
/* Frees (after spool_close, whose callbacks may still reach the scheduler). */
void scheduler_free(struct scheduler *sch);
/* After a reload: decisions and deliveries from now on use cfg; deliveries
 * under way finish under the snapshot they began with. */
void scheduler_set_config(struct scheduler *sch, const struct config *cfg);
/* Looks at every message in the spool index (after recovery). */
void scheduler_start(struct scheduler *sch);
/* The spool's listener (spool_set_listener): a new message is durable;
 * deliver what is due now. */
void scheduler_on_durable(void *sch, const char *queue_id);
/* No delivery is running or waiting to be recorded. */
bool scheduler_idle(const struct scheduler *sch);

/* Administrative actions (petrel queue / flush), loop thread. */
/* Every pending recipient is due now; destinations' backoff is forgotten. */
void scheduler_flush(struct scheduler *sch);
/* Every recipient not yet final becomes deleted; 0, or ENOENT. Asynchronous:
 * the records are durable a moment later. */
int scheduler_delete(struct scheduler *sch, const char *id);
/* Holds (no delivery attempts) or releases a message; 0, or ENOENT. */
int scheduler_hold(struct scheduler *sch, const char *id, bool hold);
/* When recipient i of m is next tried (sch: the scheduler): its recorded
 * next_try, unless a flush or a release made it due at once (0), or a
 * local shortage holds the message back a little longer. What `petrel
 * queue show` prints (a queue_view_next_try_fn). */
int64_t scheduler_next_try(void *sch, const struct spool_msg *m, size_t i);

/* Whether a deferral of rc decided at now calls for the delay warning: now
 * is at least warn_after seconds past arrival and none was sent yet. Pure,
 * for the unit tests. */
bool scheduler_warn_due(const struct spool_rcpt *rc, int64_t arrival, unsigned warn_after,
			int64_t now);

#endif
