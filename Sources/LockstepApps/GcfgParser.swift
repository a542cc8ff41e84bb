import Foundation
import LockstepCore

/// Reads the whole gcfg syntax (the git-config dialect Posit's products use) into a
/// `GcfgDocument`:
///
/// - `[Section]` and `[Section "subsection"]`; blanks are allowed around the parts; the
///   subsection is quoted, may hold anything but a newline, and knows the escapes `\"` and `\\`;
///   an empty subsection (`""`) is refused, as is the dotted `[section.sub]` form.
/// - Section and variable names: letters, digits and `-`, starting with a letter.
/// - `name = value`; a bare `name` (no `=`) is a blank value; `name =` is the empty string.
/// - Values: blanks around the value are dropped, blanks inside kept; double-quoted parts keep
///   everything (blanks, `;`, `#`); the escapes `\"`, `\\`, `\n`, `\t` and `\b` work inside and
///   outside quotes; a backslash at the end of a line continues the value on the next line.
/// - `;` and `#` start a comment, on a line of their own or after a header or value, except
///   inside quotes.
/// - CRLF line ends and a leading UTF-8 byte order mark are accepted.
///
/// Anything else is refused with a `LockstepError` whose one-line message is
/// `PATH:LINE: what is wrong` (1-based line). Messages never quote a value, which may be a
/// password.
package struct GcfgParser {
    private let path: String
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var section: (name: String, subsection: String?)?
    private var headers: [GcfgDocument.SectionHeader] = []
    private var entries: [GcfgValue] = []

    /// Reads and parses the file at `path`.
    package static func parse(contentsOf path: String) throws -> GcfgDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                let what = isDirectory.boolValue ? "is a directory, not a configuration file"
                    : "cannot be read by this user (run as root, or check its permissions)"
                throw LockstepError(.failure, "the configuration file \(path) \(what)")
            }
            throw LockstepError(.failure, "the configuration file \(path) does not exist (give its path with --app-config)")
        }
        return try parse(bytes: [UInt8](data), path: path)
    }

    /// Parses `text` as if read from `path` (used in messages).
    package static func parse(_ text: String, path: String) throws -> GcfgDocument {
        try parse(bytes: Array(text.utf8), path: path)
    }

    /// Parses raw file bytes, which must be UTF-8 without NUL bytes.
    package static func parse(bytes: [UInt8], path: String) throws -> GcfgDocument {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        var lineNumber = 1
        for rawLine in body.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if rawLine.contains(0) {
                throw LockstepError(.failure, "\(path):\(lineNumber): the file contains a NUL byte; it is not a text configuration file")
            }
            if String(validating: rawLine, as: UTF8.self) == nil {
                throw LockstepError(.failure, "\(path):\(lineNumber): the line is not valid UTF-8; save the file as UTF-8")
            }
            lineNumber += 1
        }
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(body.count)
        for scalar in String(decoding: body, as: UTF8.self).unicodeScalars {
            if scalar == "\n", scalars.last == "\r" { scalars.removeLast() }
            scalars.append(scalar)
        }
        var parser = GcfgParser(path: path, scalars: scalars)
        try parser.run()
        return GcfgDocument(path: path, headers: parser.headers, entries: parser.entries)
    }

    private init(path: String, scalars: [Unicode.Scalar]) {
        self.path = path
        self.scalars = scalars
    }

    // MARK: - Scanning

    private var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    private mutating func advance() {
        if scalars[index] == "\n" { line += 1 }
        index += 1
    }

    private static func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\r" }
    private static func isLetter(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || (c.value >= 0x80 && c.properties.isAlphabetic)
    }
    private static func isDigit(_ c: Unicode.Scalar) -> Bool {
        ("0"..."9").contains(c) || (c.value >= 0x80 && c.properties.numericType == .decimal)
    }
    private static func isNameCharacter(_ c: Unicode.Scalar) -> Bool { isLetter(c) || isDigit(c) || c == "-" }

    private mutating func skipBlanks() {
        while let c = current, Self.isBlank(c) { advance() }
    }

    /// Skips a comment up to (not including) the end of the line.
    private mutating func skipComment() {
        while let c = current, c != "\n" { advance() }
    }

    private func fail(_ what: String, line: Int? = nil) -> LockstepError {
        LockstepError(.failure, "\(path):\(line ?? self.line): \(what)")
    }

    /// How a character is shown in a message: printable ones quoted, others by code point.
    private static func show(_ c: Unicode.Scalar) -> String {
        if c.properties.isWhitespace || c.properties.generalCategory == .control {
            return "U+" + String(c.value, radix: 16, uppercase: true)
        }
        return "'\(c)'"
    }

    // MARK: - Grammar

    private mutating func run() throws {
        while true {
            skipBlanks()
            guard let c = current else { return }
            switch c {
            case "\n": advance()
            case ";", "#": skipComment()
            case "[": try sectionHeader()
            default:
                if Self.isLetter(c) {
                    try variable()
                } else if Self.isDigit(c) || c == "-" {
                    throw fail("a variable name must start with a letter")
                } else {
                    throw fail("unexpected \(Self.show(c)); expected a [Section] header, a `name = value` line or a comment")
                }
            }
        }
    }

    /// A name: letters, digits and `-`, starting with a letter. `what` names it in messages.
    private mutating func name(_ what: String) throws -> String {
        guard let first = current, Self.isLetter(first) else {
            if let c = current, Self.isDigit(c) || c == "-" { throw fail("a \(what) must start with a letter") }
            throw fail("expected a \(what)")
        }
        var name = String.UnicodeScalarView()
        while let c = current, Self.isNameCharacter(c) {
            name.append(c)
            advance()
        }
        return String(name)
    }

    private mutating func sectionHeader() throws {
        let headerLine = line
        advance() // [
        skipBlanks()
        if current == "]" { throw fail("empty section header []; write [SectionName]") }
        if current == "\"" { throw fail("expected a section name before the quoted subsection") }
        let sectionName = try name("section name")
        if let c = current, !Self.isBlank(c), c != "\"", c != "]" {
            if c == "\n" { throw fail("section header [\(sectionName) is missing its closing ']'", line: headerLine) }
            let hint = c == "." ? " (write [\(sectionName) \"subsection\"] instead of the dotted form)" : ""
            throw fail("invalid character \(Self.show(c)) in section name \"\(sectionName)\"; names hold letters, digits and '-'\(hint)")
        }
        skipBlanks()
        var subsection: String?
        if current == "\"" {
            subsection = try quotedSubsection(sectionName)
            skipBlanks()
        }
        guard let close = current, close == "]" else {
            if current == nil || current == "\n" {
                throw fail("section header [\(sectionName) is missing its closing ']'", line: headerLine)
            }
            throw fail("unexpected \(Self.show(current!)) in the header of section \(sectionName); expected ']'")
        }
        advance()
        skipBlanks()
        if let c = current, c != "\n", c != ";", c != "#" {
            throw fail("unexpected text after the [\(sectionName)] header; put variables on their own lines")
        }
        section = (sectionName, subsection)
        headers.append(GcfgDocument.SectionHeader(section: sectionName, subsection: subsection, line: headerLine))
    }

    private mutating func quotedSubsection(_ sectionName: String) throws -> String {
        let openLine = line
        advance() // "
        var text = String.UnicodeScalarView()
        while true {
            guard let c = current, c != "\n" else {
                throw fail("unterminated subsection name in the header of section \(sectionName); close it with '\"'", line: openLine)
            }
            advance()
            if c == "\"" { break }
            if c == "\\" {
                guard let escaped = current, escaped == "\"" || escaped == "\\" else {
                    let shown = current.map { $0 == "\n" ? "at the end of the line" : "\\\($0)" } ?? "at the end of the file"
                    throw fail("invalid escape \(shown) in the subsection name of section \(sectionName); only \\\" and \\\\ are allowed there")
                }
                advance()
                text.append(escaped)
            } else {
                text.append(c)
            }
        }
        if text.isEmpty {
            throw fail("empty subsection name in [\(sectionName) \"\"]; write [\(sectionName)] for the section itself", line: openLine)
        }
        return String(text)
    }

    private mutating func variable() throws {
        let nameLine = line
        let variableName = try name("variable name")
        if let c = current, !Self.isBlank(c), c != "=", c != "\n", c != ";", c != "#" {
            throw fail("invalid character \(Self.show(c)) in variable name \"\(variableName)\"; names hold letters, digits and '-'")
        }
        guard let section else {
            throw fail("variable \(variableName) comes before any [Section] header; put it under its section")
        }
        skipBlanks()
        var text: String?
        if let c = current, c != "\n", c != ";", c != "#" {
            guard c == "=" else {
                throw fail("expected '=' after variable name \(variableName)")
            }
            advance()
            text = try value(variableName)
        }
        entries.append(GcfgValue(section: section.name, subsection: section.subsection, name: variableName,
                                 text: text, line: nameLine))
    }

    /// The value after `=`, up to the end of the line or a comment outside quotes.
    private mutating func value(_ variableName: String) throws -> String {
        var text = String.UnicodeScalarView()
        var pendingBlanks = String.UnicodeScalarView() // blanks outside quotes, kept only if more follows
        var started = false
        var quoteLine: Int?
        func emit(_ c: Unicode.Scalar) {
            if started { text.append(contentsOf: pendingBlanks) }
            pendingBlanks.removeAll()
            started = true
            text.append(c)
        }
        while let c = current {
            if quoteLine == nil && (c == "\n" || c == ";" || c == "#") { break }
            if let openLine = quoteLine, c == "\n" {
                throw fail("unterminated quoted value of \(variableName); close the '\"' before the end of the line", line: openLine)
            }
            advance()
            switch c {
            case "\"":
                if quoteLine == nil { quoteLine = line } else { quoteLine = nil }
                if started { text.append(contentsOf: pendingBlanks) }
                pendingBlanks.removeAll()
                started = true
            case "\\":
                guard let escaped = current else {
                    throw fail("the value of \(variableName) ends with a backslash at the end of the file")
                }
                if escaped == "\n" { // a continuation line
                    advance()
                    continue
                }
                advance()
                switch escaped {
                case "\"": emit("\"")
                case "\\": emit("\\")
                case "n": emit("\n")
                case "t": emit("\t")
                case "b": emit("\u{8}")
                default:
                    throw fail("unknown escape sequence in the value of \(variableName); use \\\", \\\\, \\n, \\t or \\b (write \\\\ for a backslash)")
                }
            default:
                if quoteLine == nil && Self.isBlank(c) {
                    pendingBlanks.append(c)
                } else {
                    emit(c)
                }
            }
        }
        if let openLine = quoteLine {
            throw fail("unterminated quoted value of \(variableName); close the '\"' before the end of the file", line: openLine)
        }
        return String(text)
    }
}
