/*
 * ratelimit - failed AUTH attempts per client address, pure: the caller
 * passes the clock, nothing here reads it or does I/O.
 *
 * Contract: an address is blocked once it has max_failures failures counted
 * within window seconds of its first counted failure; when that window has
 * passed, the count starts afresh with the next failure. Addresses are
 * grouped as an attacker's allocation usually is: an IPv4 address alone,
 * an IPv6 address by its /64 (a host gets a whole /64 and could otherwise
 * rotate through it), an IPv4-mapped IPv6 address as its IPv4 address;
 * anything else (a text that is no address) by its first 63 octets.
 * Memory is bounded: at most RATELIMIT_MAX_ENTRIES addresses are tracked;
 * expired entries are dropped first, and when the table is full the entry
 * with the oldest window is evicted. Not thread-safe: loop thread only.
 */
#ifndef PETREL_AUTH_RATELIMIT_H
#define PETREL_AUTH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define RATELIMIT_MAX_ENTRIES 10000

struct ratelimit;

/* max_failures and window (seconds) come from auth-max-failures and
 * auth-failure-window; 0 for either is taken as 1. */
struct ratelimit *ratelimit_new(unsigned max_failures, unsigned window);
void ratelimit_free(struct ratelimit *rl);

/* Counts one failed attempt from addr at time now. */
void ratelimit_fail(struct ratelimit *rl, const char *addr, time_t now);
/* True while addr has used up its failures (the caller answers 454 without
 * checking the password). Also forgets expired entries. */
bool ratelimit_blocked(struct ratelimit *rl, const char *addr, time_t now);

/* Addresses currently tracked (for tests and statistics). */
size_t ratelimit_size(const struct ratelimit *rl);

#endif
