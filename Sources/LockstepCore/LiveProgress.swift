package import Synchronization

/// Live counters of a running backup or restore, read by a progress display on another thread.
package final class LiveProgress: Sendable {
    package let files = Atomic<Int>(0)
    package let bytes = Atomic<Int64>(0)
    package let totalFiles = Atomic<Int>(0)
    package let totalBytes = Atomic<Int64>(0)
    package let walkDone = Atomic<Bool>(false)

    package init() {}
}

/// Where per-file problems go, so one bad file does not abort a backup or restore.
package protocol ProblemReporter: Sendable {
    /// A file that could not be captured or restored; it is counted and the run ends partial.
    func error(path: String, _ message: String)
    /// Something the administrator should know; the file was still handled.
    func warning(path: String, _ message: String)
}
