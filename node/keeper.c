// SPDX-License-Identifier: Apache-2.0
// weir-keeper: the small, dumb process `weir mount` and `weir up` leave a daemon under. It
// restarts the daemon when it dies (not when it exits 0: that is a stop) and holds what the
// daemon puts in its store (lib/fdstore.h): for weir-node, each view's /dev/fuse descriptor and
// journal, so the connection outlives the process and the next weir-node takes it over. It
// parses nothing it keeps: the less it does, the less can kill it.
// With --listen it runs no daemon: it holds the store on a Unix socket that each weir-node
// connects to (keeper-socket), so the store can live in another container or pod than the
// daemon, whose image can then change without ending the views.
// With --no-store it only restarts the daemon, at once, and holds nothing: the daemon keeps its
// views with a --listen keeper elsewhere (the chart's weir-node container, whose keeper is a
// DaemonSet of its own), so a crash is not left to the kubelet's restart back-off.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdstore.h"
#include "log.h"

/* A daemon that dies within KEEPER_STABLE_MS of its start is restarted after a delay that
 * doubles with each such death, up to KEEPER_MAX_DELAY_MS; except the first such death of one
 * that had said it was serving (FDSTORE_READY): that is a crash to recover from at once. */
#define KEEPER_MAX_DELAY_MS 5000
#define KEEPER_STABLE_MS 1000

struct entry {
	struct fdstore_msg m; /* op unused; name, blob and descriptors kept */
	LIST_ENTRY(entry) link;
};

struct keeper {
	char **argv; /* the daemon's command line; argv[0] is run again at each start, so a
		      * binary replaced on disk is what the next start runs (an upgrade) */
	const char *name;
	char pid_path[PATH_MAX];
	LIST_HEAD(, entry) entries;
	pid_t child;
	int sock; /* our end of the child's store socket, -1 when none */
	uint64_t started_ms, restart_at_ms;
	unsigned delay_ms;
	unsigned quick; /* deaths in a row, each within KEEPER_STABLE_MS of its start */
	unsigned restarts;
	bool stopping, upgrade;
	bool no_store; /* --no-store: the daemon gets no store socket (its store is elsewhere) */
	bool ready;    /* the current child said FDSTORE_READY */
	bool ever_up;  /* some child was ready, or ran KEEPER_STABLE_MS: a death is a crash */
	sigset_t blocked;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct entry *find(struct keeper *k, const char *name)
{
	struct entry *e;
	LIST_FOREACH(e, &k->entries, link)
	if (strcmp(e->m.name, name) == 0)
		return e;
	return NULL;
}

static void drop(struct entry *e)
{
	LIST_REMOVE(e, link);
	fdstore_msg_clear(&e->m);
	free(e);
}

static void drop_all(struct keeper *k)
{
	while (!LIST_EMPTY(&k->entries))
		drop(LIST_FIRST(&k->entries));
}

static int start_child(struct keeper *k)
{
	int sv[2] = {-1, -1};
	if (!k->no_store && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		return r;
	}
	if (pid == 0) {
		/* The daemon's end survives exec; the blocked signals must not. */
		if (sv[1] >= 0) {
			char num[16];
			int fd = fcntl(sv[1], F_DUPFD, 3); /* without O_CLOEXEC */
			snprintf(num, sizeof(num), "%d", fd);
			setenv(FDSTORE_ENV, num, 1);
		} else {
			/* not one an outer keeper gave us: that store is not the daemon's */
			unsetenv(FDSTORE_ENV);
		}
		sigprocmask(SIG_UNBLOCK, &k->blocked, NULL);
		execvp(k->argv[0], k->argv);
		fprintf(stderr, "weir-keeper: cannot run \"%s\": %s\n", k->argv[0],
			strerror(errno));
		_exit(127);
	}
	if (sv[1] >= 0)
		close(sv[1]);
	k->sock = sv[0];
	k->child = pid;
	k->ready = false;
	k->started_ms = now_ms();
	log_info("started %s (pid %d)%s", k->name, (int)pid,
		 k->restarts ? ", which takes over what the last one left" : "");
	return 0;
}

static void handle_msg(struct keeper *k)
{
	struct fdstore_msg m;
	int r = fdstore_recv(k->sock, &m);
	if (r == -ENODATA || (r < 0 && r != -EBADMSG && r != -ENOMEM)) {
		close(k->sock); /* the daemon is going; SIGCHLD follows */
		k->sock = -1;
		return;
	}
	if (r < 0) {
		log_warn("dropped a malformed message from %s: %s", k->name, strerror(-r));
		return;
	}
	struct entry *e = m.name[0] ? find(k, m.name) : NULL;
	switch (m.op) {
	case FDSTORE_PUT:
		if (e)
			drop(e);
		e = calloc(1, sizeof(*e));
		if (!e) {
			log_err("out of memory: not keeping \"%s\"", m.name);
			break;
		}
		e->m = m;
		LIST_INSERT_HEAD(&k->entries, e, link);
		log_debug("keeping \"%s\" (%u descriptors)", m.name, m.nfds);
		return; /* m is the entry's now */
	case FDSTORE_DEL:
		if (e)
			drop(e);
		break;
	case FDSTORE_READY:
		k->ready = true;
		break;
	case FDSTORE_LIST:
		LIST_FOREACH(e, &k->entries, link)
		{
			r = fdstore_send(k->sock, FDSTORE_ENTRY, e->m.name, e->m.blob,
					 e->m.blob_len, e->m.fds, e->m.nfds);
			if (r < 0)
				log_warn("handing \"%s\" to %s: %s", e->m.name, k->name,
					 strerror(-r));
		}
		fdstore_send(k->sock, FDSTORE_END, NULL, NULL, 0, NULL, 0);
		break;
	default:
		log_warn("dropped message %u from %s: unknown", m.op, k->name);
	}
	fdstore_msg_clear(&m);
}

/* The child died: returns true when the keeper's work is over (a stop), else schedules the
 * restart. *ret_rc is the status to exit with. */
static bool child_died(struct keeper *k, int status, int *ret_rc)
{
	k->child = 0;
	if (k->sock >= 0) {
		close(k->sock);
		k->sock = -1;
	}
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	uint64_t lived = now_ms() - k->started_ms;
	if (k->ready || lived >= KEEPER_STABLE_MS)
		k->ever_up = true;
	if (!k->ever_up && !k->stopping && !clean) {
		/* It never came up: a start that fails (a full disk, a bad flag), which whoever
		 * started us reports from its log; restarting would only hide it. */
		log_err("%s failed at its first start (%s %d): not restarting it", k->name,
			WIFSIGNALED(status) ? "signal" : "status",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		*ret_rc = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
		return true;
	}
	if (k->stopping || clean || (WIFEXITED(status) && WEXITSTATUS(status) == 2)) {
		/* A stop, or a configuration it will refuse again: nothing to restart. */
		*ret_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		if (!clean && !k->stopping)
			log_err("%s exited with status 2 (a bad configuration): not restarting it",
				k->name);
		return true;
	}
	/* Deaths in quick succession back off (a request that kills it is resent to the next
	 * one, which would die of it again), except the first after a daemon was ready. */
	if (k->upgrade || lived >= KEEPER_STABLE_MS)
		k->quick = 0;
	else
		k->quick++;
	if (k->quick == 0 || (k->quick == 1 && k->ready))
		k->delay_ms = 0;
	else
		k->delay_ms = k->quick > 7 ? KEEPER_MAX_DELAY_MS : 100u << (k->quick - 1);
	if (k->delay_ms > KEEPER_MAX_DELAY_MS)
		k->delay_ms = KEEPER_MAX_DELAY_MS;
	k->restarts++;
	if (k->upgrade)
		log_notice("restarting %s from \"%s\" (upgrade)", k->name, k->argv[0]);
	else if (WIFSIGNALED(status))
		log_warn("%s was killed by signal %d after %llu ms; restarting it in %u ms",
			 k->name, WTERMSIG(status), (unsigned long long)lived, k->delay_ms);
	else
		log_warn("%s exited with status %d after %llu ms; restarting it in %u ms", k->name,
			 WEXITSTATUS(status), (unsigned long long)lived, k->delay_ms);
	k->upgrade = false;
	k->restart_at_ms = now_ms() + k->delay_ms;
	return false;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weir-keeper --state-dir DIR --name NAME -- PROGRAM [ARGS...]\n"
		"       weir-keeper --state-dir DIR --name NAME --no-store -- PROGRAM [ARGS...]\n"
		"       weir-keeper --state-dir DIR --name NAME --listen SOCKET\n"
		"  runs PROGRAM, restarts it when it dies (exit 0 is a stop), and holds the\n"
		"  descriptors it stores (the FD $" FDSTORE_ENV " names) for its next start.\n"
		"  SIGHUP restarts it from PROGRAM on disk (an upgrade); SIGTERM stops it.\n"
		"  --listen: runs nothing; holds the store for whichever daemon (root) last\n"
		"  connected to SOCKET (weir-node's keeper-socket), so it outlives the daemon's\n"
		"  container.\n"
		"  --no-store: holds no store; PROGRAM keeps its descriptors with a --listen\n"
		"  keeper (weir-node's keeper-socket), and a crash is restarted at once.\n"
		"  Pid in DIR/NAME-keeper.pid.\n");
}

/* The store socket of --listen: root's alone (mode 0600, and peers checked). */
static int listen_socket(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat st;
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST; /* not ours to remove */
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* created 0600 by bind itself: a listener that stats the socket as soon as it appears
	 * never sees another mode (with 077 it was 0700 until the chmod) */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 4) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A daemon connects: it replaces the one before (gone, or going: a new pod's weir-node takes
 * the views over from here). */
static void accept_daemon(struct keeper *k, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != 0) {
		log_warn("refused a connection from uid %d: the store is root's",
			 len == sizeof(cr) ? (int)cr.uid : -1);
		close(fd);
		return;
	}
	if (k->sock >= 0) {
		log_info("%s pid %d connected; the previous one's connection is closed", k->name,
			 (int)cr.pid);
		close(k->sock);
	} else {
		log_info("%s pid %d connected", k->name, (int)cr.pid);
	}
	k->sock = fd;
}

/* --listen: hold the store for the daemons that connect, until SIGTERM (then the views end). */
static int serve_listen(struct keeper *k, const char *path, int sfd)
{
	int lfd = listen_socket(path);
	if (lfd < 0) {
		log_err("cannot listen on \"%s\": %s", path, strerror(-lfd));
		return 1;
	}
	log_info("holding %s's store on \"%s\"", k->name, path);
	for (;;) {
		struct pollfd p[3] = {{.fd = sfd, .events = POLLIN},
				      {.fd = lfd, .events = POLLIN},
				      {.fd = k->sock, .events = POLLIN}};
		if (poll(p, k->sock >= 0 ? 3 : 2, -1) < 0 && errno != EINTR)
			break;
		if (k->sock >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
			handle_msg(k);
		if (p[1].revents & POLLIN)
			accept_daemon(k, lfd);
		struct signalfd_siginfo si;
		if ((p[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT))
			break;
	}
	close(lfd);
	unlink(path);
	if (k->sock >= 0)
		close(k->sock);
	return 0;
}

int main(int argc, char **argv)
{
	struct keeper k = {.sock = -1};
	const char *state_dir = NULL, *listen_path = NULL;
	int i;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			listen_path = argv[++i];
		} else if (!strcmp(argv[i], "--no-store")) {
			k.no_store = true;
		} else if (!strcmp(argv[i], "--") && i + 1 < argc) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc) {
			state_dir = argv[++i];
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			k.name = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "weir-keeper: unexpected argument \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!state_dir || !k.name || (i >= argc) == !listen_path || strchr(k.name, '/') ||
	    (k.no_store && listen_path)) {
		usage(stderr);
		return 2;
	}
	k.argv = listen_path ? NULL : argv + i;
	LIST_INIT(&k.entries);
	log_init("weir-keeper", LOG_INFO, 0);
	if (snprintf(k.pid_path, sizeof(k.pid_path), "%s/%s-keeper.pid", state_dir, k.name) >=
	    (int)sizeof(k.pid_path)) {
		fprintf(stderr, "weir-keeper: state directory path too long\n");
		return 2;
	}
	sigemptyset(&k.blocked);
	sigaddset(&k.blocked, SIGCHLD);
	sigaddset(&k.blocked, SIGTERM);
	sigaddset(&k.blocked, SIGINT);
	sigaddset(&k.blocked, SIGHUP);
	sigprocmask(SIG_BLOCK, &k.blocked, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &k.blocked, SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}
	int pfd = open(k.pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (pfd >= 0) {
		dprintf(pfd, "%d\n", (int)getpid());
		close(pfd);
	}
	int rc = 0;
	if (listen_path) {
		rc = serve_listen(&k, listen_path, sfd);
		goto out;
	}
	int r = start_child(&k);
	if (r < 0) {
		log_err("cannot start %s: %s", k.name, strerror(-r));
		rc = 1;
		goto out;
	}
	for (;;) {
		if (!k.child && k.restart_at_ms && now_ms() >= k.restart_at_ms) {
			k.restart_at_ms = 0;
			r = start_child(&k);
			if (r < 0) {
				log_err("cannot restart %s: %s; trying again", k.name,
					strerror(-r));
				k.restart_at_ms = now_ms() + KEEPER_MAX_DELAY_MS;
			}
		}
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
				      {.fd = k.sock, .events = POLLIN}};
		int timeout = -1;
		if (!k.child && k.restart_at_ms) {
			uint64_t now = now_ms();
			timeout = k.restart_at_ms > now ? (int)(k.restart_at_ms - now) : 0;
		}
		if (poll(p, k.sock >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			break;
		if (k.sock >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			handle_msg(&k);
		if (!(p[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			k.stopping = true;
			if (!k.child)
				break;
			kill(k.child, SIGTERM);
		} else if (si.ssi_signo == SIGHUP && k.child) {
			/* Killed at any instant like a crash, which is what a takeover recovers
			 * from; the next start runs whatever binary is on disk now. */
			k.upgrade = true;
			kill(k.child, SIGKILL);
		} else if (si.ssi_signo == SIGCHLD) {
			int status;
			pid_t pid;
			bool done = false;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				if (pid == k.child && child_died(&k, status, &rc))
					done = true;
			if (done)
				break;
		}
	}
out:
	drop_all(&k);
	unlink(k.pid_path);
	log_info("stopped (%s restarted %u times)", k.name, k.restarts);
	return rc;
}
