import CHostShim
import Foundation
package import LockstepCore
#if canImport(Glibc)
import Glibc
#endif

/// `--fs-snapshot btrfs`: read-only snapshots of the btrfs subvolumes holding the backup paths,
/// taken with `btrfs subvolume snapshot -r` and removed with `btrfs subvolume delete`.
///
/// A snapshot of subvolume `R` is `L/.lockstep-snap-<pid>-<random>-<name of R>`, where `L` is
/// `R`'s parent directory (same file system unless `R` is a mount point), else `R` itself; `L`
/// is never inside a backup path. A snapshot whose process is gone (a crash, SIGKILL) is
/// removed by the next run's plan, with a notice.
package struct BtrfsSnapshotter: FileSystemSnapshotter {
    package static let magic: Int64 = 0x9123_683E
    /// A btrfs subvolume's root directory has this inode number (`BTRFS_FIRST_FREE_OBJECTID`).
    package static let subvolumeRootInode: UInt64 = 256
    package static let prefix = ".lockstep-snap-"

    package let kind = "btrfs"
    private let launcher: any ProgramLauncher
    private let timeout: Double

    package init(launcher: any ProgramLauncher, timeout: Double = 120) {
        self.launcher = launcher
        self.timeout = timeout
    }

    // MARK: - Plan (before the stop)

    package func plan(paths: [String], required: [(path: String, setting: String)],
                      notice: @Sendable (String) -> Void) throws -> FileSystemSnapshotPlan {
        let refusal = "; nothing was stopped"
        do {
            let version = try launcher.run("btrfs", ["--version"], environment: [:], timeout: timeout)
            guard version.status == 0 else { throw LockstepError(.failure, Self.firstLine(version.errorOutput)) }
        } catch let error as LockstepError {
            throw LockstepError(.failure, "--fs-snapshot btrfs needs the btrfs command (Debian: apt-get install btrfs-progs): \(error.message)\(refusal)")
        }
        var volumes = [SnapshotVolume]()
        var unsnapshotted = [String]()
        for path in paths {
            guard let (root, device) = Self.subvolume(holding: path) else {
                unsnapshotted.append(path)
                continue
            }
            if let i = volumes.firstIndex(where: { $0.root == root }) {
                volumes[i].paths.append(path)
            } else {
                volumes.append(SnapshotVolume(root: root, paths: [path], location: "", device: device))
            }
        }
        for (path, setting) in required where Self.subvolume(holding: path) == nil {
            throw LockstepError(.failure, "--fs-snapshot btrfs: \(path) (\(setting)) is on \(Self.fileSystemName(at: path)), not in a btrfs subvolume; back up without --fs-snapshot\(refusal)")
        }
        let mounts = Self.mountPoints()
        for volume in volumes {
            for path in volume.paths {
                if let inner = mounts.first(where: { Self.isInside($0, path) }) {
                    throw LockstepError(.failure, "--fs-snapshot btrfs: \(inner) is a mount point inside \(path), and a snapshot of \(volume.root) would not include it\(refusal)")
                }
            }
        }
        for i in volumes.indices {
            let root = volumes[i].root
            let parent = Self.dirname(root)
            let candidates = (root == "/" || mounts.contains(root) ? [] : [parent]) + [root]
            guard let location = candidates.first(where: { l in !paths.contains { $0 == l || Self.isInside(l, $0) } }) else {
                throw LockstepError(.failure, "--fs-snapshot btrfs: no place for a snapshot of subvolume \(root) outside the backup paths (it is a mount point and itself backed up); make the data directory a subdirectory of a subvolume\(refusal)")
            }
            volumes[i].location = location
        }
        for location in Set(volumes.map(\.location)).sorted() { removeLeftovers(in: location, notice: notice) }
        // Prove each snapshot can be taken and removed (permissions, a read-only mount, space)
        // while the service still runs.
        for volume in volumes {
            let trial: SnapshotMount
            do { trial = try take(volume) } catch let error as LockstepError {
                throw LockstepError(.failure, error.message + refusal)
            }
            do { try delete(trial) } catch let error as LockstepError {
                throw LockstepError(.failure, error.message + refusal)
            }
        }
        return FileSystemSnapshotPlan(volumes: volumes, unsnapshotted: unsnapshotted)
    }

    /// Snapshots left by a lockstep that no longer runs are removed, with a notice.
    private func removeLeftovers(in location: String, notice: @Sendable (String) -> Void) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: location)) ?? []
        for name in names.sorted() where name.hasPrefix(Self.prefix) {
            let path = location == "/" ? "/" + name : location + "/" + name
            let pid = Int32(name.dropFirst(Self.prefix.count).prefix { $0 != "-" }) ?? 0
            if pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) { continue }  // a running backup's
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, UInt64(st.st_ino) == Self.subvolumeRootInode else {
                notice("\(path) looks like a lockstep snapshot but is not a btrfs subvolume; left alone")
                continue
            }
            do {
                try delete(SnapshotMount(live: "", snapshot: path, device: 0))
                notice("removed \(path), a btrfs snapshot left by an interrupted lockstep backup")
            } catch {
                notice("could not remove \(path), a snapshot left by an interrupted lockstep backup: \(error)")
            }
        }
    }

    // MARK: - Take and delete

    package func take(_ volume: SnapshotVolume) throws -> SnapshotMount {
        let name = volume.root == "/" ? "root" : String(volume.root.split(separator: "/").last!)
        let target = (volume.location == "/" ? "" : volume.location) + "/" + Self.prefix
            + "\(getpid())-\(randomHex(4))-\(name)"
        let r = try launcher.run("btrfs", ["subvolume", "snapshot", "-r", volume.root, target], environment: [:], timeout: timeout)
        guard r.status == 0 else {
            throw LockstepError(.failure, "btrfs subvolume snapshot -r \(volume.root) \(target) failed: \(Self.firstLine(r.errorOutput))")
        }
        return SnapshotMount(live: volume.root, snapshot: target, device: volume.device)
    }

    package func delete(_ mount: SnapshotMount) throws {
        let r = try launcher.run("btrfs", ["subvolume", "delete", mount.snapshot], environment: [:], timeout: timeout)
        guard r.status == 0 else {
            throw LockstepError(.failure, "btrfs subvolume delete \(mount.snapshot) failed: \(Self.firstLine(r.errorOutput))")
        }
    }

    // MARK: - The host

    /// The root of the btrfs subvolume holding `path` and its device; nil when not on btrfs.
    package static func subvolume(holding path: String) -> (root: String, device: UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        var dir = st.st_mode & S_IFMT == S_IFDIR ? path : dirname(path)
        guard lockstep_fs_type(dir) == magic else { return nil }
        while true {
            guard lstat(dir, &st) == 0 else { return nil }
            if UInt64(st.st_ino) == subvolumeRootInode { return (dir, UInt64(st.st_dev)) }
            if dir == "/" { return nil }
            dir = dirname(dir)
        }
    }

    private static let typeNames: [Int64: String] = [
        0xEF53: "ext4", 0x5846_5342: "xfs", 0x0102_1994: "tmpfs", 0x794C_7630: "overlayfs", 0x2FC1_2FC1: "zfs",
        0x6969: "nfs", 0xFF53_4D42: "cifs", 0xFE53_4D42: "smb2", 0x4D44: "vfat",
    ]

    /// The file system type's name (or statfs magic) of the nearest existing directory.
    package static func fileSystemName(at path: String) -> String {
        var probe = path
        var type = lockstep_fs_type(probe)
        while type < 0 && probe != "/" {
            probe = dirname(probe)
            type = lockstep_fs_type(probe)
        }
        return typeNames[type] ?? (type == magic ? "btrfs" : "a file system of type 0x" + String(type, radix: 16))
    }

    /// Every mount point, from /proc/self/mountinfo (the fifth field, octal escapes undone).
    package static func mountPoints() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        var out = Set<String>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            out.insert(unescape(fields[4]))
        }
        return out
    }

    private static func unescape(_ field: Substring) -> String {
        var bytes = [UInt8]()
        var chars = Array(field.utf8)[...]
        while let c = chars.popFirst() {
            if c == UInt8(ascii: "\\"), chars.count >= 3, let v = UInt8(String(decoding: chars.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(v)
                chars = chars.dropFirst(3)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `path` lies strictly below `directory`.
    package static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" ? path != "/" && path.hasPrefix("/") : path.hasPrefix(directory + "/")
    }

    static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private static func firstLine(_ text: String) -> String {
        text.split(separator: "\n").first.map(String.init) ?? "no message"
    }
}
