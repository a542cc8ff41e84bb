/// A source file system that reads each path below a snapshotted volume root from the same
/// relative path in its snapshot, and reports it as the live path with the live volume's
/// device: the capture records the live paths, hard links keep one device, and a snapshot's
/// inode numbers and times (a btrfs snapshot keeps both) match the parent snapshot's, so
/// unchanged files are not read again. Other paths are read as they are.
package final class RebasedFileSystem: SourceFileSystem {
    private let base: any SourceFileSystem
    /// Longest live root first, so a nested volume wins over the one holding it.
    private let mounts: [(live: [UInt8], snapshot: [UInt8], mount: SnapshotMount)]

    /// The inode number btrfs gives the empty directory standing for a nested subvolume inside
    /// a snapshot (`BTRFS_EMPTY_SUBVOL_DIR_OBJECTID`).
    package static let emptySubvolumeInode: UInt64 = 2

    package init(base: any SourceFileSystem, mounts: [SnapshotMount]) {
        self.base = base
        self.mounts = mounts.map { (Array($0.live.utf8), Array($0.snapshot.utf8), $0) }
            .sorted { $0.live.count > $1.live.count }
    }

    /// The path to read, and the mount it lies under.
    private func locate(_ path: [UInt8]) -> ([UInt8], SnapshotMount?) {
        for m in mounts {
            if path == m.live { return (m.snapshot, m.mount) }
            if path.count > m.live.count, path.starts(with: m.live),
               path[m.live.count] == UInt8(ascii: "/") || m.live == [UInt8(ascii: "/")] {
                let rest = path[(m.live == [UInt8(ascii: "/")] ? m.live.count : m.live.count + 1)...]
                return (m.snapshot.appendingPathComponent(Array(rest)), m.mount)
            }
        }
        return (path, nil)
    }

    /// Runs `body` on the mapped path; an error names the live path.
    private func mapped<T>(_ path: [UInt8], _ body: ([UInt8], SnapshotMount?) throws -> T) throws -> T {
        let (target, mount) = locate(path)
        do { return try body(target, mount) } catch var error as HostError {
            if mount != nil { error.path = path.pathString }
            throw error
        }
    }

    package func status(_ path: [UInt8]) throws -> FileStatus {
        try mapped(path) { target, mount in
            var status = try base.status(target)
            guard let mount else { return status }
            if status.type == .directory, status.inode == Self.emptySubvolumeInode, target != Array(mount.snapshot.utf8) {
                throw HostError(call: "snapshot", path: path.pathString, errno: 0,
                                reason: "a nested subvolume, not part of the snapshot of \(mount.live): left out (back it up separately or make it a plain directory)")
            }
            status.device = mount.device
            return status
        }
    }

    package func directoryEntries(_ path: [UInt8]) throws -> [[UInt8]] {
        try mapped(path) { target, _ in try base.directoryEntries(target) }
    }

    package func readLink(_ path: [UInt8]) throws -> [UInt8] {
        try mapped(path) { target, _ in try base.readLink(target) }
    }

    package func extendedAttributes(_ path: [UInt8]) throws -> [ExtendedAttribute] {
        try mapped(path) { target, _ in try base.extendedAttributes(target) }
    }

    package func userName(_ uid: UInt32) -> String { base.userName(uid) }
    package func groupName(_ gid: UInt32) -> String { base.groupName(gid) }

    package func open(_ path: [UInt8]) throws -> any SourceFile {
        try mapped(path) { target, mount in
            let file = try base.open(target)
            guard let mount else { return file }
            return RebasedFile(file, device: mount.device)
        }
    }

    /// An open snapshot file reporting the live device.
    private final class RebasedFile: SourceFile {
        let inner: any SourceFile
        let device: UInt64
        init(_ inner: any SourceFile, device: UInt64) {
            self.inner = inner
            self.device = device
        }
        func status() throws -> FileStatus {
            var status = try inner.status()
            status.device = device
            return status
        }
        func dataRegions(size: Int64) throws -> [Range<Int64>] { try inner.dataRegions(size: size) }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            try inner.read(into: buffer, at: offset)
        }
        func close() { inner.close() }
    }
}
