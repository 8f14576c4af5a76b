/*
 * test_pickup - the maildrop: the file format (a MSG record at position
 * (0, 0), nothing else), and the import into a real spool in a scratch
 * directory: recipients resolved as at RCPT time (aliases, duplicates,
 * unknown local, remote), the local Received: header, the file removed
 * only after the spool's callback, damaged files quarantined, abandoned
 * temporary files reaped, other names left alone, and a stop with an
 * import in flight. Waits on the event loop, never on sleeps.
 */
#include "test_util.h"

#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_fixture.h"
#include "queue/pickup.h"
#include "queue/queue_id.h"
#include "util/dsn.h"
#include "util/log.h"
#include "util/metrics.h"

static const char *const RCPTS[] = {"team@example.test", "nobody@example.test",
				    "someone@remote.test", "ALICE@example.test"};
static const char BODY[] = "Subject: hi\r\n\r\nhello\r\n";

static void sample(struct maildrop_msg *m, char id[QUEUE_ID_LEN + 1])
{
	queue_id_next(id);
	*m = (struct maildrop_msg){
		.id = id, .arrival = 1000, .sender = "alice@example.test", .nrcpt = 4,
		.rcpt = RCPTS, .body = BODY, .body_len = sizeof BODY - 1,
	};
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct maildrop_msg m;
	char id[QUEUE_ID_LEN + 1];
	sample(&m, id);
	struct buf b = BUF_INIT;
	maildrop_encode(&b, &m);
	struct rec_msg rm;
	assert_true(maildrop_decode((const uint8_t *)b.p, b.len, &rm));
	assert_int_equal(rm.id.len, QUEUE_ID_LEN);
	assert_memory_equal(rm.id.p, id, QUEUE_ID_LEN);
	assert_int_equal(rm.arrival, 1000);
	assert_int_equal(rm.sender.len, strlen("alice@example.test"));
	assert_int_equal(rm.nrcpt, 4);
	assert_memory_equal(rm.rcpt[2].addr.p, "someone@remote.test", rm.rcpt[2].addr.len);
	assert_int_equal(rm.body_len, sizeof BODY - 1);
	assert_memory_equal(b.p + REC_HDR_LEN + rm.body_off, BODY, sizeof BODY - 1);
	assert_int_equal(rm.envid.len, 0);
	assert_int_equal(rm.ret, 0);
	assert_int_equal(rm.rcpt[0].notify, 0);
	rec_msg_free(&rm);
	buf_free(&b);
}

/* sendmail -N, -R and -V travel in the file as the DSN fields of SMTP. */
static void test_roundtrip_dsn(void **state)
{
	(void)state;
	struct maildrop_msg m;
	char id[QUEUE_ID_LEN + 1];
	sample(&m, id);
	m.notify = DSN_NOTIFY_NEVER;
	m.ret = DSN_RET_HDRS;
	m.envid = "ticket+2042";
	struct buf b = BUF_INIT;
	maildrop_encode(&b, &m);
	struct rec_msg rm;
	assert_true(maildrop_decode((const uint8_t *)b.p, b.len, &rm));
	assert_int_equal(rm.ret, DSN_RET_HDRS);
	assert_int_equal(rm.envid.len, strlen("ticket+2042"));
	assert_memory_equal(rm.envid.p, "ticket+2042", rm.envid.len);
	for (size_t i = 0; i < rm.nrcpt; i++)
		assert_int_equal(rm.rcpt[i].notify, DSN_NOTIFY_NEVER);
	rec_msg_free(&rm);
	buf_free(&b);
}

static void test_damage_refused(void **state)
{
	(void)state;
	struct maildrop_msg m;
	char id[QUEUE_ID_LEN + 1];
	sample(&m, id);
	struct buf b = BUF_INIT;
	maildrop_encode(&b, &m);
	struct rec_msg rm;
	for (size_t i = 0; i < b.len; i += 7) {
		b.p[i] ^= 0x20;
		assert_false(maildrop_decode((const uint8_t *)b.p, b.len, &rm));
		b.p[i] ^= 0x20;
	}
	assert_false(maildrop_decode((const uint8_t *)b.p, b.len - 1, &rm));
	assert_false(maildrop_decode((const uint8_t *)b.p, 3, &rm));
	buf_putc(&b, '\n');
	assert_false(maildrop_decode((const uint8_t *)b.p, b.len, &rm));
	/* The same record as the spool writes it, bound to a segment position. */
	struct buf seg = BUF_INIT;
	struct rec_rcpt r = {.addr = STR_LIT("a@b.test"), .orig = STR_LIT("a@b.test")};
	struct rec_msg msg = {.id = str_from(id), .sender = STR_LIT(""), .helo = STR_LIT(""),
			      .client = STR_LIT(""), .nrcpt = 1, .rcpt = &r};
	size_t start;
	rec_msg_begin(&seg, &msg, 0, &start);
	rec_end(&seg, start);
	rec_bind((uint8_t *)seg.p, 1, 0);
	assert_false(maildrop_decode((const uint8_t *)seg.p, seg.len, &rm));
	buf_free(&seg);
	buf_free(&b);
}

/* ---- import into a spool ---- */

struct world {
	struct config *cfg;
	struct spool *sp;
	struct event_base *base;
	struct event *spool_ev;
	char queued[4][QUEUE_ID_LEN + 1];
	size_t nqueued;
};

static void on_spool(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	spool_dispatch(arg);
}

static void on_queued(void *arg, const char *id)
{
	struct world *w = arg;
	assert_true(w->nqueued < 4);
	snprintf(w->queued[w->nqueued++], QUEUE_ID_LEN + 1, "%s", id);
}

static void world_open(struct world *w)
{
	struct buf err = BUF_INIT;
	scratch_write("aliases", "team: alice, bob\npostmaster: alice\n");
	scratch_write("relocated", "carol carol@elsewhere.test\n");
	*w = (struct world){0};
	w->cfg = scratch_load("hostname mx.example.test\nlisten 127.0.0.1:2525\nspool spool\n"
			      "maildir-root mail\ndomain example.test\nmailbox alice\n"
			      "mailbox bob\naliases aliases\nrelocated relocated\n", &err);
	if (!w->cfg)
		fail_msg("config: %s", err.p);
	buf_free(&err);
	w->sp = spool_open(w->cfg->spool_dir);
	assert_non_null(w->sp);
	w->base = event_base_new();
	w->spool_ev = event_new(w->base, spool_notify_fd(w->sp), EV_READ | EV_PERSIST, on_spool,
				w->sp);
	event_add(w->spool_ev, NULL);
}

static void world_close(struct world *w)
{
	spool_close(w->sp);
	event_free(w->spool_ev);
	event_base_free(w->base);
	config_free(w->cfg);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static size_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	assert_non_null(d);
	size_t n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void check_message(struct world *w)
{
	struct spool_msg *msg = spool_find(w->sp, w->queued[0]);
	assert_non_null(msg);
	assert_string_equal(msg->sender, "alice@example.test");
	assert_string_equal(msg->client, "local");
	assert_int_equal(msg->arrival, 1000);
	const char *want[][2] = {
		{"alice@example.test", "team@example.test"},
		{"bob@example.test", "team@example.test"},
		{"nobody@example.test", "nobody@example.test"},
		{"someone@remote.test", "someone@remote.test"},
	};
	assert_int_equal(msg->nrcpt, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(msg->rcpt[i].to.addr, want[i][0]);
		assert_string_equal(msg->rcpt[i].to.orig, want[i][1]);
	}
	char body[512] = {0};
	assert_true(spool_read_body(w->sp, msg, body, sizeof body - 1, 0) > 0);
	char want_hdr[128];
	snprintf(want_hdr, sizeof want_hdr,
		 "Received: by mx.example.test (Petrel, from userid %u)\r\n\tid %s; ",
		 (unsigned)getuid(), msg->id);
	assert_memory_equal(body, want_hdr, strlen(want_hdr));
	assert_non_null(strstr(body, " +0000\r\nSubject: hi\r\n\r\nhello\r\n"));
}

static void test_import(void **state)
{
	(void)state;
	struct world w;
	world_open(&w);
	struct maildrop_msg m;
	char id[QUEUE_ID_LEN + 1], path[PATH_MAX], written[PATH_MAX];
	sample(&m, id);
	mode_t umask_was = umask(077);
	assert_int_equal(maildrop_write(w.cfg->spool_dir, &m, written, sizeof written), 0);
	umask(umask_was);
	/* "<ID>.<pid>.<64 random bits>": other users see the ID's time and the
	 * pid, so those alone would let them guess the name of a 0644 file. */
	size_t len = strlen(written);
	assert_true(len > 17 && written[len - 17] == '.');
	assert_int_equal(strspn(written + len - 16, "0123456789abcdef"), 16);
	struct stat st;
	/* Whatever the submitter's umask (s-nail's is 077), the daemon's user
	 * can read the file. */
	assert_int_equal(stat(written, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	snprintf(path, sizeof path, "%s/maildrop", w.cfg->spool_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01733);
	/* A damaged file, a dead temporary file and a stranger. */
	queue_id_next(id);
	snprintf(path, sizeof path, "%s/maildrop/%s.77", w.cfg->spool_dir, id);
	scratch_write(path, "PTRL but not really a record");
	snprintf(path, sizeof path, "%s/maildrop/%s.78.tmp.78.0", w.cfg->spool_dir, id);
	scratch_write(path, "half");
	struct timespec old[2] = {{1000, 0}, {1000, 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	snprintf(path, sizeof path, "%s/maildrop/README", w.cfg->spool_dir);
	scratch_write(path, "not mail");

	struct pickup *p = pickup_start(w.base, w.sp, w.cfg, on_queued, &w);
	assert_non_null(p);
	while (w.nqueued < 1)
		event_base_loop(w.base, EVLOOP_ONCE);
	check_message(&w);
	snprintf(path, sizeof path, "%s/maildrop", w.cfg->spool_dir);
	assert_int_equal(count_dir(path), 2);   /* README and quarantine/ */
	snprintf(path, sizeof path, "%s/maildrop/README", w.cfg->spool_dir);
	assert_true(exists(path));
	snprintf(path, sizeof path, "%s/maildrop/quarantine/%s.77", w.cfg->spool_dir, id);
	assert_true(exists(path));
	pickup_stop(p);
	world_close(&w);
}

/* A file written while the pickup runs is found without waiting for a
 * restart; one handed to the spool when the pickup stops is still removed. */
static void test_live_and_stop(void **state)
{
	(void)state;
	struct world w;
	world_open(&w);
	struct pickup *p = pickup_start(w.base, w.sp, w.cfg, on_queued, &w);
	assert_non_null(p);
	struct maildrop_msg m;
	char id[QUEUE_ID_LEN + 1], dir[PATH_MAX], written[PATH_MAX];
	sample(&m, id);
	assert_int_equal(maildrop_write(w.cfg->spool_dir, &m, written, sizeof written), 0);
	while (w.nqueued < 1)
		event_base_loop(w.base, EVLOOP_ONCE);
	snprintf(dir, sizeof dir, "%s/maildrop", w.cfg->spool_dir);
	assert_int_equal(count_dir(dir), 1);
	pickup_stop(p);

	sample(&m, id);
	assert_int_equal(maildrop_write(w.cfg->spool_dir, &m, written, sizeof written), 0);
	p = pickup_start(w.base, w.sp, w.cfg, on_queued, &w);
	assert_non_null(p);
	pickup_stop(p);           /* the import is in flight */
	world_close(&w);          /* its callback runs here */
	assert_int_equal(w.nqueued, 1);
	assert_int_equal(count_dir(dir), 1);
}

/* The daemon reads as the maildrop's owner: by the kernel's rules, the
 * owner's bits for the owner, the group's for the group, else the others'. */
static void test_maildrop_readable_by(void **state)
{
	(void)state;
	static const struct {
		uid_t fuid;
		gid_t fgid;
		mode_t mode;
		uid_t uid;
		gid_t gid;
		bool readable;
	} cases[] = {
		{1000, 1000, 0644, 101, 102, true},   /* another user's file, as written */
		{1000, 1000, 0600, 101, 102, false},  /* written under umask 077 */
		{1000, 1000, 0600, 0, 0, true},       /* a daemon still root reads all */
		{101, 102, 0600, 101, 102, true},     /* the daemon's user's own file */
		{101, 102, 0044, 101, 102, false},    /* owner bits decide for the owner */
		{1000, 102, 0640, 101, 102, true},    /* the daemon's group may read */
		{1000, 102, 0604, 101, 102, false},   /* group bits decide for the group */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct stat st = {.st_uid = cases[i].fuid, .st_gid = cases[i].fgid,
				  .st_mode = S_IFREG | cases[i].mode};
		assert_int_equal(maildrop_readable_by(&st, cases[i].uid, cases[i].gid),
				 cases[i].readable);
	}
}

static long long maildrop_gauge(void)
{
	struct buf b = BUF_INIT;
	struct metrics_queue q = {0};
	metrics_render_prometheus(&b, &q, 0);
	const char *at = strstr(b.p, "\npetrel_maildrop_unimportable_files ");
	assert_non_null(at);
	long long v = atoll(at + strlen("\npetrel_maildrop_unimportable_files "));
	buf_free(&b);
	return v;
}

/* Root reads any file, so a directory under a final name stands for a file
 * the daemon cannot read: it stays listed (and counted) across scans while
 * other mail flows, and leaves the list once it is gone. */
static void test_unreadable_file_is_listed_until_gone(void **state)
{
	(void)state;
	struct world w;
	world_open(&w);
	char id[QUEUE_ID_LEN + 1], bad[PATH_MAX], written[PATH_MAX];
	struct maildrop_msg m;
	sample(&m, id);
	assert_int_equal(maildrop_write(w.cfg->spool_dir, &m, written, sizeof written), 0);
	char badname[QUEUE_ID_LEN + 8];
	queue_id_next(id);
	snprintf(badname, sizeof badname, "%s.79", id);
	snprintf(bad, sizeof bad, "%s/maildrop/%s", w.cfg->spool_dir, badname);
	assert_int_equal(mkdir(bad, 0700), 0);
	struct pickup *p = pickup_start(w.base, w.sp, w.cfg, on_queued, &w);
	assert_non_null(p);
	for (size_t round = 1; round <= 3; round++) {
		while (w.nqueued < round)
			event_base_loop(w.base, EVLOOP_ONCE);
		size_t n, more;
		const struct maildrop_stuck *s = pickup_stuck(p, &n, &more);
		if (round == 3) {
			assert_int_equal(n, 0);
			assert_int_equal(maildrop_gauge(), 0);
			break;
		}
		assert_int_equal(n, 1);
		assert_int_equal(more, 0);
		assert_string_equal(s[0].name, badname);
		assert_string_equal(s[0].why, "not a regular file");
		assert_int_equal(s[0].uid, getuid());
		assert_int_equal(s[0].mode, 0700);
		assert_int_equal(maildrop_gauge(), 1);
		if (round == 2)
			assert_int_equal(rmdir(bad), 0);
		sample(&m, id);
		assert_int_equal(maildrop_write(w.cfg->spool_dir, &m, written, sizeof written), 0);
	}
	pickup_stop(p);
	world_close(&w);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_roundtrip_dsn),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test_setup_teardown(test_import, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_live_and_stop, scratch_setup,
						scratch_teardown),
		cmocka_unit_test(test_maildrop_readable_by),
		cmocka_unit_test_setup_teardown(test_unreadable_file_is_listed_until_gone,
						scratch_setup, scratch_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
