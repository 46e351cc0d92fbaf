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
	char **av = calloc((size_t)nargs + 4, sizeof(char *));
	if (!av)
		return -ENOMEM;
	av[0] = (char *)t->name;
	av[1] = "--state-dir";
	av[2] = (char *)t->state_dir;
	for (int i = 0; i < nargs; i++)
		av[3 + i] = args[i];
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
		execvp(bin, av);
		fprintf(stderr, "weir: cannot run \"%s\": %s\n", bin, strerror(errno));
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
