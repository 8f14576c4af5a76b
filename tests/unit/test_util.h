/* Common includes for cmocka unit tests. */
#ifndef PETREL_TEST_UTIL_H
#define PETREL_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

/* A descriptor shortage in this process, from descriptors_gone() until
 * descriptors_back(): the soft limit is lowered to a little above what is
 * open and the rest taken up, so the next open, socket or pipe fails with
 * EMFILE. */
struct drought {
	struct rlimit old;
	int fds[64];
	int n;
};

static inline void descriptors_gone(struct drought *d)
{
	d->n = 0;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &d->old), 0);
	int probe = open("/dev/null", O_RDONLY);
	assert_true(probe >= 0);
	close(probe);
	struct rlimit lim = {(rlim_t)probe + 8, d->old.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	while (d->n < 64 && (d->fds[d->n] = open("/dev/null", O_RDONLY)) >= 0)
		d->n++;
	assert_int_equal(errno, EMFILE);
}

/* How many times needle occurs in hay (overlapping ones too). */
static inline size_t occurrences(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static inline void descriptors_back(struct drought *d)
{
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &d->old), 0);
	while (d->n)
		close(d->fds[--d->n]);
}

#endif
