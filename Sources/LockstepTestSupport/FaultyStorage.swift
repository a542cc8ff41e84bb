package import Foundation
package import LockstepCore
import Synchronization

/// A decorator over any `Storage` that injects faults on demand:
/// - `failSave`: the N-th save of a kind (counted from when the fault is armed) throws a
///   `StorageError` — `permanent` by default, as a full disk does — and writes nothing, as the
///   contract's atomic save allows; with `repeating` every later save of the kind fails too.
/// - `flipByte`: every matching load returns data with one byte inverted, as bit rot would.
/// Everything else passes through to `base`. Safe from many threads.
package final class FaultyStorage: Storage {
    package let base: any Storage

    private struct SaveFault {
        var kind: ObjectKind
        /// Saves of `kind` still allowed through before the failing one.
        var passBefore: Int
        var repeating: Bool
        var error: StorageErrorKind
        var message: String
    }

    private struct LoadFault {
        var kind: ObjectKind
        var name: String?
        var position: Int?
    }

    private struct State {
        var saveFaults: [SaveFault] = []
        var loadFaults: [LoadFault] = []
        var saved: [ObjectKind: Int] = [:]
        var failed: [ObjectKind: Int] = [:]
        var corruptedLoads = 0
    }

    private let state = Mutex(State())

    package init(_ base: any Storage) {
        self.base = base
    }

    package var location: String { base.location }

    // MARK: - Arming faults

    /// Makes the `nth` save of `kind` from now on (1 = the next one) throw an error of kind
    /// `error`; with `repeating`, every save of `kind` after it fails as well (a disk that stays full).
    package func failSave(_ kind: ObjectKind, nth: Int = 1, repeating: Bool = false,
                          error: StorageErrorKind = .permanent, message: String = "No space left on device") {
        precondition(nth >= 1, "nth counts from 1")
        state.withLock {
            $0.saveFaults.append(SaveFault(kind: kind, passBefore: nth - 1, repeating: repeating, error: error, message: message))
        }
    }

    /// Makes every load of `kind` (only of the object `name`, when given) return its data with
    /// the byte at `position` of the returned range inverted (`nil`: the middle byte).
    package func flipByte(onLoad kind: ObjectKind, name: String? = nil, at position: Int? = nil) {
        state.withLock { $0.loadFaults.append(LoadFault(kind: kind, name: name, position: position)) }
    }

    /// Disarms every fault; counters are kept.
    package func clearFaults() {
        state.withLock {
            $0.saveFaults.removeAll()
            $0.loadFaults.removeAll()
        }
    }

    /// Saves of `kind` that reached the base storage and succeeded.
    package func savedCount(_ kind: ObjectKind) -> Int { state.withLock { $0.saved[kind, default: 0] } }

    /// Saves of `kind` this decorator failed on purpose.
    package func failedCount(_ kind: ObjectKind) -> Int { state.withLock { $0.failed[kind, default: 0] } }

    /// Loads returned with a flipped byte.
    package var corruptedLoads: Int { state.withLock { $0.corruptedLoads } }

    // MARK: - Storage

    package func save(_ handle: Handle, _ data: Data) throws {
        let injected: StorageError? = state.withLock { s in
            var fail: StorageError?
            for i in s.saveFaults.indices where s.saveFaults[i].kind == handle.kind {
                if s.saveFaults[i].passBefore > 0 {
                    s.saveFaults[i].passBefore -= 1
                } else {
                    // Due: this save fails (the first due fault's error wins); one-shot faults are spent.
                    fail = fail ?? StorageError(s.saveFaults[i].error, handle, s.saveFaults[i].message)
                    if !s.saveFaults[i].repeating { s.saveFaults[i].passBefore = -1 }
                }
            }
            s.saveFaults.removeAll { $0.passBefore < 0 }
            if fail != nil { s.failed[handle.kind, default: 0] += 1 }
            return fail
        }
        if let injected { throw injected }
        try base.save(handle, data)
        state.withLock { $0.saved[handle.kind, default: 0] += 1 }
    }

    package func load(_ handle: Handle, offset: Int, length: Int?) throws -> Data {
        var data = try base.load(handle, offset: offset, length: length)
        let position: Int?? = state.withLock { s in
            guard let fault = s.loadFaults.first(where: { $0.kind == handle.kind && ($0.name == nil || $0.name == handle.name) }) else {
                return nil
            }
            return .some(fault.position)
        }
        if let position, !data.isEmpty {
            let at = min(max(position ?? data.count / 2, 0), data.count - 1)
            data[data.startIndex + at] ^= 0xff
            state.withLock { $0.corruptedLoads += 1 }
        }
        return data
    }

    package func size(_ handle: Handle) throws -> Int { try base.size(handle) }
    package func list(_ kind: ObjectKind) throws -> [String] { try base.list(kind) }
    package func remove(_ handle: Handle) throws { try base.remove(handle) }
    package func exists() throws -> Bool { try base.exists() }
}
