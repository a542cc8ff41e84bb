import CHostShim
import Foundation
package import LockstepCore
#if canImport(Glibc)
import Glibc
#endif

/// Service control through shell commands: systemd's (`systemctl stop|start|is-active UNIT`) or
/// the administrator's. A stop or start that exits non-zero throws, naming the command and its
/// last line of output; the state command's exit status is the state (0: running, else stopped).
/// Output goes to a temporary file, not a pipe, so a service that daemonizes cannot hold it open.
/// Each command runs in its own process group, with default signal handling, and is killed with
/// the whole group when it outlives `commandTimeout`.
package struct ShellServiceControl: ServiceControl {
    package var stopCommand: String
    package var startCommand: String
    package var statusCommand: String
    package var summary: String
    package var commandTimeout: Double

    package init(stop: String, start: String, status: String, summary: String, commandTimeout: Double = 120) {
        stopCommand = stop
        startCommand = start
        statusCommand = status
        self.summary = summary
        self.commandTimeout = commandTimeout
    }

    package func stop() throws { try runChecked(stopCommand) }
    package func start() throws { try runChecked(startCommand) }

    package func state() throws -> ServiceState {
        let result = try run(statusCommand)
        return result.status == 0 ? .running : .stopped
    }

    private func runChecked(_ command: String) throws {
        let result = try run(command)
        guard result.status == 0 else {
            let last = result.output.split(separator: "\n").last.map { ": \($0)" } ?? ""
            throw LockstepError(.failure, "`\(command)` exited \(result.status)\(last)")
        }
    }

    private func run(_ command: String) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-service-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        // Spawned with an empty signal mask and default dispositions (a service must hear its
        // stop whatever lockstep blocks), in its own process group so a timeout kills it whole.
        let pid = lockstep_spawn_shell(command, handle.fileDescriptor)
        guard pid > 0 else {
            throw LockstepError(.failure, "cannot run `\(command)`: \(String(cString: strerror(-pid)))")
        }
        let deadline = Date().addingTimeInterval(commandTimeout)
        var status: Int32 = 0
        while true {
            let state = lockstep_try_wait(pid, &status)
            if state == 1 { break }
            if state < 0 { throw LockstepError(.failure, "cannot wait for `\(command)`") }
            if Date() >= deadline {
                kill(-pid, SIGKILL)
                var ignored: Int32 = 0
                while lockstep_try_wait(pid, &ignored) == 0 { usleep(10_000) }
                throw LockstepError(.failure, "`\(command)` did not finish within \(Int(commandTimeout)) s and was killed")
            }
            usleep(10_000)
        }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return (status, output)
    }
}
