/* status - `petrel status`; see status.h. */
#include "control/status.h"

#include <stdio.h>

#include "control/admin.h"

int status_main(int argc, char **argv)
{
	return admin_main("status", argc - 1, argv + 1);
}

int status_not_running(const char *sockpath)
{
	fprintf(stderr, "petrel: the daemon is not running (nothing answers on %s)\n", sockpath);
	return STATUS_NOT_RUNNING;
}
