/*
 * tls - the server's TLS context (OpenSSL 3): TLS 1.2 and newer only,
 * OpenSSL's default cipher choice (which excludes the broken ones), and
 * the certificate chain and key named in the config. Used for STARTTLS
 * (RFC 3207) and for implicit TLS on submissions listeners (RFC 8314).
 */
#ifndef PETREL_SERVER_TLS_H
#define PETREL_SERVER_TLS_H

#include <openssl/ssl.h>

#include "config/config.h"
#include "util/buf.h"

/* The context for cfg's tls-cert and tls-key (both set). NULL when they
 * cannot be used: unreadable, not PEM, given the wrong way round, or a key
 * that is not the certificate's; the reason in errors as
 * "file:line: keyword: reason\n". */
SSL_CTX *tls_server_context(const struct config *cfg, struct buf *errors);

#endif
