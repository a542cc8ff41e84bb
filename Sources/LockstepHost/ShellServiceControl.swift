import Foundation
package import LockstepCore

/// Service control through shell commands: systemd's (`systemctl stop|start|is-active UNIT`) or
/// the administrator's. A stop or start that exits non-zero throws, naming the command and its
/// last line of output; the state command's exit status is the state (0: running, else stopped).
/// Output goes to a temporary file, not a pipe, so a service that daemonizes cannot hold it open.
package struct ShellServiceControl: ServiceControl {
    package var stopCommand: String
    package var startCommand: String
    package var statusCommand: String
    package var summary: String

    package init(stop: String, start: String, status: String, summary: String) {
        stopCommand = stop
        startCommand = start
        statusCommand = status
        self.summary = summary
    }

    package func stop() throws { try runChecked(stopCommand) }
    package func start() throws { try runChecked(startCommand) }

    package func state() throws -> ServiceState {
        try run(statusCommand).status == 0 ? .running : .stopped
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return (process.terminationStatus, output)
    }
}
