package import Foundation
package import LockstepCore
import Synchronization

/// A service for stop-window tests: it records every call and misbehaves as told (a stop
/// command that fails, a service that never stops, a start that fails, a service that never
/// reports running).
package final class ScriptedService: ServiceControl {
    package struct Faults: Sendable, Equatable, CustomStringConvertible {
        package var stopFails = false
        package var neverStops = false
        package var startFails = false
        package var neverRuns = false

        package init(stopFails: Bool = false, neverStops: Bool = false, startFails: Bool = false, neverRuns: Bool = false) {
            self.stopFails = stopFails
            self.neverStops = neverStops
            self.startFails = startFails
            self.neverRuns = neverRuns
        }

        package var description: String {
            [stopFails ? "stop fails" : nil, neverStops ? "never stops" : nil, startFails ? "start fails" : nil,
             neverRuns ? "never runs" : nil].compactMap { $0 }.joined(separator: ", ").ifEmpty("no faults")
        }
    }

    private struct State {
        var running = true
        var calls: [String] = []
    }

    private let faults: Faults
    private let record = Mutex(State())

    package init(faults: Faults = Faults()) { self.faults = faults }

    package var summary: String { "scripted test service" }
    package var calls: [String] { record.withLock { $0.calls } }
    package var isRunning: Bool { record.withLock { $0.running } }

    /// Records an event from the test (e.g. "capture") in the same log as the service calls.
    package func note(_ event: String) { record.withLock { $0.calls.append(event) } }

    package func stop() throws {
        try record.withLock { s in
            s.calls.append("stop")
            if faults.stopFails { throw LockstepError(.failure, "stop command exited 1") }
            if !faults.neverStops { s.running = false }
        }
    }

    package func start() throws {
        try record.withLock { s in
            s.calls.append("start")
            if faults.startFails { throw LockstepError(.failure, "start command exited 1") }
            if !faults.neverRuns { s.running = true }
        }
    }

    package func state() throws -> ServiceState {
        record.withLock { $0.running ? .running : .stopped }
    }
}

extension String {
    fileprivate func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}

/// A clock tests move by hand; `sleep` advances it instead of waiting.
package final class ManualClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))

    package init() {}
    package var now: Date { current.withLock { $0 } }
    package func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
