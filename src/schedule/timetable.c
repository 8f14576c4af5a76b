/* timetable - the scheduler's heap of due times; see timetable.h. */
#include "schedule/timetable.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define TAB_MIN 1024

struct timetable {
	struct tt_entry **tab;   /* hash chains by ID */
	size_t tabsz, count;
	struct tt_entry **heap;
	size_t nheap, heapcap;
	uint64_t seq;
};

static size_t hash_id(const char *id, size_t tabsz)
{
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		h = (h ^ (unsigned char)id[i]) * 1099511628211u;
	return (size_t)(h & (tabsz - 1));
}

struct timetable *tt_new(void)
{
	struct timetable *tt = xcalloc(1, sizeof *tt);
	tt->tabsz = TAB_MIN;
	tt->tab = xcalloc(tt->tabsz, sizeof *tt->tab);
	return tt;
}

void tt_free(struct timetable *tt)
{
	if (!tt)
		return;
	for (size_t i = 0; i < tt->tabsz; i++) {
		while (tt->tab[i]) {
			struct tt_entry *e = tt->tab[i];
			tt->tab[i] = e->hnext;
			free(e);
		}
	}
	free(tt->tab);
	free(tt->heap);
	free(tt);
}

struct tt_entry *tt_get(const struct timetable *tt, const char *id)
{
	if (strnlen(id, QUEUE_ID_LEN + 1) != QUEUE_ID_LEN)
		return NULL;
	struct tt_entry *e = tt->tab[hash_id(id, tt->tabsz)];
	while (e && memcmp(e->id, id, QUEUE_ID_LEN) != 0)
		e = e->hnext;
	return e;
}

static void grow_tab(struct timetable *tt)
{
	size_t nsz = tt->tabsz * 2;
	struct tt_entry **nt = xcalloc(nsz, sizeof *nt);
	for (size_t i = 0; i < tt->tabsz; i++) {
		while (tt->tab[i]) {
			struct tt_entry *e = tt->tab[i];
			tt->tab[i] = e->hnext;
			size_t h = hash_id(e->id, nsz);
			e->hnext = nt[h];
			nt[h] = e;
		}
	}
	free(tt->tab);
	tt->tab = nt;
	tt->tabsz = nsz;
}

struct tt_entry *tt_add(struct timetable *tt, const char *id)
{
	if (tt->count + 1 > tt->tabsz)
		grow_tab(tt);
	struct tt_entry *e = xcalloc(1, sizeof *e);
	memcpy(e->id, id, QUEUE_ID_LEN);
	e->heap_pos = TT_UNSCHEDULED;
	size_t h = hash_id(e->id, tt->tabsz);
	e->hnext = tt->tab[h];
	tt->tab[h] = e;
	tt->count++;
	return e;
}

void tt_remove(struct timetable *tt, struct tt_entry *e)
{
	tt_unschedule(tt, e);
	struct tt_entry **pp = &tt->tab[hash_id(e->id, tt->tabsz)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	tt->count--;
	free(e);
}

/* ---- the heap ---- */

static bool before(const struct tt_entry *a, const struct tt_entry *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void put(struct timetable *tt, size_t i, struct tt_entry *e)
{
	tt->heap[i] = e;
	e->heap_pos = i;
}

static void sift_up(struct timetable *tt, size_t i)
{
	struct tt_entry *e = tt->heap[i];
	while (i > 0 && before(e, tt->heap[(i - 1) / 2])) {
		put(tt, i, tt->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	put(tt, i, e);
}

static void sift_down(struct timetable *tt, size_t i)
{
	struct tt_entry *e = tt->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= tt->nheap)
			break;
		if (c + 1 < tt->nheap && before(tt->heap[c + 1], tt->heap[c]))
			c++;
		if (!before(tt->heap[c], e))
			break;
		put(tt, i, tt->heap[c]);
		i = c;
	}
	put(tt, i, e);
}

void tt_unschedule(struct timetable *tt, struct tt_entry *e)
{
	size_t i = e->heap_pos;
	if (i == TT_UNSCHEDULED)
		return;
	e->heap_pos = TT_UNSCHEDULED;
	struct tt_entry *last = tt->heap[--tt->nheap];
	if (i == tt->nheap)
		return;
	put(tt, i, last);
	sift_up(tt, i);
	sift_down(tt, last->heap_pos);
}

void tt_schedule(struct timetable *tt, struct tt_entry *e, int64_t due)
{
	tt_unschedule(tt, e);
	if (tt->nheap == tt->heapcap) {
		tt->heapcap = tt->heapcap ? tt->heapcap * 2 : TAB_MIN;
		tt->heap = xrealloc(tt->heap, tt->heapcap * sizeof *tt->heap);
	}
	e->due = due;
	e->seq = tt->seq++;
	put(tt, tt->nheap++, e);
	sift_up(tt, e->heap_pos);
}

struct tt_entry *tt_pop_due(struct timetable *tt, int64_t now)
{
	if (tt->nheap == 0 || tt->heap[0]->due > now)
		return NULL;
	struct tt_entry *e = tt->heap[0];
	tt_unschedule(tt, e);
	return e;
}

int64_t tt_next_due(const struct timetable *tt)
{
	return tt->nheap ? tt->heap[0]->due : INT64_MAX;
}

void tt_flush(struct timetable *tt)
{
	for (size_t i = 0; i < tt->tabsz; i++) {
		for (struct tt_entry *e = tt->tab[i]; e; e = e->hnext) {
			e->due_all = true;
			e->not_before = 0;
		}
	}
	for (size_t i = 0; i < tt->nheap; i++)
		tt->heap[i]->due = 0;
	/* Ties now go by seq alone, which the old order need not respect. */
	for (size_t i = tt->nheap / 2; i-- > 0;)
		sift_down(tt, i);
}

size_t tt_count(const struct timetable *tt)
{
	return tt->count;
}
