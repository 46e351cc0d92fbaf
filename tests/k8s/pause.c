// SPDX-License-Identifier: Apache-2.0
// The test cluster's pod sandbox image (tests/k8s/images.sh links it statically): holds the pod's
// namespaces until the runtime stops it, reaps orphans (it is PID 1 when the pod shares its PID
// namespace), and exits 0 on SIGTERM or SIGINT so a sandbox stops at once.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

static void on_child(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction stop = {.sa_handler = on_stop};
	struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
	if (sigaction(SIGTERM, &stop, NULL) < 0 || sigaction(SIGINT, &stop, NULL) < 0 ||
	    sigaction(SIGCHLD, &child, NULL) < 0)
		return 1;
	for (;;)
		pause();
}
