// SPDX-License-Identifier: Apache-2.0
// Daemon start-up for the CLI; the daemons themselves never fork: the CLI detaches them.
#include "spawn.h"
#include "safe_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void spawn_state_dir(const char *arg, char *out, size_t len)
{
	const char *s = arg;
	if (!s || !*s)
		s = getenv("WEIR_STATE_DIR");
	if (!s || !*s)
		s = "/var/lib/weir";
	snprintf(out, len, "%s", s);
}

static int find_bin(const struct spawn_target *t, char *out, size_t len)
{
	const char *env = getenv(t->env);
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = dirname(self);
		for (const char *const *r = t->rel; *r; r++) {
			snprintf(out, len, "%s/%s", dir, *r);
			if (access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, len, "%s", t->name); /* execvp searches PATH */
	return 0;
}

/* weir-keeper: $WEIR_KEEPER_BIN, else next to the daemon's binary daemon_bin (a build tree,
 * an install), else as find_bin looks next to this binary. */
static int keeper_bin(const struct spawn_target *kt, const char *daemon_bin, char *out, size_t len)
{
	const char *env = getenv(kt->env);
	if (!(env && *env) && strchr(daemon_bin, '/')) {
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s", daemon_bin);
		snprintf(out, len, "%s/weir-keeper", dirname(d));
		if (access(out, X_OK) == 0)
			return 0;
	}
	return find_bin(kt, out, len);
}

static void print_log_tail(const struct spawn_target *t, int status)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", t->state_dir, t->log_name);
	FILE *f = fopen(path, "re");
	char lines[8][512];
	int n = 0;
	if (f) {
		while (fgets(lines[n % 8], sizeof(lines[0]), f))
			n++;
		fclose(f);
	}
	for (int i = n > 8 ? n - 8 : 0; i < n; i++)
		fprintf(stderr, "  %s", lines[i % 8]);
	if (n > 0)
		return;
	/* Nothing logged: most likely there was no room to log it in. */
	struct statvfs vfs;
	if (statvfs(t->state_dir, &vfs) == 0 && (vfs.f_bavail == 0 || vfs.f_favail == 0))
		fprintf(stderr,
			"  (nothing: the state directory \"%s\" is full, %s left; free space there "
			"and run it again)\n",
			t->state_dir, vfs.f_bavail == 0 ? "no bytes" : "no inodes");
	else if (WIFEXITED(status))
		fprintf(stderr, "  (nothing; it exited with status %d)\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "  (nothing; it was killed by signal %d)\n", WTERMSIG(status));
}

int spawn_daemon(const struct spawn_target *t, char *const *args, int nargs, bool foreground,
		 pid_t *ret_pid)
{
	char derr[512];
	int dr = safe_dir_ensure(t->state_dir, derr, sizeof(derr));
	if (dr < 0) {
		fprintf(stderr, "weir: state directory: %s\n", derr);
		return dr;
	}
	char bin[PATH_MAX];
	if (find_bin(t, bin, sizeof(bin)) < 0) {
		fprintf(stderr, "weir: $%s \"%s\" is not an executable\n", t->env, bin);
		return -ENOENT;
	}
	char keeper[PATH_MAX];
	static const char *const keeper_rel[] = {"weir-keeper", "../weir-keeper",
						 "../sbin/weir-keeper", NULL};
	const struct spawn_target kt = {
	    .name = "weir-keeper", .env = "WEIR_KEEPER_BIN", .rel = keeper_rel};
	if (t->keeper_name && keeper_bin(&kt, bin, keeper, sizeof(keeper)) < 0) {
		fprintf(stderr, "weir: $WEIR_KEEPER_BIN \"%s\" is not an executable\n", keeper);
		return -ENOENT;
	}
	char **av = calloc((size_t)nargs + 10, sizeof(char *));
	if (!av)
		return -ENOMEM;
	int k = 0;
	if (t->keeper_name) {
		/* The keeper runs the daemon by its path: a restart runs what is there then. */
		av[k++] = "weir-keeper";
		av[k++] = "--state-dir";
		av[k++] = (char *)t->state_dir;
		av[k++] = "--name";
		av[k++] = (char *)t->keeper_name;
		av[k++] = "--";
		av[k++] = bin;
	} else {
		av[k++] = (char *)t->name;
	}
	av[k++] = "--state-dir";
	av[k++] = (char *)t->state_dir;
	for (int i = 0; i < nargs; i++)
		av[k++] = args[i];
	pid_t pid = fork();
	if (pid < 0) {
		free(av);
		return -errno;
	}
	if (pid == 0) {
		if (!foreground) {
			setsid();
			char logp[PATH_MAX + 64];
			snprintf(logp, sizeof(logp), "%s/%s", t->state_dir, t->log_name);
			/* 0600: a log line is redacted, but it still names paths and tenants */
			int lfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (lfd >= 0)
				fchmod(lfd, 0600);
			int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (nfd >= 0)
				dup2(nfd, 0);
			if (lfd >= 0) {
				dup2(lfd, 1);
				dup2(lfd, 2);
			}
		}
		const char *run = t->keeper_name ? keeper : bin;
		execvp(run, av);
		fprintf(stderr, "weir: cannot run \"%s\": %s\n", run, strerror(errno));
		_exit(127);
	}
	free(av);
	for (int i = 0; i < 200; i++) {
		if (t->alive(t->ctx)) {
			*ret_pid = foreground ? pid : 0;
			return 0;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "weir: %s exited at start; its log (%s/%s) says:\n",
				t->name, t->state_dir, t->log_name);
			print_log_tail(t, status);
			return -ECHILD;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "weir: %s did not answer on \"%s\" within 10 s; see %s/%s\n", t->name,
		t->socket_path, t->state_dir, t->log_name);
	return -ETIMEDOUT;
}

pid_t spawn_keeper_pid(const char *state_dir, const char *keeper_name)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s-keeper.pid", state_dir, keeper_name);
	FILE *f = fopen(path, "re");
	int pid = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	char cmd[256] = "";
	f = fopen(path, "re");
	size_t n = f ? fread(cmd, 1, sizeof(cmd) - 1, f) : 0;
	if (f)
		fclose(f);
	cmd[n] = '\0';
	return strstr(cmd, "weir-keeper") ? (pid_t)pid : 0;
}
