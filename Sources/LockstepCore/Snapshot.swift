package import Foundation

/// Counts a backup reports and the snapshot keeps.
package struct BackupSummary: Codable, Sendable, Equatable {
    package var filesNew = 0
    package var filesChanged = 0
    package var filesUnmodified = 0
    package var directories = 0
    package var otherEntries = 0
    package var bytesRead: Int64 = 0
    package var bytesAdded: Int64 = 0
    package var bytesStored: Int64 = 0
    package var totalBytes: Int64 = 0
    package var blobsAdded = 0
    package var errors = 0
    package var changedWhileRead = 0
    package var skippedSockets = 0
    package var durationSeconds = 0.0

    package init() {}

    enum CodingKeys: String, CodingKey {
        case filesNew = "files_new", filesChanged = "files_changed", filesUnmodified = "files_unmodified"
        case directories, otherEntries = "other_entries", bytesRead = "bytes_read", bytesAdded = "bytes_added"
        case bytesStored = "bytes_stored", totalBytes = "total_bytes", blobsAdded = "blobs_added", errors
        case changedWhileRead = "changed_while_read", skippedSockets = "skipped_sockets"
        case durationSeconds = "duration_seconds"
    }
}

/// A snapshot: written last, after the packs and index it refers to. Stored encrypted as JSON
/// under `snapshots/`, named by the SHA-256 of the stored bytes (its id).
package struct Snapshot: Codable, Sendable {
    package var time: Date
    package var host: String
    package var paths: [String]
    package var tags: [String]
    package var tree: String
    package var parent: String?
    package var summary: BackupSummary
    package var program: String
    /// Free-form facts the application layer records (consistency, downtime, database, ...).
    package var metadata: [String: String]

    package init(time: Date, host: String, paths: [String], tags: [String], tree: BlobID, parent: BlobID?,
                 summary: BackupSummary, program: String, metadata: [String: String]) {
        self.time = time
        self.host = host
        self.paths = paths
        self.tags = tags
        self.tree = tree.hex
        self.parent = parent?.hex
        self.summary = summary
        self.program = program
        self.metadata = metadata
    }

    package var treeID: BlobID? { BlobID(hex: tree) }

    package static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Snapshot.formatTime(date))
        }
        return e
    }

    package static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let s = try decoder.singleValueContainer().decode(String.self)
            guard let date = Snapshot.parseTime(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad time \(s)"))
            }
            return date
        }
        return d
    }

    package static func formatTime(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    package static func parseTime(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }
}

/// A snapshot with the id it is stored under.
package struct StoredSnapshot: Sendable {
    package var id: BlobID
    package var snapshot: Snapshot
}
