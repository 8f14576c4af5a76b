/* tls - the server's TLS context; see tls.h. */
#include "server/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

/* A key that needs a passphrase is refused rather than asked for: the
 * daemon has nobody to ask, and OpenSSL's default would read the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

static FILE *open_pem(const struct config *cfg, const char *keyword, const char *path,
		      struct buf *errors)
{
	FILE *f = fopen(path, "r");
	if (!f)
		config_error(cfg, errors, keyword, "cannot read %s: %s", path, strerror(errno));
	return f;
}

/* The private key f holds, or NULL; f is closed. */
static EVP_PKEY *read_key(FILE *f)
{
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	return key;
}

static bool holds_certificate(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, no_passphrase, NULL) : NULL;
	if (f)
		fclose(f);
	X509_free(x);
	return x != NULL;
}

static bool use_certificate(SSL_CTX *ctx, const struct config *cfg, struct buf *errors)
{
	FILE *f = open_pem(cfg, "tls-cert", cfg->tls_cert, errors);
	if (!f)
		return false;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) == 1) {
		fclose(f);
		return true;
	}
	/* The first error is the cause ("no start line"); the later ones the
	 * calls it failed. */
	const char *reason = ERR_reason_error_string(ERR_peek_error());
	EVP_PKEY *key = read_key(f);
	if (key && holds_certificate(cfg->tls_key))
		config_error(cfg, errors, "tls-cert", "given the wrong way round: %s is the key, "
			     "%s (tls-key) the certificate", cfg->tls_cert, cfg->tls_key);
	else if (key)
		config_error(cfg, errors, "tls-cert", "%s is a private key, not a certificate",
			     cfg->tls_cert);
	else
		config_error(cfg, errors, "tls-cert", "%s holds no usable PEM certificate (%s)",
			     cfg->tls_cert, reason ? reason : "unknown reason");
	EVP_PKEY_free(key);
	return false;
}

static bool use_key(SSL_CTX *ctx, const struct config *cfg, struct buf *errors)
{
	FILE *f = open_pem(cfg, "tls-key", cfg->tls_key, errors);
	if (!f)
		return false;
	EVP_PKEY *key = read_key(f);
	bool ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	if (!key)
		config_error(cfg, errors, "tls-key", "%s holds no PEM private key (or one that "
			     "needs a passphrase)", cfg->tls_key);
	else if (!ok)
		config_error(cfg, errors, "tls-key", "%s is not the key of the certificate in %s",
			     cfg->tls_key, cfg->tls_cert);
	EVP_PKEY_free(key);
	return ok;
}

SSL_CTX *tls_server_context(const struct config *cfg, struct buf *errors)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		char reason[256];
		ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
		config_error(cfg, errors, "tls-cert", "no TLS context: %s", reason);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Renegotiation buys nothing for SMTP and has a history of bugs. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	bool ok = use_certificate(ctx, cfg, errors) && use_key(ctx, cfg, errors);
	/* What OpenSSL queued on the way is said above, in the config's terms. */
	ERR_clear_error();
	if (ok)
		return ctx;
	SSL_CTX_free(ctx);
	return NULL;
}
