/*
 * run_dialogue - plays golden dialogue files against the pure session.
 *
 * usage: dialogue CONFIG FILE...
 * A file is a list of lines:
 *   "C: text"   the client sends text + CRLF
 *   "C> text"   the client sends text exactly, after decoding \r \n \t \0 \\ \xHH
 *   "S: text"   the next reply line must equal text; a trailing '*' matches any rest
 *   "#..."      comment
 * The same files are played against the live daemon by tests/dialogue_live.py.
 * The session runs with the real receiving policy from CONFIG and a client
 * at 127.0.0.1; a finished message is acknowledged with queue ID TEST, and a
 * sender's domain is answered from the file sender-domains next to FILE, as
 * the DNS server tests/run.py starts for the live daemon answers it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "server/policy.h"
#include "server/server.h"
#include "smtp/session.h"
#include "smtp/sink_buf.h"

static size_t unescape(const char *in, char *out)
{
	size_t j = 0;
	for (size_t i = 0; in[i]; i++) {
		if (in[i] != '\\' || !in[i + 1]) {
			out[j++] = in[i];
			continue;
		}
		char c = in[++i];
		if (c == 'r')
			out[j++] = '\r';
		else if (c == 'n')
			out[j++] = '\n';
		else if (c == 't')
			out[j++] = '\t';
		else if (c == '0')
			out[j++] = '\0';
		else if (c == 'x' && in[i + 1] && in[i + 2]) {
			char hex[3] = {in[i + 1], in[i + 2], 0};
			out[j++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else
			out[j++] = c;
	}
	return j;
}

/* "domain mx|null-mx|servfail" lines; a domain not listed does not exist. */
static enum sender_result sender_verdict(const char *table, const char *domain)
{
	FILE *f = fopen(table, "r");
	if (!f) {
		perror(table);
		exit(2);
	}
	char line[512], name[256], answer[16];
	enum sender_result r = SENDER_UNKNOWN;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || sscanf(line, "%255s %15s", name, answer) != 2 ||
		    strcasecmp(name, domain) != 0)
			continue;
		if (strcmp(answer, "mx") == 0)
			r = SENDER_OK;
		else if (strcmp(answer, "null-mx") == 0)
			r = SENDER_NULL_MX;
		else
			r = SENDER_TEMPFAIL;
	}
	fclose(f);
	return r;
}

static void feed(struct session *s, const char *p, size_t n, const char *dns_table)
{
	while (n) {
		size_t used = session_feed(s, p, n);
		p += used;
		n -= used;
		if (session_event(s) == SESSION_EV_MESSAGE)
			session_message_done(s, "TEST", 0);
		else if (session_event(s) == SESSION_EV_SENDER)
			session_sender_done(s, sender_verdict(dns_table, session_sender_domain(s)));
		else if (session_event(s) == SESSION_EV_CLOSE)
			return;
	}
}

/* Takes the next reply line out of out into line; false if none. */
static bool next_line(struct buf *out, char *line, size_t sz)
{
	char *nl = memchr(out->p ? out->p : "", '\n', out->len);
	if (!nl)
		return false;
	size_t n = (size_t)(nl - out->p);
	size_t keep = n && out->p[n - 1] == '\r' ? n - 1 : n;
	snprintf(line, sz, "%.*s", (int)keep, out->p);
	buf_consume(out, n + 1);
	return true;
}

static bool matches(const char *want, const char *got)
{
	size_t n = strlen(want);
	if (n && want[n - 1] == '*')
		return strncmp(want, got, n - 1) == 0;
	return strcmp(want, got) == 0;
}

static int play(const char *file, const struct config *cfg)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		perror(file);
		return 1;
	}
	struct sockaddr_in peer = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
	struct policy_ctx pc = {cfg, (const struct sockaddr *)&peer, NULL, "127.0.0.1", NULL};
	struct server srv = {.cfg = cfg};
	struct session_limits lim;
	server_limits(&srv, LISTEN_SMTP, &lim);
	struct sink_buf content = {0};
	struct session *s = session_new(&lim, &receive_policy, &pc, &sink_buf, &content);
	session_start(s);
	char dns_table[4096];
	const char *slash = strrchr(file, '/');
	snprintf(dns_table, sizeof dns_table, "%.*ssender-domains",
		 slash ? (int)(slash - file + 1) : 0, file);
	char line[4096], raw[4096], got[1024];
	int lineno = 0, fails = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "C: ", 3) == 0) {
			size_t n = strlen(line + 3);
			memcpy(raw, line + 3, n);
			memcpy(raw + n, "\r\n", 2);
			feed(s, raw, n + 2, dns_table);
		} else if (strncmp(line, "C> ", 3) == 0) {
			feed(s, raw, unescape(line + 3, raw), dns_table);
		} else if (strncmp(line, "S: ", 3) == 0) {
			if (!next_line(session_output(s), got, sizeof got)) {
				printf("%s:%d: expected \"%s\", got nothing\n", file, lineno, line + 3);
				fails++;
				break;
			}
			if (!matches(line + 3, got)) {
				printf("%s:%d: expected \"%s\", got \"%s\"\n", file, lineno, line + 3, got);
				fails++;
				break;
			}
		}
	}
	if (!fails && next_line(session_output(s), got, sizeof got)) {
		printf("%s: unexpected extra reply \"%s\"\n", file, got);
		fails++;
	}
	session_free(s);
	sink_buf_free(&content);
	fclose(f);
	return fails;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s CONFIG FILE...\n", argv[0]);
		return 2;
	}
	struct buf errs = BUF_INIT;
	struct config *cfg = config_load(argv[1], &errs);
	if (!cfg) {
		fprintf(stderr, "%s", errs.p ? errs.p : "bad config\n");
		return 2;
	}
	int failed = 0;
	for (int i = 2; i < argc; i++) {
		int f = play(argv[i], cfg);
		printf("%s %s\n", f ? "FAIL" : "ok  ", argv[i]);
		failed += f != 0;
	}
	config_free(cfg);
	buf_free(&errs);
	return failed ? 1 : 0;
}
