/*
 * queue_id - unique, sortable queue IDs.
 *
 * An ID is 16 characters from [0-9A-Z] minus ambiguous ones: the microsecond
 * clock and a per-process counter, so IDs sort by arrival, stay unique across
 * restarts (the clock moves on) and within one microsecond (the counter).
 */
#ifndef PETREL_QUEUE_QUEUE_ID_H
#define PETREL_QUEUE_QUEUE_ID_H

#define QUEUE_ID_LEN 16

/* Writes the next ID (QUEUE_ID_LEN chars + NUL) into out. */
void queue_id_next(char out[QUEUE_ID_LEN + 1]);
/* True when s looks like an ID (length and alphabet). */
int queue_id_valid(const char *s);

#endif
