/*
 * tls - the server's TLS context (OpenSSL 3): TLS 1.2 and newer only,
 * OpenSSL's default cipher choice (which excludes the broken ones), and
 * the certificate chain and key named in the config. Used for STARTTLS
 * (RFC 3207) and for implicit TLS on submissions listeners (RFC 8314).
 */
#ifndef PETREL_SERVER_TLS_H
#define PETREL_SERVER_TLS_H

#include <openssl/ssl.h>

#include "util/buf.h"

/* NULL with a reason in err when the files cannot be used. */
SSL_CTX *tls_server_context(const char *cert_file, const char *key_file, struct buf *err);

#endif
