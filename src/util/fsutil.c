/* fsutil - durable file-system helpers; see fsutil.h. */
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies the directory part of path into out ("." when there is none). */
static int parent_of(const char *path, char *out, size_t outsz)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(out, outsz, ".");
		return 0;
	}
	size_t n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

int fsutil_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* mkdir one component; when it is new, its entry in the parent is fsync'ed. */
static int mkdir_one(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0) {
		char parent[PATH_MAX];
		if (parent_of(path, parent, sizeof parent) < 0)
			return -1;
		return fsutil_fsync_dir(parent);
	}
	if (errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int fsutil_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof tmp) {
		errno = len ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	/* Walk the components left to right so parents exist before children. */
	for (size_t i = 1; i < len; i++) {
		if (tmp[i] != '/' || tmp[i - 1] == '/')
			continue;
		tmp[i] = '\0';
		int rc = mkdir_one(tmp, mode);
		tmp[i] = '/';
		if (rc < 0)
			return -1;
	}
	return mkdir_one(tmp, mode);
}

int fsutil_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes and fsyncs the temporary file with exactly mode; on failure it
 * is removed. open() takes the umask off the mode, and a caller's umask
 * (s-nail runs its MTA under 077) must not decide who may read the file:
 * fchmod sets it on the descriptor, before the name is published. */
static int write_temp(const char *tmp, const void *data, size_t len, mode_t mode)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	int rc = fchmod(fd, mode);
	if (rc == 0)
		rc = fsutil_write_all(fd, data, len);
	if (rc == 0)
		rc = fsync(fd);
	int saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0)
		unlink(tmp);
	errno = saved;
	return rc;
}

/* A writer that may not read the directory (a local user dropping into the
 * 1733 maildrop) cannot fsync it; syncfs(2) makes the new entry durable
 * with everything else on that file system. */
static int sync_filesystem_of(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = syncfs(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	/* A per-process counter keeps temporary names distinct between threads. */
	static atomic_uint counter;
	char tmp[PATH_MAX], parent[PATH_MAX];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
			 atomic_fetch_add(&counter, 1));
	if (n < 0 || (size_t)n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (parent_of(path, parent, sizeof parent) < 0)
		return -1;
	if (write_temp(tmp, data, len, mode) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (fsutil_fsync_dir(parent) == 0)
		return 0;
	return errno == EACCES ? sync_filesystem_of(path) : -1;
}

bool fsutil_shortage(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS;
}
