/*
 * admin - the postmaster's queue commands on the command line:
 *
 *   petrel queue [-c FILE]                         list (also: mailq [-c FILE])
 *   petrel queue --count [-c FILE]                 the summary only (queue_view_count)
 *   petrel queue show|delete|hold|release ID [-c FILE]
 *   petrel flush [-c FILE]
 *   petrel status [-c FILE]                        the daemon's figures (status.h)
 *
 * With the daemon running, the request goes over its control socket (see
 * control.h) and the daemon acts. When nothing answers there, the command
 * opens the spool itself (taking its lock, so no daemon can start
 * meanwhile), acts on it directly and waits until its records are durable.
 * Both paths print through queue_view, so the output is the same.
 *
 * Exit status: 0 done, 1 failed (unknown ID, unreadable config, spool or
 * daemon trouble), 2 bad usage.
 */
#ifndef PETREL_CONTROL_ADMIN_H
#define PETREL_CONTROL_ADMIN_H

/* cmd is "queue", "flush", "mailq" or "status" (see status.h); argv holds
 * the argc arguments that follow the command (options included), not the
 * program name. */
int admin_main(const char *cmd, int argc, char **argv);

#endif
