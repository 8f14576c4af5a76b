/* metrics_http - GET /metrics over evhttp; see metrics_http.h. */
#include "control/metrics_http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

#define HTTP_TIMEOUT 10
#define HTTP_HEADERS_MAX 8192
#define HTTP_BODY_MAX 1024

struct metrics_http {
	struct evhttp *http;
	struct spool *sp;
};

void metrics_sample_queue(struct spool *sp, struct metrics_queue *q)
{
	*q = (struct metrics_queue){0};
	for (struct spool_msg *m = spool_first(sp); m; m = spool_next(sp, m)) {
		q->messages++;
		q->held += m->held;
		if (!q->oldest_arrival || m->arrival < q->oldest_arrival)
			q->oldest_arrival = m->arrival;
		for (size_t i = 0; i < m->nrcpt; i++)
			q->recipients += m->rcpt[i].state == RCPT_PENDING;
	}
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_http *mh = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		/* RFC 9110 15.5.6: a 405 lists the methods that are allowed
		 * (evhttp_send_error would drop our headers). */
		evhttp_add_header(hdr, "Allow", "GET, HEAD");
		evhttp_send_reply(req, HTTP_BADMETHOD, "Method Not Allowed", NULL);
		return;
	}
	struct metrics_queue q;
	metrics_sample_queue(mh->sp, &q);
	struct buf text = BUF_INIT;
	metrics_render_prometheus(&text, &q, time(NULL));
	struct evbuffer *body = evbuffer_new();
	evbuffer_add(body, text.p, text.len);
	buf_free(&text);
	evhttp_add_header(hdr, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

/* "127.0.0.1:9100", "[::1]:9100" -> host and port. */
static bool split_hostport(const char *s, char *host, size_t hostsz, unsigned short *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return false;
	size_t n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (n == 0 || n >= hostsz || *end || p == 0 || p > 65535)
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = (unsigned short)p;
	return true;
}

struct metrics_http *metrics_http_start(struct event_base *base, const struct config *cfg,
					struct spool *sp)
{
	char host[256];
	unsigned short port;
	if (!split_hostport(cfg->metrics_listen, host, sizeof host, &port)) {
		log_error("metrics-listen %s: not HOST:PORT", cfg->metrics_listen);
		return NULL;
	}
	struct metrics_http *mh = xcalloc(1, sizeof *mh);
	mh->sp = sp;
	mh->http = evhttp_new(base);
	if (!mh->http || !evhttp_bind_socket_with_handle(mh->http, host, port)) {
		log_error("metrics-listen %s: cannot listen: %s", cfg->metrics_listen,
			  strerror(errno ? errno : EADDRNOTAVAIL));
		metrics_http_stop(mh);
		return NULL;
	}
	/* Every method reaches on_request, which answers 405 itself. */
	evhttp_set_allowed_methods(mh->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
						     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(mh->http, HTTP_TIMEOUT);
	evhttp_set_max_headers_size(mh->http, HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(mh->http, HTTP_BODY_MAX);
	evhttp_set_gencb(mh->http, on_request, mh);
	log_info("metrics on http://%s/metrics", cfg->metrics_listen);
	return mh;
}

void metrics_http_stop(struct metrics_http *mh)
{
	if (!mh)
		return;
	if (mh->http)
		evhttp_free(mh->http);
	free(mh);
}
