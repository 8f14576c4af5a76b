/* draft - a message body being built; see draft.h and docs/spool.md. */
#include "queue/draft.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct draft {
	char dir[PATH_MAX];
	struct buf mem;
	int fd;             /* the file part, or -1 until the memory is full */
	uint64_t file_len;
	uLong file_crc;
	bool eight;
	int err;
};

struct draft *draft_new(const char *dir)
{
	struct draft *d = xcalloc(1, sizeof *d);
	d->fd = -1;
	d->file_crc = crc32_z(0, NULL, 0);
	if (snprintf(d->dir, sizeof d->dir, "%s", dir) >= (int)sizeof d->dir)
		d->err = ENAMETOOLONG;
	return d;
}

void draft_free(struct draft *d)
{
	if (!d)
		return;
	if (d->fd >= 0)
		close(d->fd);
	buf_free(&d->mem);
	free(d);
}

/* An unnamed file, so that nothing of a partial body can outlive the
 * process. Where the file system lacks O_TMPFILE, a named one that is
 * unlinked at once: only a crash between the two calls leaves it. */
static int open_anon(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char path[PATH_MAX];
	static unsigned seq;
	for (int tries = 0; tries < 100; tries++) {
		snprintf(path, sizeof path, "%s/draft.%ld.%u", dir, (long)getpid(), seq++);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			unlink(path);
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static void spill(struct draft *d, const char *p, size_t n)
{
	if (d->fd < 0 && (d->fd = open_anon(d->dir)) < 0) {
		d->err = errno;
		return;
	}
	d->file_crc = crc32_z(d->file_crc, (const Bytef *)p, n);
	while (n) {
		ssize_t k = pwrite(d->fd, p, n, (off_t)d->file_len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			d->err = k < 0 ? errno : EIO;
			return;
		}
		p += k;
		n -= (size_t)k;
		d->file_len += (uint64_t)k;
	}
}

void draft_write(struct draft *d, const void *p, size_t n)
{
	if (d->err || n == 0)
		return;
	d->eight = d->eight || mem_has_8bit(p, n);
	size_t room = DRAFT_RAM - d->mem.len;
	size_t take = n < room ? n : room;
	buf_append(&d->mem, p, take);
	if (take < n)
		spill(d, (const char *)p + take, n - take);
}

int draft_error(const struct draft *d)
{
	return d->err;
}

uint64_t draft_len(const struct draft *d)
{
	return d->mem.len + d->file_len;
}

bool draft_8bit(const struct draft *d)
{
	return d->eight;
}

const struct buf *draft_mem(const struct draft *d)
{
	return &d->mem;
}

uint64_t draft_file_len(const struct draft *d)
{
	return d->file_len;
}

uint32_t draft_file_crc(const struct draft *d)
{
	return (uint32_t)d->file_crc;
}

int draft_take_fd(struct draft *d)
{
	int fd = d->fd;
	d->fd = -1;
	return fd;
}
