import Foundation
import LockstepCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes to the terminal: results on stdout, problems on stderr, one line each.
enum Console {
    static let lock = NSLock()

    static func out(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func error(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        ProgressLine.clearIfShown()
        FileHandle.standardError.write(Data(("lockstep: " + line + "\n").utf8))
    }

    static func rawError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Prints one JSON document on stdout.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = Snapshot.encoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        out(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// Per-file problems as lines on stderr; counted by the caller.
struct ConsoleReporter: ProblemReporter {
    var verbose: Bool

    func error(path: String, _ message: String) {
        Console.error("\(path): \(message)")
    }

    func warning(path: String, _ message: String) {
        Console.error("warning: \(path): \(message)")
    }
}

/// A progress line redrawn in place on a terminal: files, bytes, rate, ETA.
final class ProgressLine: @unchecked Sendable {
    private static let shown = NSLock()
    nonisolated(unsafe) private static var visible = false
    private let progress: LiveProgress
    private let label: String
    private let started = Date()
    private var thread: Thread?
    private let stopFlag = NSCondition()
    private var stopped = false

    init(progress: LiveProgress, label: String) {
        self.progress = progress
        self.label = label
    }

    static func clearIfShown() {
        shown.lock()
        defer { shown.unlock() }
        if visible {
            Console.rawError("\r\u{1B}[2K")
            visible = false
        }
    }

    func start(enabled: Bool) {
        guard enabled else { return }
        let t = Thread { [self] in
            stopFlag.lock()
            while !stopped {
                _ = stopFlag.wait(until: Date().addingTimeInterval(0.5))
                if !stopped { draw() }
            }
            stopFlag.unlock()
        }
        thread = t
        t.start()
    }

    private func draw() {
        let elapsed = Date().timeIntervalSince(started)
        let files = progress.files.load(ordering: .relaxed)
        let bytes = progress.bytes.load(ordering: .relaxed)
        let totalFiles = progress.totalFiles.load(ordering: .relaxed)
        let totalBytes = progress.totalBytes.load(ordering: .relaxed)
        let rate = elapsed > 0 ? Double(bytes) / elapsed : 0
        var line = String(format: "[%d:%02d] %@ ", Int(elapsed) / 60, Int(elapsed) % 60, label)
        line += totalFiles > 0 ? "\(files)/\(totalFiles) files, " : "\(files) files, "
        line += totalBytes > 0 ? "\(Console.bytes(bytes))/\(Console.bytes(totalBytes))" : Console.bytes(bytes)
        line += ", \(Console.bytes(Int64(rate)))/s"
        if progress.walkDone.load(ordering: .relaxed), rate > 0, totalBytes > bytes {
            let eta = Int(Double(totalBytes - bytes) / rate)
            line += String(format: ", ETA %d:%02d", eta / 60, eta % 60)
        }
        Self.shown.lock()
        Console.rawError("\r\u{1B}[2K" + line)
        Self.visible = true
        Self.shown.unlock()
    }

    func stop() {
        stopFlag.lock()
        stopped = true
        stopFlag.broadcast()
        stopFlag.unlock()
        Self.clearIfShown()
    }
}
