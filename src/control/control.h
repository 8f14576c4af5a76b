/*
 * control - the daemon's side of the postmaster commands (petrel queue,
 * petrel flush, mailq). While the daemon runs it owns the spool (and its
 * lock), so the commands ask it over a Unix-domain stream socket,
 * <spool>/control.sock, mode 0600 inside the 0700 spool directory; peers
 * must also be root or the daemon's own user (SO_PEERCRED).
 *
 * Protocol: the client sends one request line (at most CONTROL_LINE_MAX
 * bytes, LF-terminated), the daemon answers and closes. Requests:
 *   list | count | show ID | flush | delete ID | hold ID | release ID | status
 * The answer's first line is "ok" or "error: reason"; the rest is text for
 * the postmaster (rendered by queue_view; status by util/metrics); count is the
 * listing's summary alone, bounded however long the queue. The
 * daemon's list also names the maildrop files it cannot read; it is sent
 * a piece at a time as the client reads it, never built whole. delete,
 * hold and release are answered once the spool index shows the change (it
 * is durable then), or after CONTROL_WAIT_MAX seconds with a note that it
 * is still under way.
 *
 * Every request runs in the loop thread, like the rest of the daemon's work
 * on the spool; nothing here blocks.
 */
#ifndef PETREL_CONTROL_CONTROL_H
#define PETREL_CONTROL_CONTROL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "queue/pickup.h"
#include "queue/spool.h"
#include "schedule/scheduler.h"

#define CONTROL_SOCKET "control.sock"
#define CONTROL_LINE_MAX 512
#define CONTROL_WAIT_MAX 10

struct control;

/* Writes "<spool_dir>/control.sock" into out; false when it does not fit a
 * sockaddr_un (ENAMETOOLONG). Shared with the command-line side. */
bool control_socket_path(const char *spool_dir, char *out, size_t outsz);

/* Listens on the control socket, replacing a stale socket file (the caller
 * holds the spool lock, so no other daemon can be using it). The listing
 * also shows the maildrop files pickup cannot read. Returns NULL with errno
 * set when the socket cannot be made. */
struct control *control_start(struct event_base *base, struct spool *sp, struct scheduler *sch,
			      const struct pickup *pickup, const struct config *cfg);
/* Stops listening, drops unanswered requests, removes the socket file. */
void control_stop(struct control *c);

#endif
