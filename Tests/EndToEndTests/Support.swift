import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `lockstep` binary (LOCKSTEP_BIN, else .build/debug/lockstep).
struct Lockstep {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        func json() throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        }
    }

    static var binary: String {
        if let bin = ProcessInfo.processInfo.environment["LOCKSTEP_BIN"] { return bin }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/lockstep").path
    }

    var repo: String
    var passwordFile: String
    var extraEnvironment: [String: String] = [:]

    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:], asUser: String? = nil) throws -> Result {
        let process = Process()
        var args = arguments
        if let asUser {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            let pw = try #require(getpwnam(asUser))
            args = ["--reuid=\(pw.pointee.pw_uid)", "--regid=\(pw.pointee.pw_gid)", "--clear-groups", Self.binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.binary)
        }
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["LOCKSTEP_REPOSITORY"] = repo
        env["LOCKSTEP_PASSWORD_FILE"] = passwordFile
        env.removeValue(forKey: "LOCKSTEP_CRASH_AT")
        for (k, v) in extraEnvironment.merging(environment, uniquingKeysWith: { $1 }) { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes concurrently so a full pipe never blocks the child.
        let errData = Mutexed<Data>(Data())
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        let status = process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
        return Result(status: status, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData.value, as: UTF8.self))
    }
}

final class Mutexed<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    private var isSet = false
    init(_ v: T) { stored = v }
    func set(_ v: T) { lock.lock(); stored = v; isSet = true; lock.unlock() }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return isSet }
}

/// A scratch directory on the real (ext4) disk, removed by `remove()`.
final class Scratch: Sendable {
    let path: String

    init() throws {
        let base = "/var/tmp/lockstep-tests"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        var template = Array("\(base)/t-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw POSIXError(.EIO) }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// A repository with a password file, initialised.
    func repository(password: String = "correct horse") throws -> Lockstep {
        let pw = "\(path)/password"
        try password.write(toFile: pw, atomically: true, encoding: .utf8)
        let tool = Lockstep(repo: "\(path)/repo", passwordFile: pw)
        let r = try tool.run(["init"])
        #expect(r.status == 0, "init failed: \(r.stderr)")
        return tool
    }
}

@discardableResult
func sh(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "command failed: \(command)")
    return String(decoding: data, as: UTF8.self)
}

/// A program running beside a test: detached from our output pipes (a pipe it held would keep a
/// reader waiting), stopped by `stop()` with SIGKILL by pid (the test runner may leave SIGTERM
/// ignored).
final class BackgroundProgram {
    private let process = Process()

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

func write(_ path: String, _ content: String) throws {
    try content.write(toFile: path, atomically: false, encoding: .utf8)
}

/// Deterministic pseudo-random bytes (xorshift), so tests are repeatable.
func pseudoRandom(_ count: Int, seed: UInt64) -> Data {
    var state = seed | 1
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for i in 0..<words.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            words[i] = state
        }
    }
    return data
}

/// Everything restore must preserve about a tree, as text: one line per entry, from lstat,
/// readlink, getfattr (xattrs and ACLs) and the content's SHA-256. Independent of lockstep's code.
func treeFacts(_ root: String) throws -> [String: String] {
    let script = #"""
    cd "$1" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | while IFS= read -r p; do
      s=$(stat -c '%F|%a|%u|%g|%U|%G|%s|%y|%t:%T|%h' -- "$p")
      l=""; [ -L "$p" ] && l=$(readlink -- "$p")
      x=$(getfattr -h -d -m - -e hex --absolute-names -- "$p" 2>/dev/null | grep -v '^#' | LC_ALL=C sort | tr '\n' ' ')
      c=""; [ -f "$p" ] && [ ! -L "$p" ] && c=$(sha256sum < "$p" | cut -c1-16)
      printf '%s\t%s|%s|%s|%s\n' "$p" "$s" "$l" "$x" "$c"
    done
    """#
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", script, "facts", root]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var facts = [String: String]()
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        let parts = line.split(separator: "\t", maxSplits: 1)
        if parts.count == 2 { facts[String(parts[0])] = String(parts[1]) }
    }
    return facts
}
