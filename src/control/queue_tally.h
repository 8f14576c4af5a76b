/*
 * queue_tally - pending recipients counted by destination domain, for the
 * queue summary (petrel queue --count), in memory that does not grow with
 * the queue.
 *
 * Contract: at most QUEUE_TALLY_DOMAINS distinct domains are counted one by
 * one; recipients of further domains are counted together as "untallied",
 * so a queue of a million messages to a million domains still costs a
 * fixed table. Every add is O(1). The domain and error strings are
 * borrowed, not copied: they must outlive the tally (in the daemon they
 * come from the spool index, which does not change while the loop thread
 * builds one answer).
 */
#ifndef PETREL_CONTROL_QUEUE_TALLY_H
#define PETREL_CONTROL_QUEUE_TALLY_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_TALLY_DOMAINS 4096

struct tally_dest {
	const char *domain;   /* borrowed, domain_len bytes, not terminated */
	size_t domain_len;
	uint64_t rcpts;       /* pending recipients at this domain */
	uint64_t deferred;    /* of those, the ones tried at least once */
	const char *error;    /* the last error of the first one seen with one, or NULL */
};

struct queue_tally;

struct queue_tally *queue_tally_new(void);
void queue_tally_free(struct queue_tally *t);

/* Counts one pending recipient: addr "local@domain" (the domain is what
 * follows the last '@', compared without regard to case; "" when there is
 * none), tried attempts times, with its last error (or NULL). */
void queue_tally_add(struct queue_tally *t, const char *addr, uint32_t attempts,
		     const char *error);

/* Copies the at most n domains with the most recipients into top, largest
 * first (ties by name), and returns how many it copied. It reorders the
 * table: only queue_tally_domains, _untallied and _free may follow. */
size_t queue_tally_top(struct queue_tally *t, struct tally_dest *top, size_t n);

/* How many distinct domains were tallied, and how many recipients were
 * not (their domain came after the table was full). */
size_t queue_tally_domains(const struct queue_tally *t);
uint64_t queue_tally_untallied(const struct queue_tally *t);

#endif
