import CHostShim
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide settings made once at start-up by the composition root.
package enum ProcessTuning {
    /// Large buffers come from mmap and return to the system when freed: peak RSS of a backup
    /// fell from 162 MiB to 106 MiB on the small bench fixture (glibc's dynamic mmap threshold
    /// otherwise keeps freed multi-MiB chunk buffers in per-thread heaps).
    /// SIGPIPE is ignored: a program lockstep feeds (`pg_restore --list`) may close its input
    /// early, and a write to it must fail with EPIPE, not kill lockstep. Spawned programs get the
    /// default disposition back (`lockstep_spawn`).
    package static func apply() {
        lockstep_tune_malloc()
        signal(SIGPIPE, SIG_IGN)
    }
}
