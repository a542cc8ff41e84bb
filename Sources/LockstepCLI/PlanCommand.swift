import ArgumentParser
import Foundation
import LockstepApps
import LockstepCore
import LockstepHost

/// Options naming the application and how its service is controlled (plan, application backups).
struct ApplicationOptions: ParsableArguments {
    @Option(name: .long, help: "The application: connect or package-manager.")
    var app = "connect"

    @Option(name: .long, help: "The application's configuration file.")
    var appConfig: String?

    @Option(name: .long, help: "The systemd unit to stop and start (default: rstudio-connect, or rstudio-pm for package-manager).")
    var service: String?

    @Option(name: .long, help: "Shell command that stops the service (instead of systemd).")
    var stopCommand: String?

    @Option(name: .long, help: "Shell command that starts the service.")
    var startCommand: String?

    @Option(name: .long, help: "Shell command that exits 0 while the service runs, non-zero when it is stopped.")
    var statusCommand: String?

    func servicePlan() throws -> ServicePlan {
        let given = [stopCommand, startCommand, statusCommand].compactMap { $0 }
        if given.isEmpty { return .systemd(unit: try service ?? ApplicationKind(option: app).defaultService) }
        guard let stopCommand, let startCommand, let statusCommand else {
            throw LockstepError(.usage, "--stop-command, --start-command and --status-command go together: give all three, or none to use systemd")
        }
        return .commands(stop: stopCommand, start: startCommand, status: statusCommand)
    }

    /// The service's stop window: the plan's commands, each bounded by `timeout`, as are the
    /// waits for stopped and running; a signal caught by `trap` ends the window early.
    func stopWindow(timeout: Double, trap: SignalTrap) throws -> (control: ShellServiceControl, window: StopWindow) {
        let plan = try servicePlan()
        let control = ShellServiceControl(stop: plan.stop, start: plan.start, status: plan.status, summary: plan.summary,
                                          commandTimeout: timeout)
        var window = StopWindow(control: control)
        window.stopTimeout = timeout
        window.startTimeout = timeout
        window.pollInterval = 0.2
        window.pendingSignal = { trap.pending }
        return (control, window)
    }

    func configuration(environment: [String: String]) throws -> ConnectConfiguration {
        let kind = try ApplicationKind(option: app)
        let path = appConfig ?? kind.defaultConfigPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw LockstepError(.failure, "the \(kind.displayName) configuration \(path) does not exist; pass --app-config PATH")
        }
        return try ConnectConfiguration.load(path: path, environment: environment, application: kind)
    }
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print what an application backup would capture, from where, and how the service is stopped and started; change nothing.")

    @OptionGroup var application: ApplicationOptions

    @Flag(name: .long, help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        try execute {
            let environment = ProcessInfo.processInfo.environment
            let configuration = try application.configuration(environment: environment)
            let captureSet = try CaptureSet(configuration: configuration)
            let plan = ApplicationPlan(application: application.app, configuration: configuration, captureSet: captureSet,
                                       service: try application.servicePlan(), probe: LocalHostProbe())
            if json {
                try Console.json(plan)
            } else {
                for line in plan.lines { Console.out(line) }
            }
            return ExitCodes.success
        }
    }
}
