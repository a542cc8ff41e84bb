#ifndef LOCKSTEP_HOST_SHIM_H
#define LOCKSTEP_HOST_SHIM_H
#include <sys/types.h>
#include <stddef.h>

/* Linux calls and constants that Swift's Glibc module does not export without _GNU_SOURCE. */
extern const int lockstep_O_NOATIME;
extern const int lockstep_O_PATH;
extern const int lockstep_O_DIRECT;
extern const int lockstep_SEEK_DATA;
extern const int lockstep_SEEK_HOLE;
ssize_t lockstep_llistxattr(const char *path, char *list, size_t size);
ssize_t lockstep_lgetxattr(const char *path, const char *name, void *value, size_t size);
int lockstep_lsetxattr(const char *path, const char *name, const void *value, size_t size);
int lockstep_fsetxattr(int fd, const char *name, const void *value, size_t size);
ssize_t lockstep_flistxattr(int fd, char *list, size_t size);
ssize_t lockstep_fgetxattr(int fd, const char *name, void *value, size_t size);
int lockstep_fremovexattr(int fd, const char *name);
/* The raw getdents64 call: struct linux_dirent64 records (u64 ino, s64 off, u16 reclen, u8 type,
   NUL-terminated name) read from the descriptor's position; 0 at the end, -1 and errno. */
ssize_t lockstep_getdents64(int fd, void *buffer, size_t size);
/* listxattrat / getxattrat (Linux 6.13) on an entry of an open directory, not following a
   final symlink: no path walk per entry. -1 with errno ENOSYS on older kernels. */
ssize_t lockstep_llistxattrat(int dirfd, const char *entry, char *list, size_t size);
ssize_t lockstep_lgetxattrat(int dirfd, const char *entry, const char *name, void *value, size_t size);
int lockstep_mknodat(int dirfd, const char *name, unsigned int mode, unsigned long long dev);
/* The file system type (statfs f_type) of path; -1 when it cannot be told. */
long long lockstep_fs_type(const char *path);
/* Catch SIGINT, SIGTERM and SIGHUP (and survive SIGPIPE) with a handler that only records the first one (handlers, unlike an
   ignored disposition, are reset in exec'd children, so services lockstep starts hear them), and
   unblock both in the calling thread. */
void lockstep_trap_signals(void);
/* The first signal caught since lockstep_trap_signals, or 0. */
int lockstep_pending_signal(void);
/* Starts `/bin/sh -c command` with stdin from /dev/null and stdout/stderr to outfd, in a new
   process group, with an empty signal mask and default dispositions for INT, TERM, HUP and PIPE
   whatever lockstep's own threads block or ignore. Returns the pid, or -errno. */
int lockstep_spawn_shell(const char *command, int outfd);
/* Starts `file` (searched in PATH) with argv and envp (NULL-terminated), stdin/stdout/stderr from
   the given fds (-1: /dev/null), in a new process group, with the same signal settings as
   lockstep_spawn_shell. Returns the pid, or -errno. */
int lockstep_spawn(const char *file, char *const argv[], char *const envp[], int infd, int outfd, int errfd);
/* pipe2(fds, O_CLOEXEC). */
int lockstep_pipe_cloexec(int fds[2]);
/* waitpid(pid, WNOHANG): 1 and the exit status (128+signal if killed) when it ended, 0 if it
   still runs, -1 on error. */
int lockstep_try_wait(int pid, int *status);
/* Serve buffers up to 8 MiB (chunks, sealed blobs) from glibc's heaps and keep up to 8 MiB free
   per heap, so per-chunk buffers are reused rather than mapped, page-faulted and unmapped each
   time; larger ones come from mmap. At most 2 heaps (fewer heaps, less memory held free). */
void lockstep_tune_malloc(void);
/// Hands the heaps' free pages back to the kernel (malloc_trim).
void lockstep_release_free_memory(void);
#endif
