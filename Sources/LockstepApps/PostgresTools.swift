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
    /// With `snapshot` (see `exportSnapshot`) it reads the database as that snapshot saw it.
    package func dump(_ connection: PostgresConnection, to path: String, shownAs name: String,
                      snapshot: HeldSnapshot? = nil) -> any StreamSource {
        DumpSource(tools: self, connection: connection, path: path, name: name, snapshot: snapshot)
    }

    private struct DumpSource: StreamSource {
        var tools: PostgresTools
        var connection: PostgresConnection
        var path: String
        var name: String
        var snapshot: HeldSnapshot?

        func open() throws -> any ByteStream {
            let secret = try PasswordFile(connection.password)
            let stream = try tools.launcher.stream("pg_dump", ["--format=custom", "--compress=0", "--no-password"]
                                                      + (snapshot.map { ["--snapshot=\($0.name)"] } ?? [])
                                                      + ["--dbname=\(connection.target)"],
                                                   environment: secret.environment)
            return NamedStream(stream, secret: secret, name: name)
        }
    }

    /// Opens a read-only REPEATABLE READ transaction on the database, takes ACCESS SHARE locks on
    /// every table the role may read (as `pg_dump` itself does, so no schema change can commit
    /// before the dump has read it; rows can still be written) and exports its snapshot with
    /// `pg_export_snapshot()`. While the returned value is held, `pg_dump --snapshot` reads the
    /// database exactly as it was at this moment, whatever is written since. Waits at most
    /// `lockTimeout` seconds for a lock another session holds.
    package func exportSnapshot(_ connection: PostgresConnection, shownAs name: String, lockTimeout: Int) throws -> HeldSnapshot {
        let secret = try PasswordFile(connection.password)
        let session = try launcher.session("psql", ["--no-psqlrc", "--no-password", "--quiet", "--tuples-only", "--no-align",
                                                   "--set=ON_ERROR_STOP=1", "--dbname=\(connection.target)"],
                                           environment: secret.environment)
        let marker = "lockstep-snapshot:"
        do {
            try session.send("""
                SET lock_timeout = '\(lockTimeout)s';
                BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
                DO $lockstep$DECLARE t record; BEGIN
                  FOR t IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
                             AND n.nspname NOT LIKE 'pg\\_%' AND has_table_privilege(c.oid, 'SELECT')
                  LOOP EXECUTE format('LOCK TABLE %I.%I IN ACCESS SHARE MODE', t.nspname, t.relname); END LOOP;
                END$lockstep$;
                SELECT '\(marker)' || pg_export_snapshot();

                """)
            while let line = try session.readLine(timeout: queryTimeout) {
                if line.hasPrefix(marker) {
                    return HeldSnapshot(session: session, secret: secret, name: String(line.dropFirst(marker.count)))
                }
            }
            let result = session.end()
            // psql's "ERROR:" line says why; the CONTEXT lines after it only say where.
            let reason = result.errorOutput.split(separator: "\n").first { $0.contains("ERROR:") }
                .map { $0[$0.range(of: "ERROR:")!.upperBound...].trimmingCharacters(in: .whitespaces) } ?? result.lastLine
            let hint = reason.contains("lock timeout")
                ? "another session held a table locked for \(lockTimeout) s (a schema change?); retry when it has finished, or wait longer with --pg-lock-timeout"
                : "check that the role may read every table and run `lockstep plan`"
            throw LockstepError(.failure, "PostgreSQL \(name): cannot export a snapshot for the dump (psql exited \(result.status): \(reason)); \(hint)")
        } catch {
            session.cancel()
            throw error
        }
    }

    /// An exported snapshot and the `psql` session whose open transaction keeps it valid.
    package final class HeldSnapshot: Sendable {
        /// What `pg_dump --snapshot=` takes, e.g. `00000003-00000004-1`.
        package let name: String
        private let session: any ProgramSession
        private let secret: PasswordFile

        fileprivate init(session: any ProgramSession, secret: PasswordFile, name: String) {
            self.session = session
            self.secret = secret
            self.name = name
        }

        /// Ends the transaction (the locks go with it) and the session. Safe to call twice.
        package func release() {
            try? session.send("ROLLBACK;\n")
            _ = session.end()
        }

        deinit { session.cancel() }
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
