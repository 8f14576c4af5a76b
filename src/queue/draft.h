/*
 * draft - a message body being built, in bounded memory.
 *
 * The first DRAFT_RAM octets stay in memory (the whole of most messages,
 * and the header section of nearly all); everything after them goes, as it
 * arrives, into an anonymous temporary file in the spool directory
 * (O_TMPFILE: it has no name, so a crash leaves nothing behind), never
 * synced. The draft keeps the CRC-32 of that file part and whether any
 * octet is over 127, so the spool needs to read neither again: its writer
 * copies the file part into the segment in the kernel and the segment's
 * one fdatasync makes it durable with the record (docs/spool.md).
 *
 * Loop thread only. A write error (a full disk) is sticky: later writes
 * are dropped and draft_error() says why, so the message is refused with
 * a temporary error at its end rather than stored cut short.
 */
#ifndef PETREL_QUEUE_DRAFT_H
#define PETREL_QUEUE_DRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Octets kept in memory: a 64 KiB block with buf's NUL after them. */
#define DRAFT_RAM ((size_t)(64 << 10) - 1)

struct draft;

/* A new, empty draft whose file part (if it gets one) lives in dir. */
struct draft *draft_new(const char *dir);
/* Closes the file part (the kernel then frees it) and frees the draft. */
void draft_free(struct draft *d);

/* Appends n octets. */
void draft_write(struct draft *d, const void *p, size_t n);
/* 0, or the errno of the first failed write. */
int draft_error(const struct draft *d);
uint64_t draft_len(const struct draft *d);
bool draft_8bit(const struct draft *d);

/* The octets held in memory (all of them when draft_file_len() is 0). */
const struct buf *draft_mem(const struct draft *d);
/* The file part: its length and CRC-32 (zlib crc32 from 0). */
uint64_t draft_file_len(const struct draft *d);
uint32_t draft_file_crc(const struct draft *d);
/* Hands the file part's descriptor (offset 0 is the first octet after the
 * memory part) to the caller, who closes it; -1 when there is none. */
int draft_take_fd(struct draft *d);

#endif
