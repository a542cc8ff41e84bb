import LockstepCore
import CHostShim
#if canImport(Glibc)
import Glibc
#endif

/// The host as `plan` sees it: stat, statfs and access, nothing written.
package struct LocalHostProbe: HostProbe {
    package init() {}

    package func mode(of path: String) -> UInt32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt32(st.st_mode) & 0o7777
    }

    /// statfs magic numbers of network file systems.
    private static let networkTypes: [Int: String] = [
        0x6969: "nfs", 0x517B: "smb", 0xFF53_4D42: "cifs", 0xFE53_4D42: "smb2", 0x00C3_6400: "ceph",
        0x5346_414F: "afs", 0x0102_1997: "9p", 0x0BD0_0BD0: "lustre",
    ]

    package func networkFileSystem(at path: String) -> String? {
        // The directory may not exist yet: ask about the nearest existing parent.
        var probe = path
        var type = lockstep_fs_type(probe)
        while type < 0 {
            guard let slash = probe.lastIndex(of: "/"), probe != "/" else { return nil }
            probe = slash == probe.startIndex ? "/" : String(probe[..<slash])
            type = lockstep_fs_type(probe)
        }
        return Self.networkTypes[Int(UInt32(truncatingIfNeeded: type))]
    }

    package func isExecutable(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
    }
}
