import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("The stop window always starts the service again")
struct StopWindowTests {
    private func window(_ service: ScriptedService, clock: ManualClock, leaveStopped: Bool = false,
                        signal: (@Sendable () -> String?)? = nil) -> StopWindow {
        var w = StopWindow(control: service)
        w.stopTimeout = 10
        w.startTimeout = 10
        w.pollInterval = 1
        w.leaveStopped = leaveStopped
        w.clock = { clock.now }
        w.sleep = { clock.advance($0) }
        if let signal { w.pendingSignal = signal }
        return w
    }

    @Test("stop, capture while stopped, start; downtime measured")
    func happyPath() throws {
        let service = ScriptedService()
        let clock = ManualClock()
        let result = try window(service, clock: clock).run {
            #expect(!service.isRunning, "captured while the service runs")
            service.note("capture")
            clock.advance(3)
        }
        #expect(service.calls == ["stop", "capture", "start"])
        #expect(service.isRunning)
        #expect(result.outcome == .captured)
        #expect(result.times.downtime == 3)
    }

    @Test("a failing capture starts the service again and its error comes out")
    func captureFails() throws {
        struct DumpFailed: Error {}
        let service = ScriptedService()
        #expect(throws: DumpFailed.self) {
            try window(service, clock: ManualClock()).run {
                service.note("capture")
                throw DumpFailed()
            }
        }
        #expect(service.calls == ["stop", "capture", "start"])
        #expect(service.isRunning)
    }

    @Test("a service that does not stop in time: no capture, started again, exit 1")
    func stopTimesOut() throws {
        let service = ScriptedService(faults: .init(neverStops: true))
        let error = #expect(throws: LockstepError.self) {
            try window(service, clock: ManualClock()).run { service.note("capture") }
        }
        #expect(error?.code == .failure)
        #expect(error?.message.contains("did not stop in time") == true)
        #expect(!service.calls.contains("capture"))
        #expect(service.calls.last == "start")
    }

    @Test("a service that cannot be started again is exit 20, loudly")
    func startFails() throws {
        let service = ScriptedService(faults: .init(startFails: true))
        let error = #expect(throws: LockstepError.self) {
            try window(service, clock: ManualClock()).run { service.note("capture") }
        }
        #expect(error?.code == .serviceNotStarted)
        #expect(error?.message.contains("THE SERVICE IS DOWN") == true)
    }

    @Test("SIGTERM while waiting for the stop: no capture, started again")
    func interrupted() throws {
        let service = ScriptedService()
        let error = #expect(throws: LockstepError.self) {
            try window(service, clock: ManualClock(), signal: { service.calls.contains("stop") ? "SIGTERM" : nil }).run {
                service.note("capture")
            }
        }
        #expect(error?.message.contains("interrupted by SIGTERM") == true)
        #expect(!service.calls.contains("capture"))
        #expect(service.calls == ["stop", "start"])
        #expect(service.isRunning)
    }

    @Test("a signal before the stop: nothing is stopped or started")
    func interruptedBeforeStop() throws {
        let service = ScriptedService()
        #expect(throws: LockstepError.self) {
            try window(service, clock: ManualClock(), signal: { "SIGINT" }).run { service.note("capture") }
        }
        #expect(service.calls.isEmpty)
    }

    @Test("--leave-stopped: captured and not started")
    func leaveStopped() throws {
        let service = ScriptedService()
        _ = try window(service, clock: ManualClock(), leaveStopped: true).run { service.note("capture") }
        #expect(service.calls == ["stop", "capture"])
        #expect(!service.isRunning)
    }

    static let faultCombinations: [ScriptedService.Faults] = {
        var all = [ScriptedService.Faults]()
        for bits in 0..<16 {
            all.append(.init(stopFails: bits & 1 != 0, neverStops: bits & 2 != 0, startFails: bits & 4 != 0, neverRuns: bits & 8 != 0))
        }
        return all
    }()

    @Test("whatever fails, a start follows the last stop, and capture only runs while stopped",
          arguments: faultCombinations, [false, true])
    func everyPathStartsAgain(faults: ScriptedService.Faults, captureFails: Bool) throws {
        let service = ScriptedService(faults: faults)
        _ = try? window(service, clock: ManualClock()).run {
            #expect(!service.isRunning)
            service.note("capture")
            if captureFails { throw LockstepError(.failure, "dump failed") }
        }
        let calls = service.calls
        let lastStop = try #require(calls.lastIndex(of: "stop"))
        #expect(calls[lastStop...].contains("start"), "\(faults): stopped and never started again: \(calls)")
    }
}
