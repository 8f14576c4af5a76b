/* bev_send - sending at once when nothing is queued; see bev_send.h. */
#include "util/bev_send.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static bool plain_socket(struct bufferevent *bev)
{
	return bufferevent_get_underlying(bev) == NULL && bufferevent_openssl_get_ssl(bev) == NULL &&
	       bufferevent_getfd(bev) >= 0;
}

void tcp_nodelay(int fd)
{
	int on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

bool bev_send(struct bufferevent *bev, const void *p, size_t n, bool last)
{
	size_t sent = 0;
	if (n && plain_socket(bev) && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		/* Errors are left to the bufferevent: its own write reports them. */
		ssize_t r = send(bufferevent_getfd(bev), p, n,
				 MSG_NOSIGNAL | MSG_DONTWAIT | (last ? MSG_MORE : 0));
		if (r > 0)
			sent = (size_t)r;
	}
	if (sent < n) {
		bufferevent_write(bev, (const char *)p + sent, n - sent);
		bufferevent_enable(bev, EV_WRITE);
		return false;
	}
	return last && n;
}
