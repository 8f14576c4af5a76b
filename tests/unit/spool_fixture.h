/*
 * A spool in a fresh temporary directory for the unit tests that need a
 * real one, removed with everything in it afterwards. Include it after
 * defining struct fixture with at least the members
 *     char root[256];     the mkdtemp directory
 *     char dir[512];      the spool, root/spool
 *     struct spool *sp;
 */
#ifndef PETREL_TEST_SPOOL_FIXTURE_H
#define PETREL_TEST_SPOOL_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "queue/spool.h"

static int spool_fixture_rm(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* cmocka setup: a zeroed fixture, root "$TMPDIR/petrel-<tag>-XXXXXX" (or
 * /tmp), the spool open in root/spool. */
static int spool_fixture_setup(void **state, const char *tag)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	const char *tmp = getenv("TMPDIR");
	*state = fx;
	snprintf(fx->root, sizeof fx->root, "%s/petrel-%s-XXXXXX", tmp ? tmp : "/tmp", tag);
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "%s/spool", fx->root);
	fx->sp = spool_open(fx->dir);
	return fx->sp ? 0 : -1;
}

static int spool_fixture_teardown(void **state)
{
	struct fixture *fx = *state;
	spool_close(fx->sp);
	nftw(fx->root, spool_fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

#endif
