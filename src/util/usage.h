/*
 * usage - the synopsis of every petrel command, in one table: what --help
 * prints (on stdout, exit 0) and what a usage error prints (on stderr).
 * tests/integration/test_docs.py checks it against petrel(8) both ways.
 */
#ifndef PETREL_UTIL_USAGE_H
#define PETREL_UTIL_USAGE_H

#include <stdbool.h>
#include <stdio.h>

/* The synopsis and a line on what cmd does ("queue", or "mailq" and
 * "sendmail" for the installed names); every command's when cmd is NULL
 * or not one. */
void usage_print(const char *cmd, FILE *out);
/* True when cmd is a command of the table. */
bool usage_known(const char *cmd);

#endif
