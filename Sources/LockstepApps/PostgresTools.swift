import Foundation
package import LockstepCore

/// `pg_dump`, `pg_restore` and `psql` as lockstep uses them, through a `ProgramLauncher`. A
/// password goes to the program in a password file (mode 0600, in a private directory, removed
/// when the program ends) named by `PGPASSFILE`; `PGPASSWORD` is cleared for it so the file is
/// what counts. Nothing with a password is ever on a command line or in a message.
package struct PostgresTools: Sendable {
    package var launcher: any ProgramLauncher
    /// Seconds for a query (`psql`) to finish.
    package var queryTimeout: Double = 60

    package init(launcher: any ProgramLauncher) {
        self.launcher = launcher
    }

    /// `pg_dump --version`, e.g. "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
    package func dumpVersion() throws -> String {
        let result = try launcher.run("pg_dump", ["--version"], environment: [:], timeout: queryTimeout)
        guard result.status == 0 else { throw LockstepError(.failure, "pg_dump --version exited \(result.status): \(result.lastLine)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs one SQL command with `psql` and returns its unaligned output.
    package func query(_ sql: String, on connection: PostgresConnection, shownAs name: String) throws -> String {
        let secret = try PasswordFile(connection.password)
        let result = try launcher.run("psql", ["--no-psqlrc", "--no-password", "--quiet", "--tuples-only", "--no-align",
                                               "--set=ON_ERROR_STOP=1", "--dbname=\(connection.target)", "--command=\(sql)"],
                                      environment: secret.environment, timeout: queryTimeout)
        guard result.status == 0 else {
            throw LockstepError(.failure, "PostgreSQL \(name): \(result.lastLine)")
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The server's version (`SHOW server_version`); proves it is reachable with these credentials.
    package func serverVersion(_ connection: PostgresConnection, shownAs name: String) throws -> String {
        try query("SHOW server_version", on: connection, shownAs: name)
    }

    /// A custom-format dump of one database, uncompressed (lockstep compresses and deduplicates
    /// it: an uncompressed dump shares most of its chunks with last night's), as a stream file.
    package func dump(_ connection: PostgresConnection, to path: String, shownAs name: String) -> any StreamSource {
        DumpSource(tools: self, connection: connection, path: path, name: name)
    }

    private struct DumpSource: StreamSource {
        var tools: PostgresTools
        var connection: PostgresConnection
        var path: String
        var name: String

        func open() throws -> any ByteStream {
            let secret = try PasswordFile(connection.password)
            let stream = try tools.launcher.stream("pg_dump", ["--format=custom", "--compress=0", "--no-password",
                                                               "--dbname=\(connection.target)"],
                                                   environment: secret.environment)
            return NamedStream(stream, secret: secret, name: name)
        }
    }

    /// Keeps the password file until the program ends, and names the database in a failure.
    private final class NamedStream: ByteStream {
        let inner: any ByteStream
        let secret: PasswordFile
        let name: String
        init(_ inner: any ByteStream, secret: PasswordFile, name: String) {
            self.inner = inner
            self.secret = secret
            self.name = name
        }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try inner.read(into: buffer) }
        func finish() throws {
            do { try inner.finish() } catch let error as LockstepError {
                throw LockstepError(.failure, "the dump of \(name) failed (\(error.message)); nothing was committed")
            }
        }
        func cancel() { inner.cancel() }
    }

    /// `pg_restore --list` of a dump read from `input`: the archive's table of contents, or why
    /// it cannot be read.
    package func list(input: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> ProgramResult {
        try launcher.feed("pg_restore", ["--list"], environment: [:], input: input, captureOutput: true)
    }

    /// Restores a dump read from `input` into the database of `connection`, in one transaction
    /// (a failure leaves the database as it was); objects belong to the connecting role. `clean`
    /// drops the objects the dump holds first (a restore over the current database).
    package func restore(into connection: PostgresConnection, clean: Bool,
                         input: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> ProgramResult {
        let secret = try PasswordFile(connection.password)
        return try launcher.feed("pg_restore", ["--no-password", "--exit-on-error", "--no-owner", "--single-transaction"]
                                    + (clean ? ["--clean", "--if-exists"] : []) + ["--dbname=\(connection.target)"],
                                 environment: secret.environment, input: input, captureOutput: false)
    }
}

/// A libpq password file holding one password for every host, port, database and user, in a
/// directory only its owner can enter; removed with the value.
final class PasswordFile: Sendable {
    private let directory: String?
    let environment: [String: String]

    init(_ password: String?) throws {
        guard let password else {
            directory = nil
            environment = [:]
            return
        }
        let template = NSTemporaryDirectory() + "lockstep-pg-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else {
            throw LockstepError(.failure, "cannot create a private directory under \(NSTemporaryDirectory()) for the database password")
        }
        let dir = String(cString: made)
        directory = dir
        let escaped = password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        let file = dir + "/pgpass"
        guard FileManager.default.createFile(atPath: file, contents: Data("*:*:*:*:\(escaped)\n".utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            try? FileManager.default.removeItem(atPath: dir)
            throw LockstepError(.failure, "cannot write the database password file in \(dir)")
        }
        // An empty value removes the variable from the program's environment.
        environment = ["PGPASSFILE": file, "PGPASSWORD": ""]
    }

    deinit {
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
