import Foundation
import Testing

/// The real PostgreSQL 15 server `scripts/test.sh` starts on loopback for the suite
/// (`scripts/postgres-server.sh`), found through LOCKSTEP_TEST_PG_DIR. Each test makes its own
/// database and roles with unique names and drops them.
struct TestPostgres {
    let port: String
    let password: String

    static func shared() throws -> TestPostgres {
        guard let dir = ProcessInfo.processInfo.environment["LOCKSTEP_TEST_PG_DIR"] else {
            Issue.record("LOCKSTEP_TEST_PG_DIR is not set: run the suite with `make test` (scripts/test.sh starts PostgreSQL)")
            throw POSIXError(.ENOENT)
        }
        let env = try String(contentsOfFile: "\(dir)/env", encoding: .utf8)
        let port = try #require(env.split(separator: "\n").first { $0.hasPrefix("PGPORT=") }?.dropFirst(7))
        let password = try String(contentsOfFile: "\(dir)/pwfile", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return TestPostgres(port: String(port), password: password)
    }

    /// Runs SQL as the superuser; returns unaligned tuples.
    @discardableResult
    func psql(_ sql: String, database: String = "postgres") throws -> String {
        try sh("PGPASSWORD='\(password)' psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p \(port) -U postgres -d '\(database)' <<'SQL'\n\(sql)\nSQL")
    }

    /// A new database owned by a new login role with its own password; dropped by `drop`.
    func makeDatabase(_ prefix: String) throws -> (name: String, user: String, password: String) {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let name = "\(prefix)_\(suffix)", user = "u_\(suffix)", secret = "p:@/w\(suffix)"
        try psql("CREATE ROLE \(user) LOGIN PASSWORD '\(secret)'; CREATE DATABASE \(name) OWNER \(user);")
        return (name, user, secret)
    }

    func drop(_ names: [String], roles: [String] = []) {
        for name in names { _ = try? psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE);") }
        for role in roles { _ = try? psql("DROP ROLE IF EXISTS \(role);") }
    }

    /// A URL with the password embedded, percent-encoded.
    func url(database: String, user: String, password: String) -> String {
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        return "postgres://\(user):\(encoded)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }
}
