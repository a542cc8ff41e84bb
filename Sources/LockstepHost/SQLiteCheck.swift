import CSQLite

/// `PRAGMA integrity_check` on a SQLite database file, opened read-only.
package enum SQLiteCheck {
    /// "ok", or what SQLite reported (or why the file could not be opened).
    package static func integrity(of path: String) -> String {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else {
            return "cannot open: " + (db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory")
        }
        var statement: OpaquePointer?
        defer { sqlite3_finalize(statement) }
        guard sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nil) == SQLITE_OK else {
            return "cannot check: " + String(cString: sqlite3_errmsg(db))
        }
        var lines = [String]()
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_ROW, let text = sqlite3_column_text(statement, 0) {
                lines.append(String(cString: text))
            } else if rc == SQLITE_DONE {
                break
            } else {
                return "check failed: " + String(cString: sqlite3_errmsg(db))
            }
        }
        return lines.joined(separator: "; ")
    }
}
