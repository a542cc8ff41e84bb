

/// What the service manager says about the application service.
package enum ServiceState: Sendable, Equatable {
    case running
    case stopped
    /// The status could not be told (the status command failed in an unexpected way).
    case unknown(String)
}

/// Control of the application service: systemd (`systemctl stop|start|is-active UNIT`) or
/// administrator-given shell commands. `stop` and `start` return when the command returned;
/// whether the service really stopped or runs is what `state` says, polled by `StopWindow`.
/// A command that exits non-zero throws a `LockstepError` naming the command (never a secret).
package protocol ServiceControl: Sendable {
    /// For messages and `plan`: e.g. "systemd unit rstudio-connect".
    var summary: String { get }
    func stop() throws
    func start() throws
    func state() throws -> ServiceState
}
