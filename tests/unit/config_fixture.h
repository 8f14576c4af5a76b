/*
 * config_fixture - a private scratch directory for the configuration tests.
 *
 * Each test runs inside a fresh mkdtemp() directory (so relative paths in the
 * files under test resolve there) and the teardown removes it with everything
 * in it, whether the test passed or not. Shared by test_config and
 * test_aliases so the two do not carry copies of the same helpers.
 */
#ifndef PETREL_TEST_CONFIG_FIXTURE_H
#define PETREL_TEST_CONFIG_FIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

struct scratch {
	char dir[64];
	int oldcwd;
};

static inline int scratch_setup(void **state)
{
	struct scratch *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	snprintf(s->dir, sizeof s->dir, "/tmp/petrel-cfgtest-XXXXXX");
	s->oldcwd = open(".", O_RDONLY | O_DIRECTORY);
	if (s->oldcwd < 0 || !mkdtemp(s->dir) || chdir(s->dir) != 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static inline int scratch_remove_one(const char *path, const struct stat *st, int flag,
				     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int scratch_teardown(void **state)
{
	struct scratch *s = *state;
	int rc = fchdir(s->oldcwd);
	close(s->oldcwd);
	if (nftw(s->dir, scratch_remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		rc = -1;
	free(s);
	return rc;
}

/* Writes text to name in the current (scratch) directory. */
static inline void scratch_write(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Writes conf to petrel.conf and loads it, errors into *errors. */
static inline struct config *scratch_load(const char *conf, struct buf *errors)
{
	scratch_write("petrel.conf", conf);
	return config_load("petrel.conf", errors);
}

#endif
