#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <errno.h>
#include <sys/wait.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <stdint.h>
#include "host_shim.h"

const int lockstep_O_NOATIME = O_NOATIME;
const int lockstep_O_PATH = O_PATH;
const int lockstep_O_DIRECT = O_DIRECT;
const int lockstep_SEEK_DATA = SEEK_DATA;
const int lockstep_SEEK_HOLE = SEEK_HOLE;

ssize_t lockstep_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }
ssize_t lockstep_lgetxattr(const char *path, const char *name, void *value, size_t size) { return lgetxattr(path, name, value, size); }
int lockstep_lsetxattr(const char *path, const char *name, const void *value, size_t size) { return lsetxattr(path, name, value, size, 0); }
int lockstep_fsetxattr(int fd, const char *name, const void *value, size_t size) { return fsetxattr(fd, name, value, size, 0); }
ssize_t lockstep_flistxattr(int fd, char *list, size_t size) { return flistxattr(fd, list, size); }
ssize_t lockstep_fgetxattr(int fd, const char *name, void *value, size_t size) { return fgetxattr(fd, name, value, size); }
int lockstep_fremovexattr(int fd, const char *name) { return fremovexattr(fd, name); }
ssize_t lockstep_getdents64(int fd, void *buffer, size_t size) { return syscall(SYS_getdents64, fd, buffer, size); }

/* Numbers shared by every architecture for calls added after 5.x; glibc 2.36 has no wrappers. */
#if defined(__x86_64__) || defined(__aarch64__)
#define LOCKSTEP_SYS_GETXATTRAT 464
#define LOCKSTEP_SYS_LISTXATTRAT 465
#endif

ssize_t lockstep_llistxattrat(int dirfd, const char *entry, char *list, size_t size) {
#ifdef LOCKSTEP_SYS_LISTXATTRAT
    return syscall(LOCKSTEP_SYS_LISTXATTRAT, dirfd, entry, AT_SYMLINK_NOFOLLOW, list, size);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* The kernel's struct xattr_args. */
struct lockstep_xattr_args {
    uint64_t value;
    uint32_t size;
    uint32_t flags;
};

ssize_t lockstep_lgetxattrat(int dirfd, const char *entry, const char *name, void *value, size_t size) {
#ifdef LOCKSTEP_SYS_GETXATTRAT
    struct lockstep_xattr_args args = { (uint64_t)(uintptr_t)value, (uint32_t)size, 0 };
    return syscall(LOCKSTEP_SYS_GETXATTRAT, dirfd, entry, AT_SYMLINK_NOFOLLOW, name, &args, sizeof(args));
#else
    errno = ENOSYS;
    return -1;
#endif
}
int lockstep_mknodat(int dirfd, const char *name, unsigned int mode, unsigned long long dev) { return mknodat(dirfd, name, mode, (dev_t)dev); }

void lockstep_tune_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_ARENA_MAX, 2);
}

void lockstep_release_free_memory(void) { malloc_trim(0); }

long long lockstep_fs_type(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -1;
    return (long long)(unsigned long)fs.f_type;
}

static volatile sig_atomic_t lockstep_signal = 0;

static void lockstep_on_signal(int number) {
    if (lockstep_signal == 0) lockstep_signal = number;
}

static void lockstep_ignore_signal(int number) { (void)number; }

void lockstep_trap_signals(void) {
    struct sigaction action;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    action.sa_handler = lockstep_on_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGHUP, &action, NULL);   /* the administrator's SSH session dropped */
    /* A closed output pipe must not kill lockstep inside the window: writes fail with EPIPE. */
    struct sigaction quiet;
    sigemptyset(&quiet.sa_mask);
    quiet.sa_flags = SA_RESTART;
    quiet.sa_handler = lockstep_ignore_signal;
    sigaction(SIGPIPE, &quiet, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int lockstep_pending_signal(void) { return lockstep_signal; }

extern char **environ;

int lockstep_spawn_shell(const char *command, int outfd) {
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    return lockstep_spawn("/bin/sh", argv, environ, -1, outfd, outfd);
}

static void lockstep_child_attributes(posix_spawnattr_t *attr) {
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(attr, &empty);
    posix_spawnattr_setsigdefault(attr, &defaults);
    posix_spawnattr_setpgroup(attr, 0);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
}

int lockstep_spawn(const char *file, char *const argv[], char *const envp[], int infd, int outfd, int errfd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    int fds[3] = {infd, outfd, errfd};
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0) posix_spawn_file_actions_addopen(&actions, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
        else posix_spawn_file_actions_adddup2(&actions, fds[i], i);
    }
    posix_spawnattr_init(&attr);
    lockstep_child_attributes(&attr);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, file, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? (int)pid : -rc;
}

int lockstep_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int lockstep_try_wait(int pid, int *status) {
    int raw = 0;
    pid_t r = waitpid((pid_t)pid, &raw, WNOHANG);
    if (r == 0) return 0;
    if (r < 0) return -1;
    *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    return 1;
}
