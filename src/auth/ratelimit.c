/*
 * ratelimit - failed AUTH attempts per client address; see ratelimit.h.
 *
 * A chained hash table finds an address's entry; a list ordered by the
 * start of each entry's window (the clock only moves forward, and an entry
 * whose window restarts moves to the tail) makes both expiry and eviction
 * of the oldest entry a look at the list's head.
 */
#include "auth/ratelimit.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

#define NBUCKETS 16384u /* a power of two above the entry cap */
#define KEY_MAX 64

struct rl_entry {
	char key[KEY_MAX];
	time_t start;              /* first failure of the current window */
	unsigned count;
	struct rl_entry *hnext;    /* hash chain */
	struct rl_entry *prev, *next; /* window order, oldest first */
};

struct ratelimit {
	unsigned max_failures;
	unsigned window;
	size_t n;
	struct rl_entry *head, *tail;
	struct rl_entry *bucket[NBUCKETS];
};

struct ratelimit *ratelimit_new(unsigned max_failures, unsigned window)
{
	struct ratelimit *rl = xcalloc(1, sizeof *rl);
	rl->max_failures = max_failures ? max_failures : 1;
	rl->window = window ? window : 1;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (struct rl_entry *e = rl->head, *next; e; e = next) {
		next = e->next;
		free(e);
	}
	free(rl);
}

size_t ratelimit_size(const struct ratelimit *rl)
{
	return rl->n;
}

/* The grouping key of addr (see ratelimit.h) into key[KEY_MAX]. */
static void make_key(const char *addr, char key[KEY_MAX])
{
	if (strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	unsigned char a6[16];
	if (inet_pton(AF_INET6, addr, a6) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, mapped, sizeof mapped) == 0) {
			inet_ntop(AF_INET, a6 + 12, key, KEY_MAX);
			return;
		}
		memset(a6 + 8, 0, 8);
		inet_ntop(AF_INET6, a6, key, KEY_MAX);
		strcat(key, "/64");
		return;
	}
	snprintf(key, KEY_MAX, "%s", addr);
}

/* FNV-1a; the keys are short, and chains stay short below the cap. */
static size_t hash_key(const char *key)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h & (NBUCKETS - 1);
}

static struct rl_entry *find(const struct ratelimit *rl, const char *key)
{
	for (struct rl_entry *e = rl->bucket[hash_key(key)]; e; e = e->hnext)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void list_unlink(struct ratelimit *rl, struct rl_entry *e)
{
	*(e->prev ? &e->prev->next : &rl->head) = e->next;
	*(e->next ? &e->next->prev : &rl->tail) = e->prev;
	e->prev = e->next = NULL;
}

static void list_append(struct ratelimit *rl, struct rl_entry *e)
{
	e->prev = rl->tail;
	e->next = NULL;
	*(rl->tail ? &rl->tail->next : &rl->head) = e;
	rl->tail = e;
}

static void remove_entry(struct ratelimit *rl, struct rl_entry *e)
{
	struct rl_entry **pp = &rl->bucket[hash_key(e->key)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(rl, e);
	free(e);
	rl->n--;
}

static bool expired(const struct ratelimit *rl, const struct rl_entry *e, time_t now)
{
	return now - e->start >= (time_t)rl->window;
}

static void prune(struct ratelimit *rl, time_t now)
{
	while (rl->head && expired(rl, rl->head, now))
		remove_entry(rl, rl->head);
}

static struct rl_entry *insert(struct ratelimit *rl, const char *key, time_t now)
{
	if (rl->n >= RATELIMIT_MAX_ENTRIES)
		remove_entry(rl, rl->head);
	struct rl_entry *e = xcalloc(1, sizeof *e);
	memcpy(e->key, key, strlen(key) + 1);
	e->start = now;
	size_t b = hash_key(key);
	e->hnext = rl->bucket[b];
	rl->bucket[b] = e;
	list_append(rl, e);
	rl->n++;
	return e;
}

void ratelimit_fail(struct ratelimit *rl, const char *addr, time_t now)
{
	char key[KEY_MAX];
	make_key(addr, key);
	prune(rl, now);
	struct rl_entry *e = find(rl, key);
	if (e && expired(rl, e, now)) {
		/* Left behind by a clock that stepped back: start a new window. */
		list_unlink(rl, e);
		list_append(rl, e);
		e->start = now;
		e->count = 0;
	}
	if (!e)
		e = insert(rl, key, now);
	if (e->count < rl->max_failures)
		e->count++;
}

bool ratelimit_blocked(struct ratelimit *rl, const char *addr, time_t now)
{
	char key[KEY_MAX];
	make_key(addr, key);
	prune(rl, now);
	const struct rl_entry *e = find(rl, key);
	return e && !expired(rl, e, now) && e->count >= rl->max_failures;
}
