import Foundation

/// A file made while it is read — a database dump — stored in a snapshot at `path` (absolute,
/// under a directory no backup path may hold, see `Archiver`). Its content is whatever the
/// stream yields; a stream whose producer fails makes the whole capture fail, so a snapshot
/// never holds half a dump.
package protocol StreamSource: Sendable {
    /// Where the file appears in the snapshot, e.g. `/.lockstep/postgres/main.pgdump`.
    var path: String { get }
    /// Starts the producer.
    func open() throws -> any ByteStream
}

/// The running producer of a `StreamSource`. Used by one thread.
package protocol ByteStream: AnyObject {
    /// Up to `buffer.count` bytes; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// After the end: waits for the producer and throws when it failed.
    func finish() throws
    /// Stops the producer early (an error elsewhere); never throws.
    func cancel()
}

/// Starts and talks to other programs (`pg_dump`, `pg_restore`, `psql`): the port the
/// application layer uses, implemented over posix_spawn in LockstepHost. `environment` is added
/// to lockstep's own; an empty value removes that variable.
package protocol ProgramLauncher: Sendable {
    /// Runs to the end with stdin from /dev/null; stdout and stderr captured.
    func run(_ program: String, _ arguments: [String], environment: [String: String], timeout: Double) throws -> ProgramResult
    /// Starts with stdout as a stream; `finish` throws when it exits non-zero.
    func stream(_ program: String, _ arguments: [String], environment: [String: String]) throws -> any ByteStream
    /// Starts with stdin fed by `input` (read until it returns 0), then waits; stdout is kept
    /// (in a temporary file, never a pipe that could fill) when `captureOutput`, else dropped.
    func feed(_ program: String, _ arguments: [String], environment: [String: String],
              input: (UnsafeMutableRawBufferPointer) throws -> Int, captureOutput: Bool) throws -> ProgramResult
    /// Starts with stdin and stdout as pipes, for a conversation (a `psql` session that holds a
    /// transaction open while other programs run).
    func session(_ program: String, _ arguments: [String], environment: [String: String]) throws -> any ProgramSession
}

/// A started program lockstep talks to line by line. Used by one thread at a time.
package protocol ProgramSession: AnyObject, Sendable {
    /// Writes `text` to the program's stdin; throws when it no longer reads.
    func send(_ text: String) throws
    /// The next line of stdout without its newline; nil when the program closed stdout (it ended).
    /// Throws when no line comes within `timeout` seconds.
    func readLine(timeout: Double) throws -> String?
    /// Closes stdin and waits for the exit; stdout not read by then is dropped.
    func end() -> ProgramResult
    /// Kills the program; never throws.
    func cancel()
}

package struct ProgramResult: Sendable {
    package var status: Int32
    package var output: String
    package var errorOutput: String

    package init(status: Int32, output: String, errorOutput: String) {
        self.status = status
        self.output = output
        self.errorOutput = errorOutput
    }

    /// The last non-empty line of stderr (else stdout), for a one-line error.
    package var lastLine: String {
        for text in [errorOutput, output] {
            if let line = text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }).last(where: { !$0.isEmpty }) {
                return line
            }
        }
        return ""
    }
}
