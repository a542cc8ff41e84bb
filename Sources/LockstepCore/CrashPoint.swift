import Foundation
import Synchronization

/// Test hook for crash-consistency tests: with `LOCKSTEP_CRASH_AT=NAME:N` in the environment,
/// the process kills itself with SIGKILL the N-th time it passes the point NAME. Points:
/// `pack-saved`, `index-saved`, `before-snapshot`. Without the variable this does nothing.
package enum CrashPoint {
    private static let target: (name: String, count: Int)? = {
        guard let spec = ProcessInfo.processInfo.environment["LOCKSTEP_CRASH_AT"] else { return nil }
        let parts = spec.split(separator: ":")
        guard let name = parts.first else { return nil }
        return (String(name), parts.count > 1 ? Int(parts[1]) ?? 1 : 1)
    }()
    private static let hits = Mutex<[String: Int]>([:])

    package static func pass(_ name: String) {
        guard let target, target.name == name else { return }
        let n = hits.withLock { h -> Int in
            h[name, default: 0] += 1
            return h[name]!
        }
        if n >= target.count { kill(getpid(), SIGKILL) }
    }
}

/// Test hook: with `LOCKSTEP_TEST_HOOK=NAME:COMMAND` in the environment, `/bin/sh -c COMMAND`
/// runs (and is waited for) when the process passes the point NAME; a test uses it to change
/// what lockstep is about to look at. Points: `before-verify` (an in-place restore, after the
/// switch). Without the variable this does nothing.
package enum TestHook {
    private static let target: (name: Substring, command: String)? = {
        guard let spec = ProcessInfo.processInfo.environment["LOCKSTEP_TEST_HOOK"],
              let colon = spec.firstIndex(of: ":") else { return nil }
        return (spec[..<colon], String(spec[spec.index(after: colon)...]))
    }()

    package static func pass(_ name: String) {
        guard let target, target.name == name else { return }
        _ = system(target.command)
    }
}
