/* privilege - giving up root after start-up; see privilege.h. */
#include <errno.h>
#include <fts.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/privilege.h"
#include "util/fsutil.h"
#include "util/log.h"

/* Every entry of the tree at dir becomes the user's. Symbolic links are
 * changed, not followed, and files with other hard links are left alone:
 * a link planted in a mailbox must not hand over its target. */
static bool chown_tree(const char *dir, uid_t uid, gid_t gid)
{
	char *paths[] = {(char *)dir, NULL};
	FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, NULL);
	if (!fts)
		return false;
	bool ok = true;
	FTSENT *e;
	while ((e = fts_read(fts)) != NULL) {
		if (e->fts_info == FTS_DP)
			continue;
		/* A hard link may be someone else's file planted in the tree. */
		if (e->fts_info == FTS_F && e->fts_statp->st_nlink > 1) {
			log_warn("not handing %s to uid %u: it has other links", e->fts_path,
				 (unsigned)uid);
			continue;
		}
		if (e->fts_info == FTS_ERR || e->fts_info == FTS_DNR || e->fts_info == FTS_NS ||
		    lchown(e->fts_accpath, uid, gid) < 0) {
			log_error("cannot hand %s to uid %u: %s", e->fts_path, (unsigned)uid,
				  strerror(e->fts_errno ? e->fts_errno : errno));
			ok = false;
		}
	}
	fts_close(fts);
	return ok;
}

static unsigned mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

/* The first directory above path the user may not pass through, or false
 * when every one lets it (owner, group or other search permission). */
static bool blocked_above(const char *path, const struct privilege *p, char *at, size_t atsz)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash;
	while ((slash = strrchr(dir, '/')) != NULL) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		struct stat st;
		if (stat(dir, &st) == 0) {
			mode_t need = st.st_uid == p->uid ? S_IXUSR : st.st_gid == p->gid ? S_IXGRP
											     : S_IXOTH;
			if (!(st.st_mode & need)) {
				snprintf(at, atsz, "%s", dir);
				return true;
			}
		}
		if (slash == dir)
			break;
	}
	return false;
}

/* Creates dir (mode) when missing; a tree not yet the user's at its top is
 * handed over as a whole, once, so a later start only looks at the top. */
static bool hand_over(const char *dir, mode_t mode, const struct privilege *p)
{
	/* Missing parents are made passable (0755): the user must get through. */
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (fsutil_mkdir_p(parent, 0755) < 0) {
			log_error("%s: %s", parent, strerror(errno));
			return false;
		}
	}
	struct stat st;
	if (fsutil_mkdir_p(dir, mode) < 0 || stat(dir, &st) < 0) {
		log_error("%s: %s", dir, strerror(errno));
		return false;
	}
	char at[PATH_MAX];
	if (blocked_above(dir, p, at, sizeof at)) {
		log_error("%s: user %s cannot reach it (%s is mode %04o); move it, or open "
			  "that directory to the user", dir, p->user, at, mode_of(at));
		return false;
	}
	if (st.st_uid == p->uid && st.st_gid == p->gid)
		return true;
	log_info("handing %s to user %s", dir, p->user);
	return chown_tree(dir, p->uid, p->gid);
}

bool privilege_prepare(const struct config *cfg, struct privilege *p)
{
	*p = (struct privilege){0};
	if (geteuid() != 0)
		return true;
	struct passwd *pw = getpwnam(cfg->run_user);
	if (!pw) {
		log_error("user %s: no such user (create it, or set 'user' in %s)", cfg->run_user,
			  cfg->path);
		return false;
	}
	if (pw->pw_uid == 0) {
		log_error("user %s: refusing to run as root", cfg->run_user);
		return false;
	}
	*p = (struct privilege){true, pw->pw_uid, pw->pw_gid, ""};
	snprintf(p->user, sizeof p->user, "%s", pw->pw_name);
	if (!hand_over(cfg->spool_dir, 0700, p))
		return false;
	/* Local users reach the maildrop (mode 1733) for `petrel sendmail`:
	 * they may pass through the spool directory, not list it. */
	if (chmod(cfg->spool_dir, 0711) < 0) {
		log_error("%s: %s", cfg->spool_dir, strerror(errno));
		return false;
	}
	return !cfg->maildir_root || hand_over(cfg->maildir_root, 0700, p);
}

bool privilege_drop(const struct privilege *p)
{
	if (!p->drop)
		return true;
	if (initgroups(p->user, p->gid) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0) {
		log_error("cannot become user %s: %s", p->user, strerror(errno));
		return false;
	}
	/* setuid() from root drops the saved uid too; prove root is gone. */
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0) {
		log_error("still able to act as root after dropping to %s: refusing to run",
			  p->user);
		return false;
	}
	log_info("running as user %s (uid %u, gid %u)", p->user, (unsigned)p->uid,
		 (unsigned)p->gid);
	return true;
}
