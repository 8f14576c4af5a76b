/*
 * fsutil - small file-system helpers for durable state.
 *
 * Contract: each function returns 0 on success or -1 with errno set, and
 * never leaves a half-written file under the target name. "Durable" means
 * fsync'ed, including the directory entry: on Linux a new or renamed name
 * survives a crash only once its directory has been fsync'ed too.
 */
#ifndef PETREL_UTIL_FSUTIL_H
#define PETREL_UTIL_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Creates path and any missing parents with mode (an existing directory is
 * fine) and makes every directory it created durable in its parent. */
int fsutil_mkdir_p(const char *path, mode_t mode);

/* fsyncs the directory path, making entries created, renamed or removed in
 * it durable. */
int fsutil_fsync_dir(const char *path);

/* Replaces path with len bytes of data atomically: writes a temporary file
 * in the same directory, fsyncs it, renames it over path and fsyncs the
 * directory (or, when the directory may not be read, syncs its file system).
 * After a crash path holds either the old or the new contents. The file
 * has exactly mode, whatever the umask. */
int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Writes all len bytes to fd, retrying short writes and EINTR. */
int fsutil_write_all(int fd, const void *data, size_t len);

/* Whether err says this process or host ran short of a resource
 * (descriptors, memory, socket buffers): our trouble, not a peer's. */
bool fsutil_shortage(int err);

#endif
