/*
 * headers - looking into a message's header section (RFC 5322 2.2), pure.
 */
#ifndef PETREL_SMTP_HEADERS_H
#define PETREL_SMTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

/* True when the header section of msg (up to the first empty line) has a
 * field called name (case-insensitive). */
bool header_has(const char *msg, size_t len, const char *name);

#endif
