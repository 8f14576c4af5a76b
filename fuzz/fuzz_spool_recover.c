/*
 * fuzz_spool_recover - start-up recovery of a damaged spool
 * (src/queue/recovery.c, spool.c, segment.c, record.c).
 *
 * The input is a list of chunks {op u8, length u16 LE, bytes} that build the
 * segment files of a fresh spool directory (one per run, under a scratch
 * directory per process, removed after each run):
 *   op & 3 == 0  the bytes as they are (a real segment file fits here whole);
 *   op & 3 == 1  a record of type op >> 2 with the bytes as payload and the
 *                CRC it needs at that very place, so the fuzzer gets past the
 *                checksum into the field decoders and the index;
 *   op & 3 == 2  a new segment, (op >> 2) % 4 numbers after the last;
 *   op & 3 == 3  a MSG record like op 1, torn: cut to (op >> 2) 64ths.
 * The spool is then started three times: open, check, close; open, check,
 * submit one message, close; open, check, close. Checked:
 * - a corrupt spool never crashes or fails start-up: spool_open succeeds
 *   (damage is quarantined, a torn tail cut off);
 * - the index holds only well-formed, unfinished messages whose bodies can
 *   be read back whole, each found by its id;
 * - recovery is repeatable: the second start finds the same messages with
 *   the same envelopes, states and bodies, and quarantines nothing new
 *   unless the first one had to cut a segment;
 * - the spool works after recovery: a message submitted then is durable and
 *   the third start finds it next to all the others (appending after a cut
 *   tail, after damage or after a relocation loses nothing).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/record.h"
#include "queue/segment.h"
#include "queue/spool.h"
#include "util/log.h"
#include "util/strlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[128], spool_dir[160], log_dir[176], quar_dir[176];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *path)
{
	if (access(path, F_OK) == 0 && nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		abort();
}

static void remove_base(void)
{
	remove_tree(base);
}

/* The per-process scratch directory; on tmpfs when there is one, since the
 * spool fsyncs a lot and the harness starts it three times per run. */
static void setup(void)
{
	if (base[0])
		return;
	log_set_level(LOG_LVL_ERROR + 1);
	const char *tmp = getenv("TMPDIR");
	if (!tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(base, sizeof base, "%s/petrel-fuzz-spool-XXXXXX", tmp);
	if (!mkdtemp(base))
		abort();
	snprintf(spool_dir, sizeof spool_dir, "%s/spool", base);
	snprintf(log_dir, sizeof log_dir, "%s/log", spool_dir);
	snprintf(quar_dir, sizeof quar_dir, "%s/quarantine", spool_dir);
	atexit(remove_base);
}

struct builder {
	struct buf seg;   /* the segment being built */
	uint64_t seq;
	bool any;         /* a segment was started */
};

static void flush_segment(struct builder *b)
{
	char path[PATH_MAX];
	if (!seg_path(path, sizeof path, log_dir, b->seq))
		abort();
	FILE *f = fopen(path, "wb");
	if (!f || (b->seg.len && fwrite(b->seg.p, 1, b->seg.len, f) != b->seg.len) ||
	    fclose(f) != 0)
		abort();
	buf_reset(&b->seg);
}

/* A record of the given type around payload, bound to its place. */
static void add_record(struct builder *b, uint8_t type, const uint8_t *p, size_t n,
		       unsigned keep64)
{
	size_t start = b->seg.len;
	uint8_t hdr[REC_HDR_LEN] = {0};
	rec_put_le32(hdr, REC_MAGIC);
	hdr[4] = type;
	buf_append(&b->seg, hdr, sizeof hdr);
	buf_append(&b->seg, p, n);
	rec_end(&b->seg, start);
	rec_bind((uint8_t *)b->seg.p + start, b->seq, start);
	if (keep64 < 64)
		b->seg.len = start + (b->seg.len - start) * keep64 / 64;
}

static void build_spool(const uint8_t *data, size_t size)
{
	if (mkdir(spool_dir, 0700) != 0 || mkdir(log_dir, 0700) != 0)
		abort();
	struct builder b = {.seq = SEG_FIRST};
	for (size_t i = 0; i + 3 <= size;) {
		uint8_t op = data[i];
		size_t n = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
		i += 3;
		if (n > size - i)
			n = size - i;
		switch (op & 3) {
		case 0:
			buf_append(&b.seg, data + i, n);
			break;
		case 1:
			add_record(&b, op >> 2, data + i, n, 64);
			break;
		case 2:
			flush_segment(&b);
			b.seq += 1 + (op >> 2) % 4;
			break;
		default:
			add_record(&b, REC_MSG, data + i, n, op >> 2);
			break;
		}
		b.any = true;
		i += n;
	}
	if (b.any)
		flush_segment(&b);
	buf_free(&b.seg);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One message as text: the envelope, every recipient and the body. */
static char *describe(struct spool *sp, struct spool_msg *m)
{
	struct buf d = BUF_INIT;
	buf_printf(&d, "%s %lld <%s> %s %s %u %d %zu %llu\n", m->id, (long long)m->arrival,
		   m->sender, m->helo, m->client, m->flags, m->held, m->nrcpt,
		   (unsigned long long)m->body_len);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct spool_rcpt *r = &m->rcpt[i];
		buf_printf(&d, " %s %s %d %u %lld %s\n", r->to.addr, r->to.orig, (int)r->state,
			   r->attempts, (long long)r->next_try,
			   r->last_error ? r->last_error : "-");
	}
	size_t at = d.len;
	buf_reserve(&d, (size_t)m->body_len);
	if (spool_read_body(sp, m, d.p + at, (size_t)m->body_len, 0) != (ssize_t)m->body_len)
		abort();
	d.len += (size_t)m->body_len;
	d.p[d.len] = '\0';
	return buf_steal(&d);
}

static void check_msg(struct spool *sp, struct spool_msg *m)
{
	bool pending = false;
	if (!queue_id_valid(m->id) || spool_find(sp, m->id) != m || !m->nrcpt || !m->sender ||
	    !m->helo || !m->client)
		abort();
	for (size_t i = 0; i < m->nrcpt; i++) {
		if (!m->rcpt[i].to.addr || !m->rcpt[i].to.orig || m->rcpt[i].state > RCPT_DELETED)
			abort();
		pending |= m->rcpt[i].state == RCPT_PENDING;
	}
	/* Finished messages leave the index at recovery. */
	if (!pending)
		abort();
}

/* The whole index as text, one entry per message, sorted by id
 * (relocation may change the order). */
static void snapshot(struct spool *sp, struct strlist *out)
{
	for (struct spool_msg *m = spool_first(sp); m; m = spool_next(sp, m)) {
		check_msg(sp, m);
		char *d = describe(sp, m);
		strlist_add(out, d);
		free(d);
	}
	if (out->n != spool_count(sp))
		abort();
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, cmp_str);
}

static void submitted(void *arg, int err)
{
	*(int *)arg = err;
}

/* Appends one message after whatever recovery left; returns its text, or
 * NULL when the spool refused it (an id already queued). */
static char *submit_one(struct spool *sp)
{
	static const char body[] = "Subject: after recovery\r\n\r\nhello\r\n";
	const struct rcpt rcpt[] = {{.addr = "alice@example.test"}};
	char id[QUEUE_ID_LEN + 1];
	queue_id_next(id);
	struct iovec iov = {(void *)body, sizeof body - 1};
	struct spool_new_msg m = {
		.id = id, .arrival = 1700000000, .sender = "sender@example.org",
		.helo = "client.example", .client = "192.0.2.1", .nrcpt = 1,
		.rcpt = rcpt, .body = &iov, .nbody = 1,
	};
	int err = -1;
	spool_submit(sp, &m, submitted, &err);
	while (err < 0) {
		struct pollfd p = {.fd = spool_notify_fd(sp), .events = POLLIN};
		/* libFuzzer's SIGALRM (its -timeout watchdog) interrupts poll. */
		int rc = poll(&p, 1, 10000);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc != 1)
			abort();
		spool_dispatch(sp);
	}
	if (err == EEXIST)
		return NULL;
	struct spool_msg *msg = spool_find(sp, id);
	if (err || !msg)
		abort();
	return describe(sp, msg);
}

/* The files in path as "name size" entries. */
static void list_files(const char *path, struct strlist *out)
{
	DIR *d = opendir(path);
	if (!d)
		abort();
	for (struct dirent *e; (e = readdir(d));) {
		char full[PATH_MAX], entry[300];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof full, "%s/%s", path, e->d_name);
		if (stat(full, &st) != 0)
			abort();
		snprintf(entry, sizeof entry, "%s %lld", e->d_name, (long long)st.st_size);
		strlist_add(out, entry);
	}
	closedir(d);
}

/* True when every segment left is as it was: nothing was cut off. */
static bool segments_unchanged(const struct strlist *before)
{
	struct strlist after = STRLIST_INIT;
	list_files(log_dir, &after);
	bool same = true;
	for (size_t i = 0; i < after.n; i++)
		same &= strlist_contains(before, after.v[i]);
	strlist_free(&after);
	return same;
}

static size_t count_files(const char *path)
{
	struct strlist l = STRLIST_INIT;
	list_files(path, &l);
	size_t n = l.n;
	strlist_free(&l);
	return n;
}

/* Opens the spool (which must work), snapshots it and, when asked, adds a
 * message before closing; returns that message's text or NULL. */
static char *start_up(struct strlist *snap, bool add)
{
	struct spool *sp = spool_open(spool_dir);
	if (!sp)
		abort();
	snapshot(sp, snap);
	char *added = add ? submit_one(sp) : NULL;
	spool_close(sp);
	return added;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	remove_tree(spool_dir);
	build_spool(data, size);
	struct strlist first = STRLIST_INIT, second = STRLIST_INIT, third = STRLIST_INIT;
	struct strlist built = STRLIST_INIT;
	list_files(log_dir, &built);
	start_up(&first, false);
	/* A segment quarantined and then cut differs from its copy, so it may be
	 * copied once more; otherwise damage is never copied twice. */
	bool cut = !segments_unchanged(&built);
	size_t quarantined = count_files(quar_dir);
	char *added = start_up(&second, true);
	if (!strlist_equal(&first, &second) || (!cut && count_files(quar_dir) != quarantined))
		abort();
	start_up(&third, false);
	if (added) {
		strlist_add(&second, added);
		qsort(second.v, second.n, sizeof *second.v, cmp_str);
	}
	if (!strlist_equal(&second, &third))
		abort();
	free(added);
	strlist_free(&first);
	strlist_free(&second);
	strlist_free(&third);
	strlist_free(&built);
	remove_tree(spool_dir);
	return 0;
}
