package import Foundation
package import LockstepCore
import Synchronization

/// A `Storage` that keeps every object in memory, honouring the contract documented on `Storage`:
/// saves are atomic, a content-addressed name saved again with the same bytes is harmless and
/// with different bytes fails `permanent` (only `locks` may be overwritten), loads return exactly
/// the requested range or throw, missing objects are `notFound`. Safe from many threads.
package final class MemoryStorage: Storage {
    private let objects = Mutex<[Handle: Data]>([:])
    package let location: String

    package init(location: String = "memory:") {
        self.location = location
    }

    package func save(_ handle: Handle, _ data: Data) throws {
        try objects.withLock { objects in
            if handle.kind == .config, objects[handle] != nil {
                throw StorageError(.permanent, handle, "already exists")
            }
            if handle.kind != .locks, let existing = objects[handle] {
                guard existing == data else {
                    throw StorageError(.permanent, handle, "already exists with different content")
                }
                return
            }
            // A copy that shares no storage with the caller's buffer.
            objects[handle] = Data(data)
        }
    }

    package func load(_ handle: Handle, offset: Int, length: Int?) throws -> Data {
        let data = try object(handle)
        guard offset >= 0, offset <= data.count else {
            throw StorageError(.permanent, handle, "offset \(offset) is outside the object (\(data.count) bytes)")
        }
        let end: Int
        if let length {
            guard length >= 0, length <= data.count - offset else {
                throw StorageError(.permanent, handle, "short read: wanted \(length) bytes at \(offset), object has \(data.count)")
            }
            end = offset + length
        } else {
            end = data.count
        }
        return Data(data[(data.startIndex + offset)..<(data.startIndex + end)])
    }

    package func size(_ handle: Handle) throws -> Int { try object(handle).count }

    package func list(_ kind: ObjectKind) throws -> [String] {
        objects.withLock { objects in objects.keys.filter { $0.kind == kind }.map(\.name) }
    }

    package func remove(_ handle: Handle) throws {
        try objects.withLock { objects in
            guard objects.removeValue(forKey: handle) != nil else {
                throw StorageError(.notFound, handle, "no such object")
            }
        }
    }

    package func exists() throws -> Bool {
        objects.withLock { $0[.config] != nil }
    }

    private func object(_ handle: Handle) throws -> Data {
        guard let data = objects.withLock({ $0[handle] }) else {
            throw StorageError(.notFound, handle, "no such object")
        }
        return data
    }

    // MARK: - For tests: looking at and tampering with what is stored

    /// Every stored object's handle.
    package var handles: [Handle] { objects.withLock { Array($0.keys) } }

    /// How many objects of a kind are stored.
    package func count(_ kind: ObjectKind) -> Int {
        objects.withLock { objects in objects.keys.count(where: { $0.kind == kind }) }
    }

    /// Replaces (or creates) an object's bytes behind the contract's back, as damage or an
    /// attacker would; bypasses the "different content fails" rule.
    package func overwrite(_ handle: Handle, with data: Data) {
        objects.withLock { $0[handle] = Data(data) }
    }

    /// Applies `change` to a stored object's bytes in place. Throws `notFound` when it is missing.
    package func tamper(_ handle: Handle, _ change: (inout Data) -> Void) throws {
        try objects.withLock { objects in
            guard var data = objects[handle] else { throw StorageError(.notFound, handle, "no such object") }
            change(&data)
            objects[handle] = data
        }
    }
}
