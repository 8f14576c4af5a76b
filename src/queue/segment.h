/*
 * segment - spool internals shared by spool.c and recovery.c: segment file
 * names, the writer thread that appends batches of records to the current
 * segment (group commit: one fdatasync per batch), and the recovery scan.
 * Delivery outcomes are "lazy": written at once but never synced on their
 * own; they ride the next sync (docs/spool.md, invariant 3).
 *
 * Threading: writer_enqueue and writer_take_done are called by the loop
 * thread; the writer thread owns the current segment's fd and reads or
 * writes only the fields of struct wreq marked "writer" below.
 */
#ifndef PETREL_QUEUE_SEGMENT_H
#define PETREL_QUEUE_SEGMENT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "queue/record.h"
#include "queue/spool.h"
#include "util/buf.h"

#define SEG_NAME_LEN 20 /* 16 hex digits + ".seg" */
#define SEG_FIRST 1u

void seg_name(char out[SEG_NAME_LEN + 1], uint64_t seq);
bool seg_parse_name(const char *name, uint64_t *seq);
/* "<logdir>/<name>"; false when it does not fit. */
bool seg_path(char *out, size_t outsz, const char *logdir, uint64_t seq);
/* Creates segment seq (which must not exist), fsyncs it and the log
 * directory, and returns a writable fd, or -1 with errno set. */
int seg_create(const char *logdir, uint64_t seq);

enum wreq_kind {
	WREQ_MSG,    /* new message (spool_submit) */
	WREQ_RCPT,   /* recipient state (spool_update_rcpt) */
	WREQ_HOLD,   /* hold or release (spool_set_held) */
	WREQ_RELOC,  /* a live message rewritten into the current segment */
	WREQ_UNLINK, /* removal of a reclaimed segment; freed by the writer */
};

/* How long a lazy record may wait for a sync when no other batch comes. */
#define WRITER_LAZY_MS 50

/* The writer keeps the current segment written with zeros up to the next
 * multiple of this past its end, so that a batch overwrites blocks the file
 * already has: its fdatasync then flushes data only, not the inode and
 * block map an append changes (about 0.1 ms instead of 0.17-0.2 ms per sync
 * on the development VM, docs/performance.md). */
#define SEG_PREFILL (1u << 20)

struct spool_msg;

struct wreq {
	struct wreq *next;        /* writer */
	enum wreq_kind kind;      /* writer */
	struct buf rec;           /* writer: one ended record (not for UNLINK) */
	uint64_t tail_len;        /* writer: when not 0, the record's last tail_len
				   * octets are at tail_off in tail_fd (a spilled
				   * draft's file, or the segment a relocated
				   * message comes from), closed once written */
	uint64_t tail_off;
	int tail_fd;
	uint64_t unlink_seq;      /* writer: UNLINK only */
	int err;                  /* writer: 0, or why the record is not durable;
				   * preset by the loop to fail without writing */
	bool lazy;                /* writer: needs no sync of its own; completes
				   * with the next batch that syncs, or after
				   * WRITER_LAZY_MS with none */
	uint64_t seg, off;        /* writer: where the record landed */
	/* Loop-side payload; the writer never touches it. */
	spool_done_fn done;
	void *arg;
	struct spool_msg *msg;
	size_t body_rel;          /* MSG/RELOC: body offset inside rec */
	size_t idx;
	enum rcpt_state state;
	uint32_t attempts;
	int64_t next_try;
	char *error;
	bool warned;
	bool held;
};

struct writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: */
	struct wreq *queue, **queue_tail;
	struct wreq *done, **done_tail;
	bool stopping;
	/* What the writer is doing, for writer_enqueue to decide whether to
	 * signal: a busy writer looks at the queue again by itself, one that
	 * waits for its parked records' deadline needs a signal only for a
	 * record that may not wait, and one that sleeps needs it for any. */
	enum { WRITER_BUSY, WRITER_WAITS_DEADLINE, WRITER_SLEEPS } state;
	uint64_t seg_max;
	unsigned lazy_ms;   /* WRITER_LAZY_MS unless a test says otherwise */
	struct spool_stats stats;
	/* Set before the thread starts, then read-only: */
	int notify_fd;
	char logdir[PATH_MAX];
	/* Writer thread only once started: */
	uint64_t seq;   /* current segment */
	int fd;
	uint64_t size;  /* end of the last durable record */
	uint64_t end;   /* end of the last written record (> size: lazy ones wait) */
	uint64_t filled; /* past the records the file may hold zeros up to here
			  * (prefill), never anything beyond */
	struct wreq *parked, **parked_tail; /* written lazy records, not yet synced */
	size_t nparked;
	struct timespec park_until;  /* CLOCK_MONOTONIC: sync the parked ones by then */
	bool dirty;     /* a failed batch could not be cut off the file yet */
	bool unlink_stopped; /* a removal failed: remove nothing newer */
};

/* A request's record length, tail included. */
uint64_t wreq_len(const struct wreq *r);
/* Frees a request and what it holds (record, error text, tail file). */
void wreq_free(struct wreq *r);

/* Opens segment seq (of durable length size) for appending, creates the
 * notification eventfd and starts the thread. 0, or -1 with errno set. */
int writer_start(struct writer *w, const char *logdir, uint64_t seq, uint64_t size);
void writer_enqueue(struct writer *w, struct wreq *r);
/* Detaches the finished requests, oldest first. */
struct wreq *writer_take_done(struct writer *w);
void writer_set_seg_max(struct writer *w, uint64_t bytes);
/* How long lazy records may wait for a sync (default WRITER_LAZY_MS). */
void writer_set_lazy_ms(struct writer *w, unsigned ms);
void writer_stats(struct writer *w, struct spool_stats *out);
/* Writes everything queued, stops the thread and closes the segment fd;
 * finished requests stay for writer_take_done. */
void writer_stop(struct writer *w);
/* Closes the eventfd and frees what the writer holds. */
void writer_destroy(struct writer *w);

/* ---- recovery ---- */

struct seg_info {
	uint64_t seq;
	uint64_t size;
	bool pinned; /* holds damage that could not be quarantined: keep it */
};

/* Where recovery delivers the records it accepts, in log order. */
struct recovery_sink {
	void *ctx;
	/* false when the message is unusable (its id is malformed) */
	bool (*msg)(void *ctx, const struct rec_msg *m, uint64_t seg, uint64_t off,
		    uint32_t rec_len);
	/* RCPT, HOLD or RELEASE; false when the id is unknown. */
	bool (*update)(void *ctx, uint8_t type, const struct rec_update *u);
};

/* Scans <spooldir>/log, truncating a torn tail of the last segment and
 * quarantining damaged segments into <spooldir>/quarantine. Returns the
 * segments in order (malloc'ed), or -1 with errno set when a segment cannot
 * be read at all. */
int recover_log(const char *spooldir, const struct recovery_sink *sink, struct seg_info **segs,
		size_t *nsegs);

#endif
