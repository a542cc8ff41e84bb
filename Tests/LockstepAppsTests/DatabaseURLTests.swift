import LockstepApps
import Testing

@Suite("database URL redaction")
struct DatabaseURLTests {
    @Test("every password is replaced by ****", arguments: [
        ("postgres://connect:pw@db/connect", "postgres://connect:****@db/connect"),
        ("postgresql://u:p%40ss@db.example.org:5432/connect?sslmode=verify-full",
         "postgresql://u:****@db.example.org:5432/connect?sslmode=verify-full"),
        ("postgres://u:pa/ss?x#y@host/db", "postgres://u:****@host/db"),
        ("postgres://u:p@ss@host/db", "postgres://u:****@host/db"),
        ("postgres://u:@host/db", "postgres://u:****@host/db"),
        ("postgres://host/db?user=u&password=secret&sslmode=require", "postgres://host/db?user=u&password=****&sslmode=require"),
        ("postgres://host/db?sslmode=require&PASSWORD=secret", "postgres://host/db?sslmode=require&PASSWORD=****"),
        ("postgres://host/db?sslpassword=abc", "postgres://host/db?sslpassword=****"),
        ("postgres://u:p@host/db?password=q", "postgres://u:****@host/db?password=****"),
        ("host=db user=connect password=secret dbname=connect", "host=db user=connect password=**** dbname=connect"),
        ("host=db password='two \\' words' dbname=x", "host=db password=**** dbname=x"),
    ])
    func redacts(url: String, expected: String) {
        let database = DatabaseURL(key: "Postgres.URL", unredacted: url, origin: .defaultValue("test"))
        #expect(database.redacted == expected)
        #expect(database.hasEmbeddedPassword)
        #expect(database.unredacted == url)
        #expect(everyRendering(database).contains(expected))
        for secret in ["pw", "p%40ss", "pa/ss", "secret", "abc", "two"] where url.contains(secret) {
            #expect(!everyRendering(database).contains(secret), "\(secret) printed")
        }
    }

    @Test("URLs without a password are shown as they are", arguments: [
        "postgres://connect@db.example.org/connect",
        "postgres://db.example.org:5432/connect?sslmode=require",
        "postgres://host/db?user=a@b",
        "postgres:///connect?host=/var/run/postgresql",
        "host=db user=connect dbname=connect",
    ])
    func keepsPlainURLs(url: String) {
        #expect(DatabaseURL.redact(url) == url)
        #expect(!DatabaseURL(key: "Postgres.URL", unredacted: url, origin: .defaultValue("test")).hasEmbeddedPassword)
    }

    @Test("a secret prints as ****")
    func secrets() {
        let secret = ConnectSecret(key: "Postgres.Password", revealed: "hunter2",
                                   origin: .environment(variable: "CONNECT_POSTGRES_PASSWORD"))
        #expect(secret.revealed == "hunter2")
        #expect(!everyRendering(secret).contains("hunter2"))
        #expect(String(describing: secret) == "Postgres.Password = **** (environment variable CONNECT_POSTGRES_PASSWORD)")
        #expect(!everyRendering([secret]).contains("hunter2"))
        #expect(!"\(Optional(secret) as Any)".contains("hunter2"))
    }
}
