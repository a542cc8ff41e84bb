/// An error a user sees: what happened and what to do, in one line. The description never
/// carries a secret. `code` decides the exit status (see `docs/exit-codes.md`).
package struct LockstepError: Error, CustomStringConvertible, Sendable {
    package enum Code: Sendable, Equatable {
        case failure
        case noRepository
        case repositoryExists
        case wrongPassword
        case locked
        case usage
        case damaged
        case serviceNotStarted
    }

    package var code: Code
    package var message: String
    /// `.serviceNotStarted` after a backup: the snapshot committed anyway (hex id), if any.
    package var committedSnapshot: String?

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}
