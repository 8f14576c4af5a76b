/* tls - the server's TLS context; see tls.h. */
#include "server/tls.h"

#include <openssl/err.h>

static void ssl_error(struct buf *err, const char *what, const char *file)
{
	char reason[256];
	ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
	buf_printf(err, "%s %s: %s", what, file, reason);
}

SSL_CTX *tls_server_context(const char *cert_file, const char *key_file, struct buf *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_error(err, "TLS", "context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Renegotiation buys nothing for SMTP and has a history of bugs. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		ssl_error(err, "tls-cert", cert_file);
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, "tls-key", key_file);
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, "tls-key", key_file);
	} else {
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}
