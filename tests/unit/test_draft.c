/*
 * test_draft - message bodies built in bounded memory (queue/draft.c) and
 * stored by the spool without being read back: the spill boundary, the
 * CRC kept as the data arrives, a spilled body through the writer and
 * recovery (in-kernel copy and the buffered fallback), and a crash with a
 * half-written draft, which must leave nothing behind.
 */
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "queue/draft.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "util/buf.h"

struct fixture {
	char root[256];
	char dir[512];
	struct spool *sp;
	unsigned done, failed;
};

#include "spool_fixture.h"

static int setup(void **state)
{
	return spool_fixture_setup(state, "draft");
}


/* Octet i of a test body: every value, 8-bit ones and CR/LF included. */
static char octet(size_t i, unsigned seed)
{
	return (char)((i * 131 + seed * 7 + i / 251) & 0xff);
}

static void fill(char *p, size_t from, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = octet(from + i, seed);
}

/* Writes len octets into d in pieces of varying size (1 octet to 40 KiB). */
static void write_pieces(struct draft *d, size_t len, unsigned seed)
{
	static char piece[40 << 10];
	size_t at = 0, k = 1;
	while (at < len) {
		size_t n = (k * 7919) % sizeof piece + 1;
		if (n > len - at)
			n = len - at;
		fill(piece, at, n, seed);
		draft_write(d, piece, n);
		at += n;
		k++;
	}
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	if (!d)
		return 0;
	for (const struct dirent *de; (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void test_draft_spills_past_its_memory_part(void **state)
{
	struct fixture *fx = *state;
	size_t before = entries(fx->dir);
	struct draft *d = draft_new(fx->dir);
	char *b = malloc(DRAFT_RAM + 2);
	memset(b, 'a', DRAFT_RAM + 2);
	draft_write(d, b, DRAFT_RAM);
	assert_int_equal(draft_mem(d)->len, DRAFT_RAM);
	assert_int_equal(draft_file_len(d), 0);
	assert_int_equal(draft_take_fd(d), -1);
	assert_false(draft_8bit(d));
	b[1] = (char)0xe9;
	draft_write(d, b, 2);
	assert_int_equal(draft_mem(d)->len, DRAFT_RAM);
	assert_int_equal(draft_file_len(d), 2);
	assert_int_equal(draft_len(d), DRAFT_RAM + 2);
	assert_true(draft_8bit(d));
	assert_int_equal(draft_error(d), 0);
	/* The file part has no name: nothing new in the spool directory. */
	assert_int_equal(entries(fx->dir), before);
	draft_free(d);
	free(b);
}

static void test_draft_crc_equals_one_shot_crc(void **state)
{
	struct fixture *fx = *state;
	size_t len = 3 * DRAFT_RAM + 12345;
	char *all = malloc(len);
	fill(all, 0, len, 3);
	struct draft *d = draft_new(fx->dir);
	write_pieces(d, len, 3);
	const struct buf *mem = draft_mem(d);
	assert_memory_equal(mem->p, all, mem->len);
	uLong crc = crc32_z(0, (const Bytef *)mem->p, mem->len);
	crc = crc32_combine(crc, draft_file_crc(d), (z_off_t)draft_file_len(d));
	assert_int_equal((uint32_t)crc, (uint32_t)crc32_z(0, (const Bytef *)all, len));
	/* And the file holds the rest, octet for octet. */
	int fd = draft_take_fd(d);
	char *rest = malloc(len);
	assert_int_equal(pread(fd, rest, len, 0), (ssize_t)(len - mem->len));
	assert_memory_equal(rest, all + mem->len, len - mem->len);
	close(fd);
	draft_free(d);
	free(rest);
	free(all);
}

static void on_done(void *arg, int err)
{
	struct fixture *fx = arg;
	fx->done++;
	fx->failed += err != 0;
}

static void wait_done(struct fixture *fx, unsigned n)
{
	while (fx->done < n) {
		struct pollfd p = {.fd = spool_notify_fd(fx->sp), .events = POLLIN};
		assert_int_equal(poll(&p, 1, 30000), 1);
		spool_dispatch(fx->sp);
	}
}

static const struct rcpt rcpt[] = {{.addr = "one@example.org"}};

/* A message of head (in memory) + len draft octets built in draft_dir. */
static void submit_draft(struct fixture *fx, char id[QUEUE_ID_LEN + 1], const char *draft_dir,
			 size_t len, unsigned seed)
{
	static const char head[] = "Received: by test\r\n";
	struct draft *d = draft_new(draft_dir);
	write_pieces(d, len, seed);
	struct iovec iov = {(void *)head, sizeof head - 1};
	queue_id_next(id);
	struct spool_new_msg m = {
		.id = id, .arrival = 1700000000, .sender = "s@example.org", .helo = "h",
		.client = "192.0.2.1", .nrcpt = 1, .rcpt = rcpt, .body = &iov, .nbody = 1,
		.draft = d,
	};
	spool_submit(fx->sp, &m, on_done, fx);
}

static void check_body(struct fixture *fx, const char *id, size_t len, unsigned seed)
{
	static const char head[] = "Received: by test\r\n";
	struct spool_msg *m = spool_find(fx->sp, id);
	assert_non_null(m);
	assert_int_equal(m->body_len, sizeof head - 1 + len);
	char *got = malloc(m->body_len), *want = malloc(len);
	assert_int_equal(spool_read_body(fx->sp, m, got, m->body_len, 0), (ssize_t)m->body_len);
	fill(want, 0, len, seed);
	assert_memory_equal(got, head, sizeof head - 1);
	assert_memory_equal(got + sizeof head - 1, want, len);
	free(got);
	free(want);
}

/* Records with and without a tail side by side, in one batch, survive a
 * restart: the CRC folded from the draft's matches what was copied. */
static void spilled_bodies_survive_recovery(struct fixture *fx, const char *draft_dir)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	submit_draft(fx, a, draft_dir, 100, 1);
	submit_draft(fx, b, draft_dir, (2 << 20) + 77, 2);
	submit_draft(fx, c, draft_dir, DRAFT_RAM + 1, 3);
	wait_done(fx, 3);
	assert_int_equal(fx->failed, 0);
	spool_close(fx->sp);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 3);
	check_body(fx, a, 100, 1);
	check_body(fx, b, (2 << 20) + 77, 2);
	check_body(fx, c, DRAFT_RAM + 1, 3);
}

static void test_spilled_body_survives_recovery(void **state)
{
	struct fixture *fx = *state;
	spilled_bodies_survive_recovery(fx, fx->dir);
}

/* A draft on another file system (tmpfs): copy_file_range says EXDEV and
 * the writer copies through its buffer instead. */
static void test_spilled_body_from_another_file_system(void **state)
{
	struct fixture *fx = *state;
	struct stat st;
	if (stat("/dev/shm", &st) < 0)
		skip();
	spilled_bodies_survive_recovery(fx, "/dev/shm");
}

/* The process dies while a draft is half written (SIGKILL, nothing
 * submitted): the next start finds no message, and no file anywhere in
 * the spool holds any of the draft's octets. */
static void test_crash_with_half_written_draft_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	spool_close(fx->sp);
	fx->sp = NULL;
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spool *sp = spool_open(fx->dir);
		struct draft *d = draft_new(fx->dir);
		write_pieces(d, 4 << 20, 9);
		if (!sp || draft_file_len(d) == 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char x;
	assert_int_equal(read(ready[0], &x, 1), 1);
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(ready[0]);
	close(ready[1]);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 0);
	/* lock, log/ (one empty segment), quarantine/ (empty): nothing else. */
	assert_int_equal(entries(fx->dir), 3);
	char sub[600];
	snprintf(sub, sizeof sub, "%s/quarantine", fx->dir);
	assert_int_equal(entries(sub), 0);
	snprintf(sub, sizeof sub, "%s/log/0000000000000001.seg", fx->dir);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_size, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_draft_spills_past_its_memory_part, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_draft_crc_equals_one_shot_crc, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_spilled_body_survives_recovery, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_spilled_body_from_another_file_system, setup,
						spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_crash_with_half_written_draft_leaves_nothing,
						setup, spool_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
