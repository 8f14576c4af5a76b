/* usage - every command's synopsis; see usage.h. */
#include "util/usage.h"

#include <string.h>

struct command {
	const char *name;
	const char *synopsis;
	const char *what;
};

/* In the order of petrel(8)'s SYNOPSIS. */
static const struct command commands[] = {
	{"serve", "petrel serve [-c FILE]", "run the mail server in the foreground"},
	{"check-config", "petrel check-config [-c FILE]",
	 "check the configuration and every file it names"},
	{"config", "petrel config [-a] [-c FILE]",
	 "print the settings that differ from their defaults (-a: every setting)"},
	{"queue", "petrel queue [--count | show|delete|hold|release ID] [-c FILE]",
	 "list the queue or sum it up, or show, delete, hold or release one message"},
	{"flush", "petrel flush [-c FILE]", "retry every deferred message now"},
	{"status", "petrel status [-c FILE]", "print the running daemon's figures"},
	{"passwd", "petrel passwd [-c CONFIG] [-f FILE] [-d] USER",
	 "set a user's SMTP AUTH password (-d: remove the user)"},
	{"sendmail",
	 "petrel sendmail [-t] [-i|-oi] [-f SENDER] [-F NAME] [-N NOTIFY] [-R full|hdrs] "
	 "[-V ENVID] [-c CONFIG] [RCPT...]",
	 "queue a message read from standard input"},
	{"version", "petrel version | petrel --version", "print the version"},
	{"help", "petrel help [COMMAND] | petrel --help", "print this"},
	{"mailq", "mailq [-c FILE]", "the same as petrel queue"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find(const char *name)
{
	for (size_t i = 0; name && i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

bool usage_known(const char *cmd)
{
	return find(cmd) != NULL;
}

/* The installed sendmail link takes what petrel sendmail takes. */
static const char *const sendmail_link = "sendmail [options as for petrel sendmail]";

void usage_print(const char *cmd, FILE *out)
{
	const struct command *c = find(cmd);
	if (c) {
		fprintf(out, "usage: %s\n%s; see petrel(8)\n", c->synopsis, c->what);
		return;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "%s %s\n", i ? "      " : "usage:", commands[i].synopsis);
	fprintf(out, "       %s\n\n", sendmail_link);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].what);
	fputs("\nFILE and CONFIG: the configuration; without -c, $PETREL_CONFIG, else\n"
	      "/etc/petrel/petrel.conf. See petrel(8) and petrel.conf(5).\n", out);
}
