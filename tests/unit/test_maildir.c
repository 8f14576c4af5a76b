/*
 * Unit tests for deliver/maildir: layout (tmp/new/cur, one file in new/),
 * prepended Return-Path/Delivered-To, CRLF -> LF also across reader chunk
 * boundaries, bare CR and 8-bit bytes kept, unique names, and the failure
 * contract: TEMPFAIL for unusable mailboxes and reader errors with nothing
 * left in tmp/ or new/, PERMFAIL for names and header values that could
 * escape the root or inject headers. Each test works in its own mkdtemp().
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/maildir.h"
#include "util/buf.h"

#define HOST "mx.example.org"

/* A reader over an in-memory message; step limits each read (0: no limit);
 * fail_at makes reads at or beyond that offset fail. */
struct mem_reader {
	const char *p;
	size_t len;
	size_t step;
	uint64_t fail_at;
	int fail_errno; /* errno of a failing read; 0 leaves errno alone */
	size_t calls;
};

static ssize_t mem_read(void *ctx, void *dst, size_t len, uint64_t off)
{
	struct mem_reader *r = ctx;
	r->calls++;
	if (off >= r->fail_at) {
		if (r->fail_errno)
			errno = r->fail_errno;
		return -1;
	}
	if (off >= r->len)
		return 0;
	size_t n = r->len - (size_t)off;
	if (n > len)
		n = len;
	if (r->step && n > r->step)
		n = r->step;
	memcpy(dst, r->p + off, n);
	return (ssize_t)n;
}

static struct maildir_msg make_msg(struct mem_reader *r, const char *body, size_t len)
{
	r->p = body;
	r->len = len;
	r->step = 0;
	r->fail_at = UINT64_MAX;
	r->fail_errno = 0;
	r->calls = 0;
	return (struct maildir_msg){
		.return_path = "bob@example.net",
		.delivered_to = "alice@example.org",
		.size = len,
		.read = mem_read,
		.read_ctx = r,
	};
}

/* snprintf into a PATH_MAX buffer; a truncated path fails the test. */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && n < PATH_MAX);
}

struct fixture {
	char root[64];
	char mbox[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	snprintf(f->root, sizeof f->root, "/tmp/petrel-maildir-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->mbox, sizeof f->mbox, "%s/alice", f->root);
	*state = f;
	return 0;
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		pathf(sub, "%s/%s", path, de->d_name);
		rm_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rm_tree(f->root);
	free(f);
	return 0;
}

/* Number of entries in dir (without . and ..); name gets the last one. */
static int count_entries(const char *dir, char *name, size_t namesz)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (name)
			snprintf(name, namesz, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

static int count_sub(const struct fixture *f, const char *sub)
{
	char p[PATH_MAX];
	pathf(p, "%s/%s", f->mbox, sub);
	return count_entries(p, NULL, 0);
}

static void read_file(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	char tmp[4096];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_append(out, tmp, (size_t)n);
	assert_int_equal(n, 0);
	close(fd);
}

/* Delivers m into alice's mailbox, checks there is exactly one new file, and
 * returns its contents in out and its name in name. */
static void deliver_one(const struct fixture *f, const struct maildir_msg *m, struct buf *out,
			char *name, size_t namesz)
{
	char err[256] = "";
	assert_int_equal(maildir_deliver(f->root, "alice", HOST, m, err, sizeof err), MAILDIR_OK);
	assert_string_equal(err, "");
	char dir[PATH_MAX];
	pathf(dir, "%s/new", f->mbox);
	assert_int_equal(count_entries(dir, name, namesz), 1);
	assert_int_equal(count_sub(f, "tmp"), 0);
	char path[PATH_MAX];
	pathf(path, "%s/%s", dir, name);
	read_file(path, out);
}

static void test_layout_and_headers(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "Subject: hi\r\n\r\nHello\r\n";
	struct mem_reader r;
	struct maildir_msg m = make_msg(&r, body, sizeof body - 1);
	struct buf out = BUF_INIT;
	char name[256];
	deliver_one(f, &m, &out, name, sizeof name);
	assert_string_equal(out.p, "Return-Path: <bob@example.net>\n"
				   "Delivered-To: alice@example.org\n"
				   "Subject: hi\n\nHello\n");
	static const char *const subs[] = {"", "/tmp", "/new", "/cur"};
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		char p[PATH_MAX];
		struct stat st;
		pathf(p, "%s%s", f->mbox, subs[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	assert_int_equal(count_sub(f, "cur"), 0);
	buf_free(&out);
}

static void test_null_sender(void **state)
{
	struct fixture *f = *state;
	struct mem_reader r;
	struct maildir_msg m = make_msg(&r, "x\r\n", 3);
	m.return_path = "";
	struct buf out = BUF_INIT;
	char name[256];
	deliver_one(f, &m, &out, name, sizeof name);
	assert_string_equal(out.p, "Return-Path: <>\nDelivered-To: alice@example.org\nx\n");
	buf_free(&out);
}

/* Expected conversion, for comparison: CRLF -> LF, everything else as is. */
static void expect_lf(const char *in, size_t n, struct buf *out)
{
	buf_puts(out, "Return-Path: <bob@example.net>\nDelivered-To: alice@example.org\n");
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			continue;
		buf_putc(out, in[i]);
	}
}

static void check_body(const struct fixture *f, const char *body, size_t len, size_t step)
{
	struct mem_reader r;
	struct maildir_msg m = make_msg(&r, body, len);
	r.step = step;
	struct buf out = BUF_INIT, want = BUF_INIT;
	char name[256];
	deliver_one(f, &m, &out, name, sizeof name);
	expect_lf(body, len, &want);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.p, want.p, want.len);
	buf_free(&out);
	buf_free(&want);
	char p[PATH_MAX];
	pathf(p, "%s/new/%s", f->mbox, name);
	assert_int_equal(unlink(p), 0);
}

#define LIT(s) (s), sizeof(s) - 1

static void test_line_endings(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *body;
		size_t len;
		const char *want; /* body part of the file */
		size_t wlen;
	} cases[] = {
		{LIT("a\r\nb\r\n"), LIT("a\nb\n")},
		{LIT("bare\rcr\r\n"), LIT("bare\rcr\n")},
		{LIT("cr cr lf\r\r\n"), LIT("cr cr lf\r\n")},
		{LIT("lf only\n"), LIT("lf only\n")},
		{LIT("lf cr\n\r"), LIT("lf cr\n\r")},
		{LIT("ends in cr\r"), LIT("ends in cr\r")},
		{LIT("\r"), LIT("\r")},
		{LIT("\r\n\r\n"), LIT("\n\n")},
		{LIT("\xc3\xa9t\xe9\x80\xff\x00z\r\n"), LIT("\xc3\xa9t\xe9\x80\xff\x00z\n")},
		{LIT(""), LIT("")},
	};
	static const size_t steps[] = {0, 1, 2, 3};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct buf want = BUF_INIT;
		buf_puts(&want, "Return-Path: <bob@example.net>\nDelivered-To: alice@example.org\n");
		buf_append(&want, cases[c].want, cases[c].wlen);
		for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
			struct mem_reader r;
			struct maildir_msg m = make_msg(&r, cases[c].body, cases[c].len);
			r.step = steps[s];
			struct buf out = BUF_INIT;
			char name[256], p[PATH_MAX];
			deliver_one(f, &m, &out, name, sizeof name);
			assert_int_equal(out.len, want.len);
			assert_memory_equal(out.p, want.p, want.len);
			buf_free(&out);
			pathf(p, "%s/new/%s", f->mbox, name);
			assert_int_equal(unlink(p), 0);
		}
		buf_free(&want);
	}
}

/* Bodies around the 64 KiB chunk size, with a CRLF or a bare CR straddling
 * each chunk boundary, read whole-chunk or one byte at a time; the rest is
 * pseudo-random CR, LF, text, NUL and 8-bit bytes. */
static void test_chunk_boundaries(void **state)
{
	struct fixture *f = *state;
	enum { K64 = 64 * 1024 };
	static const struct {
		size_t len;
		size_t step;
		char after_cr; /* byte placed after a CR at the end of each 64 KiB */
	} cases[] = {
		{K64 + 1, 0, '\n'}, {K64 + 1, 1, '\n'}, {K64 + 1, 0, 'x'}, {K64 + 1, 1, 'x'},
		{K64, 0, '\n'},     {K64 - 1, 0, '\n'}, {3 * K64 + 7, 0, '\n'},
		{3 * K64 + 7, 1000, '\r'}, {2 * K64 + 1, 0, '\r'},
	};
	static const char alphabet[] = {'\r', '\n', 'a', 'Z', '\0', '\x80', '\xff', ' '};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t len = cases[c].len;
		char *body = malloc(len);
		assert_non_null(body);
		unsigned seed = 12345u + (unsigned)c;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			body[i] = alphabet[(seed >> 16) % sizeof alphabet];
		}
		for (size_t b = K64; b < len; b += K64) {
			body[b - 1] = '\r';
			body[b] = cases[c].after_cr;
		}
		check_body(f, body, len, cases[c].step);
		free(body);
	}
}

static void test_unique_names(void **state)
{
	struct fixture *f = *state;
	enum { N = 50 };
	char names[N][256];
	for (size_t i = 0; i < N; i++) {
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, "x\r\n", 3);
		char err[256];
		assert_int_equal(maildir_deliver(f->root, "alice", HOST, &m, err, sizeof err),
				 MAILDIR_OK);
	}
	char dir[PATH_MAX];
	pathf(dir, "%s/new", f->mbox);
	assert_int_equal(count_entries(dir, NULL, 0), N);
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		long long sec;
		long usec, pid;
		unsigned long q;
		int end = 0;
		assert_int_equal(sscanf(de->d_name, "%lld.M%ldP%ldQ%lu.%n", &sec, &usec, &pid, &q, &end),
				 4);
		assert_true(usec >= 0 && usec < 1000000);
		assert_int_equal(pid, (long)getpid());
		assert_string_equal(de->d_name + end, HOST);
		snprintf(names[n++], sizeof names[0], "%s", de->d_name);
	}
	closedir(d);
	assert_int_equal(n, N);
	for (size_t i = 0; i < N; i++)
		for (size_t j = i + 1; j < N; j++)
			assert_string_not_equal(names[i], names[j]);
}

static void test_hostname_sanitized(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *host;
		const char *suffix;
	} cases[] = {
		{"plain.example", ".plain.example"},
		{"a/b", ".a\\057b"},
		{"c:d", ".c\\072d"},
		{"/:/", ".\\057\\072\\057"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, "x\r\n", 3);
		char err[256], dir[PATH_MAX], name[256], p[PATH_MAX];
		assert_int_equal(maildir_deliver(f->root, "alice", cases[c].host, &m, err, sizeof err),
				 MAILDIR_OK);
		pathf(dir, "%s/new", f->mbox);
		assert_int_equal(count_entries(dir, name, sizeof name), 1);
		size_t nl = strlen(name), sl = strlen(cases[c].suffix);
		assert_true(nl > sl);
		assert_string_equal(name + nl - sl, cases[c].suffix);
		pathf(p, "%s/%s", dir, name);
		assert_int_equal(unlink(p), 0);
	}
}

/* No host name given: the system's one is used. */
static void test_default_hostname(void **state)
{
	struct fixture *f = *state;
	char sys[256] = "";
	assert_int_equal(gethostname(sys, sizeof sys - 1), 0);
	if (strpbrk(sys, "/:"))
		skip();
	struct mem_reader r;
	struct maildir_msg m = make_msg(&r, "x\r\n", 3);
	char err[256], dir[PATH_MAX], name[512];
	assert_int_equal(maildir_deliver(f->root, "alice", NULL, &m, err, sizeof err), MAILDIR_OK);
	pathf(dir, "%s/new", f->mbox);
	assert_int_equal(count_entries(dir, name, sizeof name), 1);
	size_t nl = strlen(name), sl = strlen(sys);
	assert_true(nl > sl + 1);
	assert_string_equal(name + nl - sl, sys);
	assert_int_equal(name[nl - sl - 1], '.');
}

/* The root does not exist yet: it is created, mkdir -p style. */
static void test_creates_root(void **state)
{
	struct fixture *f = *state;
	char root[PATH_MAX], mbox[PATH_MAX];
	pathf(root, "%s/var/mail", f->root);
	pathf(mbox, "%s/bob/new", root);
	struct mem_reader r;
	struct maildir_msg m = make_msg(&r, "x\r\n", 3);
	char err[256];
	assert_int_equal(maildir_deliver(root, "bob", HOST, &m, err, sizeof err), MAILDIR_OK);
	assert_int_equal(count_entries(mbox, NULL, 0), 1);
}

/* Regular files anywhere under path. */
static int count_files(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return 1;
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		pathf(sub, "%s/%s", path, de->d_name);
		n += count_files(sub);
	}
	closedir(d);
	return n;
}

static void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* A regular file where a directory must be: TEMPFAIL, and that file is the
 * only file left in the tree (nothing in tmp/ or new/). */
static void test_obstacle_file(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *file;   /* relative to the root */
		const char *root;   /* relative to the fixture root */
		const char *err;    /* expected err after "maildir <root>/alice: " */
	} cases[] = {
		{"alice", "", "mkdir: Not a directory"},
		{"alice/tmp", "", "mkdir: Not a directory"},
		{"alice/new", "", "mkdir: Not a directory"},
		{"var", "/var/mail", "mkdir: Not a directory"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		char root[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 64];
		pathf(root, "%s%s", f->root, cases[c].root);
		pathf(path, "%s/%s", f->root, cases[c].file);
		if (strchr(cases[c].file, '/'))
			assert_int_equal(mkdir(f->mbox, 0700), 0);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		close(fd);
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, "x\r\n", 3);
		char err[512] = "";
		assert_int_equal(maildir_deliver(root, "alice", HOST, &m, err, sizeof err),
				 MAILDIR_TEMPFAIL);
		snprintf(want, sizeof want, "maildir %s/alice: %s", root, cases[c].err);
		assert_string_equal(err, want);
		assert_int_equal(count_files(f->root), 1);
		rm_tree(f->mbox);
		rm_tree(path);
	}
}

static void test_invalid_user(void **state)
{
	struct fixture *f = *state;
	static const char *const users[] = {"", ".", "..", ".hidden", "a/b", "/", "../etc", "x/"};
	for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, "x\r\n", 3);
		char err[256] = "";
		assert_int_equal(maildir_deliver(f->root, users[i], HOST, &m, err, sizeof err),
				 MAILDIR_PERMFAIL);
		assert_prefix(err, "maildir: invalid mailbox name");
		assert_int_equal(count_entries(f->root, NULL, 0), 0);
		assert_int_equal(r.calls, 0);
	}
}

static void test_header_injection(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *return_path;
		const char *delivered_to;
	} cases[] = {
		{"a@b\r\nX-Evil: 1", "alice@example.org"},
		{"a@b\n", "alice@example.org"},
		{"bob@example.net", "alice@example.org\rX: y"},
		{"bob@example.net", "\nalice@example.org"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, "x\r\n", 3);
		m.return_path = cases[c].return_path;
		m.delivered_to = cases[c].delivered_to;
		char err[256] = "";
		assert_int_equal(maildir_deliver(f->root, "alice", HOST, &m, err, sizeof err),
				 MAILDIR_PERMFAIL);
		assert_prefix(err, "maildir: CR or LF in ");
		assert_int_equal(count_entries(f->root, NULL, 0), 0);
	}
}

/* The reader fails (or the data ends early): TEMPFAIL, and the partly
 * written file is gone from tmp/ and never appeared in new/. */
static void test_reader_error(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 3 * 64 * 1024 };
	static const struct {
		uint64_t fail_at;
		int fail_errno;
		size_t step;
		uint64_t size;  /* 0: LEN */
		const char *err;
	} cases[] = {
		{0, EIO, 0, 0, "read: Input/output error"},
		{10, ENOMEM, 7, 0, "read: Cannot allocate memory"},
		{64 * 1024 + 5, 0, 0, 0, "read: Input/output error"},
		{UINT64_MAX, 0, 0, LEN + 1, "read: message ends before its recorded size"},
	};
	char *body = malloc(LEN);
	assert_non_null(body);
	for (size_t i = 0; i < LEN; i++)
		body[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : 'a';
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, body, LEN);
		r.fail_at = cases[c].fail_at;
		r.fail_errno = cases[c].fail_errno;
		r.step = cases[c].step;
		if (cases[c].size)
			m.size = cases[c].size;
		char err[512] = "", want[PATH_MAX + 128];
		/* Out of memory is our shortage, the rest the mailbox's trouble. */
		assert_int_equal(maildir_deliver(f->root, "alice", HOST, &m, err, sizeof err),
				 cases[c].fail_errno == ENOMEM ? MAILDIR_SHORTAGE : MAILDIR_TEMPFAIL);
		snprintf(want, sizeof want, "maildir %s: %s", f->mbox, cases[c].err);
		assert_string_equal(err, want);
		assert_int_equal(count_sub(f, "tmp"), 0);
		assert_int_equal(count_sub(f, "new"), 0);
		assert_int_equal(count_files(f->root), 0);
	}
	free(body);
}

/* The file system refuses the data (here RLIMIT_FSIZE -> EFBIG standing in
 * for ENOSPC or EDQUOT) in the headers, the first or a later chunk:
 * TEMPFAIL naming the write, and no file left behind. */
static void test_write_error(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 3 * 64 * 1024 };
	static const rlim_t limits[] = {10, 200, 64 * 1024 + 100, 2 * 64 * 1024 + 3};
	char *body = malloc(LEN);
	assert_non_null(body);
	memset(body, 'b', LEN);
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	for (size_t c = 0; c < sizeof limits / sizeof limits[0]; c++) {
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, body, LEN);
		char err[512] = "", want[PATH_MAX + 128];
		struct rlimit lim = {limits[c], old.rlim_max};
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		enum maildir_result res = maildir_deliver(f->root, "alice", HOST, &m, err, sizeof err);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
		assert_int_equal(res, MAILDIR_TEMPFAIL);
		pathf(want, "maildir %s: write: File too large", f->mbox);
		assert_string_equal(err, want);
		assert_int_equal(count_files(f->root), 0);
	}
	signal(SIGXFSZ, old_handler);
	free(body);
}

/* Out of descriptors: a shortage of ours, not the mailbox's trouble, so
 * the local agent holds the job back instead of recording an attempt. */
static void test_descriptor_shortage_is_told_apart(void **state)
{
	struct fixture *f = *state;
	struct mem_reader r;
	struct maildir_msg m = make_msg(&r, "x\r\n", 3);
	char err[512] = "";
	struct drought dr;
	descriptors_gone(&dr);
	enum maildir_result res = maildir_deliver(f->root, "alice", HOST, &m, err, sizeof err);
	descriptors_back(&dr);
	assert_int_equal(res, MAILDIR_SHORTAGE);
	assert_non_null(strstr(err, "Too many open files"));
}

/* Worker threads delivering at once never pick the same name. */
struct thread_arg {
	const char *root;
	int failures;
};

enum { THREADS = 4, PER_THREAD = 25 };

static void *deliver_thread(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < PER_THREAD; i++) {
		struct mem_reader r;
		struct maildir_msg m = make_msg(&r, "x\r\n", 3);
		char err[256];
		if (maildir_deliver(a->root, "alice", HOST, &m, err, sizeof err) != MAILDIR_OK)
			a->failures++;
	}
	return NULL;
}

static void test_concurrent_deliveries(void **state)
{
	struct fixture *f = *state;
	pthread_t t[THREADS];
	struct thread_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct thread_arg){f->root, 0};
		assert_int_equal(pthread_create(&t[i], NULL, deliver_thread, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].failures, 0);
	}
	assert_int_equal(count_sub(f, "new"), THREADS * PER_THREAD);
	assert_int_equal(count_sub(f, "tmp"), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_layout_and_headers),
		T(test_null_sender),
		T(test_line_endings),
		T(test_chunk_boundaries),
		T(test_unique_names),
		T(test_hostname_sanitized),
		T(test_default_hostname),
		T(test_creates_root),
		T(test_obstacle_file),
		T(test_invalid_user),
		T(test_header_injection),
		T(test_reader_error),
		T(test_write_error),
		T(test_descriptor_shortage_is_told_apart),
		T(test_concurrent_deliveries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
