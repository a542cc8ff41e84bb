package import Foundation

/// What kind of object a storage name refers to; each kind lives in its own folder.
package enum ObjectKind: String, Sendable, CaseIterable {
    case config, keys, data, index, snapshots, locks
}

/// One stored object: its kind and name (a lowercase hex id, or `config`).
package struct Handle: Hashable, Sendable, CustomStringConvertible {
    package var kind: ObjectKind
    package var name: String

    package init(_ kind: ObjectKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    package static let config = Handle(.config, "config")
    package var description: String { kind == .config ? "config" : "\(kind.rawValue)/\(name)" }
}

/// How a storage failure should be treated: `notFound` is an answer, `transient` may be retried,
/// `permanent` may not.
package enum StorageErrorKind: Sendable, Equatable {
    case notFound, transient, permanent
}

package struct StorageError: Error, CustomStringConvertible {
    package var kind: StorageErrorKind
    package var handle: Handle?
    package var message: String

    package init(_ kind: StorageErrorKind, _ handle: Handle?, _ message: String) {
        self.kind = kind
        self.handle = handle
        self.message = message
    }

    package var description: String {
        if let handle { return "\(handle): \(message)" }
        return message
    }
}

/// Storage of named byte objects: the only thing a backend implements.
///
/// Contract:
/// - `save` is atomic: after it returns the object is complete and durable; if it throws or the
///   process dies, the object is either absent or complete, never partial. Names other than
///   `config` are SHA-256 of their bytes, so saving an existing name may keep the stored object;
///   saving `config` when one exists fails (`permanent`): a repository is never replaced.
/// - `load` returns exactly the requested range (`length == nil`: to the end) or throws
///   `notFound` / an error; loads are idempotent.
/// - `list` returns every complete object of a kind, in no particular order.
/// - `remove` of a missing object throws `notFound`.
/// - Implementations are safe to call from many threads at once.
package protocol Storage: Sendable {
    /// Where the repository is, for messages (never carries credentials).
    var location: String { get }
    func save(_ handle: Handle, _ data: Data) throws
    func load(_ handle: Handle, offset: Int, length: Int?) throws -> Data
    func size(_ handle: Handle) throws -> Int
    func list(_ kind: ObjectKind) throws -> [String]
    func remove(_ handle: Handle) throws
    /// Whether a repository (its `config`) exists here.
    func exists() throws -> Bool
}

extension Storage {
    package func load(_ handle: Handle) throws -> Data { try load(handle, offset: 0, length: nil) }
}
