/*
 * queue_id - unique, sortable queue IDs; see queue_id.h.
 *
 * An ID is an 80-bit number written as 16 Crockford base32 digits, most
 * significant first: 56 bits of microseconds since the epoch (enough until
 * the year 4000) and a 24-bit counter. The alphabet is in ASCII order, so
 * comparing IDs as strings compares the numbers. Under a mutex the pair only
 * ever grows, which makes IDs strictly increasing within the process even if
 * the clock stalls or steps back.
 */
#include "queue/queue_id.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define COUNTER_BITS 24
#define COUNTER_MAX ((UINT32_C(1) << COUNTER_BITS) - 1)
#define TIME_MASK ((UINT64_C(1) << 56) - 1)

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_usec;
static uint32_t last_count;

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u) & TIME_MASK;
}

/* Advances (last_usec, last_count) past both its old value and the clock. */
static void next_pair(uint64_t *usec, uint32_t *count)
{
	uint64_t now = now_usec();
	pthread_mutex_lock(&id_lock);
	if (now > last_usec) {
		last_usec = now;
		last_count = 0;
	} else if (last_count < COUNTER_MAX) {
		last_count++;
	} else {
		/* Counter exhausted within one microsecond: borrow the next one. */
		last_usec++;
		last_count = 0;
	}
	*usec = last_usec;
	*count = last_count;
	pthread_mutex_unlock(&id_lock);
}

void queue_id_next(char out[QUEUE_ID_LEN + 1])
{
	uint64_t usec;
	uint32_t count;
	next_pair(&usec, &count);
	/* The 80-bit value as hi (top 16 bits) and lo (low 64 bits). */
	uint64_t hi = usec >> (64 - COUNTER_BITS);
	uint64_t lo = (usec << COUNTER_BITS) | count;
	for (int i = QUEUE_ID_LEN - 1; i >= 0; i--) {
		out[i] = alphabet[lo & 31];
		lo = (lo >> 5) | ((hi & 31) << 59);
		hi >>= 5;
	}
	out[QUEUE_ID_LEN] = '\0';
}

int queue_id_valid(const char *s)
{
	for (size_t i = 0; i < QUEUE_ID_LEN; i++) {
		if (s[i] == '\0' || !memchr(alphabet, s[i], sizeof alphabet - 1))
			return 0;
	}
	return s[QUEUE_ID_LEN] == '\0';
}
