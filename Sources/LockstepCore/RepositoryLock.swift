package import Foundation

/// A lock object under `locks/`: backups, restores and checks hold shared locks; operations that
/// delete data (prune) hold an exclusive one. A lock of a dead process on this host is stale and
/// removed. Locks are written first and then re-checked, so two exclusive lockers cannot both win.
package final class RepositoryLock: Sendable {
    package struct Info: Codable, Sendable {
        package var host: String
        package var pid: Int32
        package var time: Date
        package var exclusive: Bool
    }

    private let storage: any Storage
    private let handle: Handle

    private init(storage: any Storage, handle: Handle) {
        self.storage = storage
        self.handle = handle
    }

    package static func acquire(_ repository: Repository, exclusive: Bool, host: String, now: Date) throws -> RepositoryLock {
        let info = Info(host: host, pid: getpid(), time: now, exclusive: exclusive)
        let sealed = try repository.keys.seal(try JSONEncoder().encode(info))
        let handle = Handle(.locks, storageID(of: sealed).hex)
        if let holder = try conflicting(repository, exclusive: exclusive, host: host, ignoring: nil) {
            throw lockedError(holder, now: now)
        }
        try repository.storage.save(handle, sealed)
        if let holder = try conflicting(repository, exclusive: exclusive, host: host, ignoring: handle.name) {
            try? repository.storage.remove(handle)
            throw lockedError(holder, now: now)
        }
        return RepositoryLock(storage: repository.storage, handle: handle)
    }

    package func release() {
        try? storage.remove(handle)
    }

    private static func lockedError(_ holder: Info, now: Date) -> LockstepError {
        let age = Int(now.timeIntervalSince(holder.time))
        return LockstepError(.locked, "the repository is locked \(holder.exclusive ? "exclusively " : "")by pid \(holder.pid) on \(holder.host), \(age)s ago; wait for it to finish (a lock of a dead process on this host is removed automatically)")
    }

    private static func conflicting(_ repository: Repository, exclusive: Bool, host: String, ignoring: String?) throws -> Info? {
        for name in try repository.storage.list(.locks) where name != ignoring {
            let handle = Handle(.locks, name)
            guard let sealed = try? repository.storage.load(handle),
                  let plain = try? repository.keys.open(sealed),
                  let info = try? JSONDecoder().decode(Info.self, from: plain) else { continue }
            if info.host == host && kill(info.pid, 0) != 0 && errno == ESRCH {
                try? repository.storage.remove(handle)  // stale: its process is gone
                continue
            }
            if exclusive || info.exclusive { return info }
        }
        return nil
    }
}
