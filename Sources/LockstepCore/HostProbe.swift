/// What `plan` asks of the host, so the plan itself stays free of system calls.
package protocol HostProbe: Sendable {
    /// Mode bits (`& 0o7777`) of the file or directory at `path` (following symlinks), nil when absent.
    func mode(of path: String) -> UInt32?
    /// The file system type's name when `path` lies on a network file system (nfs, cifs, smb2, ...).
    func networkFileSystem(at path: String) -> String?
    /// Whether `path` is an executable regular file.
    func isExecutable(_ path: String) -> Bool
}
