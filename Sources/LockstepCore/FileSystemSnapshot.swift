/// A file-system snapshot port (`backup --fs-snapshot`): the stop window only freezes the data
/// in a snapshot, and the capture reads the snapshot while the service runs again.
package protocol FileSystemSnapshotter: Sendable {
    /// The file system's name, recorded as `fs_snapshot` (`btrfs`).
    var kind: String { get }
    /// Before the service is stopped: groups `paths` (normalized, absolute) by the volume that
    /// holds them, proves a snapshot of each can be taken and removed, and clears leftovers of
    /// interrupted runs. Paths on no snapshottable volume are `unsnapshotted`; each `required`
    /// path (with the setting naming it) must be snapshottable. Throws a one-line
    /// `LockstepError` when the snapshot cannot work; nothing has been stopped then.
    func plan(paths: [String], required: [(path: String, setting: String)],
              notice: @Sendable (String) -> Void) throws -> FileSystemSnapshotPlan
    /// In the window: a read-only snapshot of one volume.
    func take(_ volume: SnapshotVolume) throws -> SnapshotMount
    /// Removes a snapshot `take` made.
    func delete(_ mount: SnapshotMount) throws
}

/// Which paths a snapshot covers, and which are read the normal way.
package struct FileSystemSnapshotPlan: Sendable, Equatable {
    package var volumes: [SnapshotVolume]
    package var unsnapshotted: [String]

    package init(volumes: [SnapshotVolume], unsnapshotted: [String]) {
        self.volumes = volumes
        self.unsnapshotted = unsnapshotted
    }

    package var snapshottedPaths: [String] { volumes.flatMap(\.paths) }
}

/// A volume (btrfs subvolume) holding backup paths.
package struct SnapshotVolume: Sendable, Equatable {
    /// The volume's root directory on the live file system.
    package var root: String
    /// The backup paths inside it.
    package var paths: [String]
    /// The directory the snapshot is created in: same file system, outside every backup path.
    package var location: String
    /// `st_dev` of the live volume: recorded for entries read from the snapshot.
    package var device: UInt64

    package init(root: String, paths: [String], location: String, device: UInt64) {
        self.root = root
        self.paths = paths
        self.location = location
        self.device = device
    }
}

/// A taken snapshot: the live volume root, where its frozen copy is, and the live device.
package struct SnapshotMount: Sendable, Equatable {
    package var live: String
    package var snapshot: String
    package var device: UInt64

    package init(live: String, snapshot: String, device: UInt64) {
        self.live = live
        self.snapshot = snapshot
        self.device = device
    }
}
