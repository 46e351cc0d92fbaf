// SPDX-License-Identifier: Apache-2.0
// CSI Node: publishing a Dataset's view into a pod. The kubelet's request is hostile input:
// every field is checked before anything is created or mounted. State lives in the kernel,
// not here: a target is published when it is a mount of the view's device (mountinfo), so a
// restarted weir-csi answers the same as the one that mounted it. Views are mounted by
// weir-node under <state>/csi/views (root-only, 0700) and bound onto targets; the last
// unpublish starts a grace period after which the view is stopped.
// Dependency: a weir-node restart keeps pods' mounts only once live recovery (the keeper) hands
// the views' /dev/fuse over; until then a crashed weir-node leaves dead mounts in pods.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "control.h"
#include "csi.pb-c.h"
#include "fuse_mounts.h"
#include "log.h"
#include "plugin.h"

#define POD_NAMESPACE_KEY "csi.storage.k8s.io/pod.namespace"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool csi_node_alive(const struct csi_plugin *p)
{
	return control_ping(p->node_socket, p->probe_timeout_ms);
}

/* ---- checks of what the kubelet sends ---- */

/* A Kubernetes name: DNS-1123 (lowercase alphanumerics, '-', and '.' where dots are allowed),
 * starting and ending alphanumeric. Names become a directory name: nothing else may pass. */
static bool k8s_name_ok(const char *s, size_t max, bool dots)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (alnum)
			continue;
		if ((c == '-' || (dots && c == '.')) && i > 0 && i < n - 1)
			continue;
		return false;
	}
	return true;
}

/* An absolute path without "..", "." or empty components, shorter than PATH_MAX. */
static int path_check(const char *what, const char *path, struct grpc_reply *rp)
{
	if (!*path)
		return grpc_reply_error(rp, -EINVAL, "%s is empty", what);
	if (strlen(path) >= PATH_MAX - 64)
		return grpc_reply_error(rp, -EINVAL, "%s is longer than %d bytes", what,
					PATH_MAX - 64);
	if (path[0] != '/')
		return grpc_reply_error(rp, -EINVAL, "%s \"%s\" is not absolute", what, path);
	for (const char *c = path + 1; *c;) {
		const char *e = strchrnul(c, '/');
		size_t l = (size_t)(e - c);
		if ((l == 0 && *e) || (l == 1 && c[0] == '.') ||
		    (l == 2 && c[0] == '.' && c[1] == '.'))
			return grpc_reply_error(rp, -EINVAL,
						"%s \"%s\" has an empty, \".\" or \"..\" component",
						what, path);
		c = *e ? e + 1 : e;
	}
	return 0;
}

/* True when a is b or beneath it (a may end in '/'s). */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);
	while (n > 1 && b[n - 1] == '/')
		n--;
	return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == '\0' || (n == 1 && b[0] == '/'));
}

/* True when path is in weir's state directory (its views among others) or above it: a view
 * bound there would stand in for weir's own files (or hide them), and no pod's target is there. */
static bool in_weir_state(const struct csi_plugin *p, const char *path)
{
	const char *s = p->state_dir[0] ? p->state_dir : p->views_dir;
	char trimmed[PATH_MAX];
	snprintf(trimmed, sizeof(trimmed), "%s", path);
	for (size_t n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
		trimmed[n - 1] = '\0';
	return path_within(path, s) || path_within(s, trimmed);
}

static int state_refused(const struct csi_plugin *p, const char *what, const char *path,
			 struct grpc_reply *rp)
{
	return grpc_reply_error(rp, -EINVAL,
				"%s \"%s\" is in weir's state directory %s or above it: weir's own "
				"files are no pod's volume",
				what, path, p->state_dir[0] ? p->state_dir : p->views_dir);
}

static const char *map_get(Csi__V1__NodePublishVolumeRequest__VolumeContextEntry **e, size_t n,
			   const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (e[i]->key && strcmp(e[i]->key, key) == 0)
			return e[i]->value;
	return NULL;
}

/* What one publish asks for, checked. */
struct publish {
	const char *volume_id, *ns, *dataset, *target;
	bool ro;
	char subpath[4096]; /* the PV's subpath, source-relative: "" (whole source) or "/a/b";
			     * unset when has_subpath is false (the view's root is published) */
	bool has_subpath;
	char view[4400];
};

static bool mode_reader_only(int mode)
{
	return mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY ||
	       mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key the request holds twice, as C reads them, or NULL. The kubelet's map has unique keys,
 * but protobuf strings may hold a NUL byte that C stops at: a PV's
 * "csi.storage.k8s.io/pod.namespace\0x" would read as the pod's namespace key the kubelet sets
 * beside it, and the first one found would decide. Returns -ENOMEM or 0 with *ret_dup. */
static int context_dup(Csi__V1__NodePublishVolumeRequest__VolumeContextEntry **e, size_t n,
		       const char **ret_dup)
{
	*ret_dup = NULL;
	const char **keys = malloc((n ? n : 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		keys[i] = e[i]->key ? e[i]->key : "";
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < n && !*ret_dup; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			*ret_dup = keys[i];
	free(keys);
	return 0;
}

static int publish_check(const struct csi_plugin *p, const Csi__V1__NodePublishVolumeRequest *r,
			 struct publish *ret, struct grpc_reply *rp)
{
	if (!*r->volume_id)
		return grpc_reply_error(rp, -EINVAL, "volume_id is empty");
	if (strlen(r->volume_id) > 512)
		return grpc_reply_error(rp, -EINVAL, "volume_id is longer than 512 bytes");
	int e = path_check("target_path", r->target_path, rp);
	if (e < 0)
		return e;
	if (in_weir_state(p, r->target_path))
		return state_refused(p, "target_path", r->target_path, rp);
	const Csi__V1__VolumeCapability *cap = r->volume_capability;
	if (!cap)
		return grpc_reply_error(rp, -EINVAL, "volume_capability is missing");
	if (cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT)
		return grpc_reply_error(rp, -EINVAL,
					"volume_capability must be a mount: a weir volume is a "
					"directory tree, not a block device");
	if (!cap->access_mode ||
	    cap->access_mode->mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__UNKNOWN ||
	    cap->access_mode->mode >
		CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER)
		return grpc_reply_error(rp, -EINVAL, "volume_capability has no valid access_mode");
	const Csi__V1__VolumeCapability__MountVolume *mv = cap->mount;
	bool ro = r->readonly || mode_reader_only(cap->access_mode->mode);
	for (size_t i = 0; mv && i < mv->n_mount_flags; i++) {
		if (strcmp(mv->mount_flags[i], "ro") == 0)
			ro = true;
		else if (strcmp(mv->mount_flags[i], "rw") != 0)
			return grpc_reply_error(rp, -EINVAL,
						"mount flag \"%s\" is not supported (only ro, rw)",
						mv->mount_flags[i]);
	}
	if (mv && *mv->fs_type && strcmp(mv->fs_type, "fuse.weir") != 0)
		return grpc_reply_error(rp, -EINVAL,
					"fs_type \"%s\": a weir volume is fuse.weir; leave fsType "
					"empty",
					mv->fs_type);
	const char *dup;
	if (context_dup(r->volume_context, r->n_volume_context, &dup) < 0)
		return grpc_reply_error(rp, -ENOMEM, "out of memory");
	if (dup)
		return grpc_reply_error(rp, -EINVAL, "volume_context has the key \"%.200s\" twice",
					dup);
	const char *ns = map_get(r->volume_context, r->n_volume_context, "namespace");
	const char *ds = map_get(r->volume_context, r->n_volume_context, "dataset");
	const char *roattr = map_get(r->volume_context, r->n_volume_context, "readOnly");
	const char *podns = map_get(r->volume_context, r->n_volume_context, POD_NAMESPACE_KEY);
	const char *sub = map_get(r->volume_context, r->n_volume_context, "subpath");
	if (!ns || !ds)
		return grpc_reply_error(
		    rp, -EINVAL,
		    "volume_context needs \"namespace\" and \"dataset\" (the PV "
		    "weir-controller writes has them)");
	if (!k8s_name_ok(ns, 63, false))
		return grpc_reply_error(rp, -EINVAL,
					"volume_context namespace \"%.80s\" is not a "
					"namespace name",
					ns);
	if (!k8s_name_ok(ds, 253, true))
		return grpc_reply_error(rp, -EINVAL,
					"volume_context dataset \"%.80s\" is not a "
					"Dataset name",
					ds);
	if (roattr && strcmp(roattr, "true") == 0)
		ro = true;
	else if (roattr && strcmp(roattr, "false") != 0)
		return grpc_reply_error(
		    rp, -EINVAL, "volume_context readOnly \"%.20s\" is not true or false", roattr);
	/* The grant is per namespace: a pod reads only its own namespace's Datasets (a reference
	 * Dataset there, if the owner granted it). A hand-written PV naming another namespace's
	 * Dataset is refused here. */
	if (!podns && !p->allow_no_pod_info)
		return grpc_reply_error(rp, -EPERM,
					"the request names no pod namespace (%s): the CSIDriver "
					"\"%s\" must set podInfoOnMount: true",
					POD_NAMESPACE_KEY, p->driver_name);
	if (podns && strcmp(podns, ns) != 0)
		return grpc_reply_error(
		    rp, -EPERM,
		    "pod namespace \"%.63s\" may not mount dataset %s/%s: a pod reads the Datasets "
		    "of its own namespace; create a Dataset in \"%.63s\" with mountPoint "
		    "dataset://%s/%s if %s grants it",
		    podns, ns, ds, podns, ns, ds, ns);
	if (sub) {
		e = path_check("volume_context subpath", sub, rp);
		if (e < 0)
			return e;
		/* "/" is the whole source; a trailing '/' names the same directory */
		size_t n = strlen(sub);
		while (n > 0 && sub[n - 1] == '/')
			n--;
		if (n >= sizeof(ret->subpath))
			return grpc_reply_error(rp, -EINVAL, "volume_context subpath is too long");
		memcpy(ret->subpath, sub, n);
		ret->subpath[n] = '\0';
	}
	ret->has_subpath = sub != NULL;
	ret->ns = ns;
	ret->dataset = ds;
	ret->target = r->target_path;
	ret->ro = ro;
	ret->volume_id = r->volume_id;
	/* '_' is in neither name: one directory per (namespace, dataset) */
	snprintf(ret->view, sizeof(ret->view), "%s/%s_%s", p->views_dir, ns, ds);
	return 0;
}

/* ---- weir-node ---- */

/* -errno from a control reply, with its message for the user. */
static int control_error(const char *who, const char *sock, int r, const Weir__Response *resp,
			 struct grpc_reply *rp)
{
	if (r < 0)
		return grpc_reply_error(rp, r == -ETIMEDOUT ? r : -EAGAIN,
					"%s does not answer on \"%s\": %s", who, sock,
					strerror(-r));
	return grpc_reply_error(rp, resp->error, "%s: %s", who, resp->message);
}

/* Asks the local weir-node for the mount plan of (ns, dataset), which is where the grant is
 * checked (a reference whose grant was withdrawn fails here, even while its view runs): in a
 * cluster it plans from what it watches, on one machine it asks weir-controller. Returns 0 with
 * the plan in *ret_plan (owned: weir__response__free_unpacked) and its subpath in ret_root (len
 * bytes): the source directory the view shows ("" for the whole source); or an error set in rp. */
static int plan_get(struct csi_plugin *p, const struct publish *pub, Weir__Response **ret_plan,
		    char *ret_root, size_t len, struct grpc_reply *rp)
{
	Weir__DatasetMountRequest dm = WEIR__DATASET_MOUNT_REQUEST__INIT;
	dm.namespace_ = (char *)pub->ns;
	dm.dataset = (char *)pub->dataset;
	Weir__Request creq = WEIR__REQUEST__INIT;
	creq.body_case = WEIR__REQUEST__BODY_DATASET_MOUNT;
	creq.dataset_mount = &dm;
	Weir__Response *plan = NULL;
	int r = control_call_timeout(p->node_socket, &creq, p->call_timeout_ms, &plan);
	if (r < 0 || plan->error || !plan->mount) {
		if (r == 0 && !plan->error)
			r = grpc_reply_error(rp, -EBADMSG, "weir-node sent no mount plan");
		else
			r = control_error("weir-node", p->node_socket, r, plan, rp);
		if (plan)
			weir__response__free_unpacked(plan, NULL);
		return r;
	}
	snprintf(ret_root, len, "%s",
		 plan->mount->subpath && strcmp(plan->mount->subpath, "/") ? plan->mount->subpath
									   : "");
	*ret_plan = plan;
	return 0;
}

/* plan_get, then starts the view at pub->view unless it runs. */
static int view_ensure(struct csi_plugin *p, const struct publish *pub, char *ret_root, size_t len,
		       struct grpc_reply *rp)
{
	Weir__Response *plan = NULL;
	int r = plan_get(p, pub, &plan, ret_root, len, rp);
	if (r < 0)
		return r;

	bool weir = false;
	unsigned long dev;
	struct statvfs sv;
	r = fuse_mounts_at(pub->view, &dev, &weir);
	if (r > 0 && weir && statvfs(pub->view, &sv) == 0) {
		r = 0; /* alive */
		goto out_plan;
	}
	if (r > 0 && weir && fuse_mounts_clear_dead(pub->view) < 0) {
		r = grpc_reply_error(rp, -EBUSY, "the view at \"%s\" is dead and stays mounted",
				     pub->view);
		goto out_plan;
	}
	if (mkdir(pub->view, 0700) < 0 && errno != EEXIST) {
		r = grpc_reply_error(rp, -errno, "creating \"%s\": %s", pub->view, strerror(errno));
		goto out_plan;
	}
	Weir__MountRequest *m = plan->mount;
	m->mountpoint = (char *)pub->view;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_MOUNT;
	req.mount = m;
	Weir__Response *resp = NULL;
	r = control_call_timeout(p->node_socket, &req, p->mount_timeout_ms, &resp);
	m->mountpoint = NULL; /* borrowed: not freed with plan */
	if (r < 0 || resp->error)
		r = control_error("weir-node", p->node_socket, r, resp, rp);
	else
		log_info("view of dataset %s/%s started at \"%s\"", pub->ns, pub->dataset,
			 pub->view);
	if (resp)
		weir__response__free_unpacked(resp, NULL);
out_plan:
	if (plan)
		weir__response__free_unpacked(plan, NULL);
	return r;
}

/* The directory of the view to bind for pub: the view itself, or, for a PV whose subpath lies
 * deeper in the source than the view's root (root, from the plan), that subdirectory, opened
 * beneath the view without following a symbolic link or leaving the mount, so a link in the
 * source cannot send a pod elsewhere. Returns 0 and *ret_fd (-1: bind the view; else an O_PATH
 * descriptor the caller closes), or an error already set in rp. */
/* The directory of the view pub asks for, relative to the view's root (root, from the plan): ""
 * for the view itself, else "a/b" in *ret_rel (borrowed from pub). Returns 0, or -EPERM (set in
 * rp) when the PV's subpath lies outside what the Dataset shows. */
static int subpath_rel(const struct publish *pub, const char *root, const char **ret_rel,
		       struct grpc_reply *rp)
{
	size_t n = strlen(root);
	if (!pub->has_subpath || strcmp(pub->subpath, root) == 0)
		*ret_rel = "";
	else if (strncmp(pub->subpath, root, n) == 0 && pub->subpath[n] == '/')
		*ret_rel = pub->subpath + n + 1;
	else
		return grpc_reply_error(rp, -EPERM,
					"volume_context subpath \"%.200s\" is outside what dataset "
					"%s/%s shows (\"%.200s\" of its source)",
					pub->subpath[0] ? pub->subpath : "/", pub->ns, pub->dataset,
					root[0] ? root : "/");
	return 0;
}

static int publish_source(const struct publish *pub, const char *root, int *ret_fd,
			  struct grpc_reply *rp)
{
	*ret_fd = -1;
	const char *rel;
	int e = subpath_rel(pub, root, &rel, rp);
	if (e < 0 || !*rel)
		return e;
	int vfd = open(pub->view, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (vfd < 0)
		return grpc_reply_error(rp, -errno, "opening the view \"%s\": %s", pub->view,
					strerror(errno));
	struct open_how how = {
	    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int fd = (int)syscall(SYS_openat2, vfd, rel, &how, sizeof(how));
	int err = errno;
	close(vfd);
	if (fd >= 0) {
		*ret_fd = fd;
		return 0;
	}
	if (err == ENOENT)
		return grpc_reply_error(rp, -ENOENT,
					"volume_context subpath \"%.200s\": dataset %s/%s has no "
					"directory \"%.200s\"",
					pub->subpath, pub->ns, pub->dataset, rel);
	if (err == ELOOP || err == EXDEV)
		return grpc_reply_error(rp, -EINVAL,
					"volume_context subpath \"%.200s\" crosses a symbolic link "
					"in dataset %s/%s",
					pub->subpath, pub->ns, pub->dataset);
	return grpc_reply_error(rp, err == ENOTDIR ? -ENOTDIR : -err,
				"volume_context subpath \"%.200s\" of dataset %s/%s: %s",
				pub->subpath, pub->ns, pub->dataset, strerror(err));
}

/* Takes view off the idle list. Called with p->lock held. */
static void idle_cancel_locked(struct csi_plugin *p, const char *view)
{
	struct csi_idle_view *v;
	TAILQ_FOREACH(v, &p->idle, link)
	if (strcmp(v->path, view) == 0) {
		TAILQ_REMOVE(&p->idle, v, link);
		free(v);
		return;
	}
}

/* Claims a and b (b may be NULL) for one operation. Returns false when another operation holds
 * either: the caller answers ABORTED. */
static bool busy_claim(struct csi_plugin *p, const char *a, const char *b)
{
	int err = 0;
	pthread_mutex_lock(&p->lock);
	bool free_ = !strmap_get(p->busy, a) && (!b || !strmap_get(p->busy, b));
	if (free_) {
		strmap_put(p->busy, a, p, &err);
		if (b && !err)
			strmap_put(p->busy, b, p, &err);
		if (err) {
			strmap_remove(p->busy, a);
			free_ = false;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return free_;
}

static void busy_release(struct csi_plugin *p, const char *a, const char *b)
{
	pthread_mutex_lock(&p->lock);
	strmap_remove(p->busy, a);
	if (b)
		strmap_remove(p->busy, b);
	pthread_mutex_unlock(&p->lock);
}

int csi_node_init(struct csi_plugin *p)
{
	TAILQ_INIT(&p->idle);
	/* a mount waits for the UFS's first answer */
	p->probe_timeout_ms = 2000;
	p->call_timeout_ms = 10000;
	p->mount_timeout_ms = 60000;
	p->busy = strmap_new();
	if (!p->busy)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	return 0;
}

/* ---- NodePublishVolume ---- */

/* ---- Records of published targets ----
 * <targets_dir>/<SHA-256 of the target's key (target_open), hex>: 'c' when weir-csi created the
 * directory (unpublish removes it then, and only then), 'e' when it existed; then the volume id,
 * a NUL and the target's kernel name (records from before that have none). Written with the
 * target claimed, before its mount; removed by its unpublish. They outlive a weir-csi restart, as
 * the mounts do; a record whose target went without an unpublish (a crash, a reboot) is dropped
 * at the next start (csi_node_sweep) or by the next publish there. */

static void record_path(const struct csi_plugin *p, const char *key, char *out, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
	EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(out, len, "%.4200s/%s", p->targets_dir, hex);
}

static int record_write(const struct csi_plugin *p, const char *key, const char *volume_id,
			bool created, const char *real)
{
	char path[4400], tmp[4410];
	record_path(p, key, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	size_t n = strlen(volume_id), rn = strlen(real);
	char buf[600 + PATH_MAX];
	if (n > 600 - 1 || rn >= PATH_MAX)
		return -ENAMETOOLONG; /* publish_check allows 512 bytes */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	buf[0] = created ? 'c' : 'e';
	memcpy(buf + 1, volume_id, n);
	buf[1 + n] = '\0';
	memcpy(buf + 2 + n, real, rn);
	n += 1 + rn;
	ssize_t w = write(fd, buf, 1 + n);
	int r = w == (ssize_t)(1 + n) ? 0 : w < 0 ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* The record file at path: 0 with 'c' or 'e' in *ret_kind, the volume id and the target's name
 * ("" in a record from before they had one) in ret_vol and ret_real (PATH_MAX bytes each). */
static int record_load(const char *path, char *ret_kind, char *ret_vol, char *ret_real)
{
	char buf[600 + PATH_MAX + 1];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = errno;
	close(fd);
	if (n < 1)
		return n < 0 ? -err : -ENOENT;
	buf[n] = '\0';
	*ret_kind = buf[0];
	size_t vn = strlen(buf + 1);
	snprintf(ret_vol, PATH_MAX, "%.600s", buf + 1);
	snprintf(ret_real, PATH_MAX, "%.4095s", 1 + vn < (size_t)n ? buf + 2 + vn : "");
	return 0;
}

/* The record of key: 0 with whether weir-csi created the directory and whether volume_id is the
 * one published there, -ENOENT when there is none. */
static int record_read(const struct csi_plugin *p, const char *key, const char *volume_id,
		       bool *ret_created, bool *ret_same)
{
	char path[4400], vol[PATH_MAX], real[PATH_MAX], kind;
	record_path(p, key, path, sizeof(path));
	int r = record_load(path, &kind, vol, real);
	if (r < 0)
		return r;
	*ret_created = kind == 'c';
	*ret_same = strcmp(vol, volume_id) == 0;
	return 0;
}

static void record_remove(const struct csi_plugin *p, const char *key)
{
	char path[4400];
	record_path(p, key, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("removing the record \"%s\": %s", path, strerror(errno));
}

/* "<record>.made": a publish call made the directory. Written before the target is claimed, so a
 * call that made the directory and lost the claim to one that found it (both weir-csi's, for any
 * volumes) still leaves it weir-csi's to remove; the record's 'c' or 'e' is the winner's view.
 * It counts only with a record of the volume unpublished (a mark without one, or beside another
 * volume's, is another target's that had the key; a publish that finds a stale record drops the
 * mark with it, as csi_node_sweep does at start). It is cleared before the
 * directory is removed (and written again if that fails): while the directory exists no other
 * call can make it, so no clearing erases the mark of a call that made it anew. */
static void made_path(const struct csi_plugin *p, const char *key, char *out, size_t len)
{
	char rec[4400];
	record_path(p, key, rec, sizeof(rec));
	snprintf(out, len, "%s.made", rec);
}

static void made_mark(const struct csi_plugin *p, const char *key)
{
	char path[4410];
	made_path(p, key, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

static bool made_here(const struct csi_plugin *p, const char *key)
{
	char path[4410];
	made_path(p, key, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static void made_clear(const struct csi_plugin *p, const char *key)
{
	char path[4410];
	made_path(p, key, path, sizeof(path));
	unlink(path);
}

static int target_open(const char *path, char *real, size_t len, char *key, size_t keylen);
static int publish_claimed(struct csi_plugin *p, const struct publish *ppub, int tfd,
			   const char *real, const char *key, bool created, struct grpc_reply *rp);

static int node_publish(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	const Csi__V1__NodePublishVolumeRequest *r = (const void *)msg;
	struct publish pub;
	int e = publish_check(p, r, &pub, rp);
	if (e < 0)
		return e;
	/* the spec makes the target ours to create (and to remove again if publishing fails) */
	bool created = mkdir(pub.target, 0750) == 0;
	if (!created && errno != EEXIST)
		return grpc_reply_error(rp, errno == ENOENT ? -ENOENT : -errno,
					"creating target_path \"%s\": %s", pub.target,
					strerror(errno));
	/* The directory itself, held from here to the mount: a link put in its place meanwhile
	 * is not followed, and its name as mountinfo spells it (a trailing '/' or a link in a
	 * parent makes another name for it) is what tells whether it is published. */
	char real[PATH_MAX], key[300];
	int tfd = target_open(pub.target, real, sizeof(real), key, sizeof(key));
	if (tfd < 0) {
		e = grpc_reply_error(rp, tfd == -ENOTDIR ? -ENOTDIR : tfd,
				     "target_path \"%s\" is not a directory: %s", pub.target,
				     strerror(-tfd));
		if (created)
			rmdir(pub.target);
		return e;
	}
	/* Made here: marked so, whichever call wins the claim below (unpublish removes it) */
	if (created)
		made_mark(p, key);
	/* Claimed by what the directory is, not by its name: aliases of one target published at
	 * once would each find their name free and both mount. A loser leaves the directory
	 * (another call may be mounting on it); the CO retries. */
	if (!busy_claim(p, key, pub.view)) {
		close(tfd);
		return grpc_reply_error(rp, -EINPROGRESS,
					"another operation on target_path \"%s\" or dataset %s/%s "
					"is in progress; retry",
					pub.target, pub.ns, pub.dataset);
	}
	e = publish_claimed(p, &pub, tfd, real, key, created, rp);
	busy_release(p, key, pub.view);
	return e;
}

/* A target already published (perhaps by an earlier weir-csi: the kernel's mount table is the
 * record): the same view, directory of it and read-only mode is success (the spec's idempotent
 * publish); anything else is ALREADY_EXISTS, naming what differs. */
static int republish(struct csi_plugin *p, const struct publish *pub, unsigned long tdev,
		     struct grpc_reply *rp)
{
	unsigned long vdev;
	bool weir;
	struct statvfs sv;
	if (!(fuse_mounts_at(pub->view, &vdev, &weir) > 0 && weir && vdev == tdev))
		return grpc_reply_error(rp, -EEXIST,
					"target_path \"%s\" already has another volume mounted; "
					"unpublish it first",
					pub->target);
	bool target_ro = statvfs(pub->target, &sv) == 0 && (sv.f_flag & ST_RDONLY);
	bool view_ro = statvfs(pub->view, &sv) == 0 && (sv.f_flag & ST_RDONLY);
	if (target_ro != (pub->ro || view_ro))
		return grpc_reply_error(rp, -EEXIST,
					"target_path \"%s\" already has dataset %s/%s mounted %s; "
					"unpublish it first",
					pub->target, pub->ns, pub->dataset,
					target_ro ? "read-only" : "read-write");
	/* Which directory of the view: the bind mount's root in mountinfo is the directory of
	 * the view it shows, "/" for the view itself. */
	char root[4096] = "", have[4096];
	const char *rel = "";
	int r = fuse_mounts_root(pub->target, have, sizeof(have));
	if (r <= 0)
		return grpc_reply_error(rp, r < 0 ? r : -EAGAIN,
					"reading the mount at target_path \"%s\": %s", pub->target,
					r < 0 ? strerror(-r) : "it went away; retry");
	/* The plan's root (where the view starts in the source) matters only for a subpath:
	 * the plain republish of a view's root asks weir-node nothing. */
	if (pub->has_subpath || strcmp(have, "/") != 0) {
		Weir__Response *plan = NULL;
		int e = plan_get(p, pub, &plan, root, sizeof(root), rp);
		if (e < 0)
			return e;
		weir__response__free_unpacked(plan, NULL);
		if ((e = subpath_rel(pub, root, &rel, rp)) < 0)
			return e;
	}
	if (strcmp(have + 1, rel) != 0 || have[0] != '/')
		return grpc_reply_error(rp, -EEXIST,
					"target_path \"%s\" already has dataset %s/%s mounted with "
					"subpath \"%.200s%s\", "
					"not \"%.200s\"; unpublish it first",
					pub->target, pub->ns, pub->dataset,
					root[0] || have[1] ? root : "/", have[1] ? have : "",
					pub->has_subpath && pub->subpath[0] ? pub->subpath : "/");
	return grpc_reply_set(
	    rp,
	    &(Csi__V1__NodePublishVolumeResponse)CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT.base);
}

/* Opens the directory at path without following a link in its last component (O_PATH) and
 * writes the name the kernel has for it (mountinfo's) in real, and in key what the target is for
 * the busy map: its parent directory's device and inode and its name there. That stays the same
 * whether or not something is mounted on it, whatever name it is reached by (a trailing '/', a
 * linked parent), and two targets bound to one view directory differ by it (the descriptor's own
 * st_ino is the view's once mounted). A key never starts with '/', as the views' paths do.
 * Returns the descriptor or -errno (-ENOTDIR for a link or a file). */
static int target_open(const char *path, char *real, size_t len, char *key, size_t keylen)
{
	char parent[PATH_MAX];
	if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent))
		return -ENAMETOOLONG;
	size_t n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = '\0';
	char *slash = strrchr(parent, '/');
	if (!slash || !slash[1])
		return -EINVAL; /* "/" */
	char name[NAME_MAX + 1];
	if (snprintf(name, sizeof(name), "%s", slash + 1) >= (int)sizeof(name))
		return -ENAMETOOLONG;
	if (slash == parent)
		slash[1] = '\0'; /* the parent is "/" */
	else
		*slash = '\0';
	int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	struct stat st;
	int fd = fstat(pfd, &st) < 0
		     ? -1
		     : openat(pfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int err = errno;
	close(pfd);
	if (fd < 0)
		return err == ELOOP ? -ENOTDIR : -err;
	snprintf(key, keylen, "@%llx:%llx/%s", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, name);
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t rn = readlink(proc, real, len - 1);
	if (rn < 0 || (size_t)rn >= len - 1 || real[0] != '/') {
		int e = rn < 0 ? -errno : -ENAMETOOLONG;
		close(fd);
		return e;
	}
	real[rn] = '\0';
	return fd;
}

/* The kernel's own file systems: a view bound over one of their directories would hide or
 * stand in for what the kernel shows there, and no kubelet's volume directory is on one. */
static const unsigned long kernel_fs[] = {
    PROC_SUPER_MAGIC, SYSFS_MAGIC,	CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, DEBUGFS_MAGIC,
    TRACEFS_MAGIC,    SECURITYFS_MAGIC, BPF_FS_MAGIC,	    DEVPTS_SUPER_MAGIC,
};

static bool on_kernel_fs(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return true;
	for (size_t i = 0; i < sizeof(kernel_fs) / sizeof(kernel_fs[0]); i++)
		if ((unsigned long)sf.f_type == kernel_fs[i])
			return true;
	return false;
}

/* Publishes with the target (held in tfd, closed here; its kernel name in real) and the view
 * claimed; removes the target again on failure when created. */
static int publish_claimed(struct csi_plugin *p, const struct publish *ppub, int tfd,
			   const char *real, const char *key, bool created, struct grpc_reply *rp)
{
	struct publish pub = *ppub;
	const char *asked = pub.target;
	int e;
	unsigned long tdev;
	pub.target = real;
	if (in_weir_state(p, real)) {
		e = state_refused(p, "target_path", asked, rp);
		goto fail_target;
	}
	int at = fuse_mounts_at(pub.target, &tdev, NULL);
	if (at < 0) {
		e = grpc_reply_error(rp, at, "reading mountinfo: %s", strerror(-at));
		goto fail_target;
	}
	if (at > 0) {
		bool was_created, same;
		int rr = record_read(p, key, pub.volume_id, &was_created, &same);
		if (rr >= 0 && !same)
			e = grpc_reply_error(rp, -EEXIST,
					     "target_path \"%s\" has another volume published; "
					     "unpublish it first",
					     asked);
		else
			e = republish(p, &pub, tdev, rp);
		/* published by a weir-csi that kept no records (it made the directory itself) */
		if (e >= 0 && rr == -ENOENT)
			record_write(p, key, pub.volume_id, true, real);
		close(tfd);
		return e;
	}
	if (on_kernel_fs(tfd)) {
		e = grpc_reply_error(rp, -EINVAL,
				     "target_path \"%s\" is on one of the kernel's file systems "
				     "(proc, sysfs, cgroup...)",
				     asked);
		goto fail_target;
	}

	char root[4096] = "";
	e = view_ensure(p, &pub, root, sizeof(root), rp);
	if (e < 0)
		goto fail_target;
	pthread_mutex_lock(&p->lock);
	idle_cancel_locked(p, pub.view);
	pthread_mutex_unlock(&p->lock);
	int src_fd;
	e = publish_source(&pub, root, &src_fd, rp);
	if (e < 0)
		goto fail_target;
	/* recorded before the mount: an unpublish after a crash in between still knows whether
	 * the directory is weir-csi's to remove */
	/* A record where nothing is mounted and this call did not make the directory is the
	 * last one's, whose target went without an unpublish (the kubelet removes unmounted
	 * targets after a reboot) and whose key came back with a directory weir-csi did not make:
	 * its mark goes with it, or the unpublish would remove that directory. */
	bool old_created, old_same;
	if (!created && record_read(p, key, pub.volume_id, &old_created, &old_same) >= 0)
		made_clear(p, key);
	e = record_write(p, key, pub.volume_id, created, real);
	if (e < 0) {
		if (src_fd >= 0)
			close(src_fd);
		e = grpc_reply_error(rp, e, "recording target_path \"%s\" in %s: %s", asked,
				     p->targets_dir, strerror(-e));
		goto fail_target;
	}
	/* A detached bind of the view (or its subpath), its flags set before anyone sees it: it
	 * keeps the view's (noexec, noatime...), and a pod never runs a Dataset's setuid files or
	 * opens its device nodes; then attached onto the directory held in tfd. */
	bool sub = src_fd >= 0;
	int mfd = sub ? open_tree(src_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)
		      : open_tree(AT_FDCWD, pub.view,
				  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	int merr = errno;
	if (sub)
		close(src_fd);
	if (mfd >= 0) {
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
						      (pub.ro ? MOUNT_ATTR_RDONLY : 0)};
		if (mount_setattr(mfd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0 ||
		    move_mount(mfd, "", tfd, "",
			       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			merr = errno;
		else
			merr = 0;
		close(mfd);
	}
	if (merr) {
		e = grpc_reply_error(rp, -merr, "bind-mounting \"%s%s\" on \"%s\": %s", pub.view,
				     sub ? " (subpath)" : "", pub.target, strerror(merr));
		record_remove(p, key);
		goto fail_target;
	}
	close(tfd);
	tfd = -1;
	log_info("published dataset %s/%s%s%s on \"%s\" (%s)", pub.ns, pub.dataset,
		 src_fd >= 0 ? " subpath " : "", src_fd >= 0 ? pub.subpath : "", pub.target,
		 pub.ro ? "read-only" : "read-write");
	Csi__V1__NodePublishVolumeResponse resp = CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT;
	return grpc_reply_set(rp, &resp.base);
fail_target:
	if (tfd >= 0)
		close(tfd);
	if (created) {
		/* the mark first: once the directory is gone another call may make and mark it */
		made_clear(p, key);
		if (rmdir(asked) < 0 && errno != ENOENT)
			made_mark(p, key);
	}
	return e;
}

/* True when the record named name (in targets_dir) is of the target real as it is now: real is
 * still a directory whose key is the record's, and a weir mount is on it. */
static bool record_live(const struct csi_plugin *p, const char *name, const char *real)
{
	char now[PATH_MAX], key[300], path[4400];
	int tfd = target_open(real, now, sizeof(now), key, sizeof(key));
	if (tfd < 0)
		return false;
	close(tfd);
	record_path(p, key, path, sizeof(path));
	const char *base = strrchr(path, '/');
	bool weir = false;
	unsigned long dev;
	return base && strcmp(base + 1, name) == 0 && fuse_mounts_at(now, &dev, &weir) > 0 && weir;
}

void csi_node_sweep(const struct csi_plugin *p)
{
	DIR *d = opendir(p->targets_dir);
	if (!d) {
		log_warn("sweeping \"%s\": %s", p->targets_dir, strerror(errno));
		return;
	}
	unsigned dropped = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t l = strlen(n);
		char path[4400], other[4400], kind, vol[PATH_MAX], real[PATH_MAX];
		if (l < 64 || n[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%.4200s/%s", p->targets_dir, n);
		if (l == 64) {
			/* a record from before records named their target stays (it cannot be
			 * checked); one whose target is gone, or unmounted, goes with its mark */
			if (record_load(path, &kind, vol, real) < 0 || !real[0] ||
			    record_live(p, n, real))
				continue;
			snprintf(other, sizeof(other), "%s.made", path);
			unlink(other);
		} else if (l == 69 && strcmp(n + 64, ".made") == 0) {
			/* a mark with no record: its publish never got to recording (weir-csi
			 * died, or the call that published failed) */
			snprintf(other, sizeof(other), "%.*s", (int)strlen(path) - 5, path);
			if (access(other, F_OK) == 0 || errno != ENOENT)
				continue;
		} else if (!(l == 68 && strcmp(n + 64, ".tmp") == 0)) {
			continue;
		}
		if (unlink(path) == 0)
			dropped++;
	}
	closedir(d);
	if (dropped)
		log_info("dropped %u records of targets that went without an unpublish", dropped);
}

/* ---- NodeUnpublishVolume ---- */

/* The view directory under views_dir whose device is dev, or "" when none is. */
static void view_of_dev(const struct csi_plugin *p, unsigned long dev, char *out, size_t len)
{
	out[0] = '\0';
	DIR *d = opendir(p->views_dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4600];
		unsigned long vdev;
		bool weir;
		snprintf(path, sizeof(path), "%s/%s", p->views_dir, de->d_name);
		if (fuse_mounts_at(path, &vdev, &weir) > 0 && weir && vdev == dev) {
			snprintf(out, len, "%.4390s", path);
			break;
		}
	}
	closedir(d);
}

static void idle_add(struct csi_plugin *p, const char *view)
{
	struct csi_idle_view *v = calloc(1, sizeof(*v));
	if (!v)
		return; /* the view stays up: harmless */
	snprintf(v->path, sizeof(v->path), "%s", view);
	v->deadline_ms = now_ms() + p->grace_ms;
	pthread_mutex_lock(&p->lock);
	idle_cancel_locked(p, view);
	TAILQ_INSERT_TAIL(&p->idle, v, link);
	pthread_mutex_unlock(&p->lock);
}
static int unpublish_claimed(struct csi_plugin *p, const Csi__V1__NodeUnpublishVolumeRequest *r,
			     int tfd, const char *real, const char *key, struct grpc_reply *rp);

static int node_unpublish(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	const Csi__V1__NodeUnpublishVolumeRequest *r = (const void *)msg;
	if (!*r->volume_id)
		return grpc_reply_error(rp, -EINVAL, "volume_id is empty");
	int e = path_check("target_path", r->target_path, rp);
	if (e < 0)
		return e;
	if (in_weir_state(p, r->target_path))
		return state_refused(p, "target_path", r->target_path, rp);
	/* held and named as publish does, and claimed by the same key */
	char real[PATH_MAX], key[300];
	int tfd = target_open(r->target_path, real, sizeof(real), key, sizeof(key));
	if (tfd == -ENOENT) {
		/* the spec: unknown targets are already unpublished (idempotent) */
		Csi__V1__NodeUnpublishVolumeResponse resp =
		    CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
		return grpc_reply_set(rp, &resp.base);
	}
	if (tfd < 0)
		return grpc_reply_error(rp, tfd, "target_path \"%s\" is not a directory: %s",
					r->target_path, strerror(-tfd));
	if (in_weir_state(p, real)) {
		close(tfd);
		return state_refused(p, "target_path", r->target_path, rp);
	}
	if (!busy_claim(p, key, NULL)) {
		close(tfd);
		return grpc_reply_error(rp, -EINPROGRESS,
					"another operation on target_path \"%s\" is in progress; "
					"retry",
					r->target_path);
	}
	e = unpublish_claimed(p, r, tfd, real, key, rp);
	busy_release(p, key, NULL);
	return e;
}

/* Unpublishes the target held in tfd (closed here; real: its kernel name) with it claimed. */
static int unpublish_claimed(struct csi_plugin *p, const Csi__V1__NodeUnpublishVolumeRequest *r,
			     int tfd, const char *real, const char *key, struct grpc_reply *rp)
{
	unsigned long dev = 0;
	bool weir = false, created = false, same = false;
	/* The spec: the SP deletes the directory it created there, and an unknown target is
	 * already unpublished. A directory weir-csi did not make (the record says) stays. */
	bool recorded = record_read(p, key, r->volume_id, &created, &same) >= 0;
	bool remove_dir = recorded && created;
	int e = 0, at = fuse_mounts_at(real, &dev, &weir);
	char view[4400] = "";
	if (at < 0) {
		e = grpc_reply_error(rp, at, "reading mountinfo: %s", strerror(-at));
		goto out_fd;
	}
	/* A record with nothing mounted is stale: a publish crashed before its mount is followed
	 * by a start, whose sweep drops it, so this one's target went without an unpublish and
	 * the key came back with a directory weir-csi may not have made: it stays */
	if (at == 0)
		remove_dir = false;
	if (recorded && !same && at > 0) {
		close(tfd);
		return grpc_reply_error(rp, -ENOENT,
					"volume \"%s\" is not published at target_path \"%s\" "
					"(another volume is)",
					r->volume_id, r->target_path);
	}
	if (recorded && !same) {
		/* Nothing mounted: the record outlived its target (weir-csi died between the
		 * record and the mount, or the kubelet removed an unmounted target after a
		 * reboot) and the key came back with a new directory. This volume is not
		 * published here: OK, as the spec says, or the kubelet retries a NOT_FOUND forever
		 * and the pod never terminates. The stale record goes; the directory stays. */
		close(tfd);
		made_clear(p, key);
		record_remove(p, key);
		log_info("unpublish of \"%s\" at \"%s\": nothing mounted; dropped the stale "
			 "record of another volume",
			 r->volume_id, r->target_path);
		Csi__V1__NodeUnpublishVolumeResponse resp =
		    CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
		return grpc_reply_set(rp, &resp.base);
	}
	if (at > 0) {
		view_of_dev(p, dev, view, sizeof(view));
		/* A dead weir mount (weir-node died with its keeper) is a pod's bind of a view that
		 * the next publish replaced with another device: still ours to unmount, or the
		 * kubelet retries forever and the pod never terminates. */
		struct statfs sf;
		bool dead =
		    weir && fstatfs(tfd, &sf) < 0 && (errno == ENOTCONN || errno == ECONNABORTED);
		if (!view[0] && !dead) {
			e = grpc_reply_error(rp, -EINVAL, "target_path \"%s\" is not a weir volume",
					     r->target_path);
			goto out_fd;
		}
		/* the mount held in tfd (its root), not whatever the name leads to by now; the
		 * descriptor keeps it busy, so detached (a pod's files still open would have
		 * made it busy anyway) */
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tfd);
		if (umount2(proc, MNT_DETACH) < 0) {
			e = grpc_reply_error(rp, -errno, "unmounting \"%s\": %s", r->target_path,
					     strerror(errno));
			goto out_fd;
		}
		/* published by a weir-csi that kept no records: it made the directory */
		if (!recorded)
			remove_dir = true;
	}
	close(tfd);
	tfd = -1;
	/* made by a publish call that lost the claim to the one that published this volume; a
	 * mark the record does not agree with is another target's that had this key */
	bool marked = recorded && same && at > 0 && made_here(p, key);
	if (marked)
		remove_dir = true;
	/* the mark goes before the directory: once that is gone, a publish may make it again and
	 * mark it, and that mark must stay */
	made_clear(p, key);
	if (remove_dir && rmdir(r->target_path) < 0 && errno != ENOENT) {
		int err = errno;
		if (marked)
			made_mark(p, key);
		return grpc_reply_error(rp, -err, "removing target_path \"%s\": %s", r->target_path,
					strerror(err));
	}
	if (recorded)
		record_remove(p, key);
	if (view[0] && fuse_mounts_count_dev(dev) <= 1)
		idle_add(p, view);
	log_info("unpublished \"%s\"", r->target_path);
	Csi__V1__NodeUnpublishVolumeResponse resp = CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
	return grpc_reply_set(rp, &resp.base);
out_fd:
	close(tfd);
	return e;
}

/* Stops one idle view if still no target uses it. Called with the view claimed. */
static void view_stop_idle(struct csi_plugin *p, const char *view)
{
	unsigned long dev;
	bool weir;
	/* published again meanwhile (by a weir-csi before a restart, say): keep it */
	if (fuse_mounts_at(view, &dev, &weir) <= 0 || !weir || fuse_mounts_count_dev(dev) > 1)
		return;
	Weir__UmountRequest u = WEIR__UMOUNT_REQUEST__INIT;
	u.mountpoint = (char *)view;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_UMOUNT;
	req.umount = &u;
	Weir__Response *resp = NULL;
	int r = control_call_timeout(p->node_socket, &req, p->call_timeout_ms, &resp);
	if (r < 0 || resp->error)
		log_warn("stopping the idle view \"%s\": %s", view,
			 r < 0 ? strerror(-r) : resp->message);
	else
		log_info("stopped the view \"%s\": no pod used it for %u ms", view, p->grace_ms);
	if (resp)
		weir__response__free_unpacked(resp, NULL);
	rmdir(view);
}

void csi_node_tick(void *ctx)
{
	struct csi_plugin *p = ctx;
	long long now = now_ms();
	for (;;) {
		/* one expired view at a time, claimed so no publish starts on it meanwhile (that
		 * one gets ABORTED and is retried); a view being published stays listed */
		struct csi_idle_view *v, *due = NULL;
		int err = 0;
		pthread_mutex_lock(&p->lock);
		TAILQ_FOREACH(v, &p->idle, link)
		if (v->deadline_ms <= now && !strmap_get(p->busy, v->path)) {
			strmap_put(p->busy, v->path, p, &err);
			if (!err) {
				TAILQ_REMOVE(&p->idle, v, link);
				due = v;
			}
			break;
		}
		pthread_mutex_unlock(&p->lock);
		if (!due)
			return;
		view_stop_idle(p, due->path);
		busy_release(p, due->path, NULL);
		free(due);
	}
}
void csi_node_cleanup(struct csi_plugin *p)
{
	struct csi_idle_view *v;
	while ((v = TAILQ_FIRST(&p->idle))) {
		TAILQ_REMOVE(&p->idle, v, link);
		free(v);
	}
	if (p->busy) {
		strmap_free(p->busy, NULL);
		p->busy = NULL;
		pthread_mutex_destroy(&p->lock);
	}
}
/* ---- NodeGetVolumeStats, NodeGetInfo, NodeGetCapabilities ---- */

static int node_get_volume_stats(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	const Csi__V1__NodeGetVolumeStatsRequest *r = (const void *)msg;
	if (!*r->volume_id)
		return grpc_reply_error(rp, -EINVAL, "volume_id is empty");
	if (!*r->volume_path)
		return grpc_reply_error(rp, -EINVAL, "volume_path is empty");
	struct grpc_reply scratch = {0};
	unsigned long dev;
	char view[4400] = "";
	/* the target as publish recorded it (whatever name it is given by), and only for the
	 * volume published there: the spec's NOT_FOUND is for a volume_id not at volume_path */
	char real[PATH_MAX], key[300];
	bool created, same = false;
	int tfd = path_check("volume_path", r->volume_path, &scratch) == 0
		      ? target_open(r->volume_path, real, sizeof(real), key, sizeof(key))
		      : -EINVAL;
	if (tfd >= 0) {
		close(tfd);
		/* no record: a target the weir-csi before an upgrade published (it kept none) is
		 * answered for by its weir mount, and recorded as republish would */
		bool weir = false;
		int rr = record_read(p, key, r->volume_id, &created, &same);
		if ((rr >= 0 ? same : rr == -ENOENT) && fuse_mounts_at(real, &dev, &weir) > 0 &&
		    weir)
			view_of_dev(p, dev, view, sizeof(view));
		if (view[0] && rr == -ENOENT && busy_claim(p, key, NULL)) {
			unsigned long now_dev;
			if (record_read(p, key, r->volume_id, &created, &same) == -ENOENT &&
			    fuse_mounts_at(real, &now_dev, NULL) > 0 && now_dev == dev)
				record_write(p, key, r->volume_id, true, real);
			busy_release(p, key, NULL);
		}
	}
	if (!view[0])
		return grpc_reply_error(rp, -ENOENT, "volume \"%s\" is not published at \"%s\"",
					r->volume_id, r->volume_path);
	Weir__StatRequest s = WEIR__STAT_REQUEST__INIT;
	s.mountpoint = view;
	Weir__Request req = WEIR__REQUEST__INIT;
	req.body_case = WEIR__REQUEST__BODY_STAT;
	req.stat = &s;
	Weir__Response *resp = NULL;
	int e = control_call_timeout(p->node_socket, &req, p->call_timeout_ms, &resp);
	if (e < 0 || resp->error || resp->n_views != 1) {
		if (e == 0 && !resp->error)
			e = grpc_reply_error(rp, -ENOENT, "weir-node serves no view at \"%s\"",
					     view);
		else
			e = control_error("weir-node", p->node_socket, e, resp, rp);
		goto out;
	}
	/* used: the bytes of this Dataset cached on this node; total: the tiers' quotas */
	const Weir__ViewStat *v = resp->views[0];
	uint64_t quota = 0;
	for (size_t i = 0; i < v->n_tiers; i++)
		quota += v->tiers[i]->quota;
	Csi__V1__VolumeUsage u = CSI__V1__VOLUME_USAGE__INIT;
	Csi__V1__VolumeUsage *up = &u;
	u.unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
	u.used = (int64_t)v->cached_bytes;
	u.total = (int64_t)quota;
	u.available = quota > v->cached_bytes ? (int64_t)(quota - v->cached_bytes) : 0;
	Csi__V1__NodeGetVolumeStatsResponse out = CSI__V1__NODE_GET_VOLUME_STATS_RESPONSE__INIT;
	out.usage = &up;
	out.n_usage = 1;
	e = grpc_reply_set(rp, &out.base);
out:
	if (resp)
		weir__response__free_unpacked(resp, NULL);
	return e;
}

static int node_get_info(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	struct csi_plugin *p = ctx;
	Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
	resp.node_id = p->node_id;
	return grpc_reply_set(rp, &resp.base);
}

static int node_get_capabilities(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	Csi__V1__NodeServiceCapability__RPC rpc = CSI__V1__NODE_SERVICE_CAPABILITY__RPC__INIT;
	rpc.type = CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS;
	Csi__V1__NodeServiceCapability cap = CSI__V1__NODE_SERVICE_CAPABILITY__INIT;
	cap.type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
	cap.rpc = &rpc;
	Csi__V1__NodeServiceCapability *capp = &cap;
	Csi__V1__NodeGetCapabilitiesResponse resp = CSI__V1__NODE_GET_CAPABILITIES_RESPONSE__INIT;
	resp.capabilities = &capp;
	resp.n_capabilities = 1;
	return grpc_reply_set(rp, &resp.base);
}

/* Stage, unstage and expand: not advertised, so a CO never calls them; say so if one does. */
static int unimplemented(void *ctx, const ProtobufCMessage *msg, struct grpc_reply *rp)
{
	return grpc_reply_error(rp, -ENOSYS,
				"%s is not implemented by weir-csi (not advertised "
				"in NodeGetCapabilities)",
				msg->descriptor->short_name);
}

const struct grpc_method csi_node_methods[] = {
    {"/csi.v1.Node/NodePublishVolume", &csi__v1__node_publish_volume_request__descriptor,
     node_publish, false},
    {"/csi.v1.Node/NodeUnpublishVolume", &csi__v1__node_unpublish_volume_request__descriptor,
     node_unpublish, false},
    {"/csi.v1.Node/NodeGetVolumeStats", &csi__v1__node_get_volume_stats_request__descriptor,
     node_get_volume_stats, false},
    {"/csi.v1.Node/NodeGetInfo", &csi__v1__node_get_info_request__descriptor, node_get_info, true},
    {"/csi.v1.Node/NodeGetCapabilities", &csi__v1__node_get_capabilities_request__descriptor,
     node_get_capabilities, true},
    {"/csi.v1.Node/NodeStageVolume", &csi__v1__node_stage_volume_request__descriptor, unimplemented,
     true},
    {"/csi.v1.Node/NodeUnstageVolume", &csi__v1__node_unstage_volume_request__descriptor,
     unimplemented, true},
    {"/csi.v1.Node/NodeExpandVolume", &csi__v1__node_expand_volume_request__descriptor,
     unimplemented, true},
};
const size_t csi_node_n_methods = sizeof(csi_node_methods) / sizeof(csi_node_methods[0]);
