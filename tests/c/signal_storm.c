/* A signal storm for a program that does not know about it (tests/signals.rs): preloaded
 * (LD_PRELOAD) into the `gcdn` command, it installs a SIGALRM handler (with SA_RESTART when
 * GCDN_STORM_RESTART=1) and starts a thread that sends SIGALRM to every other thread of the
 * process every millisecond, so that whichever thread blocks in a read, a write, a connect
 * or a poll is interrupted again and again. At exit it writes how many signals the handler
 * took to the file named by GCDN_STORM_OUT. Linux only (tgkill, /proc/self/task). */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_long taken;
static atomic_int stop;
static pid_t storm_tid;

static void on_alarm(int sig) {
    (void)sig;
    atomic_fetch_add(&taken, 1);
}

static void *storm(void *arg) {
    (void)arg;
    storm_tid = (pid_t)syscall(SYS_gettid);
    pid_t pid = getpid();
    const struct timespec ms = {0, 1000000};
    while (!atomic_load(&stop)) {
        DIR *tasks = opendir("/proc/self/task");
        if (tasks != NULL) {
            struct dirent *e;
            while ((e = readdir(tasks)) != NULL) {
                pid_t tid = (pid_t)atoi(e->d_name);
                if (tid > 0 && tid != storm_tid) {
                    syscall(SYS_tgkill, pid, tid, SIGALRM);
                }
            }
            closedir(tasks);
        }
        nanosleep(&ms, NULL);
    }
    return NULL;
}

__attribute__((constructor)) static void storm_start(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    const char *restart = getenv("GCDN_STORM_RESTART");
    sa.sa_flags = (restart != NULL && strcmp(restart, "1") == 0) ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    /* The storm thread itself never takes the signal. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_t t;
    pthread_create(&t, NULL, storm, NULL);
    pthread_detach(t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

__attribute__((destructor)) static void storm_stop(void) {
    atomic_store(&stop, 1);
    const char *out = getenv("GCDN_STORM_OUT");
    if (out != NULL) {
        FILE *f = fopen(out, "w");
        if (f != NULL) {
            fprintf(f, "%ld\n", atomic_load(&taken));
            fclose(f);
        }
    }
}
