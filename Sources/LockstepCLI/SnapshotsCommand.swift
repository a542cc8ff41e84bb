import ArgumentParser
import Foundation
import LockstepCore

struct SnapshotsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "snapshots", abstract: "List snapshots.")

    @OptionGroup var global: GlobalOptions

    struct Row: Encodable {
        var id: String
        var time: Date
        var host: String
        var paths: [String]
        var tags: [String]
        var tree: String
        var parent: String?
        var program: String
        var summary: BackupSummary
        var metadata: [String: String]
    }

    func run() throws {
        try execute {
            let repository = try global.openRepository()
            let all = try repository.listSnapshots()
            if global.json {
                try Console.json(all.map {
                    Row(id: $0.id.hex, time: $0.snapshot.time, host: $0.snapshot.host, paths: $0.snapshot.paths,
                        tags: $0.snapshot.tags, tree: $0.snapshot.tree, parent: $0.snapshot.parent,
                        program: $0.snapshot.program, summary: $0.snapshot.summary, metadata: $0.snapshot.metadata)
                })
                return ExitCodes.success
            }
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
            Console.out("ID        Time                 Host                 Size        Downtime  Consistent  Paths")
            for s in all {
                let host = s.snapshot.host.padding(toLength: 20, withPad: " ", startingAt: 0)
                let size = Console.bytes(s.snapshot.summary.totalBytes).padding(toLength: 11, withPad: " ", startingAt: 0)
                let meta = s.snapshot.metadata
                let downtime = (meta["downtime_seconds"].flatMap(Double.init).map { String(format: "%.1f s", $0) } ?? "-")
                    .padding(toLength: 9, withPad: " ", startingAt: 0)
                let consistent = (meta["consistent"].map { $0 == "true" ? "yes" : "NO" } ?? "-").padding(toLength: 11, withPad: " ", startingAt: 0)
                let what = meta["application"].map { "[\($0)] " } ?? ""
                Console.out("\(s.id.short)  \(formatter.string(from: s.snapshot.time))  \(host) \(size) \(downtime) \(consistent) \(what)\(s.snapshot.paths.joined(separator: " "))")
            }
            Console.out("\(all.count) snapshot(s)")
            return ExitCodes.success
        }
    }
}
