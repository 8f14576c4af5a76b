/*
 * bev_send - writing to a connection's bufferevent, sending at once when
 * nothing is waiting ahead.
 *
 * libevent writes a bufferevent's output only on a later loop turn, after
 * asking epoll for writability: per reply an epoll_ctl to add the write
 * event, a wake-up, the write, and an epoll_ctl to drop it again. An SMTP
 * reply or command nearly always fits the socket's send buffer, so on a
 * plain socket with nothing queued the bytes are sent right away; only what
 * the kernel does not take goes through the buffer. Order is kept: bytes go
 * out directly only when the buffer is empty. TLS and filter bufferevents
 * (STARTTLS) always go through the buffer. A plain socket's bufferevent may
 * be enabled for reading only: the write event is enabled here when bytes
 * are queued (a socket bufferevent with EV_WRITE enabled from the start
 * costs a wake-up and an epoll_ctl for nothing on its first loop turn).
 */
#ifndef PETREL_UTIL_BEV_SEND_H
#define PETREL_UTIL_BEV_SEND_H

#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stddef.h>

/* last: the connection is closed right after these bytes. They are then
 * held back (MSG_MORE) until the close, which sends its FIN in the same
 * segment: one packet, and one wake-up of the peer, less per connection.
 * Returns true when bytes are held back so: the caller must then end its
 * side with shutdown(SHUT_WR) before close(), since a close with unread
 * input resets the connection and would drop them unsent. */
bool bev_send(struct bufferevent *bev, const void *p, size_t n, bool last);
/* Sends with bev_send group their bytes themselves (a reply, a pipelined
 * command group, a body chunk with its dot): Nagle's delay would only hold
 * a last short piece back until the peer's delayed ACK (up to 40 ms). */
void tcp_nodelay(int fd);

#endif
