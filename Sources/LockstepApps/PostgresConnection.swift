import Foundation

/// How lockstep hands a configured database to `pg_dump`, `pg_restore` and `psql`: the URL with
/// every password taken out (`target`, safe to put on a command line, where `ps` shows it) and
/// the password apart (`password`, given to the program only through a password file).
/// `Postgres.Password` takes the place of a password written in the URL, as in Connect.
package struct PostgresConnection: Sendable {
    /// The connection URL or string without any password.
    package let target: String
    /// Never print it.
    package let password: String?

    package init(target: String, password: String?) {
        self.target = target
        self.password = password
    }

    package init(_ database: PostgresDatabase) {
        let (target, embedded) = Self.split(database.unredactedURL)
        self.init(target: target, password: database.password?.revealed ?? embedded)
    }

    /// The same server and user, another database name (for a restore into a new database).
    package func with(database name: String) -> PostgresConnection {
        if target.contains("://") {
            // postgres://user@host:port/NAME?params
            guard let schemeEnd = target.range(of: "://") else { return self }
            let rest = target[schemeEnd.upperBound...]
            let pathStart = rest.firstIndex(of: "/")
            let queryStart = rest.firstIndex(of: "?")
            let authorityEnd = [pathStart, queryStart].compactMap { $0 }.min() ?? rest.endIndex
            let query = queryStart.map { String(rest[$0...]) } ?? ""
            let escaped = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? name
            return PostgresConnection(target: String(target[..<authorityEnd]) + "/" + escaped + query, password: password)
        }
        let kept = target.split(separator: " ").filter { !$0.lowercased().hasPrefix("dbname=") }
        return PostgresConnection(target: (kept + ["dbname='\(name.replacingOccurrences(of: "'", with: "\\'"))'"]).joined(separator: " "), password: password)
    }

    /// The database name the target names (the URL path, or `dbname=`), if any.
    package var databaseName: String? {
        if let schemeEnd = target.range(of: "://") {
            let rest = target[schemeEnd.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let path = rest[rest.index(after: slash)...].prefix { $0 != "?" }
            return path.isEmpty ? nil : String(path).removingPercentEncoding
        }
        for part in target.split(separator: " ") where part.lowercased().hasPrefix("dbname=") {
            return String(part.dropFirst(7)).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        return nil
    }

    /// Splits a URL (`postgres://user:secret@host/db?password=…`) or a `key=value` connection
    /// string into the text without passwords and the (percent-decoded) password found.
    package static func split(_ url: String) -> (target: String, password: String?) {
        var text = url
        var password: String?
        if let schemeEnd = text.range(of: "://") {
            let rest = text[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "?" } ?? rest.endIndex
            // As in DatabaseURL.redact: the user info ends at the last `@` before any query.
            if let at = rest[..<authorityEnd].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                let raw = String(rest[rest.index(after: colon)..<at])
                password = raw.removingPercentEncoding ?? raw
                text = String(text[..<colon]) + String(text[at...])
            }
            if let q = text.firstIndex(of: "?") {
                var kept = [Substring]()
                for parameter in text[text.index(after: q)...].split(separator: "&") {
                    let name = parameter.prefix { $0 != "=" }.lowercased()
                    if name == "password" {
                        let raw = String(parameter.drop { $0 != "=" }.dropFirst())
                        password = raw.removingPercentEncoding ?? raw
                    } else {
                        kept.append(parameter)
                    }
                }
                text = String(text[..<q]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
            }
            return (text, password)
        }
        // key=value connection string; a value may be single-quoted with backslash escapes.
        var kept = [String]()
        var i = text.startIndex
        while i < text.endIndex {
            while i < text.endIndex, text[i] == " " || text[i] == "\t" { i = text.index(after: i) }
            guard i < text.endIndex else { break }
            let start = i
            while i < text.endIndex, text[i] != "=" && text[i] != " " { i = text.index(after: i) }
            let name = text[start..<i].lowercased()
            var value = ""
            if i < text.endIndex, text[i] == "=" {
                i = text.index(after: i)
                if i < text.endIndex, text[i] == "'" {
                    i = text.index(after: i)
                    while i < text.endIndex, text[i] != "'" {
                        if text[i] == "\\", text.index(after: i) < text.endIndex { i = text.index(after: i) }
                        value.append(text[i])
                        i = text.index(after: i)
                    }
                    if i < text.endIndex { i = text.index(after: i) }
                } else {
                    while i < text.endIndex, text[i] != " " && text[i] != "\t" {
                        value.append(text[i])
                        i = text.index(after: i)
                    }
                }
            }
            if name == "password" { password = value } else { kept.append(String(text[start..<i])) }
        }
        return (kept.joined(separator: " "), password)
    }
}
