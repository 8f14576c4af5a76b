/*
 * workq - a small pool of threads for blocking work (file I/O with fsync)
 * that must not stall the event loop.
 *
 * Contract: work(arg) runs in some worker thread; later done(arg) runs in the
 * thread that calls workq_dispatch() (the loop thread), never concurrently
 * with another done callback, in the order the work items finished. Every
 * submitted item gets exactly one work call and one done call. The loop
 * watches workq_notify_fd() (an eventfd) for readability and then calls
 * workq_dispatch(). Everything except the work callbacks is called from the
 * loop thread; workq_submit() may also be called from a done callback.
 */
#ifndef PETREL_UTIL_WORKQ_H
#define PETREL_UTIL_WORKQ_H

#include <stddef.h>

struct workq;

typedef void (*workq_fn)(void *arg);

/* Starts nthreads workers (at least one). Returns NULL with errno set when
 * the eventfd or a thread cannot be created. */
struct workq *workq_new(unsigned nthreads);

/* Queues work(arg); done(arg) follows via workq_dispatch(). done may be NULL. */
void workq_submit(struct workq *q, workq_fn work, workq_fn done, void *arg);

/* Readable while done callbacks are waiting for workq_dispatch(). */
int workq_notify_fd(const struct workq *q);

/* Drains the notify fd and runs the pending done callbacks in completion
 * order. Items finishing while it runs are left for the next call (the fd
 * is readable again by then), so a busy pool cannot starve the loop. */
void workq_dispatch(struct workq *q);

/* Items submitted whose done callback has not started yet. */
size_t workq_pending(const struct workq *q);

/* Lets the workers finish every queued item, joins them, then runs the done
 * callbacks still pending, so nothing submitted is lost. Those done callbacks
 * must not submit new work. NULL is a no-op. */
void workq_free(struct workq *q);

#endif
