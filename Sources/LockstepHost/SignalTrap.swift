import CHostShim
#if canImport(Glibc)
import Glibc
#endif

/// Catches SIGINT, SIGTERM and SIGHUP (and survives SIGPIPE) while a stop window is open, so the service can be started again
/// before lockstep exits; `pending` names the first signal received. A handler (not an ignored
/// disposition) is used so that commands lockstep starts — the service among them — get the
/// default handling back when they exec.
package final class SignalTrap: Sendable {
    package init() {}

    package func install() { lockstep_trap_signals() }

    package var pending: String? {
        switch lockstep_pending_signal() {
        case 0: nil
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case let other: "signal \(other)"
        }
    }
}
