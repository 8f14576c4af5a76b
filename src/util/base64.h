/* base64 - RFC 4648 section 4 encoding and strict decoding (for SMTP AUTH). */
#ifndef PETREL_UTIL_BASE64_H
#define PETREL_UTIL_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

void base64_encode(struct buf *out, const void *data, size_t len);
/* Appends the decoded bytes; false (out unchanged) on any invalid input:
 * bad characters, bad padding, wrong length. */
bool base64_decode(struct buf *out, const char *s, size_t len);

#endif
