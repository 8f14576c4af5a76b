/*
 * rcpt - one recipient of a message, the same struct from the SMTP session
 * through the intake and the spool to the delivery agents, the SMTP/LMTP
 * client and the reports: the final address, the address the client gave
 * for it, and its RFC 3461 DSN parameters, as they came. Whoever adds
 * per-recipient data adds it here, once, instead of one more array kept
 * parallel to the addresses in every layer. Delivery state is the spool's
 * (struct spool_rcpt), results are the job's: both embed this.
 */
#ifndef PETREL_UTIL_RCPT_H
#define PETREL_UTIL_RCPT_H

#include <stddef.h>
#include <stdint.h>

struct rcpt {
	char *addr;      /* final delivery address "user@domain" */
	char *orig;      /* the RCPT TO address it came from (may equal addr) */
	uint8_t notify;  /* DSN_NOTIFY_* bits (util/dsn.h); 0 = not given (FAILURE,DELAY) */
	char *orcpt;     /* ORCPT "addr-type;xtext" verbatim, or NULL */
};

/* A growable array of owned recipients. */
struct rcpt_list {
	struct rcpt *v;
	size_t n;
	size_t cap;
};

#define RCPT_LIST_INIT {NULL, 0, 0}

/* Fills r with owned copies: orig NULL stands for addr, an orcpt NULL or
 * "" for none. */
void rcpt_set(struct rcpt *r, const char *addr, const char *orig, uint8_t notify,
	      const char *orcpt);
void rcpt_copy(struct rcpt *dst, const struct rcpt *src);
void rcpt_free(struct rcpt *r);

/* Appends a recipient (as rcpt_set) and returns it. */
struct rcpt *rcpt_list_add(struct rcpt_list *l, const char *addr, const char *orig,
			   uint8_t notify, const char *orcpt);
/* The entry for addr (ASCII case-insensitively), or NULL. */
const struct rcpt *rcpt_list_find(const struct rcpt_list *l, const char *addr);
void rcpt_list_free(struct rcpt_list *l);

#endif
