/*
 * status - `petrel status [-c FILE]`: the running daemon's figures for a
 * person (uptime, connections, messages, deliveries, queue, latency
 * percentiles), asked over the control socket ("status" request, see
 * control.h) by the same client code as the queue commands (admin.c).
 *
 * Exit status: 0 shown, 1 failed (unreadable config, daemon trouble),
 * 2 bad usage, 3 the daemon is not running (as LSB init scripts' status).
 */
#ifndef PETREL_CONTROL_STATUS_H
#define PETREL_CONTROL_STATUS_H

#define STATUS_NOT_RUNNING 3

/* argv[0] is "status"; the arguments follow it. */
int status_main(int argc, char **argv);

/* Says that nothing answers on the control socket; returns STATUS_NOT_RUNNING. */
int status_not_running(const char *sockpath);

#endif
