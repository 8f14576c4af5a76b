/*
 * metrics_http - the Prometheus scrape endpoint: with "metrics-listen
 * HOST:PORT" (loopback only, config.c refuses anything else) the daemon
 * answers "GET /metrics" (and HEAD) over HTTP/1.x with every figure of
 * util/metrics in the text exposition format 0.0.4. Any other path is 404,
 * any other method on /metrics 405. It runs in the loop thread on
 * libevent's evhttp, so the queue figures are read from the spool index
 * directly; requests are small and bounded (headers, body, timeout).
 */
#ifndef PETREL_CONTROL_METRICS_HTTP_H
#define PETREL_CONTROL_METRICS_HTTP_H

#include <event2/event.h>
#include <time.h>

#include "config/config.h"
#include "queue/spool.h"
#include "util/metrics.h"

struct metrics_http;

/* Listens on cfg->metrics_listen (the caller checks it is set). Returns NULL
 * (logged) when the address cannot be bound. */
struct metrics_http *metrics_http_start(struct event_base *base, const struct config *cfg,
					struct spool *sp);
void metrics_http_stop(struct metrics_http *mh);

/* The queue figures of the spool index (loop thread), shared with the
 * control socket's status request. */
void metrics_sample_queue(struct spool *sp, struct metrics_queue *q);

#endif
