import Foundation
package import LockstepCore
import Synchronization

/// A storage that broke the `Storage` contract: which check, and what it did.
package struct ConformanceFailure: Error, CustomStringConvertible {
    package var check: String
    package var message: String
    package var line: Int

    package var description: String { "\(check) (StorageConformance.swift:\(line)): \(message)" }
}

/// The properties every `Storage` must have (the contract documented on `Storage`), as plain
/// throwing functions so any test framework, and any backend, can use them. Each check wants a
/// fresh, empty storage and throws `ConformanceFailure` on the first violation it finds.
package enum StorageConformance {
    package enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        case roundTrip
        case rangedLoad
        case size
        case listPerKind
        case removeAndNotFound
        case existsFollowsConfig
        case concurrentSaves
        case sameNameSavedTwice
        case locksMayBeReplaced
        case configIsNeverReplaced
        case pendingObjects

        package var description: String { rawValue }

        package func run(on storage: any Storage) throws {
            switch self {
            case .roundTrip: try StorageConformance.roundTrip(storage)
            case .rangedLoad: try StorageConformance.rangedLoad(storage)
            case .size: try StorageConformance.size(storage)
            case .listPerKind: try StorageConformance.listPerKind(storage)
            case .removeAndNotFound: try StorageConformance.removeAndNotFound(storage)
            case .existsFollowsConfig: try StorageConformance.existsFollowsConfig(storage)
            case .concurrentSaves: try StorageConformance.concurrentSaves(storage)
            case .sameNameSavedTwice: try StorageConformance.sameNameSavedTwice(storage)
            case .locksMayBeReplaced: try StorageConformance.locksMayBeReplaced(storage)
            case .configIsNeverReplaced: try StorageConformance.configIsNeverReplaced(storage)
            case .pendingObjects: try StorageConformance.pendingObjects(storage)
            }
        }
    }

    /// Runs every check, each on a fresh storage from `make`.
    package static func run(_ make: () throws -> any Storage) throws {
        for check in Check.allCases { try check.run(on: try make()) }
    }

    /// The kinds whose objects are named by a hex id.
    private static let idKinds: [ObjectKind] = [.keys, .data, .index, .snapshots, .locks]

    // MARK: - Checks

    /// What is saved loads back byte for byte, for every kind, from empty to over a MiB.
    package static func roundTrip(_ storage: any Storage) throws {
        try require(!storage.location.isEmpty, "location is empty")
        var seed: UInt64 = 1
        for kind in idKinds {
            for count in [0, 1, 4097, 1 << 20 | 3] {
                seed += 1
                let data = pseudoRandomData(count, seed: seed)
                let handle = Handle(kind, storageID(of: data).hex)
                try storage.save(handle, data)
                let back = try storage.load(handle)
                try require(back == data, "\(handle): saved \(data.count) bytes, loaded \(back.count) different ones")
            }
        }
        let config = Data(#"{"version":1}"#.utf8)
        try storage.save(.config, config)
        try require(try storage.load(.config) == config, "config does not load back")
    }

    /// `load(offset:length:)` returns exactly the range asked for; a range past the end throws
    /// (and not `notFound`: the object is there).
    package static func rangedLoad(_ storage: any Storage) throws {
        let data = pseudoRandomData(10_000, seed: 77)
        for kind in [ObjectKind.data, .index] {
            let handle = Handle(kind, storageID(of: data).hex)
            try storage.save(handle, data)
            let ranges: [(Int, Int?)] = [(0, nil), (0, 0), (0, 1), (1, nil), (4096, 100), (5000, 5000),
                                         (9_999, 1), (9_999, nil), (10_000, nil), (10_000, 0)]
            for (offset, length) in ranges {
                let got = try storage.load(handle, offset: offset, length: length)
                let want = data.subdata(in: offset..<(length.map { offset + $0 } ?? data.count))
                try require(got == want, "\(handle) load(offset: \(offset), length: \(length.map(String.init) ?? "nil")) gave \(got.count) bytes, want \(want.count)")
            }
            for (offset, length) in [(0, 10_001), (9_990, 11), (5000, 6000)] {
                try expectError(nil, "\(handle) load(offset: \(offset), length: \(length)) past the end") {
                    let got = try storage.load(handle, offset: offset, length: length)
                    throw ConformanceFailure(check: "rangedLoad", message: "returned \(got.count) bytes instead of throwing", line: #line)
                }
            }
        }
    }

    /// `size` is the saved byte count; a missing object is `notFound`.
    package static func size(_ storage: any Storage) throws {
        for (i, count) in [0, 1, 1000, 300_001].enumerated() {
            let data = pseudoRandomData(count, seed: 100 + UInt64(i))
            let handle = Handle(i % 2 == 0 ? .data : .snapshots, storageID(of: data).hex)
            try storage.save(handle, data)
            let size = try storage.size(handle)
            try require(size == count, "\(handle): size \(size), saved \(count) bytes")
        }
        try expectError(.notFound, "size of a missing object") { _ = try storage.size(Handle(.data, hexName(1))) }
    }

    /// `list` of each kind returns exactly that kind's names — bare names, each once, even for
    /// `data`, which a backend may spread over sub-folders — and nothing when empty.
    package static func listPerKind(_ storage: any Storage) throws {
        for kind in ObjectKind.allCases {
            let names = try storage.list(kind)
            try require(names.isEmpty, "list(\(kind)) of an empty storage gave \(names)")
        }
        var expected = [ObjectKind: Set<String>]()
        let counts: [ObjectKind: Int] = [.keys: 2, .data: 40, .index: 3, .snapshots: 5, .locks: 2]
        var seed: UInt64 = 1000
        for (kind, count) in counts {
            for _ in 0..<count {
                seed += 1
                let data = pseudoRandomData(64, seed: seed)
                let name = storageID(of: data).hex
                try storage.save(Handle(kind, name), data)
                expected[kind, default: []].insert(name)
            }
        }
        // Names that share their first two hex digits (the same folder, for a spreading backend).
        for tail in ["0", "1", "2"] {
            let name = "ab" + String(repeating: "c", count: 61) + tail
            try storage.save(Handle(.data, name), Data(name.utf8))
            expected[.data, default: []].insert(name)
        }
        try storage.save(.config, Data("{}".utf8))
        expected[.config] = ["config"]
        for kind in ObjectKind.allCases {
            let names = try storage.list(kind)
            try require(names.count == Set(names).count, "list(\(kind)) has duplicates")
            try require(Set(names) == expected[kind, default: []],
                        "list(\(kind)) gave \(names.count) names, want \(expected[kind, default: []].count); unexpected: \(Set(names).subtracting(expected[kind, default: []]).sorted().prefix(3)), missing: \(expected[kind, default: []].subtracting(names).sorted().prefix(3))")
            for name in names {
                try require(!name.contains("/") && !name.hasPrefix("."), "list(\(kind)) gave a name that is not bare: \(name)")
            }
        }
    }

    /// Loading, sizing or removing a missing object throws `notFound`; a removed object is gone.
    package static func removeAndNotFound(_ storage: any Storage) throws {
        for (number, kind) in idKinds.enumerated() {
            let missing = Handle(kind, hexName(UInt8(0x40 + number)))
            try expectError(.notFound, "load of missing \(missing)") { _ = try storage.load(missing) }
            try expectError(.notFound, "ranged load of missing \(missing)") { _ = try storage.load(missing, offset: 0, length: 1) }
            try expectError(.notFound, "size of missing \(missing)") { _ = try storage.size(missing) }
            try expectError(.notFound, "remove of missing \(missing)") { try storage.remove(missing) }

            let data = pseudoRandomData(500, seed: 9)
            let handle = Handle(kind, storageID(of: data).hex)
            // A missing object beside an existing one (the same data folder).
            let sibling = Handle(kind, String(handle.name.prefix(2)) + String(repeating: "0", count: 62))
            try storage.save(handle, data)
            try expectError(.notFound, "load of missing \(sibling)") { _ = try storage.load(sibling) }
            try storage.remove(handle)
            try expectError(.notFound, "load of removed \(handle)") { _ = try storage.load(handle) }
            try expectError(.notFound, "size of removed \(handle)") { _ = try storage.size(handle) }
            try expectError(.notFound, "second remove of \(handle)") { try storage.remove(handle) }
            try require(!(try storage.list(kind)).contains(handle.name), "list(\(kind)) still names removed \(handle)")
            // Saving it again after removal works.
            try storage.save(handle, data)
            try require(try storage.load(handle) == data, "\(handle) saved again after removal does not load back")
        }
        try storage.save(.config, Data("{}".utf8))
        try storage.remove(.config)
        try require(!(try storage.exists()), "exists() after the config was removed")
        try expectError(.notFound, "load of removed config") { _ = try storage.load(.config) }
    }

    /// `exists()` is false until the config is saved — other objects do not count — then true.
    package static func existsFollowsConfig(_ storage: any Storage) throws {
        try require(!(try storage.exists()), "exists() on an empty storage")
        for kind in idKinds {
            let data = pseudoRandomData(32, seed: 5)
            try storage.save(Handle(kind, storageID(of: data).hex), data)
        }
        try require(!(try storage.exists()), "exists() with objects but no config")
        try storage.save(.config, Data("{}".utf8))
        try require(try storage.exists(), "exists() false after the config was saved")
        try require(try storage.list(.config) == ["config"], "list(.config) is not [\"config\"] once saved")
    }

    /// Many threads saving, loading and listing at once: every object arrives intact, once;
    /// threads saving the same content-addressed object all succeed.
    package static func concurrentSaves(_ storage: any Storage) throws {
        let count = 64
        let shared = pseudoRandomData(70_000, seed: 4242)
        let sharedHandle = Handle(.data, storageID(of: shared).hex)
        let errors = Mutex<[String]>([])
        let names = Mutex<[Int: Handle]>([:])
        DispatchQueue.concurrentPerform(iterations: count) { i in
            do {
                let data = pseudoRandomData(1 + (i * 7919) % 90_000, seed: 50_000 + UInt64(i))
                let handle = Handle(i % 4 == 0 ? .index : .data, storageID(of: data).hex)
                try storage.save(handle, data)
                try storage.save(sharedHandle, shared)
                names.withLock { $0[i] = handle }
                let back = try storage.load(handle)
                if back != data { errors.withLock { $0.append("\(handle) loaded different bytes right after its save") } }
                let listed = try storage.list(handle.kind)
                if !listed.contains(handle.name) { errors.withLock { $0.append("\(handle) not listed right after its save") } }
            } catch {
                errors.withLock { $0.append("thread \(i): \(error)") }
            }
        }
        let failures = errors.withLock { $0 }
        try require(failures.isEmpty, "\(failures.count) failures, first: \(failures.first ?? "")")
        let saved = names.withLock { $0 }
        for i in 0..<count {
            let handle = try unwrap(saved[i], "thread \(i) recorded no handle")
            let want = pseudoRandomData(1 + (i * 7919) % 90_000, seed: 50_000 + UInt64(i))
            try require(try storage.load(handle) == want, "\(handle) does not load back after the concurrent saves")
        }
        let data = Set(try storage.list(.data)), index = Set(try storage.list(.index))
        let wantData = Set(saved.values.filter { $0.kind == .data }.map(\.name)).union([sharedHandle.name])
        let wantIndex = Set(saved.values.filter { $0.kind == .index }.map(\.name))
        try require(data == wantData, "list(.data) has \(data.count) names, want \(wantData.count)")
        try require(index == wantIndex, "list(.index) has \(index.count) names, want \(wantIndex.count)")
        try require(try storage.load(sharedHandle) == shared, "the object saved by every thread is not intact")
    }

    /// Saving a content-addressed name again with the same bytes is harmless: no error, the object
    /// unchanged, listed once.
    package static func sameNameSavedTwice(_ storage: any Storage) throws {
        for kind: ObjectKind in [.keys, .data, .index, .snapshots] {
            let data = pseudoRandomData(3000, seed: 31)
            let handle = Handle(kind, storageID(of: data).hex)
            try storage.save(handle, data)
            try storage.save(handle, data)
            try require(try storage.load(handle) == data, "\(handle) changed after a second save")
            try require(try storage.size(handle) == data.count, "\(handle) size changed after a second save")
            let listed = try storage.list(kind).filter { $0 == handle.name }
            try require(listed.count == 1, "\(handle) listed \(listed.count) times after two saves")
        }
    }

    /// An object written piece by piece is invisible until committed, then loads back as the
    /// pieces in order; a discarded one leaves nothing; committing a name that exists keeps it.
    package static func pendingObjects(_ storage: any Storage) throws {
        let pieces = [pseudoRandomData(1 << 20, seed: 41), Data(), pseudoRandomData(70_001, seed: 42)]
        let whole = pieces.reduce(Data(), +)
        let handle = Handle(.data, storageID(of: whole).hex)
        let object = try storage.beginObject()
        for piece in pieces { try piece.withUnsafeBytes { try object.append($0) } }
        try require(try storage.list(.data).isEmpty, "an uncommitted object is listed")
        try object.commit(as: handle)
        try require(try storage.load(handle) == whole, "a committed object does not load back as its pieces")
        try require(try storage.list(.data) == [handle.name], "a committed object is not listed exactly once")

        let dropped = try storage.beginObject()
        try Data("never stored".utf8).withUnsafeBytes { try dropped.append($0) }
        dropped.discard()
        try require(try storage.list(.data) == [handle.name], "a discarded object left something listed")

        let again = try storage.beginObject()
        try whole.withUnsafeBytes { try again.append($0) }
        try again.commit(as: handle)
        try require(try storage.load(handle) == whole, "committing an existing name changed it")
        try require(try storage.list(.data) == [handle.name], "committing an existing name listed it twice")
    }

    /// A lock (the one kind that is not content-addressed) may be saved again with new content.
    package static func locksMayBeReplaced(_ storage: any Storage) throws {
        let handle = Handle(.locks, hexName(0x10))
        try storage.save(handle, Data("first".utf8))
        try storage.save(handle, Data("second, longer".utf8))
        try require(try storage.load(handle) == Data("second, longer".utf8), "a re-saved lock does not hold its new content")
        try require(try storage.list(.locks) == [handle.name], "a re-saved lock is not listed exactly once")
    }

    /// A repository is never replaced: saving `config` when one exists fails `permanent` and
    /// keeps the first.
    package static func configIsNeverReplaced(_ storage: any Storage) throws {
        let first = Data("first config".utf8)
        try storage.save(.config, first)
        try expectError(.permanent, "saving config again") { try storage.save(.config, Data("second config".utf8)) }
        try require(try storage.load(.config) == first, "config changed after a refused save")
    }

    // MARK: - Helpers

    /// A 64-digit hex name made of one repeated byte.
    private static func hexName(_ byte: UInt8) -> String {
        BlobID(bytes: [UInt8](repeating: byte, count: 32)).hex
    }

    private static func require(_ condition: @autoclosure () throws -> Bool, _ message: @autoclosure () -> String,
                                check: String = #function, line: Int = #line) throws {
        guard try condition() else {
            throw ConformanceFailure(check: String(check.prefix { $0 != "(" }), message: message(), line: line)
        }
    }

    private static func unwrap<T>(_ value: T?, _ message: @autoclosure () -> String,
                                  check: String = #function, line: Int = #line) throws -> T {
        guard let value else { throw ConformanceFailure(check: String(check.prefix { $0 != "(" }), message: message(), line: line) }
        return value
    }

    /// Runs `body`, which must throw a `StorageError` of `kind` (any error, when `kind` is nil,
    /// except `notFound`, since the object exists).
    private static func expectError(_ kind: StorageErrorKind?, _ what: @autoclosure () -> String,
                                    check: String = #function, line: Int = #line, _ body: () throws -> Void) throws {
        let name = String(check.prefix { $0 != "(" })
        do {
            try body()
        } catch let error as StorageError {
            if let kind, error.kind != kind {
                throw ConformanceFailure(check: name, message: "\(what()) threw \(error.kind) (\(error)), want \(kind)", line: line)
            }
            if kind == nil, error.kind == .notFound {
                throw ConformanceFailure(check: name, message: "\(what()) threw notFound for an object that exists", line: line)
            }
            return
        } catch let error as ConformanceFailure {
            throw ConformanceFailure(check: name, message: "\(what()): \(error.message)", line: line)
        } catch {
            if kind == nil { return }
            throw ConformanceFailure(check: name, message: "\(what()) threw \(error), not a StorageError", line: line)
        }
        throw ConformanceFailure(check: name, message: "\(what()) did not throw", line: line)
    }
}
