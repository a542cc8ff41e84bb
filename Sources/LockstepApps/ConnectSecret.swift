/// A secret setting (a database password): where it came from is printable, the value is
/// not. `description`, `debugDescription` and the mirror (`dump`, string interpolation of a
/// containing value) show `****`; only `revealed` gives the value, for handing to `pg_dump`
/// through its environment or a password file.
package struct ConnectSecret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    package let key: String
    package let origin: ConnectSetting.Origin
    /// The secret itself. Never print it.
    package let revealed: String

    package init(key: String, revealed: String, origin: ConnectSetting.Origin) {
        self.key = key
        self.revealed = revealed
        self.origin = origin
    }

    package var description: String { "\(key) = **** (\(origin))" }
    package var debugDescription: String { description }
    package var customMirror: Mirror { Mirror(self, children: ["key": key, "origin": origin, "value": "****"]) }
}
