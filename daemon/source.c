// SPDX-License-Identifier: Apache-2.0
// Source lifecycle: UFS probe first, so a bad URL fails before anything is created or mounted.
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "safe_dir.h"

void source_id_for_url(const char *url, char *buf)
{
	snprintf(buf, 17, "%016llx", (unsigned long long)XXH3_64bits(url, strlen(url)));
}

/* The id's cache on disk was made for another URL: its blocks and metadata are another tree's
 * (same paths, other bytes). Purge it, with the tier paths it recorded. */
static void drop_other_url(const struct source_config *cfg, const char *dir)
{
	char path[4200], old[8192] = "";
	snprintf(path, sizeof(path), "%s/url", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	bool read = fgets(old, sizeof(old), f) != NULL;
	fclose(f);
	old[strcspn(old, "\n")] = '\0';
	if (!read || strcmp(old, cfg->url) == 0)
		return;
	int r = source_purge(cfg->state_dir, cfg->id, NULL, 0);
	log_notice("source %s: its URL changed from %s to %s: %s its old cache", cfg->id, old,
		   cfg->url, r < 0 ? "could not fully purge" : "purged");
}

/* Whether a previous run left metadata for cfg's source (a cache worth opening without the
 * UFS). */
static bool has_metadata(const struct source_config *cfg)
{
	char meta[4200];
	struct stat st;
	snprintf(meta, sizeof(meta), "%s/stores/%s/meta.db", cfg->state_dir, cfg->id);
	return stat(meta, &st) == 0 && st.st_size > 0;
}

/* A file of the store that is not a regular file (a directory, a link: a restore or a hand gone
 * wrong) would fail every open of the source: move it to <path>.corrupt-<UTC time>, say so in
 * note, and let a new one be made. */
static int set_aside_non_file(const char *path, char *note, size_t notelen)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	char aside[4300];
	int r = safe_dir_set_aside(path, aside, sizeof(aside));
	if (r < 0)
		return r;
	char msg[9000];
	snprintf(msg, sizeof(msg), "\"%s\" was %s, not a file; moved it to \"%s\"", path,
		 S_ISLNK(st.st_mode)   ? "a symbolic link"
		 : S_ISDIR(st.st_mode) ? "a directory"
				       : "a special file",
		 aside);
	log_warn("%s", msg);
	size_t used = strnlen(note, notelen);
	if (used + 3 < notelen)
		snprintf(note + used, notelen - used, "%s%.1900s", used ? "; " : "", msg);
	return 0;
}

int source_open(const struct source_config *cfg, struct source **ret, char *errbuf, size_t errlen)
{
	struct source *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int r = -ENOMEM;
	s->id = strdup(cfg->id);
	s->url = strdup(cfg->url);
	if (!s->id || !s->url)
		goto fail;
	s->block_size = cfg->block_size;
	memcpy(s->tiers, cfg->tiers, sizeof(s->tiers));
	s->ntiers = cfg->ntiers;
	s->fetch_concurrency = cfg->fetch_concurrency ? cfg->fetch_concurrency : 16;

	struct ufs_options uo = {.max_connections = s->fetch_concurrency,
				 .retries = cfg->retries,
				 .low_speed_timeout_s = cfg->stall_timeout_s,
				 .s3_access_key = cfg->s3_access_key,
				 .s3_secret_key = cfg->s3_secret_key,
				 .s3_session_token = cfg->s3_session_token};
	s->keys_sig = cfg->keys_sig;
	r = ufs_new(cfg->url, &uo, &s->ufs, errbuf, errlen);
	if (r < 0)
		goto fail;
	r = ufs_probe(s->ufs, errbuf, errlen);
	if (r < 0 && ufs_error_is_outage(r) && has_metadata(cfg)) {
		/* A restart during an outage must not lose what the cache can serve (up to
		 * max-stale): open it, the metadata cache reports the outage. */
		log_warn(
		    "%s; opening the cache of %s anyway: what it holds is served while the UFS "
		    "cannot be reached",
		    errbuf, cfg->id);
		r = 0;
	}
	if (r < 0)
		goto fail;

	char dir[4096], index[4200], meta[4200];
	snprintf(dir, sizeof(dir), "%s/stores/%s", cfg->state_dir, cfg->id);
	drop_other_url(cfg, dir);
	r = safe_dir_mkdir_p(dir, 0700);
	if (r < 0) {
		snprintf(errbuf, errlen, "state directory \"%s\": %s", dir, strerror(-r));
		goto fail;
	}
	snprintf(index, sizeof(index), "%s/index.db", dir);
	snprintf(meta, sizeof(meta), "%s/meta.db", dir);
	/* The URL (credentials included: a remount needs them) and the databases are root's
	 * alone: created 0600 before anyone writes them (SQLite gives its journals the mode
	 * of their database), and older 0644 ones are tightened. */
	char urlfile[4200], tiersfile[4200];
	snprintf(urlfile, sizeof(urlfile), "%s/url", dir);
	snprintf(tiersfile, sizeof(tiersfile), "%s/tiers", dir);
	const char *const private_files[] = {index, meta, urlfile, tiersfile};
	char notes[2048] = ""; /* for the user, after block_store_open's (it resets errbuf) */
	for (size_t i = 0; i < sizeof(private_files) / sizeof(private_files[0]); i++) {
		r = set_aside_non_file(private_files[i], notes, sizeof(notes));
		if (r >= 0)
			r = safe_dir_private_file(private_files[i]);
		if (r < 0) {
			snprintf(errbuf, errlen, "\"%s\": %s", private_files[i], strerror(-r));
			goto fail;
		}
	}
	/* For a human looking at the state directory. */
	FILE *f = fopen(urlfile, "we");
	if (f) {
		fprintf(f, "%s\n", cfg->url);
		fclose(f);
	}
	/* Where the cache lives, so a purge finds it even when the source is not open. */
	f = fopen(tiersfile, "we");
	if (f) {
		for (unsigned i = 0; i < cfg->ntiers; i++)
			fprintf(f, "%s\n", cfg->tiers[i].path);
		fclose(f);
	}

	struct block_store_config bc = {
	    .index_path = index,
	    .source_id = cfg->id,
	    .ntiers = cfg->ntiers,
	    .block_size = cfg->block_size,
	    .high = cfg->high,
	    .low = cfg->low,
	    .lru = cfg->lru,
	    .pools = cfg->pools,
	};
	memcpy(bc.tiers, cfg->tiers, sizeof(bc.tiers));
	r = block_store_open(&bc, &s->store, errbuf, errlen);
	if (r < 0)
		goto fail;
	if (notes[0]) {
		size_t used = strnlen(errbuf, errlen);
		if (used + 3 < errlen)
			snprintf(errbuf + used, errlen - used, "%s%s", used ? "; " : "", notes);
	}
	r = meta_cache_open(meta, s->ufs, &s->meta, errbuf, errlen);
	if (r < 0) {
		snprintf(errbuf, errlen, "metadata cache \"%s\": %s", meta, strerror(-r));
		goto fail;
	}
	struct fetcher_route route = {.cluster = cfg->cluster,
				      .peers = cfg->peers,
				      .source_id = cfg->id,
				      .near_cache = cfg->near_cache,
				      .window = cfg->prefetch_max,
				      .replicas = cfg->cache_replicas};
	struct fetcher_options fo = {.max_prefetch = s->fetch_concurrency,
				     .max_requests = s->fetch_concurrency,
				     .route = cfg->cluster && cfg->peers ? &route : NULL};
	r = fetcher_new(s->ufs, s->store, &fo, &s->fetcher);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot start the fetcher: %s", strerror(-r));
		goto fail;
	}
	r = usage_new(s->meta, s->store, 300000, &s->usage);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	source_free(s);
	return r;
}

void source_free(struct source *s)
{
	if (!s)
		return;
	usage_free(s->usage);
	fetcher_free(s->fetcher);
	meta_cache_free(s->meta);
	block_store_free(s->store);
	ufs_free(s->ufs);
	free(s->id);
	free(s->url);
	free(s);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int r = type == FTW_DP ? rmdir(path) : unlink(path);
	if (r < 0)
		log_debug("purge: \"%s\": %s", path, strerror(errno));
	return 0; /* keep going: remove what can be removed */
}

static int remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return lstat(path, &st) == 0 ? -ENOTEMPTY : 0;
}

/* Removes name under dfd and, if it is a directory, everything in it, following no link: the
 * tier path it starts from was checked, so nothing in it points weir's deletions elsewhere. */
static int remove_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR && errno != ELOOP)
			return -errno;
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			remove_at(dirfd(d), de->d_name);
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* Removes this source's directory in one tier path, and the path itself if it is left empty
 * (a directory made for this source alone). An unsafe path (see safe_dir_open) is left alone. */
static int purge_tier(const char *path, const char *id)
{
	char why[512];
	int fd, r;

	r = safe_dir_open(path, SAFE_DIR_STICKY_OK, &fd, why, sizeof(why));
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_warn("purge of \"%s\": not removing anything under tier path \"%s\": %s", id,
			 path, why);
		return r;
	}
	r = remove_at(fd, id);
	close(fd);
	if (r < 0)
		log_debug("purge: \"%s/%s\": %s", path, id, strerror(-r));
	rmdir(path);
	return r;
}

int source_purge(const char *state_dir, const char *id, const struct tier_config *tiers,
		 unsigned ntiers)
{
	char path[8400];
	int first = 0, r;
	/* ids are "<ns>_<name>" or hex: never "", ".", ".." or with a slash */
	if (!*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, ".."))
		return -EINVAL;
	for (unsigned i = 0; i < ntiers; i++) {
		if ((r = purge_tier(tiers[i].path, id)) < 0 && !first)
			first = r;
	}
	if (ntiers == 0) {
		/* Not open: the tier paths it was last opened with. */
		snprintf(path, sizeof(path), "%s/stores/%s/tiers", state_dir, id);
		FILE *f = fopen(path, "re");
		char line[4200];
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] != '/')
				continue;
			if ((r = purge_tier(line, id)) < 0 && !first)
				first = r;
		}
		if (f)
			fclose(f);
	}
	snprintf(path, sizeof(path), "%s/stores/%s", state_dir, id);
	if ((r = remove_tree(path)) < 0 && !first)
		first = r;
	return first;
}
