import CHostShim
import Foundation
package import LockstepCore
#if canImport(Glibc)
import Glibc
#endif

/// `ProgramLauncher` over posix_spawn: programs are found in PATH and started in their own
/// process group with default signal handling; stdout and stdin, when used, are pipes (closed on
/// exec in every other child); stderr goes to a temporary file read back for error messages.
package struct SpawnLauncher: ProgramLauncher {
    package init() {}

    package func run(_ program: String, _ arguments: [String], environment: [String: String], timeout: Double) throws -> ProgramResult {
        let child = try ChildProcess(program, arguments, environment: environment, input: false, output: true)
        let deadline = Date().addingTimeInterval(timeout)
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var poller = pollfd(fd: child.outputFD, events: Int16(POLLIN), revents: 0)
            let left = deadline.timeIntervalSinceNow
            if left <= 0 {
                child.cancel()
                throw LockstepError(.failure, "`\(program)` did not finish within \(Int(timeout)) s and was killed")
            }
            let ready = poll(&poller, 1, Int32(min(left, 1) * 1000))
            if ready == 0 { continue }
            if ready < 0 && errno == EINTR { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(child.outputFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output.append(contentsOf: buffer[0..<n])
        }
        let status = child.wait()
        return ProgramResult(status: status, output: String(decoding: output, as: UTF8.self), errorOutput: child.errorOutput)
    }

    package func stream(_ program: String, _ arguments: [String], environment: [String: String]) throws -> any ByteStream {
        try ChildProcess(program, arguments, environment: environment, input: false, output: true)
    }

    package func feed(_ program: String, _ arguments: [String], environment: [String: String],
                      input: (UnsafeMutableRawBufferPointer) throws -> Int, captureOutput: Bool) throws -> ProgramResult {
        let child = try ChildProcess(program, arguments, environment: environment, input: true, output: false,
                                     outputToFile: captureOutput)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = try input(buffer)
                if n == 0 { break }
                // The program may stop reading early (`pg_restore --list` reads only the table of
                // contents): a closed pipe ends the feeding, its exit status decides.
                if !child.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { break }
            }
        } catch {
            child.cancel()
            throw error
        }
        child.closeInput()
        let status = child.wait()
        return ProgramResult(status: status, output: child.fileOutput, errorOutput: child.errorOutput)
    }

    package func session(_ program: String, _ arguments: [String], environment: [String: String]) throws -> any ProgramSession {
        try ChildProcess(program, arguments, environment: environment, input: true, output: true)
    }
}

/// One started program.
final class ChildProcess: ByteStream, ProgramSession, @unchecked Sendable {
    let program: String
    let pid: Int32
    private(set) var outputFD: Int32 = -1
    private var inputFD: Int32 = -1
    private let errorLog: String
    private let outputLog: String?
    private var exitStatus: Int32?
    /// Read from stdout but not yet returned by `readLine`.
    private var pending = [UInt8]()

    init(_ program: String, _ arguments: [String], environment: [String: String], input: Bool, output: Bool,
         outputToFile: Bool = false) throws {
        self.program = program
        let base = NSTemporaryDirectory() + "lockstep-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        errorLog = base + ".err"
        outputLog = outputToFile ? base + ".out" : nil
        let errFD = open(errorLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard errFD >= 0 else { throw LockstepError(.failure, "cannot create \(errorLog): \(String(cString: strerror(errno)))") }
        defer { close(errFD) }
        let outFD = outputLog.map { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) } ?? -1
        defer { if outFD >= 0 { close(outFD) } }
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1]
        if input { guard lockstep_pipe_cloexec(&inPipe) == 0 else { throw Self.failed("pipe") } }
        if output { guard lockstep_pipe_cloexec(&outPipe) == 0 else { throw Self.failed("pipe") } }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        env = env.filter { !$0.value.isEmpty || environment[$0.key] == nil }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let pid = lockstep_spawn(program, argv, envp, inPipe[0], output ? outPipe[1] : outFD, errFD)
        if input { close(inPipe[0]) }
        if output { close(outPipe[1]) }
        guard pid > 0 else {
            if input { close(inPipe[1]) }
            if output { close(outPipe[0]) }
            unlink(errorLog)
            if let outputLog { unlink(outputLog) }
            let reason = -pid == ENOENT ? "not found in PATH (install it, e.g. postgresql-client)" : String(cString: strerror(-pid))
            throw LockstepError(.failure, "cannot run \(program): \(reason)")
        }
        self.pid = pid
        inputFD = inPipe[1]
        outputFD = outPipe[0]
    }

    private static func failed(_ call: String) -> LockstepError {
        LockstepError(.failure, "\(call) failed: \(String(cString: strerror(errno)))")
    }

    deinit {
        if exitStatus == nil { cancel() }
        unlink(errorLog)
        if let outputLog { unlink(outputLog) }
    }

    var fileOutput: String { outputLog.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }

    var errorOutput: String { (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "" }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(outputFD, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw Self.failed("reading from \(program)")
        }
    }

    /// Writes all of `bytes`; false when the program closed its input.
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(inputFD, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return false  // EPIPE: SIGPIPE is survived (see lockstep_trap_signals / the CLI)
            }
            done += n
        }
        return true
    }

    func send(_ text: String) throws {
        let sent = Array(text.utf8).withUnsafeBytes { write($0) }
        guard sent else {
            let last = ProgramResult(status: 0, output: "", errorOutput: errorOutput).lastLine
            throw LockstepError(.failure, "\(program) stopped reading its input\(last.isEmpty ? "" : ": \(last)")")
        }
    }

    func readLine(timeout: Double) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw LockstepError(.failure, "`\(program)` did not answer within \(Int(timeout)) s") }
            var poller = pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, 1) * 1000))
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 {
                guard !pending.isEmpty else { return nil }
                defer { pending.removeAll() }
                return String(decoding: pending, as: UTF8.self)
            }
            pending.append(contentsOf: chunk[..<n])
        }
    }

    func end() -> ProgramResult {
        let status = wait()
        return ProgramResult(status: status, output: "", errorOutput: errorOutput)
    }

    func closeInput() {
        if inputFD >= 0 { close(inputFD); inputFD = -1 }
    }

    /// Waits for the exit; 128 + signal when killed.
    @discardableResult
    func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        closeInput()
        if outputFD >= 0 { close(outputFD); outputFD = -1 }
        var status: Int32 = 0
        while true {
            let state = lockstep_try_wait(pid, &status)
            if state != 0 { break }
            usleep(2_000)
        }
        exitStatus = status
        return status
    }

    func finish() throws {
        let status = wait()
        guard status == 0 else {
            let last = ProgramResult(status: status, output: "", errorOutput: errorOutput).lastLine
            throw LockstepError(.failure, "\(program) exited \(status)\(last.isEmpty ? "" : ": \(last)")")
        }
    }

    func cancel() {
        guard exitStatus == nil else { return }
        kill(-pid, SIGKILL)
        wait()
    }
}
