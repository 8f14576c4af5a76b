/*
 * passwd_cmd - `petrel passwd`: adds, changes or removes one user of the
 * AUTH password file; see passwd.h for the file format and the options.
 *
 * Contract: the file is rewritten whole and atomically (temporary file,
 * fsync, rename, directory fsync), every other line kept as it was; an
 * existing file keeps its owner, group and (never world-readable) mode, a
 * new one is 0640 with the group of the daemon's run user, so the daemon
 * can read it again when it reloads after giving up root; concurrent runs are serialised by flock() on FILE.lock. The
 * password is never printed, logged or written anywhere but as its hash,
 * and the buffers that held it are wiped. Hash: yescrypt with a fresh salt
 * from the system's random source (libxcrypt crypt_gensalt_rn).
 */
#include "auth/passwd.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "config/config.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/usage.h"

#define FILE_MAX (16u << 20)

struct args {
	const char *config;
	const char *file;
	const char *user;
	bool remove;
	gid_t group;            /* for a new file made by root: the run user's */
};

static int usage(void)
{
	usage_print("passwd", stderr);
	return 64;
}

static bool parse_args(int argc, char **argv, struct args *a)
{
	*a = (struct args){.config = config_default_path(), .group = (gid_t)-1};
	int opt;
	opterr = 0;
	optind = 1;
	while ((opt = getopt(argc, argv, "c:f:d")) != -1) {
		if (opt == 'c')
			a->config = optarg;
		else if (opt == 'f')
			a->file = optarg;
		else if (opt == 'd')
			a->remove = true;
		else
			return false;
	}
	if (optind != argc - 1)
		return false;
	a->user = argv[optind];
	return true;
}

/* ---- reading the password ---- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Reads one line from fd into out (NUL-terminated, line end removed).
 * False on EOF before any byte, a read error, an interrupt or a line that
 * does not fit. */
static bool read_line(int fd, char *out, size_t outsz)
{
	size_t n = 0;
	bool too_long = false;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR && !interrupted)
			continue;
		if (r < 0 || (r == 0 && n == 0 && !too_long))
			return false;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 < outsz)
			out[n++] = c;
		else
			too_long = true;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return !too_long;
}

/* Prompts on stderr and reads with echo off. The handlers (no SA_RESTART)
 * make a ^C end the read, so the terminal gets its echo back either way. */
static bool read_tty(const char *prompt, char *out, size_t outsz)
{
	struct termios old, quiet;
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return false;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	struct sigaction sa = {.sa_handler = on_interrupt}, oint, oterm, oquit;
	sigaction(SIGINT, &sa, &oint);
	sigaction(SIGTERM, &sa, &oterm);
	sigaction(SIGQUIT, &sa, &oquit);
	fputs(prompt, stderr);
	bool ok = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0 &&
		  read_line(STDIN_FILENO, out, outsz);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGTERM, &oterm, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	if (interrupted)
		fputc('\n', stderr);
	return ok && !interrupted;
}

/* The new password into pass[PASSWD_PASS_MAX + 1]; false after saying why. */
static bool get_password(char *pass)
{
	size_t sz = PASSWD_PASS_MAX + 1;
	bool ok;
	if (isatty(STDIN_FILENO)) {
		char again[PASSWD_PASS_MAX + 1];
		ok = read_tty("New password: ", pass, sz) &&
		     read_tty("Retype new password: ", again, sizeof again);
		if (ok && strcmp(pass, again) != 0) {
			fputs("petrel passwd: the passwords do not match\n", stderr);
			ok = false;
		}
		explicit_bzero(again, sizeof again);
	} else {
		ok = read_line(STDIN_FILENO, pass, sz);
		if (!ok)
			fprintf(stderr, "petrel passwd: expected the password as one line of at "
				"most %d bytes on stdin\n", PASSWD_PASS_MAX);
	}
	if (ok && pass[0] == '\0') {
		fputs("petrel passwd: empty password refused\n", stderr);
		ok = false;
	}
	return ok;
}

/* A fresh yescrypt hash of pass into out (CRYPT_OUTPUT_SIZE bytes). */
static bool hash_password(const char *pass, char *out)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting)) {
		fprintf(stderr, "petrel passwd: cannot make a salt: %s\n", strerror(errno));
		return false;
	}
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *h = crypt_rn(pass, setting, cd, (int)sizeof *cd);
	bool ok = h && strlen(h) < CRYPT_OUTPUT_SIZE;
	if (ok)
		strcpy(out, h);
	else
		fprintf(stderr, "petrel passwd: crypt failed: %s\n", strerror(errno));
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

/* ---- rewriting the file ---- */

/* The current contents (empty when the file does not exist yet); false
 * with errno set when it cannot be read. */
static bool read_current(const char *path, struct buf *out, struct stat *st, bool *exists)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	*exists = fd >= 0;
	if (fd < 0)
		return errno == ENOENT;
	bool ok = fstat(fd, st) == 0;
	if (ok && (!S_ISREG(st->st_mode) || st->st_size > FILE_MAX)) {
		errno = S_ISREG(st->st_mode) ? EFBIG : EINVAL;
		ok = false;
	}
	char chunk[8192];
	ssize_t n;
	while (ok && (n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && out->len + (size_t)n > FILE_MAX)
			errno = EFBIG;
		ok = n > 0 && out->len + (size_t)n <= FILE_MAX;
		if (ok)
			buf_append(out, chunk, (size_t)n);
	}
	int saved = errno;
	close(fd);
	errno = saved;
	return ok;
}

static bool line_is_user(const char *line, size_t len, const char *user)
{
	size_t ulen = strlen(user);
	return len > ulen && line[ulen] == ':' && strncasecmp(line, user, ulen) == 0;
}

/* Copies cur into out with USER's line replaced by newline (or dropped when
 * newline is NULL); returns how many lines named USER. */
static size_t rewrite(const struct buf *cur, const char *user, const char *newline,
		      struct buf *out)
{
	size_t found = 0, pos = 0;
	while (pos < cur->len) {
		const char *line = cur->p + pos;
		const char *nl = memchr(line, '\n', cur->len - pos);
		size_t len = nl ? (size_t)(nl - line) : cur->len - pos;
		pos += len + (nl != NULL);
		if (!line_is_user(line, len, user)) {
			buf_append(out, line, len);
			buf_putc(out, '\n');
		} else if (found++ == 0 && newline) {
			buf_puts(out, newline);
		}
	}
	if (!found && newline)
		buf_puts(out, newline);
	return found;
}

/* Locks FILE.lock (the file itself is replaced, so it cannot carry the lock). */
static int lock_file(const char *path)
{
	struct buf lp = BUF_INIT;
	buf_printf(&lp, "%s.lock", path);
	int fd = open(lp.p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "petrel passwd: %s: %s\n", lp.p, strerror(errno));
	buf_free(&lp);
	return fd;
}

static int update_file(const struct args *a, const char *path, const char *newline)
{
	int lock = lock_file(path);
	if (lock < 0)
		return 1;
	struct buf cur = BUF_INIT, out = BUF_INIT;
	struct stat st;
	bool exists;
	int rc = 1;
	if (!read_current(path, &cur, &st, &exists)) {
		fprintf(stderr, "petrel passwd: %s: %s\n", path, strerror(errno));
	} else if (rewrite(&cur, a->user, newline, &out) == 0 && a->remove) {
		fprintf(stderr, "petrel passwd: %s: no user %s\n", path, a->user);
	} else if (fsutil_write_atomic(path, out.p ? out.p : "", out.len,
				       exists ? (st.st_mode & 0640) | 0600 : 0640) < 0) {
		fprintf(stderr, "petrel passwd: cannot write %s: %s\n", path, strerror(errno));
	} else {
		/* root editing a file the daemon's user owns must not take it away. */
		uid_t uid = exists ? st.st_uid : 0;
		gid_t gid = exists ? st.st_gid : a->group;
		if (geteuid() == 0 && (exists || a->group != (gid_t)-1) && chown(path, uid, gid) < 0)
			fprintf(stderr, "petrel passwd: %s: chown: %s\n", path, strerror(errno));
		printf("%s: %s %s\n", path, a->remove ? "removed" : "password set for", a->user);
		rc = 0;
	}
	buf_free(&cur);
	buf_free(&out);
	close(lock);
	return rc;
}

/* The passwd file named by -f or by the config; with the config, the group
 * of its run user too. */
static char *passwd_path(struct args *a)
{
	if (a->file)
		return xstrdup(a->file);
	log_set_level(LOG_LVL_WARN);
	struct buf errs = BUF_INIT;
	struct config *cfg = config_load(a->config, &errs);
	char *path = NULL;
	if (!cfg)
		fprintf(stderr, "%s", errs.p ? errs.p : "petrel passwd: cannot load the config\n");
	else if (!cfg->passwd_file)
		fprintf(stderr, "petrel passwd: %s names no passwd-file; give one with -f\n",
			a->config);
	else
		path = xstrdup(cfg->passwd_file);
	struct passwd *pw = cfg ? getpwnam(cfg->run_user) : NULL;
	if (pw)
		a->group = pw->pw_gid;
	config_free(cfg);
	buf_free(&errs);
	return path;
}

int passwd_main(int argc, char **argv)
{
	struct args a;
	if (!parse_args(argc, argv, &a))
		return usage();
	if (!passwd_valid_user(a.user, strlen(a.user))) {
		fprintf(stderr, "petrel passwd: bad user name (1-%d printable characters, "
			"no ':' or space)\n", PASSWD_USER_MAX);
		return 64;
	}
	char *path = passwd_path(&a);
	if (!path)
		return 1;
	int rc = 1;
	char pass[PASSWD_PASS_MAX + 1], hash[CRYPT_OUTPUT_SIZE];
	if (a.remove) {
		rc = update_file(&a, path, NULL);
	} else if (get_password(pass) && hash_password(pass, hash)) {
		struct buf line = BUF_INIT;
		buf_printf(&line, "%s:%s\n", a.user, hash);
		rc = update_file(&a, path, line.p);
		buf_free(&line);
	}
	explicit_bzero(pass, sizeof pass);
	free(path);
	return rc;
}
