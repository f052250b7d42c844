/* Child processes for tests and benchmarks that need a server on loopback (the fault stub,
 * llama-server): start one with its stdin and stdout on pipes, stop it whatever happens. A
 * header of static functions shared by tests/test_openai.c and bench/http/bench_http.c. */
#ifndef ISYNTH_TEST_CHILD_H
#define ISYNTH_TEST_CHILD_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct child {
    pid_t pid;
    int stdin_fd; /* held open: the stub exits when it closes */
    int port;
} child;

/* Starts argv[0] with stdout on a pipe (when want_port) and dies with us (PDEATHSIG). */
static pid_t spawn(char *const argv[], int *stdin_fd, int *stdout_fd, const char *log)
{
    int in[2], out[2] = {-1, -1};
    if (pipe(in)) return -1;
    if (stdout_fd && pipe(out)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        close(in[1]);
        if (stdout_fd) {
            dup2(out[1], 1);
            close(out[0]);
        }
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            if (!stdout_fd) dup2(fd, 1);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    *stdin_fd = in[1];
    if (stdout_fd) {
        close(out[1]);
        *stdout_fd = out[0];
    }
    return pid;
}

static void stop_child(child *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        for (int i = 0; i < 50; i++) {
            if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
                c->pid = 0;
                break;
            }
            usleep(100000);
        }
        if (c->pid > 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
        }
    }
    if (c->stdin_fd >= 0) close(c->stdin_fd);
    c->pid = 0;
    c->stdin_fd = -1;
}

/* A TCP port on 127.0.0.1 that was free a moment ago (the server binds it next). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (void *)&a, &len))
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

#endif
