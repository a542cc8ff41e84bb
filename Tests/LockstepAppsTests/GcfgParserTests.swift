import Foundation
import LockstepApps
import LockstepCore
import LockstepTestSupport
import Testing

@Suite("gcfg syntax")
struct GcfgParserTests {
    static let path = "/etc/test/app.gcfg"

    func parse(_ text: String) throws -> GcfgDocument { try GcfgParser.parse(text, path: Self.path) }

    func value(_ text: String, _ section: String = "S", _ name: String = "v", subsection: String? = nil) throws -> String? {
        try parse(text).value(section: section, subsection: subsection, name: name)?.text
    }

    @Test("sections, subsections and names; section and variable names ignore case, subsections do not")
    func sectionsAndCase() throws {
        let doc = try parse("""
        [Server]
        DataDir = /a
        [LDAP "Corp"]
        BindDN = x
        [ldap "corp"]
        BindDN = y
        """)
        #expect(doc.value(section: "server", name: "datadir")?.text == "/a")
        #expect(doc.value(section: "SERVER", name: "DATADIR")?.text == "/a")
        #expect(doc.value(section: "Ldap", subsection: "Corp", name: "binddn")?.text == "x")
        #expect(doc.value(section: "LDAP", subsection: "corp", name: "BindDN")?.text == "y")
        #expect(doc.value(section: "LDAP", name: "BindDN") == nil)
        #expect(doc.subsections(of: "ldap") == ["Corp", "corp"])
        #expect(doc.hasSection("server"))
        #expect(doc.hasSection("LDAP", subsection: "Corp"))
        #expect(!doc.hasSection("LDAP"))
        #expect(doc.headers.map(\.line) == [1, 3, 5])
    }

    @Test("a quoted subsection keeps blanks and knows \\\" and \\\\")
    func subsectionEscapes() throws {
        let doc = try parse(#"""
        [LDAP  "a \"quoted\" name \\ with ; and # inside"  ]   ; trailing comment
        k = v
        """#)
        #expect(doc.subsections(of: "LDAP") == [#"a "quoted" name \ with ; and # inside"#])
        #expect(doc.value(section: "LDAP", subsection: #"a "quoted" name \ with ; and # inside"#, name: "k")?.text == "v")
    }

    @Test("blanks inside the brackets are allowed")
    func headerBlanks() throws {
        let doc = try parse("[ Server ]\nk=v\n[\tLDAP\t\"x\"\t]\nk=w")
        #expect(doc.value(section: "Server", name: "k")?.text == "v")
        #expect(doc.value(section: "LDAP", subsection: "x", name: "k")?.text == "w")
    }

    @Test("comments: whole-line and trailing, ';' and '#', but not inside quotes")
    func comments() throws {
        let doc = try parse("""
        ; a comment
        # another
        [S] # after a header
          ; indented comment
        a = one ; trailing
        b = two # trailing
        c = "three ; not # a comment" ; but this is
        d = x";"y#z
        e=f;g
        """)
        #expect(doc.value(section: "S", name: "a")?.text == "one")
        #expect(doc.value(section: "S", name: "b")?.text == "two")
        #expect(doc.value(section: "S", name: "c")?.text == "three ; not # a comment")
        #expect(doc.value(section: "S", name: "d")?.text == "x;y")
        #expect(doc.value(section: "S", name: "e")?.text == "f")
        #expect(doc.entries.count == 5)
    }

    @Test("a bare name is a blank value, read as true; `name =` is the empty string")
    func bareNames() throws {
        let doc = try parse("[S]\nEnabled\nDisabled = false\nEmpty =\nTrailing ; comment\nYes = YES\nOdd = maybe")
        let enabled = try #require(doc.value(section: "S", name: "enabled"))
        #expect(enabled.isBlank)
        #expect(enabled.text == nil)
        #expect(enabled.bool == true)
        #expect(doc.value(section: "S", name: "Disabled")?.bool == false)
        #expect(doc.value(section: "S", name: "Empty")?.text == "")
        #expect(doc.value(section: "S", name: "Empty")?.isBlank == false)
        #expect(doc.value(section: "S", name: "Trailing")?.isBlank == true)
        #expect(doc.value(section: "S", name: "Yes")?.bool == true)
        #expect(doc.value(section: "S", name: "Odd")?.bool == nil)
    }

    @Test("escapes in values, inside and outside quotes", arguments: [
        (#"v = "a\"b""#, "a\"b"),
        (#"v = a\"b"#, "a\"b"),
        (#"v = "a\\b""#, "a\\b"),
        (#"v = C:\\temp"#, "C:\\temp"),
        (#"v = "line1\nline2""#, "line1\nline2"),
        (#"v = "col1\tcol2""#, "col1\tcol2"),
        (#"v = "back\bspace""#, "back\u{8}space"),
        (#"v = one\ttwo"#, "one\ttwo"),
    ])
    func escapes(line: String, expected: String) throws {
        #expect(try value("[S]\n" + line) == expected)
    }

    @Test("blanks around a value go, blanks inside stay, quoted blanks stay", arguments: [
        ("v =    spaced    out   ", "spaced    out"),
        ("v =\t\ttabs\tinside\t", "tabs\tinside"),
        ("v = \"  padded  \"  ", "  padded  "),
        ("v = a \"  b  \" c", "a   b   c"),
        ("v = \"\"", ""),
        ("v = \"\" x", " x"),
        ("v=tight", "tight"),
        ("v = a=b=c", "a=b=c"),
    ])
    func whitespace(line: String, expected: String) throws {
        #expect(try value("[S]\n" + line) == expected)
    }

    @Test("a trailing backslash continues the value; later lines keep their numbers")
    func continuation() throws {
        let doc = try parse("[S]\nv = one \\\n    two \\\n  three\nw = \"in \\\nquotes\"\nx = after")
        #expect(doc.value(section: "S", name: "v")?.text == "one     two   three")
        #expect(doc.value(section: "S", name: "v")?.line == 2)
        #expect(doc.value(section: "S", name: "w")?.text == "in quotes")
        #expect(doc.value(section: "S", name: "w")?.line == 5)
        #expect(doc.value(section: "S", name: "x")?.line == 7)
        #expect(try value("[S]\nv = \\\n  leading") == "leading")
    }

    @Test("repeated sections add up; the last value wins; `values` keeps every one in order")
    func repeatedAndMultiValued() throws {
        let doc = try parse("""
        [Python]
        Executable = /opt/python/3.10/bin/python
        Enabled = false
        [Server]
        DataDir = /a
        [python]
        executable = /opt/python/3.11/bin/python
        Enabled = true
        [Python]
        EXECUTABLE = /opt/python/3.12/bin/python
        """)
        #expect(doc.value(section: "Python", name: "Enabled")?.text == "true")
        #expect(doc.value(section: "Python", name: "Executable")?.text == "/opt/python/3.12/bin/python")
        let all = doc.values(section: "Python", name: "Executable")
        #expect(all.map(\.text) == ["/opt/python/3.10/bin/python", "/opt/python/3.11/bin/python", "/opt/python/3.12/bin/python"])
        #expect(all.map(\.line) == [2, 7, 10])
        #expect(doc.names(section: "python") == ["Executable", "Enabled"])
    }

    @Test("a bare name resets a multi-valued variable")
    func blankResets() throws {
        let doc = try parse("[Python]\nExecutable = /a\nExecutable\nExecutable = /b\nExecutable = /c")
        #expect(doc.values(section: "Python", name: "Executable").map(\.text) == ["/b", "/c"])
        #expect(doc.value(section: "Python", name: "Executable")?.text == "/c")
    }

    @Test("names hold letters, digits and dashes; every value keeps its source line")
    func namesAndLines() throws {
        let doc = try parse("\n\n[Sec-2]\n\n  key-1 = a\n\tKey2=b\n")
        #expect(doc.value(section: "sec-2", name: "KEY-1")?.line == 5)
        #expect(doc.value(section: "Sec-2", name: "key2")?.line == 6)
        #expect(doc.entries.allSatisfy { $0.section == "Sec-2" && $0.subsection == nil })
    }

    @Test("CRLF line ends, a byte order mark, an empty file and a file of comments")
    func fileShapes() throws {
        let crlf = try GcfgParser.parse(bytes: [0xEF, 0xBB, 0xBF] + Array("[S]\r\nv = a \r\nw = \"b\"\r\nx = c \\\r\n d\r\n".utf8), path: Self.path)
        #expect(crlf.value(section: "S", name: "v")?.text == "a")
        #expect(crlf.value(section: "S", name: "w")?.text == "b")
        #expect(crlf.value(section: "S", name: "x")?.text == "c  d")
        #expect(crlf.value(section: "S", name: "x")?.line == 4)
        #expect(try parse("").entries.isEmpty)
        #expect(try parse("; only\n# comments\n\n").headers.isEmpty)
        #expect(try parse("[Empty]").hasSection("empty"))
    }

    @Test("non-ASCII values and letters in names")
    func unicode() throws {
        let doc = try parse("[Sérveur]\nnamé = «valeur» ✓")
        #expect(doc.value(section: "SÉRVEUR", name: "NAMÉ")?.text == "«valeur» ✓")
    }

    @Test("reads a file from disk; a missing file is named")
    func fromDisk() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let file = dir.appending("app.gcfg")
        try Data("[S]\nv = 1\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try GcfgParser.parse(contentsOf: file).value(section: "S", name: "v")?.text == "1")
        let missing = dir.appending("missing.gcfg")
        let message = expectLockstepError { _ = try GcfgParser.parse(contentsOf: missing) }
        #expect(message.contains(missing))
        #expect(message.contains("does not exist"))
        let asDirectory = expectLockstepError { _ = try GcfgParser.parse(contentsOf: dir.path) }
        #expect(asDirectory.contains("is a directory"))
    }

    /// (file text, line the error must name, words the message must contain)
    static let malformed: [(String, Int, String)] = [
        ("[S]\nv = \"unterminated\n", 2, "unterminated quoted value"),
        ("[S]\nok = 1\nv = \"never closed", 3, "unterminated quoted value"),
        ("[S]\nv = \"a\" \"b", 2, "unterminated quoted value"),
        ("[S \"sub]\nv = 1", 1, "unterminated subsection"),
        ("\n[Server\nv = 1", 2, "missing its closing ']'"),
        ("[Server", 1, "missing its closing ']'"),
        ("[]\n", 1, "empty section header"),
        ("[ \"sub\"]\n", 1, "expected a section name"),
        ("[Server.Sub]\n", 1, "invalid character '.' in section name"),
        ("[Ser_ver]\n", 1, "invalid character '_' in section name"),
        ("[1Server]\n", 1, "must start with a letter"),
        ("[S \"\"]\n", 1, "empty subsection name"),
        ("[S \"a\" \"b\"]\n", 1, "expected ']'"),
        ("[S \"a\" x]\n", 1, "expected ']'"),
        ("[S] v = 1\n", 1, "unexpected text after the [S] header"),
        ("; comment\n\nv = 1\n[S]", 3, "before any [Section] header"),
        ("[S]\nna.me = x\n", 2, "invalid character '.' in variable name"),
        ("[S]\nna_me = x\n", 2, "invalid character '_' in variable name"),
        ("[S]\n1name = x\n", 2, "must start with a letter"),
        ("[S]\n-name = x\n", 2, "must start with a letter"),
        ("[S]\nname value\n", 2, "expected '='"),
        ("[S]\n= value\n", 2, "unexpected '='"),
        ("[S]\n\nv = a\\qb\n", 3, "unknown escape sequence in the value of v"),
        ("[S]\nv = \"a\\xb\"\n", 2, "unknown escape sequence in the value of v"),
        ("[S]\nv = a\\", 2, "backslash at the end of the file"),
        ("[S \"a\\nb\"]\n", 1, "invalid escape \\n in the subsection name"),
        ("[S]\nv = 1\n\n[S \"x\"]\n  k = \"open\n", 5, "unterminated quoted value of k"),
    ]

    @Test("malformed input names the file, the line and what is wrong", arguments: malformed)
    func malformedInput(text: String, line: Int, what: String) {
        let message = expectLockstepError { _ = try parse(text) }
        #expect(message.hasPrefix("\(Self.path):\(line): "), "\(message)")
        #expect(message.contains(what), "\(message)")
        #expect(!message.contains("\n"))
    }

    @Test("a NUL byte or invalid UTF-8 is refused with its line")
    func badBytes() {
        let nul = expectLockstepError { _ = try GcfgParser.parse(bytes: Array("[S]\nv = a".utf8) + [0] + Array("\n".utf8), path: Self.path) }
        #expect(nul.hasPrefix("\(Self.path):2: "))
        #expect(nul.contains("NUL"))
        let latin1 = expectLockstepError { _ = try GcfgParser.parse(bytes: Array("[S]\n\nv = caf".utf8) + [0xE9], path: Self.path) }
        #expect(latin1.hasPrefix("\(Self.path):3: "))
        #expect(latin1.contains("UTF-8"))
    }

    @Test("an error message never repeats the value, which may be a password")
    func errorsHideValues() {
        for text in ["[Postgres]\nPassword = \"hunter2-secret", "[Postgres]\nPassword = hunter2-secret\\z"] {
            let message = expectLockstepError { _ = try parse(text) }
            #expect(!message.contains("hunter2"), "\(message)")
            #expect(message.contains("Password"))
        }
    }

    @Test("a document describes its shape, never its values")
    func documentDescription() throws {
        let doc = try parse("[Postgres]\nPassword = hunter2-secret")
        #expect(!everyRendering(doc).contains("hunter2"))
        #expect(String(describing: doc).contains(Self.path))
    }

    @Test("the production fixture parses whole")
    func productionFixture() throws {
        let doc = try document(Fixtures.production)
        #expect(doc.subsections(of: "ldap") == ["Corporate Directory", "Partner Directory"])
        #expect(doc.value(section: "LDAP", subsection: "Corporate Directory", name: "BindPassword")?.text == Fixtures.ldapBindSecret)
        #expect(doc.value(section: "Server", name: "SenderEmail")?.text == "connect-noreply@example.org")
        #expect(doc.value(section: "Server", name: "PublicWarning")?.text == "Authorised use only; activity is logged.")
        #expect(doc.value(section: "Applications", name: "Supervisor")?.text == "/usr/local/bin/supervisor     --quiet")
        #expect(doc.value(section: "Quarto", name: "Enabled")?.bool == true)
        #expect(doc.values(section: "Python", name: "Executable").count == 3)
        let url = try #require(doc.value(section: "Postgres", name: "URL"))
        #expect(url.text?.contains(Fixtures.dbPassword) == true)
        #expect(url.line == line(of: "URL = \"postgres://", in: Fixtures.production))
    }
}
