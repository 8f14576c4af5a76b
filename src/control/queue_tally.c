/* queue_tally - pending recipients by destination; see queue_tally.h. */
#include "control/queue_tally.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

/* Open addressing at most half full: probes stay short. */
#define SLOTS (2 * QUEUE_TALLY_DOMAINS)

struct queue_tally {
	struct tally_dest slot[SLOTS];
	size_t used;
	uint64_t untallied;
};

struct queue_tally *queue_tally_new(void)
{
	return xcalloc(1, sizeof(struct queue_tally));
}

void queue_tally_free(struct queue_tally *t)
{
	free(t);
}

/* FNV-1a over the lower-cased name: domains compare without case. */
static size_t domain_hash(const char *d, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
	}
	return h & (SLOTS - 1);
}

void queue_tally_add(struct queue_tally *t, const char *addr, uint32_t attempts,
		     const char *error)
{
	const char *at = strrchr(addr, '@');
	const char *d = at ? at + 1 : "";
	size_t len = strlen(d);
	struct tally_dest *e = &t->slot[domain_hash(d, len)];
	while (e->domain && !(e->domain_len == len && strncasecmp(e->domain, d, len) == 0))
		e = e == &t->slot[SLOTS - 1] ? t->slot : e + 1;
	if (!e->domain) {
		if (t->used == QUEUE_TALLY_DOMAINS) {
			t->untallied++;
			return;
		}
		t->used++;
		*e = (struct tally_dest){.domain = d, .domain_len = len};
	}
	e->rcpts++;
	e->deferred += attempts > 0;
	if (!e->error)
		e->error = error;
}

static int by_count(const void *a, const void *b)
{
	const struct tally_dest *x = a, *y = b;
	if (x->rcpts != y->rcpts)
		return x->rcpts < y->rcpts ? 1 : -1;
	size_t n = x->domain_len < y->domain_len ? x->domain_len : y->domain_len;
	int c = strncasecmp(x->domain, y->domain, n);
	return c ? c : (x->domain_len > y->domain_len) - (x->domain_len < y->domain_len);
}

size_t queue_tally_top(struct queue_tally *t, struct tally_dest *top, size_t n)
{
	/* Sorting the table in place is fine: it is not looked up again. */
	size_t k = 0;
	for (size_t i = 0; i < SLOTS; i++) {
		if (t->slot[i].domain)
			t->slot[k++] = t->slot[i];
	}
	qsort(t->slot, k, sizeof t->slot[0], by_count);
	if (n > k)
		n = k;
	memcpy(top, t->slot, n * sizeof *top);
	return n;
}

size_t queue_tally_domains(const struct queue_tally *t)
{
	return t->used;
}

uint64_t queue_tally_untallied(const struct queue_tally *t)
{
	return t->untallied;
}
