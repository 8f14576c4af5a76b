/*
 * timetable - the scheduler's own view of the queue: one entry per queued
 * message (by queue ID) with the time it is next due, in a binary heap
 * ordered by (due, arrival order), and a hash table to find an entry by ID.
 * Popping what is due costs O(log n) per message started, so a tick costs
 * what it starts, not the size of the queue. The entries are in-memory
 * bookkeeping only: the durable state (recipient states and retry times)
 * stays in the spool, from which the timetable is rebuilt at start-up.
 * Loop thread only.
 */
#ifndef PETREL_SCHEDULE_TIMETABLE_H
#define PETREL_SCHEDULE_TIMETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue_id.h"

struct tt_entry {
	char id[QUEUE_ID_LEN + 1];
	int64_t due;         /* unix seconds; meaningful while scheduled */
	uint64_t seq;        /* order of scheduling, breaks ties in due */
	size_t heap_pos;     /* TT_UNSCHEDULED when not in the heap */
	unsigned inflight;   /* jobs out whose outcomes are not all recorded */
	int64_t not_before;  /* a local shortage: no attempt before this */
	bool due_all;        /* flushed or released: every pending recipient is due */
	bool held;           /* the administrator's hold, as last asked */
	bool deleted;        /* deleted by the administrator: outcomes are discarded */
	struct tt_entry *hnext;
};

#define TT_UNSCHEDULED SIZE_MAX

struct timetable;

struct timetable *tt_new(void);
void tt_free(struct timetable *tt);
/* The entry for id, or NULL. */
struct tt_entry *tt_get(const struct timetable *tt, const char *id);
/* A new unscheduled entry for id (which has none yet). */
struct tt_entry *tt_add(struct timetable *tt, const char *id);
/* Forgets e (scheduled or not) and frees it. */
void tt_remove(struct timetable *tt, struct tt_entry *e);
/* (Re)schedules e at due. */
void tt_schedule(struct timetable *tt, struct tt_entry *e, int64_t due);
void tt_unschedule(struct timetable *tt, struct tt_entry *e);
/* The scheduled entry due first, unscheduled, if it is due at now; else NULL. */
struct tt_entry *tt_pop_due(struct timetable *tt, int64_t now);
/* When the first scheduled entry is due; INT64_MAX when none is. */
int64_t tt_next_due(const struct timetable *tt);
/* petrel flush: every entry's pending recipients are due (due_all), no
 * local shortage holds them back, and every scheduled entry is due now.
 * O(n), once per flush. */
void tt_flush(struct timetable *tt);
size_t tt_count(const struct timetable *tt);

#endif
