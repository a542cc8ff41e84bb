package import Foundation

/// The stop window as a pure state machine: it is told what happened and answers what to do
/// next. Its one promise: once a stop was asked for, every way out — a capture that failed, a
/// stop that timed out, an interruption — goes through starting the service again, unless the
/// administrator asked to leave it stopped.
package struct StopWindowMachine: Sendable {
    package enum Action: Sendable, Equatable {
        case stop
        /// Ask the service manager for the state again after a pause.
        case poll
        case capture
        case start
        /// The window is over. `error` is why it failed, if it did.
        case finish(WindowOutcome)
    }

    package enum WindowOutcome: Sendable, Equatable {
        /// Captured; the service runs again (or was left stopped on request).
        case captured
        /// The capture did not complete, the service was started again.
        case aborted(String)
        /// The service could not be started again: page an operator.
        case serviceDown(String, captured: Bool)
    }

    package enum Phase: Sendable, Equatable {
        case idle, stopping, waitingForStop, capturing, starting, waitingForStart, done
    }

    package private(set) var phase: Phase = .idle
    private let leaveStopped: Bool
    private var failure: String?
    private var captured = false
    private var startAttempted = false

    package init(leaveStopped: Bool) { self.leaveStopped = leaveStopped }

    package mutating func begin() -> Action {
        precondition(phase == .idle)
        phase = .stopping
        return .stop
    }

    /// The stop command returned (or failed to run).
    package mutating func stopCommandFinished(error: String?) -> Action {
        guard phase == .stopping else { return .finish(outcome) }
        if let error { return restart(because: "the stop command failed: \(error)") }
        phase = .waitingForStop
        return .poll
    }

    /// The service manager reported a state; `timedOut` says the waiting time is used up.
    package mutating func observed(_ state: ServiceState, timedOut: Bool) -> Action {
        switch phase {
        case .waitingForStop:
            if state == .stopped {
                phase = .capturing
                return .capture
            }
            if timedOut { return restart(because: "the service did not stop in time (last state: \(Self.describe(state)))") }
            return .poll
        case .waitingForStart:
            if state == .running {
                phase = .done
                return .finish(outcome)
            }
            if timedOut {
                phase = .done
                return .finish(.serviceDown("the service did not report running after the start (last state: \(Self.describe(state)))", captured: captured))
            }
            return .poll
        default:
            return .finish(outcome)
        }
    }

    package mutating func captureFinished(error: String?) -> Action {
        guard phase == .capturing else { return .finish(outcome) }
        if let error { return restart(because: error) }
        captured = true
        if leaveStopped {
            phase = .done
            return .finish(.captured)
        }
        phase = .starting
        startAttempted = true
        return .start
    }

    package mutating func startCommandFinished(error: String?) -> Action {
        guard phase == .starting else { return .finish(outcome) }
        if let error {
            phase = .done
            return .finish(.serviceDown("the start command failed: \(error)", captured: captured))
        }
        phase = .waitingForStart
        return .poll
    }

    /// SIGINT or SIGTERM: abandon the capture and start the service again if we stopped it.
    package mutating func interrupted(_ signal: String) -> Action {
        switch phase {
        case .idle, .done, .stopping:
            // Nothing was stopped yet (the stop is issued right after `.stop` is returned).
            phase = .done
            failure = "interrupted by \(signal) before the service was stopped"
            return .finish(outcome)
        case .starting, .waitingForStart:
            failure = failure ?? "interrupted by \(signal)"
            return .poll
        case .waitingForStop, .capturing:
            captured = false
            return restart(because: "interrupted by \(signal)")
        }
    }

    private mutating func restart(because reason: String) -> Action {
        failure = reason
        captured = false
        phase = .starting
        startAttempted = true
        return .start
    }

    private var outcome: WindowOutcome {
        if let failure { return .aborted(failure) }
        return captured ? .captured : .aborted("the window ended before a capture")
    }

    private static func describe(_ state: ServiceState) -> String {
        switch state {
        case .running: "running"
        case .stopped: "stopped"
        case .unknown(let why): "unknown: \(why)"
        }
    }
}

/// Times the window took, for the snapshot and `--json`.
package struct WindowTimes: Sendable, Equatable {
    package var stopRequested: Date?
    package var stopped: Date?
    package var startRequested: Date?
    package var running: Date?

    package init() {}

    /// From the stop request until the service reported running again.
    package var downtime: TimeInterval? {
        guard let a = stopRequested, let b = running else { return nil }
        return b.timeIntervalSince(a)
    }
}

/// Runs the stop window against a real service control: stop, wait until stopped, capture,
/// start, wait until running — as the machine directs. Time and sleeping are injected.
package struct StopWindow: Sendable {
    package var control: any ServiceControl
    package var stopTimeout: TimeInterval = 120
    package var startTimeout: TimeInterval = 120
    package var pollInterval: TimeInterval = 0.5
    package var leaveStopped = false
    package var clock: @Sendable () -> Date = { Date() }
    package var sleep: @Sendable (TimeInterval) -> Void = { Thread.sleep(forTimeInterval: $0) }
    /// Polled between steps: a signal that arrived (SIGINT/SIGTERM) ends the window early.
    package var pendingSignal: @Sendable () -> String? = { nil }

    package init(control: any ServiceControl) { self.control = control }

    package struct Result: Sendable {
        package var outcome: StopWindowMachine.WindowOutcome
        package var times: WindowTimes
    }

    /// `capture` runs while the service is stopped; its error aborts the window (the service is
    /// started again) and is rethrown after the start. A service that cannot be started again
    /// throws `.serviceNotStarted` (exit 20), after `capture`'s work was kept.
    package func run(capture: () throws -> Void) throws -> Result {
        var machine = StopWindowMachine(leaveStopped: leaveStopped)
        var times = WindowTimes()
        var captureError: (any Error)?
        var deadline = Date.distantFuture
        var action = machine.begin()
        while true {
            if let signal = pendingSignal(), machine.phase != .done,
               machine.phase != .starting, machine.phase != .waitingForStart {
                action = machine.interrupted(signal)
            }
            switch action {
            case .stop:
                times.stopRequested = clock()
                deadline = clock().addingTimeInterval(stopTimeout)
                action = machine.stopCommandFinished(error: Self.attempt { try control.stop() })
            case .poll:
                let state: ServiceState
                do { state = try control.state() } catch { state = .unknown("\(error)") }
                let now = clock()
                if state == .stopped, machine.phase == .waitingForStop { times.stopped = now }
                if state == .running, machine.phase == .waitingForStart { times.running = now }
                let next = machine.observed(state, timedOut: now >= deadline)
                if next == .poll { sleep(pollInterval) }
                action = next
            case .capture:
                do {
                    try capture()
                    action = machine.captureFinished(error: nil)
                } catch {
                    captureError = error
                    action = machine.captureFinished(error: "\(error)")
                }
            case .start:
                times.startRequested = clock()
                deadline = clock().addingTimeInterval(startTimeout)
                action = machine.startCommandFinished(error: Self.attempt { try control.start() })
            case .finish(let outcome):
                switch outcome {
                case .serviceDown(let why, _):
                    throw LockstepError(.serviceNotStarted, "THE SERVICE IS DOWN: \(control.summary) could not be started again (\(why)); start it by hand now")
                case .aborted(let why):
                    if let captureError { throw captureError }
                    throw LockstepError(.failure, "backup aborted, nothing committed; \(control.summary) was started again (\(why))")
                case .captured:
                    return Result(outcome: outcome, times: times)
                }
            }
        }
    }

    private static func attempt(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }
}
