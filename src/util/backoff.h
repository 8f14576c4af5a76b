/*
 * backoff - exponential retry delays, shared by the scheduler (a
 * recipient's next try) and the remote agent (a destination that cannot be
 * reached). Pure.
 */
#ifndef PETREL_UTIL_BACKOFF_H
#define PETREL_UTIL_BACKOFF_H

#include <stdint.h>

/* Seconds to wait after the n-th failed attempt (n >= 1): initial * 2^(n-1),
 * capped at max. */
unsigned backoff_delay(unsigned initial, unsigned max, uint32_t attempts);

#endif
