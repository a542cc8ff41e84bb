/// How the service is stopped, started and asked for its state: systemd by default, or
/// commands the administrator gives (hosts without systemd, and tests).
package struct ServicePlan: Sendable, Equatable, Codable {
    package var stop: String
    package var start: String
    package var status: String
    package var summary: String

    package static func systemd(unit: String) -> ServicePlan {
        ServicePlan(stop: "systemctl stop \(unit)", start: "systemctl start \(unit)",
                    status: "systemctl is-active \(unit)", summary: "systemd unit \(unit)")
    }

    package static func commands(stop: String, start: String, status: String) -> ServicePlan {
        ServicePlan(stop: stop, start: start, status: status, summary: "the service (controlled by --stop-command, --start-command, --status-command)")
    }

    package init(stop: String, start: String, status: String, summary: String) {
        self.stop = stop
        self.start = start
        self.status = status
        self.summary = summary
    }
}
