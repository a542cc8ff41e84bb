package import Foundation
import Synchronization

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
    /// Starts an object written piece by piece and named when complete (a pack, named by the
    /// hash of its bytes). The default buffers it and calls `save`.
    func beginObject() throws -> any PendingObject
    /// A hint that the whole object will be read soon (best effort, never fails). The default
    /// does nothing.
    func prefetch(_ handle: Handle)
}

extension Storage {
    package func load(_ handle: Handle) throws -> Data { try load(handle, offset: 0, length: nil) }

    package func prefetch(_ handle: Handle) {}

    package func beginObject() throws -> any PendingObject { BufferedObject(storage: self) }
}

/// An object being written: appended to by one thread at a time, then committed under its name
/// (atomic and durable, as `save`) or discarded.
package protocol PendingObject: AnyObject, Sendable {
    func append(_ bytes: UnsafeRawBufferPointer) throws
    func commit(as handle: Handle) throws
    func discard()
}

/// A pending object held in memory and saved whole on commit.
package final class BufferedObject: PendingObject {
    private let storage: any Storage
    private let data = Mutex(Data())

    package init(storage: any Storage) { self.storage = storage }

    package func append(_ bytes: UnsafeRawBufferPointer) throws { data.withLock { $0.append(contentsOf: bytes) } }

    package func commit(as handle: Handle) throws {
        let bytes = data.withLock { d in
            defer { d = Data() }
            return d
        }
        try storage.save(handle, bytes)
    }

    package func discard() { data.withLock { $0 = Data() } }
}
