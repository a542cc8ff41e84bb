import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

let testPassword: [UInt8] = Array("correct horse battery staple".utf8)
let testNow = Date(timeIntervalSince1970: 1_700_000_000)

/// A repository over `storage` with small packs (so a few blobs fill several), unless told otherwise.
@discardableResult
func makeRepository(_ storage: any Storage = MemoryStorage(), password: [UInt8]? = testPassword,
                    packSize: Int = 64 << 10) throws -> Repository {
    try Repository.initialize(storage: storage, password: password, host: "test-host", now: testNow,
                              config: RepositoryConfig(id: "0123456789abcdef", packSize: packSize))
}

/// Runs `body`, which must throw a `LockstepError` with `code`; returns it for further checks.
@discardableResult
func expectLockstepError(_ code: LockstepError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: () throws -> Void) -> LockstepError? {
    let error = #expect(throws: LockstepError.self, sourceLocation: sourceLocation) { try body() }
    #expect(error?.code == code, "\(error.map { "\($0.code): \($0.message)" } ?? "no error")", sourceLocation: sourceLocation)
    return error
}

/// A blob id for tests: 32 copies of `byte`.
func testID(_ byte: UInt8) -> BlobID { BlobID(bytes: [UInt8](repeating: byte, count: 32)) }
