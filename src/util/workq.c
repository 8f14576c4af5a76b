/*
 * workq - thread pool with completions delivered to the loop thread; see
 * workq.h for the contract.
 *
 * One mutex guards two FIFO lists of the same nodes: todo (waiting for a
 * worker) and done (finished, waiting for workq_dispatch). Idle workers sleep
 * on a condition variable. The eventfd is written when done goes from empty to
 * non-empty and drained when dispatch takes the list, both under the mutex,
 * so the fd is readable exactly while completions are waiting.
 */
#include "util/workq.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/buf.h"

struct job {
	workq_fn work;
	workq_fn done;
	void *arg;
	struct job *next;
};

struct jlist {
	struct job *head;
	struct job **tail;
};

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* signalled when todo grows or stopping is set */
	struct jlist todo;
	struct jlist done;
	bool stopping;
	int efd;
	atomic_size_t pending; /* submitted, done callback not started */
	unsigned nthreads;
	pthread_t *threads;
};

static void jlist_init(struct jlist *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void jlist_push(struct jlist *l, struct job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

static struct job *jlist_pop(struct jlist *l)
{
	struct job *j = l->head;
	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = &l->head;
	}
	return j;
}

/* Called with q->mu held. */
static void notify(struct workq *q)
{
	uint64_t one = 1;
	ssize_t n;
	/* Only EINTR can fail here: the counter cannot overflow because the loop
	 * drains it each time it takes the done list. */
	do
		n = write(q->efd, &one, sizeof one);
	while (n < 0 && errno == EINTR);
}

static void drain(struct workq *q)
{
	uint64_t cnt;
	ssize_t n;
	do
		n = read(q->efd, &cnt, sizeof cnt);
	while (n < 0 && errno == EINTR);
}

static void *worker(void *p)
{
	struct workq *q = p;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct job *j = jlist_pop(&q->todo);
		if (!j) {
			if (q->stopping)
				break;
			pthread_cond_wait(&q->cv, &q->mu);
			continue;
		}
		pthread_mutex_unlock(&q->mu);
		j->work(j->arg);
		pthread_mutex_lock(&q->mu);
		if (!q->done.head)
			notify(q);
		jlist_push(&q->done, j);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static void stop_workers(struct workq *q, unsigned started)
{
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < started; i++)
		pthread_join(q->threads[i], NULL);
}

static void destroy(struct workq *q)
{
	close(q->efd);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q->threads);
	free(q);
}

/* Workers block every signal so that signals reach the loop thread, which
 * is the one prepared to handle them; new threads inherit the caller's mask. */
static int start_workers(struct workq *q)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = 0;
	unsigned i;
	for (i = 0; i < q->nthreads; i++) {
		err = pthread_create(&q->threads[i], NULL, worker, q);
		if (err)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		stop_workers(q, i);
	return err;
}

struct workq *workq_new(unsigned nthreads)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		return NULL;
	struct workq *q = xcalloc(1, sizeof *q);
	q->efd = efd;
	q->nthreads = nthreads ? nthreads : 1;
	q->threads = xcalloc(q->nthreads, sizeof *q->threads);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	jlist_init(&q->todo);
	jlist_init(&q->done);
	atomic_init(&q->pending, 0);
	int err = start_workers(q);
	if (err) {
		destroy(q);
		errno = err;
		return NULL;
	}
	return q;
}

void workq_submit(struct workq *q, workq_fn work, workq_fn done, void *arg)
{
	struct job *j = xmalloc(sizeof *j);
	j->work = work;
	j->done = done;
	j->arg = arg;
	atomic_fetch_add(&q->pending, 1);
	pthread_mutex_lock(&q->mu);
	assert(!q->stopping);
	jlist_push(&q->todo, j);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int workq_notify_fd(const struct workq *q)
{
	return q->efd;
}

/* Runs (outside the mutex) and frees a detached list of finished jobs. */
static void run_done(struct workq *q, struct job *j)
{
	while (j) {
		struct job *next = j->next;
		atomic_fetch_sub(&q->pending, 1);
		if (j->done)
			j->done(j->arg);
		free(j);
		j = next;
	}
}

void workq_dispatch(struct workq *q)
{
	pthread_mutex_lock(&q->mu);
	struct job *j = q->done.head;
	jlist_init(&q->done);
	drain(q);
	pthread_mutex_unlock(&q->mu);
	run_done(q, j);
}

size_t workq_pending(const struct workq *q)
{
	return atomic_load(&q->pending);
}

void workq_free(struct workq *q)
{
	if (!q)
		return;
	stop_workers(q, q->nthreads);
	/* The workers are gone: the done list is ours without the mutex. */
	run_done(q, q->done.head);
	destroy(q);
}
