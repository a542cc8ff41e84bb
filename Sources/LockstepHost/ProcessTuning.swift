import CHostShim
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide settings made once at start-up by the composition root.
package enum ProcessTuning {
    /// Chunk-sized buffers are reused from glibc's heaps instead of being mapped and page-faulted
    /// per chunk (see `lockstep_tune_malloc`); the heaps stay small because packs are streamed
    /// and the file queue is bounded.
    /// SIGPIPE is ignored: a program lockstep feeds (`pg_restore --list`) may close its input
    /// early, and a write to it must fail with EPIPE, not kill lockstep. Spawned programs get the
    /// default disposition back (`lockstep_spawn`).
    package static func apply() {
        lockstep_tune_malloc()
        signal(SIGPIPE, SIG_IGN)
    }

    /// Returns the heaps' free pages to the kernel. After loading the index: decoding the index
    /// files leaves megabytes free inside the heap, resident, under the buffers the backup's
    /// readers take next.
    package static func releaseFreeMemory() {
        lockstep_release_free_memory()
    }
}
