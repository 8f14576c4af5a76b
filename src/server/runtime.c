/* runtime - a config file and what it brings with it; see runtime.h. */
#include "server/runtime.h"

#include <errno.h>
#include <string.h>

#include "server/tls.h"

static bool load_users(struct runtime *rt, struct buf *errors)
{
	const struct config *cfg = rt->cfg;
	size_t before = errors->len;
	rt->users = passwd_load(cfg->passwd_file, errors);
	if (!rt->users && errors->len == before)
		config_error(cfg, errors, "passwd-file", "cannot read %s: %s", cfg->passwd_file,
			     strerror(errno));
	return rt->users != NULL;
}

bool runtime_load(const char *path, struct runtime *rt, struct buf *errors)
{
	*rt = (struct runtime){.cfg = config_load(path, errors)};
	if (!rt->cfg)
		return false;
	const struct config *cfg = rt->cfg;
	/* Each part is tried even when another failed: every error at once. */
	bool ok = config_check_secrets(cfg, errors);
	if (cfg->tls_cert && !(rt->tls = tls_server_context(cfg, errors)))
		ok = false;
	if (cfg->passwd_file && !load_users(rt, errors))
		ok = false;
	if (!ok)
		runtime_free(rt);
	return ok;
}

void runtime_free(struct runtime *rt)
{
	SSL_CTX_free(rt->tls);
	passwd_free(rt->users);
	config_free(rt->cfg);
	*rt = (struct runtime){0};
}
