/*
 * test_passwd - the AUTH password file: loading (comments, modes, every
 * malformed line reported as file:line), verification of yescrypt and
 * bcrypt hashes made here with libxcrypt, unknown and locked users, and
 * the rules shared with `petrel passwd`.
 */
#include "test_util.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/passwd.h"
#include "config_fixture.h"

/* A fresh hash of pass with a new salt of the given method ("$y$", "$2b$"). */
static char *make_hash(const char *prefix, const char *pass)
{
	char *setting = crypt_gensalt_ra(prefix, 0, NULL, 0);
	assert_non_null(setting);
	struct crypt_data *cd = calloc(1, sizeof *cd);
	assert_non_null(cd);
	const char *h = crypt_rn(pass, setting, cd, (int)sizeof *cd);
	assert_non_null(h);
	char *out = strdup(h);
	free(cd);
	free(setting);
	return out;
}

/* Writes text to name with mode 0600 and loads it. */
static struct passwd_db *load_text(const char *name, const char *text, struct buf *errs)
{
	scratch_write(name, text);
	assert_int_equal(chmod(name, 0600), 0);
	return passwd_load(name, errs);
}

static void test_yescrypt_and_bcrypt(void **state)
{
	(void)state;
	char *y = make_hash("$y$", "correct horse");
	char *b = make_hash("$2b$", "battery staple");
	assert_memory_equal(y, "$y$", 3);
	assert_memory_equal(b, "$2b$", 4);
	struct buf text = BUF_INIT, errs = BUF_INIT;
	buf_printf(&text, "# users\n\nalice:%s\r\nBob:%s\n", y, b);
	struct passwd_db *db = load_text("passwd", text.p, &errs);
	assert_non_null(db);
	assert_int_equal(errs.len, 0);
	assert_int_equal(passwd_count(db), 2);
	assert_true(passwd_verify(db, "alice", "correct horse"));
	assert_false(passwd_verify(db, "alice", "correct horse "));
	assert_false(passwd_verify(db, "alice", ""));
	assert_true(passwd_verify(db, "bob", "battery staple"));   /* names ignore case */
	assert_true(passwd_verify(db, "BOB", "battery staple"));
	assert_false(passwd_verify(db, "bob", "correct horse"));
	assert_false(passwd_verify(db, "carol", "correct horse")); /* unknown user */
	assert_false(passwd_verify(db, "", "x"));
	assert_false(passwd_verify(db, NULL, "x"));
	assert_false(passwd_verify(db, "alice", NULL));
	passwd_free(db);
	buf_free(&text);
	buf_free(&errs);
	free(y);
	free(b);
}

static void test_locked_user(void **state)
{
	(void)state;
	char *y = make_hash("$y$", "pw");
	struct buf text = BUF_INIT, errs = BUF_INIT;
	buf_printf(&text, "alice:!%s\nbob:*\n", y);
	struct passwd_db *db = load_text("passwd", text.p, &errs);
	assert_non_null(db);
	assert_false(passwd_verify(db, "alice", "pw"));
	assert_false(passwd_verify(db, "bob", "*"));
	passwd_free(db);
	buf_free(&text);
	buf_free(&errs);
	free(y);
}

static void test_malformed_lines(void **state)
{
	(void)state;
	char *y = make_hash("$y$", "pw");
	struct buf text = BUF_INIT, errs = BUF_INIT;
	buf_printf(&text,
		   "alice:%s\n"          /* 1: fine */
		   "no colon here\n"     /* 2 */
		   ":%s\n"               /* 3: empty user */
		   "bob:\n"              /* 4: empty hash */
		   "carol:plaintext\n"   /* 5: not a hash */
		   "dave:$1$salt$abc\n"  /* 6: legacy MD5 */
		   "er in:%s\n"          /* 7: space in name */
		   "ALICE:%s\n",         /* duplicate of line 1 */
		   y, y, y, y);
	struct passwd_db *db = load_text("pw.txt", text.p, &errs);
	assert_null(db);
	assert_non_null(strstr(errs.p, "pw.txt:2: expected user:hash\n"));
	assert_non_null(strstr(errs.p, "pw.txt:3: bad user name"));
	assert_non_null(strstr(errs.p, "pw.txt:4: empty hash\n"));
	assert_non_null(strstr(errs.p, "pw.txt:5: not a crypt(3) hash of a current method"));
	assert_non_null(strstr(errs.p, "pw.txt:6: the hash uses a legacy method"));
	assert_non_null(strstr(errs.p, "pw.txt:7: bad user name"));
	assert_non_null(strstr(errs.p, "pw.txt: user "));
	assert_non_null(strstr(errs.p, "appears more than once"));
	assert_null(strstr(errs.p, "pw.txt:1:"));
	buf_free(&text);
	buf_free(&errs);
	free(y);
}

static void test_file_problems(void **state)
{
	(void)state;
	struct buf errs = BUF_INIT;
	errno = 0;
	assert_null(passwd_load("missing", &errs));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(errs.len, 0);
	scratch_write("open", "");
	assert_int_equal(chmod("open", 0666), 0);
	assert_null(passwd_load("open", &errs));
	assert_non_null(strstr(errs.p, "open: writable by every user"));
	buf_reset(&errs);
	/* World-readable is only a warning; an empty file has no users. */
	assert_int_equal(chmod("open", 0644), 0);
	struct passwd_db *db = passwd_load("open", &errs);
	assert_non_null(db);
	assert_int_equal(passwd_count(db), 0);
	assert_false(passwd_verify(db, "alice", "x"));
	passwd_free(db);
	buf_free(&errs);
}

static void test_rules(void **state)
{
	(void)state;
	assert_true(passwd_valid_user("alice", 5));
	assert_true(passwd_valid_user("alice@example.org", 17));
	assert_false(passwd_valid_user("", 0));
	assert_false(passwd_valid_user("a:b", 3));
	assert_false(passwd_valid_user("a b", 3));
	assert_false(passwd_valid_user("a\tb", 3));
	assert_false(passwd_valid_user("\xc3\xa9", 2));
	char longname[PASSWD_USER_MAX + 2];
	memset(longname, 'a', sizeof longname);
	assert_true(passwd_valid_user(longname, PASSWD_USER_MAX));
	assert_false(passwd_valid_user(longname, PASSWD_USER_MAX + 1));
	assert_null(passwd_check_hash("!anything"));
	assert_non_null(passwd_check_hash("$y$j9T$a:b"));
	assert_non_null(passwd_check_hash("x"));
}

static void test_long_password(void **state)
{
	(void)state;
	char *y = make_hash("$y$", "pw");
	struct buf text = BUF_INIT, errs = BUF_INIT;
	buf_printf(&text, "alice:%s\n", y);
	struct passwd_db *db = load_text("passwd", text.p, &errs);
	assert_non_null(db);
	char big[PASSWD_PASS_MAX + 100];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_false(passwd_verify(db, "alice", big));
	assert_false(passwd_verify(db, "nobody", big));
	passwd_free(db);
	buf_free(&text);
	buf_free(&errs);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_yescrypt_and_bcrypt, scratch_setup,
						scratch_teardown),
		cmocka_unit_test_setup_teardown(test_locked_user, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lines, scratch_setup,
						scratch_teardown),
		cmocka_unit_test_setup_teardown(test_file_problems, scratch_setup, scratch_teardown),
		cmocka_unit_test(test_rules),
		cmocka_unit_test_setup_teardown(test_long_password, scratch_setup, scratch_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
