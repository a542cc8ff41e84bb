import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Catches SIGINT and SIGTERM while it is installed, so the stop window can start the service
/// again before lockstep exits; `pending` names the first signal received.
package final class SignalTrap: @unchecked Sendable {
    private let received = Mutex<String?>(nil)
    // Touched only by `install`, once, on the installing thread.
    private var sources: [any DispatchSourceSignal] = []

    package init() {}

    package func install() {
        let queue = DispatchQueue(label: "lockstep.signals")
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [weak self] in self?.record(name) }
            source.resume()
            sources.append(source)
        }
    }

    private func record(_ name: String) {
        received.withLock { if $0 == nil { $0 = name } }
    }

    package var pending: String? { received.withLock { $0 } }
}
