// SPDX-License-Identifier: Apache-2.0
// weir mount / umount / stat: the one-command way to use weir without a control plane.
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aws_config.h"
#include "commands.h"
#include "control_hint.h"
#include "mount_users.h"
#include "controller_client.h"
#include "fuse_mounts.h"
#include "node_client.h"
#include "quantity.h"
#include "redact.h"
#include "stat_json.h"
#include "ufs_health.h"

#define MAX_TIERS 4

static void mount_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: weir mount <ufs-url> <mountpoint>\n"
	    "       weir mount [-n NAMESPACE] <dataset> <mountpoint>\n"
	    "         [--tier mem:/dev/shm/weir:4GiB[,ssd:/var/cache/weir:100GiB]]\n"
	    "         [--high 0.95] [--low 0.7] [--block-size 4MiB] [--fetch-concurrency N]\n"
	    "         [--cache-replicas N]  (with peers: how many weir-nodes cache this URL)\n"
	    "         [--metadata-ttl SECONDS] [--foreground] [--no-prefetch] [--no-passthrough]\n"
	    "         [--open-mode auto|open|no-open]   (no-open: the kernel opens files\n"
	    "           itself, no request per open; read-only views; auto: no-open for a\n"
	    "           read-only view of mostly small files; default: weir-node's, auto)\n"
	    "         [--max-stale SECONDS]   (serve cached metadata this long past the TTL while\n"
	    "                                  the UFS is unreachable; default: weir-node's, 1d)\n"
	    "         [--label NAMESPACE/DATASET]   (how weir top and /metrics name it)\n"
	    "         [--read-write]   (local:// only: writes go through to the source)\n"
	    "         [--uid USER] [--gid GROUP] [--mode 0640]   (owner and mode of an HTTP\n"
	    "           view's files; default root, 0444, or 0400 (0440 with --gid) when the\n"
	    "           URL has credentials;\n"
	    "           a local:// view shows the source's own)\n"
	    "         [--s3-endpoint URL] [--s3-region REGION] [--s3-path-style] [--s3-anonymous]\n"
	    "  ufs-url: http(s)://host/dir/ (an autoindex tree), local:///abs/path or\n"
	    "           s3://bucket[/prefix] (keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/\n"
	    "           AWS_SESSION_TOKEN or AWS_PROFILE's ~/.aws/credentials; none: anonymous)\n"
	    "  dataset: a Dataset known to weir-controller (`weir up`); its Runtime gives the\n"
	    "           tiers, a reference reads its source's cache. Without a mountpoint, the\n"
	    "           view goes where pods bind-mount it (under the state directory's\n"
	    "           root-only views/) and its path is printed\n");
}

/* realpath(path), or for a dead mount left by a killed weir-node (which cannot be resolved:
 * ENOTCONN) its resolved parent and its name, so that weir-node can clear it and mount there.
 * Returns out, or NULL with errno set. */
static char *mountpoint_path(const char *path, char *out)
{
	if (realpath(path, out))
		return out;
	if (errno != ENOTCONN)
		return NULL;
	char copy[PATH_MAX], parent[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", path);
	size_t l = strlen(copy);
	while (l > 1 && copy[l - 1] == '/')
		copy[--l] = '\0';
	char *slash = strrchr(copy, '/');
	const char *name = slash ? slash + 1 : copy;
	if (slash == copy)
		snprintf(parent, sizeof(parent), "/");
	else if (!realpath(slash ? (*slash = '\0', copy) : ".", parent))
		return NULL;
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(parent, "/") ? parent : "", name) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return out;
}

/* A duration for a mount option, in ms: at most 30 days (a TTL longer than that is a typo). */
static int parse_duration_ms(const char *s, unsigned *ret)
{
	uint64_t ms;
	int r = duration_parse_ms(s, &ms);
	if (r == 0 && ms > 30ull * 24 * 3600 * 1000)
		r = -ERANGE;
	if (r == 0)
		*ret = (unsigned)ms;
	return r;
}

/* A number, or a user (group when group is true) of this machine. */
static int parse_id(const char *s, bool group, uint32_t *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s && !*end && !errno && v < UINT32_MAX) {
		*ret = (uint32_t)v;
		return 0;
	}
	if (group) {
		const struct group *gr = getgrnam(s);
		if (!gr)
			return -ENOENT;
		*ret = gr->gr_gid;
	} else {
		const struct passwd *pw = getpwnam(s);
		if (!pw)
			return -ENOENT;
		*ret = pw->pw_uid;
	}
	return 0;
}

/* "mem:/dev/shm/weir:4GiB,ssd:/var/cache/weir:100GiB" */
static int parse_tiers(const char *spec, Weir__TierSpec *tiers, size_t *ret_n, char *err,
		       size_t errlen)
{
	char *copy = strdup(spec), *save = NULL;
	size_t n = 0;
	int r = 0;
	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *c1 = strchr(tok, ':'), *c2 = strrchr(tok, ':');
		if (n == MAX_TIERS) {
			snprintf(err, errlen, "at most %d tiers", MAX_TIERS);
			r = -EINVAL;
			break;
		}
		if (!c1 || c1 == c2) {
			snprintf(err, errlen, "tier \"%s\" is not MEDIUM:PATH:QUOTA", tok);
			r = -EINVAL;
			break;
		}
		*c1 = *c2 = '\0';
		if (strcmp(tok, "mem") && strcmp(tok, "ssd") && strcmp(tok, "hdd")) {
			snprintf(err, errlen, "tier medium \"%s\" is not mem, ssd or hdd", tok);
			r = -EINVAL;
			break;
		}
		if (c1[1] != '/') {
			snprintf(err, errlen, "tier path \"%s\" is not absolute", c1 + 1);
			r = -EINVAL;
			break;
		}
		uint64_t q;
		if (quantity_parse(c2 + 1, &q) < 0 || q == 0) {
			snprintf(err, errlen, "tier quota \"%s\" is not a size like 4GiB", c2 + 1);
			r = -EINVAL;
			break;
		}
		weir__tier_spec__init(&tiers[n]);
		tiers[n].medium = strdup(tok);
		tiers[n].path = strdup(c1 + 1);
		tiers[n].quota = q;
		n++;
	}
	free(copy);
	if (r == 0 && n == 0) {
		snprintf(err, errlen, "no tier given");
		r = -EINVAL;
	}
	if (r < 0) {
		for (size_t i = 0; i < n; i++) {
			free(tiers[i].medium);
			free(tiers[i].path);
		}
		return r;
	}
	*ret_n = n;
	return 0;
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "weir mount: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	mount_usage(stderr);
	return 2;
}

/* weir mount -n NS DATASET MOUNTPOINT: weir-controller says how (source, subpath, tiers,
 * mode), weir-node serves the view. */
/* What a plain mount's flags change in a Dataset's mount plan. */
struct mount_tuning {
	uint32_t block_size;
	unsigned concurrency, ttl_ms;
	bool no_prefetch, no_passthrough;
	const char *open_mode; /* "" or NULL: the node's */
	bool max_stale_set;
	unsigned max_stale_s;
	bool uid_set, gid_set; /* over the Dataset's spec.owner */
	uint32_t uid, gid, mode;
};

static int mount_dataset(const struct global_opts *g, const char *ns, const char *dataset,
			 const char *mountpoint, const struct mount_tuning *t)
{
	char mp[PATH_MAX] = ""; /* "": the node puts it where pods bind-mount it */
	if (mountpoint && !mountpoint_path(mountpoint, mp)) {
		fprintf(stderr, "weir mount: mountpoint \"%s\": %s\n", mountpoint, strerror(errno));
		return 1;
	}
	struct controller_client cc;
	controller_client_init(&cc, g->state_dir);
	Weir__DatasetMountRequest dm = WEIR__DATASET_MOUNT_REQUEST__INIT;
	dm.namespace_ = (char *)ns;
	dm.dataset = (char *)dataset;
	Weir__Request creq = WEIR__REQUEST__INIT;
	creq.body_case = WEIR__REQUEST__BODY_DATASET_MOUNT;
	creq.dataset_mount = &dm;
	Weir__Response *plan = NULL;
	if (controller_client_request(&cc, "mount", &creq, &plan) < 0)
		return 1;
	if (!plan->mount) {
		fprintf(stderr, "weir mount: weir-controller answered without a mount plan\n");
		weir__response__free_unpacked(plan, NULL);
		return 1;
	}
	struct node_client nc;
	node_client_init(&nc, g->state_dir);
	pid_t child = 0;
	int rc = 1;
	if (node_client_ensure(&nc, false, &child) < 0)
		goto out;
	Weir__MountRequest *m = plan->mount;
	m->mountpoint = mp;
	m->block_size = t->block_size;
	m->fetch_concurrency = t->concurrency;
	m->metadata_ttl_ms = t->ttl_ms;
	m->no_prefetch = t->no_prefetch;
	m->no_passthrough = t->no_passthrough;
	if (t->open_mode && *t->open_mode)
		m->open_mode = (char *)t->open_mode;
	m->max_stale_set = t->max_stale_set;
	m->max_stale_s = t->max_stale_s;
	if (t->uid_set)
		m->uid = t->uid;
	if (t->gid_set)
		m->gid = t->gid;
	if (t->mode)
		m->mode = t->mode;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_MOUNT;
	req.mount = m;
	Weir__Response *resp = NULL;
	int r = node_client_call(&nc, &req, &resp);
	m->mountpoint = NULL; /* borrowed: not freed with plan */
	if (r < 0) {
		fprintf(stderr, "weir mount: weir-node stopped answering on \"%s\": %s\n",
			nc.socket_path, strerror(-r));
	} else if (resp->error) {
		fprintf(stderr, "weir mount: dataset %s/%s at \"%s\": %s\n", ns, dataset, mp,
			resp->message);
	} else {
		if (resp->message && *resp->message)
			fprintf(stderr, "weir mount: note: %s\n", resp->message);
		if (!mp[0] && resp->mountpoint)
			printf("%s\n", resp->mountpoint);
		rc = 0;
	}
	if (resp)
		weir__response__free_unpacked(resp, NULL);
out:
	weir__response__free_unpacked(plan, NULL);
	return rc;
}

/* The s3:// URL weir-node needs: url with the flags' settings and the keys (environment or AWS
 * profile) in it. The keys travel inside it over the control socket only: never on a command
 * line, never in a file anyone else can read. Returns 0 and an owned *ret
 * (aws_config_free_url), or the exit code after saying why. */
static int s3_mount_url(const char *url, struct aws_s3_options *o, char **ret)
{
	struct aws_config ac;
	char err[512], shown[512];
	redact_url(url, shown, sizeof(shown));
	/* KEY:SECRET@ of the user's own: they were replaced by the environment's keys, or ignored
	 * (anonymous) without any, and the note below showed the secret */
	const char *auth = url + 5, *auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(auth_end - auth))) {
		fprintf(stderr,
			"weir mount: \"%s\": keys in an s3:// URL are not read (a command line "
			"shows them to every user): give them as AWS_ACCESS_KEY_ID and "
			"AWS_SECRET_ACCESS_KEY, or in a profile (AWS_PROFILE)\n",
			shown);
		return 2;
	}
	int r = aws_config_load(&ac, err, sizeof(err));
	/* said (below), or weir-node would sign with whatever keys it has itself */
	bool no_keys = r == 0 && !ac.access_key[0] && !o->anonymous;
	if (no_keys)
		o->anonymous = true;
	/* the profile's region and endpoint, unless the flags say otherwise */
	if (r == 0 && (!o->region || !*o->region) && ac.region[0])
		o->region = ac.region;
	if (r == 0 && (!o->endpoint || !*o->endpoint) && ac.endpoint[0])
		o->endpoint = ac.endpoint;
	if (r == 0 && ac.ca_bundle[0])
		o->ca_bundle = ac.ca_bundle;
	if (r == 0)
		r = aws_config_s3_url(url, o, &ac, ret, err, sizeof(err));
	aws_config_wipe(&ac);
	if (r < 0) {
		fprintf(stderr, "weir mount: %s\n", r == -ENOMEM ? strerror(-r) : err);
		return r == -EINVAL ? 2 : 1;
	}
	if (no_keys)
		fprintf(stderr,
			"weir mount: note: no AWS keys (AWS_ACCESS_KEY_ID, AWS_PROFILE): reading "
			"\"%s\" anonymously\n",
			shown);
	return 0;
}

/* Long-only options: values past any character, so no short option can collide. */
enum { OPT_S3_ENDPOINT = 256, OPT_S3_REGION, OPT_S3_PATH_STYLE, OPT_S3_ANONYMOUS };

int cmd_mount(int argc, char **argv, const struct global_opts *g)
{
	static const struct option opts[] = {
	    {"tier", required_argument, NULL, 't'},
	    {"high", required_argument, NULL, 'H'},
	    {"low", required_argument, NULL, 'L'},
	    {"block-size", required_argument, NULL, 'b'},
	    {"fetch-concurrency", required_argument, NULL, 'c'},
	    {"cache-replicas", required_argument, NULL, 'R'},
	    {"metadata-ttl", required_argument, NULL, 'm'},
	    {"max-stale", required_argument, NULL, 'S'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"no-prefetch", no_argument, NULL, 'P'},
	    {"no-passthrough", no_argument, NULL, 'T'},
	    {"open-mode", required_argument, NULL, 'O'},
	    {"label", required_argument, NULL, 'N'},
	    {"read-write", no_argument, NULL, 'W'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"uid", required_argument, NULL, 'U'},
	    {"gid", required_argument, NULL, 'G'},
	    {"mode", required_argument, NULL, 'M'},
	    {"s3-endpoint", required_argument, NULL, OPT_S3_ENDPOINT},
	    {"s3-region", required_argument, NULL, OPT_S3_REGION},
	    {"s3-path-style", no_argument, NULL, OPT_S3_PATH_STYLE},
	    {"s3-anonymous", no_argument, NULL, OPT_S3_ANONYMOUS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *ns = NULL;
	struct aws_s3_options s3o = {.path_style = -1};
	bool s3_set = false;
	bool tier_set = false;
	const char *tier_spec = "mem:/dev/shm/weir:4GiB";
	double high = 0.95, low = 0.7;
	uint64_t block_size = 4u << 20;
	unsigned concurrency = 16, ttl_ms = 300000, cache_replicas = 0;
	int foreground = 0, no_prefetch = 0, no_passthrough = 0, read_write = 0, c;
	const char *open_mode = "";
	bool max_stale_set = false;
	unsigned max_stale_s = 0;
	const char *ns_label = "", *ds_label = "";
	bool uid_set = false, gid_set = false;
	uint32_t uid = 0, gid = 0, mode = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hn:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ns = optarg;
			break;
		case 't':
			tier_spec = optarg;
			tier_set = true;
			break;
		case 'H':
			if (fraction_parse(optarg, &high) < 0 || high == 0)
				return bad_usage("--high \"%s\" is not a fraction in (0, 1]",
						 optarg);
			break;
		case 'L':
			if (fraction_parse(optarg, &low) < 0 || low == 0)
				return bad_usage("--low \"%s\" is not a fraction in (0, 1]",
						 optarg);
			break;
		case 'b':
			if (quantity_parse(optarg, &block_size) < 0 || block_size < (64u << 10) ||
			    block_size > (64u << 20) || (block_size & (block_size - 1)))
				return bad_usage(
				    "--block-size \"%s\" is not a power of two between "
				    "64KiB and 64MiB",
				    optarg);
			break;
		case 'c': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 256)
				return bad_usage("--fetch-concurrency \"%s\" is not in 1..256",
						 optarg);
			concurrency = (unsigned)v;
			break;
		}
		case 'R': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 1 || v > 64)
				return bad_usage("--cache-replicas \"%s\" is not in 1..64", optarg);
			cache_replicas = (unsigned)v;
			break;
		}
		case 'm': {
			int pr = parse_duration_ms(optarg, &ttl_ms);
			if (pr == -ERANGE)
				return bad_usage("--metadata-ttl \"%s\" is over 30 days", optarg);
			if (pr < 0)
				return bad_usage("--metadata-ttl \"%s\" is not a duration like 30s",
						 optarg);
			/* weir-node reads 0 as "none given": it served 300 s, said nothing */
			if (ttl_ms == 0)
				return bad_usage("--metadata-ttl \"%s\": the shortest TTL is 1ms (0 "
						 "would mean weir-node's default, 300s)",
						 optarg);
			break;
		}
		case 'S': {
			uint64_t ms;
			if (duration_parse_ms(optarg, &ms) < 0 || ms / 1000 > UINT32_MAX)
				return bad_usage(
				    "--max-stale \"%s\" is not a duration like 1d or 600s", optarg);
			max_stale_s = (unsigned)(ms / 1000);
			max_stale_set = true;
			break;
		}
		case 'f':
			foreground = 1;
			break;
		case 'P':
			no_prefetch = 1;
			break;
		case 'T':
			no_passthrough = 1;
			break;
		case 'O':
			if (strcmp(optarg, "auto") && strcmp(optarg, "open") &&
			    strcmp(optarg, "no-open")) {
				fprintf(
				    stderr,
				    "weir mount: --open-mode \"%s\": one of auto, open, no-open\n",
				    optarg);
				return 2;
			}
			open_mode = optarg;
			break;
		case 'W':
			read_write = 1;
			break;
		case 'N': {
			/* NAMESPACE/DATASET: how weir top and /metrics name a plain mount */
			static char label[512];
			snprintf(label, sizeof(label), "%s", optarg);
			char *slash = strchr(label, '/');
			if (!slash || slash == label || !slash[1])
				return bad_usage("--label \"%s\" is not NAMESPACE/DATASET", optarg);
			*slash = '\0';
			ns_label = label;
			ds_label = slash + 1;
			break;
		}
		case 'U':
			if (parse_id(optarg, false, &uid) < 0)
				return bad_usage("--uid \"%s\" is neither a number nor a user here",
						 optarg);
			uid_set = true;
			break;
		case 'G':
			if (parse_id(optarg, true, &gid) < 0)
				return bad_usage(
				    "--gid \"%s\" is neither a number nor a group here", optarg);
			gid_set = true;
			break;
		case 'M': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 8);
			if (!*optarg || *end || v == 0 || v > 07777)
				return bad_usage("--mode \"%s\" is not octal permission bits like "
						 "0640",
						 optarg);
			mode = (uint32_t)v;
			break;
		}
		case OPT_S3_ENDPOINT:
			s3o.endpoint = optarg;
			s3_set = true;
			break;
		case OPT_S3_REGION:
			s3o.region = optarg;
			s3_set = true;
			break;
		case OPT_S3_PATH_STYLE:
			s3o.path_style = 1;
			s3_set = true;
			break;
		case OPT_S3_ANONYMOUS:
			s3o.anonymous = true;
			s3_set = true;
			break;
		case 'h':
			mount_usage(stdout);
			return 0;
		default:
			mount_usage(stderr);
			return 2;
		}
	}
	const struct mount_tuning tuning = {
	    .block_size = (uint32_t)block_size,
	    .concurrency = concurrency,
	    .ttl_ms = ttl_ms,
	    .no_prefetch = no_prefetch,
	    .no_passthrough = no_passthrough,
	    .open_mode = open_mode,
	    .max_stale_set = max_stale_set,
	    .max_stale_s = max_stale_s,
	    .uid_set = uid_set,
	    .gid_set = gid_set,
	    .uid = uid,
	    .gid = gid,
	    .mode = mode,
	};
	if (argc - optind == 1 && !strstr(argv[optind], "://")) {
		if (tier_set)
			return bad_usage("--tier does not apply to a Dataset: its Runtime gives "
					 "the tiers");
		return mount_dataset(g, ns ? ns : "default", argv[optind], NULL, &tuning);
	}
	if (argc - optind != 2)
		return bad_usage("%s", "needs a UFS URL and a mountpoint");
	if (low > high)
		return bad_usage("%s", "--low must not be above --high");
	const char *url = argv[optind];
	if (!strstr(url, "://")) {
		if (tier_set)
			return bad_usage(
			    "--tier does not apply to a Dataset: its Runtime gives the "
			    "tiers");
		return mount_dataset(g, ns ? ns : "default", url, argv[optind + 1], &tuning);
	}
	if (ns)
		return bad_usage("-n names a Dataset's namespace; \"%s\" is a URL", url);
	if (s3_set && strncasecmp(url, "s3://", 5) != 0)
		return bad_usage("--s3-* options apply to s3:// URLs, not \"%s\"", url);
	char mp[PATH_MAX];
	if (!mountpoint_path(argv[optind + 1], mp)) {
		fprintf(stderr, "weir mount: mountpoint \"%s\": %s\n", argv[optind + 1],
			strerror(errno));
		return 1;
	}
	Weir__TierSpec tiers[MAX_TIERS];
	Weir__TierSpec *tierp[MAX_TIERS];
	size_t ntiers;
	char err[256];
	if (parse_tiers(tier_spec, tiers, &ntiers, err, sizeof(err)) < 0)
		return bad_usage("--tier: %s", err);
	for (size_t i = 0; i < ntiers; i++)
		tierp[i] = &tiers[i];

	char *s3_url = NULL;
	if (strncasecmp(url, "s3://", 5) == 0) {
		int rc = s3_mount_url(url, &s3o, &s3_url);
		if (rc)
			return rc;
		url = s3_url;
	}

	struct node_client nc;
	node_client_init(&nc, g->state_dir);
	pid_t child = 0;
	if (node_client_ensure(&nc, foreground, &child) < 0) {
		aws_config_free_url(s3_url);
		return 1;
	}

	Weir__MountRequest m = WEIR__MOUNT_REQUEST__INIT;
	m.ufs_url = (char *)url;
	m.mountpoint = mp;
	m.tiers = tierp;
	m.n_tiers = ntiers;
	m.high = high;
	m.low = low;
	m.block_size = (uint32_t)block_size;
	m.fetch_concurrency = concurrency;
	m.cache_replicas = cache_replicas;
	m.metadata_ttl_ms = ttl_ms;
	m.no_prefetch = no_prefetch;
	m.no_passthrough = no_passthrough;
	m.open_mode = (char *)open_mode;
	m.max_stale_set = max_stale_set;
	m.max_stale_s = max_stale_s;
	m.read_write = read_write;
	m.namespace_ = (char *)ns_label;
	m.dataset = (char *)ds_label;
	m.uid = uid;
	m.gid = gid;
	m.mode = mode;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_MOUNT;
	req.mount = &m;
	Weir__Response *resp = NULL;
	int r = node_client_call(&nc, &req, &resp);
	int rc = 0;
	if (r < 0) {
		fprintf(stderr, "weir mount: weir-node stopped answering: %s\n", strerror(-r));
		rc = 1;
	} else if (resp->error) {
		fprintf(stderr, "weir mount: %s\n", resp->message);
		rc = 1;
	} else if (resp->message && *resp->message) {
		fprintf(stderr, "weir mount: note: %s\n", resp->message);
	}
	if (resp)
		weir__response__free_unpacked(resp, NULL);
	aws_config_free_url(s3_url);
	for (size_t i = 0; i < ntiers; i++) {
		free(tiers[i].medium);
		free(tiers[i].path);
	}
	if (child > 0) {
		if (rc != 0) {
			kill(child, SIGTERM);
			waitpid(child, NULL, 0);
			return rc;
		}
		/* --foreground: stay until the daemon ends (Ctrl-C reaches it too). */
		signal(SIGINT, SIG_IGN);
		int status;
		waitpid(child, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	return rc;
}

int cmd_umount(int argc, char **argv, const struct global_opts *g)
{
	static const char usage[] = "usage: weir umount [--force] <mountpoint>\n";
	bool force = false;
	const char *path = NULL;
	/* --force before or after the mountpoint, as umount(8) takes its flags */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--force") == 0) {
			force = true;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "weir umount: unknown option \"%s\"\n%s", argv[i], usage);
			return 2;
		} else if (path) {
			fprintf(stderr, "weir umount: one mountpoint at a time, not \"%s\" and \"%s\"\n%s",
				path, argv[i], usage);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		fprintf(stderr, "weir umount: which mountpoint?\n%s", usage);
		return 2;
	}
	char mp[PATH_MAX];
	/* A dead mount cannot be resolved; use the path as given then. */
	if (!realpath(path, mp))
		snprintf(mp, sizeof(mp), "%s", path);
	struct node_client nc;
	node_client_init(&nc, g->state_dir);
	Weir__UmountRequest u = WEIR__UMOUNT_REQUEST__INIT;
	u.mountpoint = mp;
	u.force = force;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_UMOUNT;
	req.umount = &u;
	Weir__Response *resp = NULL;
	int r = node_client_call(&nc, &req, &resp);
	if (r == 0 && resp->error == 0) {
		weir__response__free_unpacked(resp, NULL);
		return 0;
	}
	if (r == -EACCES || r == -EPERM) {
		fprintf(stderr, "weir umount: cannot reach weir-node on \"%s\" (%s); %s\n",
			nc.socket_path, strerror(-r), control_hint(r, ""));
		return 1;
	}
	if (r == 0 && resp->error != -ENOENT) {
		/* The daemon serves it and said no (busy): that is the answer, with who. */
		fprintf(stderr, "weir umount: %s\n", resp->message);
		if (resp->error == -EBUSY)
			mount_users_print(stderr, mp, 10);
		weir__response__free_unpacked(resp, NULL);
		return 1;
	}
	if (resp)
		weir__response__free_unpacked(resp, NULL);
	/* No daemon serves it (killed, or another state directory): detach the mount. */
	if (fuse_mounts_is_weir(mp)) {
		int dr = fuse_mounts_detach(mp);
		if (dr < 0) {
			fprintf(stderr, "weir umount: \"%s\": %s\n", mp, strerror(-dr));
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "weir umount: \"%s\" is not a weir mount\n", mp);
	return 1;
}

/* The MemoryStat fields, in the order weir stat prints them: a table, not a chain of calls. */
static const struct {
	const char *name;
	size_t off;
	const char *what; /* NULL: a count, not bytes */
} memory_fields[] = {
    {"rss", offsetof(Weir__MemoryStat, rss), "resident"},
    {"rss_anon", offsetof(Weir__MemoryStat, rss_anon), "anonymous (heap, stacks)"},
    {"rss_file", offsetof(Weir__MemoryStat, rss_file), "binary and libraries"},
    {"rss_shmem", offsetof(Weir__MemoryStat, rss_shmem), "shared (journals, BPF maps)"},
    {"malloc_in_use", offsetof(Weir__MemoryStat, malloc_in_use), "heap in use, of which:"},
    {"block_index", offsetof(Weir__MemoryStat, block_index), "  block index"},
    {"metadata", offsetof(Weir__MemoryStat, metadata), "  listings and versions"},
    {"views", offsetof(Weir__MemoryStat, views), "  views' inode tables"},
    {"sqlite", offsetof(Weir__MemoryStat, sqlite), "  SQLite"},
    {"curl", offsetof(Weir__MemoryStat, curl), "  libcurl"},
    {"malloc_other", offsetof(Weir__MemoryStat, malloc_other), "  the rest"},
    {"malloc_free", offsetof(Weir__MemoryStat, malloc_free), "heap held free"},
    {"fetch_buffers", offsetof(Weir__MemoryStat, fetch_buffers),
     "block buffers (outside the heap)"},
    {"threads", offsetof(Weir__MemoryStat, threads), NULL},
};

static uint64_t memory_field(const Weir__MemoryStat *m, size_t i)
{
	return *(const uint64_t *)((const char *)m + memory_fields[i].off);
}

static json_object *memory_json(const Weir__MemoryStat *m)
{
	json_object *o = json_object_new_object();
	for (size_t i = 0; i < sizeof(memory_fields) / sizeof(memory_fields[0]); i++)
		json_object_object_add(o, memory_fields[i].name,
				       json_object_new_uint64(memory_field(m, i)));
	json_object_object_add(o, "allocator",
			       json_object_new_string(m->allocator ? m->allocator : ""));
	return o;
}

static void memory_print(const Weir__MemoryStat *m)
{
	char a[32];
	printf("weir-node memory (malloc: %s)\n", m->allocator ? m->allocator : "?");
	for (size_t i = 0; i < sizeof(memory_fields) / sizeof(memory_fields[0]); i++) {
		if (memory_fields[i].what)
			printf("  %-30s %s\n", memory_fields[i].what,
			       quantity_format(memory_field(m, i), a, sizeof(a)));
		else
			printf("  %-30s %llu\n", memory_fields[i].name,
			       (unsigned long long)memory_field(m, i));
	}
}

static json_object *view_json(const Weir__ViewStat *v, const Weir__MemoryStat *node_memory)
{
	json_object *o = json_object_new_object();
	stat_json_view(o, v, STAT_JSON_STAT);
	json_object_object_add(o, "ufs_health", ufs_health_json(v));
	json_object *tiers = json_object_new_array();
	for (size_t i = 0; i < v->n_tiers; i++) {
		json_object *t = json_object_new_object();
		json_object_object_add(t, "medium", json_object_new_string(v->tiers[i]->medium));
		json_object_object_add(t, "path", json_object_new_string(v->tiers[i]->path));
		json_object_object_add(t, "quota", json_object_new_uint64(v->tiers[i]->quota));
		json_object_object_add(t, "used", json_object_new_uint64(v->tiers[i]->used));
		json_object_object_add(t, "blocks", json_object_new_uint64(v->tiers[i]->blocks));
		json_object_array_add(tiers, t);
	}
	json_object_object_add(o, "tiers", tiers);
	json_object *rq = json_object_new_object();
	json_object_object_add(rq, "open", json_object_new_uint64(v->open_requests));
	json_object_object_add(rq, "release", json_object_new_uint64(v->release_requests));
	json_object_object_add(rq, "lookup", json_object_new_uint64(v->lookup_requests));
	json_object_object_add(rq, "getattr", json_object_new_uint64(v->getattr_requests));
	json_object_object_add(rq, "new_versions", json_object_new_uint64(v->new_versions));
	json_object_object_add(o, "requests", rq);
	/* weir-node's, the same in every view's object: the JSON stays a view or a list of them */
	if (node_memory)
		json_object_object_add(o, "node_memory", memory_json(node_memory));
	return o;
}

static void view_print(const Weir__ViewStat *v)
{
	char a[32], b[32];
	char health[768];
	ufs_health_line(v, health, sizeof(health));
	printf("%s\n  ufs          %s\n", v->mountpoint, v->ufs_url);
	if (v->state_warning && *v->state_warning)
		printf("  warning      %s\n", v->state_warning);
	printf("  ufs status   %s\n", health);
	printf("  cached       %s\n", quantity_format(v->cached_bytes, a, sizeof(a)));
	for (size_t i = 0; i < v->n_tiers; i++)
		printf("    %-4s %-28s %s of %s, %llu blocks\n", v->tiers[i]->medium,
		       v->tiers[i]->path, quantity_format(v->tiers[i]->used, a, sizeof(a)),
		       quantity_format(v->tiers[i]->quota, b, sizeof(b)),
		       (unsigned long long)v->tiers[i]->blocks);
	printf("  ufs fetched  %s in %llu requests\n", quantity_format(v->ufs_bytes, a, sizeof(a)),
	       (unsigned long long)v->ufs_requests);
	printf("  read         %s\n", quantity_format(v->read_bytes, a, sizeof(a)));
	printf("  hits         %llu\n  misses       %llu\n  evictions    %llu\n",
	       (unsigned long long)v->hits, (unsigned long long)v->misses,
	       (unsigned long long)v->evictions);
	printf("  passthrough  %llu opens, %s read (by the kernel from the tier, no READs)\n",
	       (unsigned long long)v->passthrough_opens,
	       quantity_format(v->passthrough_read_bytes, a, sizeof(a)));
	printf("  open mode    %s (%s)\n", v->open_mode, v->open_mode_reason);
	printf("  requests     %llu open, %llu release, %llu lookup, %llu getattr\n",
	       (unsigned long long)v->open_requests, (unsigned long long)v->release_requests,
	       (unsigned long long)v->lookup_requests, (unsigned long long)v->getattr_requests);
	printf("  memory       %s in weir-node for %llu inodes, %llu open files\n",
	       quantity_format(v->memory_bytes, a, sizeof(a)), (unsigned long long)v->inodes,
	       (unsigned long long)v->open_files);
}

int cmd_stat(int argc, char **argv, const struct global_opts *g)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'o' && strcmp(optarg, "json") == 0)
			json = true;
		else if (c == 'h') {
			printf("usage: weir stat [<mountpoint>] [-o json]\n");
			return 0;
		} else {
			if (c == 'o')
				fprintf(stderr, "weir stat: -o \"%s\": the one output format is json\n",
					optarg);
			fprintf(stderr, "usage: weir stat [<mountpoint>] [-o json]\n");
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr,
			"weir stat: one mountpoint at most, not \"%s\" and \"%s\"\n"
			"usage: weir stat [<mountpoint>] [-o json]\n",
			argv[optind], argv[optind + 1]);
		return 2;
	}
	char mp[PATH_MAX] = "";
	if (optind < argc && !realpath(argv[optind], mp))
		snprintf(mp, sizeof(mp), "%s", argv[optind]);
	struct node_client nc;
	node_client_init(&nc, g->state_dir);
	Weir__StatRequest s = WEIR__STAT_REQUEST__INIT;
	s.mountpoint = mp;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_STAT;
	req.stat = &s;
	Weir__Response *resp = NULL;
	int r = node_client_call(&nc, &req, &resp);
	if (r < 0) {
		fprintf(stderr, "weir stat: no weir-node answers on \"%s\" (%s); %s\n",
			nc.socket_path, strerror(-r),
			control_hint(r, "weir mount or weir up starts it"));
		return 1;
	}
	int rc = 0;
	if (resp->error) {
		fprintf(stderr, "weir stat: %s\n", resp->message);
		rc = 1;
	} else if (json && mp[0] && resp->n_views == 1) {
		json_object *o = view_json(resp->views[0], resp->memory);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else if (json) {
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < resp->n_views; i++)
			json_object_array_add(arr, view_json(resp->views[i], resp->memory));
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
	} else {
		for (size_t i = 0; i < resp->n_views; i++)
			view_print(resp->views[i]);
		if (resp->memory)
			memory_print(resp->memory);
	}
	weir__response__free_unpacked(resp, NULL);
	return rc;
}
