/*
 * passwd - the AUTH password file; see passwd.h. Hashes are crypt(3)
 * strings (libxcrypt); verification uses crypt_rn with a per-call
 * struct crypt_data, so nothing is shared between threads.
 */
#include "auth/passwd.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

/* A password file is a few lines per user; anything near this is a mistake. */
#define PASSWD_FILE_MAX (16u << 20)
#define PASSWD_LINE_MAX 4096

/* The setting an unknown user's password is hashed with: yescrypt at the
 * default cost, the same work as checking a real "$y$" hash. */
static const char dummy_setting[] = "$y$j9T$wRHzjBFmMMYrtmYsRpeGu/";

struct passwd_entry {
	char *user;
	char *hash;
};

struct passwd_db {
	struct passwd_entry *v;
	size_t n, cap;
};

bool passwd_valid_user(const char *user, size_t len)
{
	if (len == 0 || len > PASSWD_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (user[i] <= ' ' || user[i] > '~' || user[i] == ':')
			return false;
	return true;
}

static bool locked_hash(const char *hash)
{
	return hash[0] == '!' || hash[0] == '*';
}

const char *passwd_check_hash(const char *hash)
{
	if (locked_hash(hash))
		return NULL;
	for (const char *p = hash; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ':')
			return "the hash contains a character crypt(3) never writes";
	/* Only DES, the oldest method, has no "$id$" prefix. */
	if (hash[0] != '$')
		return "not a crypt(3) hash of a current method (\"$y$...\")";
	switch (crypt_checksalt(hash)) {
	case CRYPT_SALT_OK:
		return NULL;
	case CRYPT_SALT_METHOD_LEGACY:
		return "the hash uses a legacy method; set the password again with `petrel passwd`";
	default:
		return "not a crypt(3) hash this system supports";
	}
}

/* Reads all of fd (a regular file of at most PASSWD_FILE_MAX bytes). */
static bool read_file(int fd, const char *path, struct buf *out, struct buf *errors)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		buf_printf(errors, "%s: not a regular file\n", path);
		return false;
	}
	if (st.st_mode & S_IWOTH) {
		buf_printf(errors, "%s: writable by every user; refused (chmod 600 it)\n", path);
		return false;
	}
	if (st.st_mode & S_IROTH)
		log_warn("%s: password hashes readable by every user; chmod 600 it", path);
	if ((uint64_t)st.st_size > PASSWD_FILE_MAX) {
		buf_printf(errors, "%s: larger than %u bytes\n", path, PASSWD_FILE_MAX);
		return false;
	}
	char chunk[8192];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || out->len + (size_t)n > PASSWD_FILE_MAX) {
			buf_printf(errors, "%s: %s\n", path, n < 0 ? strerror(errno) : "file grew");
			return false;
		}
		buf_append(out, chunk, (size_t)n);
	}
	return true;
}

static void add_entry(struct passwd_db *db, const char *user, size_t ulen, const char *hash)
{
	if (db->n == db->cap) {
		db->cap = db->cap ? db->cap * 2 : 16;
		db->v = xrealloc(db->v, db->cap * sizeof *db->v);
	}
	db->v[db->n].user = xstrndup(user, ulen);
	db->v[db->n].hash = xstrdup(hash);
	db->n++;
}

/* One line without its LF; blank and comment lines are skipped. */
static bool parse_line(struct passwd_db *db, char *line, size_t len, const char *path,
		       unsigned lineno, struct buf *errors)
{
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len == 0 || line[0] == '#')
		return true;
	const char *why = NULL;
	char *colon = memchr(line, ':', len);
	if (len > PASSWD_LINE_MAX)
		why = "line too long";
	else if (memchr(line, '\0', len))
		why = "NUL byte in line";
	else if (!colon)
		why = "expected user:hash";
	else if (!passwd_valid_user(line, (size_t)(colon - line)))
		why = "bad user name (1-255 printable characters, no ':' or space)";
	else if (colon[1] == '\0')
		why = "empty hash";
	else
		why = passwd_check_hash(colon + 1);
	if (why) {
		buf_printf(errors, "%s:%u: %s\n", path, lineno, why);
		return false;
	}
	add_entry(db, line, (size_t)(colon - line), colon + 1);
	return true;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct passwd_entry *)a)->user,
			  ((const struct passwd_entry *)b)->user);
}

/* Sorts for bsearch; a user named twice is an error (which line wins would
 * otherwise be a guess). */
static bool sort_entries(struct passwd_db *db, const char *path, struct buf *errors)
{
	if (db->n)
		qsort(db->v, db->n, sizeof *db->v, entry_cmp);
	bool ok = true;
	for (size_t i = 1; i < db->n; i++)
		if (strcasecmp(db->v[i - 1].user, db->v[i].user) == 0) {
			buf_printf(errors, "%s: user %s appears more than once\n", path,
				   db->v[i].user);
			ok = false;
		}
	return ok;
}

static bool parse_all(struct passwd_db *db, struct buf *text, const char *path,
		      struct buf *errors)
{
	bool ok = true;
	unsigned lineno = 0;
	size_t pos = 0;
	while (pos < text->len) {
		char *line = text->p + pos;
		char *nl = memchr(line, '\n', text->len - pos);
		size_t len = nl ? (size_t)(nl - line) : text->len - pos;
		line[len] = '\0';
		pos += len + 1;
		if (!parse_line(db, line, len, path, ++lineno, errors))
			ok = false;
	}
	return sort_entries(db, path, errors) && ok;
}

struct passwd_db *passwd_load(const char *path, struct buf *errors)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	struct buf text = BUF_INIT;
	struct passwd_db *db = xcalloc(1, sizeof *db);
	bool ok = read_file(fd, path, &text, errors) && parse_all(db, &text, path, errors);
	close(fd);
	if (text.p)
		explicit_bzero(text.p, text.len);
	buf_free(&text);
	if (!ok) {
		passwd_free(db);
		return NULL;
	}
	return db;
}

static const struct passwd_entry *lookup(const struct passwd_db *db, const char *user)
{
	struct passwd_entry key = {.user = (char *)user};
	return db->n ? bsearch(&key, db->v, db->n, sizeof *db->v, entry_cmp) : NULL;
}

/* Compares two NUL-terminated strings without an early exit on the first
 * difference. Lengths are not secret: every hash of a method has one. */
static bool equal_ct(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n != strlen(b))
		return false;
	unsigned char diff = 0;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool passwd_verify(const struct passwd_db *db, const char *user, const char *password)
{
	const struct passwd_entry *e = user ? lookup(db, user) : NULL;
	bool usable = e && !locked_hash(e->hash);
	const char *setting = usable ? e->hash : dummy_setting;
	/* 32 KiB: too big for a worker's stack, and zeroed as libxcrypt asks. */
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	const char *out = password ? crypt_rn(password, setting, cd, (int)sizeof *cd) : NULL;
	bool ok = out && equal_ct(out, setting) && usable;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

size_t passwd_count(const struct passwd_db *db)
{
	return db->n;
}

void passwd_free(struct passwd_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n; i++) {
		free(db->v[i].user);
		explicit_bzero(db->v[i].hash, strlen(db->v[i].hash));
		free(db->v[i].hash);
	}
	free(db->v);
	free(db);
}
