import Foundation
import LockstepHost
import LockstepTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("DirectWriter writing in the background")
struct WriteBehindTests {
    /// Writes `data` through a background DirectWriter in pieces of `piece` bytes; the file's bytes.
    static func write(_ data: Data, piece: Int, behind: WriteBehind, path: String) throws -> (code: Int32, bytes: Data) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        var code: Int32 = 0
        do {
            // O_DIRECT where the file system takes it, else through the page cache.
            let writer = DirectWriter(switching: fd, behind: behind) ?? DirectWriter(fd: fd, behind: behind)
            var offset = 0
            while offset < data.count && code == 0 {
                let end = min(offset + piece, data.count)
                code = data[offset..<end].withUnsafeBytes { writer.append($0) }
                offset = end
            }
            if code == 0 { code = writer.finish() }
            if code == 0 { #expect(ftruncate(fd, off_t(writer.length)) == 0) }
        }
        close(fd)
        return (code, try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test("files written at once through a pool of two buffers come out whole (writes merged, producers held back)")
    func concurrentWriters() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let behind = WriteBehind(bufferSize: 64 << 10, maxBuffers: 2, maxWrite: 256 << 10)
        let files = (0..<4).map { pseudoRandomData(700_000 + $0 * 333_333, seed: 90 + UInt64($0)) }
        let results = Mutex([Int: (Int32, Data)]())
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            let result = try? Self.write(files[i], piece: 10_007 * (i + 1), behind: behind, path: dir.appending("f\(i)"))
            results.withLock { $0[i] = result }
        }
        for (i, file) in files.enumerated() {
            let (code, bytes) = try #require(results.withLock { $0[i] })
            #expect(code == 0)
            #expect(bytes == file, "file \(i) differs")
        }
    }

    @Test("a write that fails in the background is reported by finish")
    func failureReported() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.appending("ro")
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        let writer = DirectWriter(fd: fd, behind: WriteBehind(bufferSize: 4096, maxBuffers: 2))
        let data = pseudoRandomData(20_000, seed: 3)
        var code = data.withUnsafeBytes { writer.append($0) }
        if code == 0 { code = writer.finish() }
        #expect(code == EBADF)
    }
}
