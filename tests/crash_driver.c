/* crash_driver.c - runs a program that is expected to die by a signal.
 *
 *   gort_crash_driver <expected-signal> <program> [args...]
 *
 * <expected-signal> is a number (6) or a name (SIGABRT, ABRT). The program runs
 * with its stderr merged into its stdout through a pipe; everything it prints
 * is relayed to our stdout. Exit 0 when the program was killed by the expected
 * signal; otherwise print a line starting with "gort_crash_driver: FAILED"
 * saying what happened and exit 1. After GORT_CRASH_TIMEOUT seconds (default
 * 60) the program is killed and the driver fails.
 *
 * ctest counts a test killed by a signal as failed whatever its properties say,
 * hence this driver (DESIGN.md section 5). Core dumps are disabled in the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "gort_crash_driver: "

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"SYS", SIGSYS},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};

static const char *signal_name(int sig) {
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (signals[i].num == sig)
            return signals[i].name;
    return "?";
}

static int parse_signal(const char *s) {
    char *end;
    long n = strtol(s, &end, 10);
    if (*s != '\0' && *end == '\0')
        return n > 0 && n < 65 ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (strcasecmp(s, signals[i].name) == 0)
            return signals[i].num;
    return -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s <expected-signal> <program> [args...]\n", argv[0]);
        return 2;
    }
    int expected = parse_signal(argv[1]);
    if (expected < 0) {
        fprintf(stderr, PREFIX "FAILED: bad signal '%s'\n", argv[1]);
        return 2;
    }
    double timeout = 60;
    const char *t = getenv("GORT_CRASH_TIMEOUT");
    if (t && atof(t) > 0)
        timeout = atof(t);

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror(PREFIX "FAILED: pipe");
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror(PREFIX "FAILED: fork");
        return 1;
    }
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(SIGPIPE, SIG_DFL);
        dup2(fds[1], STDOUT_FILENO); /* dup2 clears O_CLOEXEC on the copies */
        dup2(fds[1], STDERR_FILENO);
        execvp(argv[2], argv + 2);
        dprintf(STDERR_FILENO, PREFIX "FAILED: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    close(fds[1]);

    /* Relay until EOF (every writer closed) or the deadline. */
    double deadline = now_s() + timeout;
    int timed_out = 0;
    char buf[4096];
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            perror(PREFIX "poll");
            break;
        }
        if (r == 0)
            continue;
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        write_all(STDOUT_FILENO, buf, (size_t)n);
    }
    if (timed_out)
        kill(pid, SIGKILL);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror(PREFIX "FAILED: waitpid");
            return 1;
        }
    }
    close(fds[0]);

    if (timed_out) {
        printf(PREFIX "FAILED: %s did not finish within %g s (killed)\n", argv[2], timeout);
        return 1;
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == expected) {
        printf(PREFIX "ok: %s was killed by signal %d (SIG%s) as expected\n", argv[2], expected,
               signal_name(expected));
        return 0;
    }
    if (WIFSIGNALED(status))
        printf(PREFIX "FAILED: %s was killed by signal %d (SIG%s), expected signal %d (SIG%s)\n",
               argv[2], WTERMSIG(status), signal_name(WTERMSIG(status)), expected,
               signal_name(expected));
    else
        printf(PREFIX "FAILED: %s exited with status %d, expected signal %d (SIG%s)\n", argv[2],
               WEXITSTATUS(status), expected, signal_name(expected));
    return 1;
}
