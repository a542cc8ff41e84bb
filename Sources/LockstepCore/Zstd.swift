import CZstd
package import Foundation

/// zstd through Debian's libzstd. Compression returns nil when the result is not smaller,
/// so the caller stores the blob as it is.
package enum Zstd {
    package static func compress(_ input: Data, level: Int32) -> Data? {
        let scratch = ZstdScratch()
        return input.withUnsafeBytes { scratch.compress($0, level: level).map { Data($0) } }
    }

    package static func decompress(_ input: Data, rawLength: Int) throws -> Data {
        var output = Data(count: rawLength)
        let written = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { src in
                ZSTD_decompress(out.baseAddress, rawLength, src.baseAddress, input.count)
            }
        }
        guard ZSTD_isError(written) == 0, written == rawLength else {
            throw FormatError.malformed("zstd frame does not decompress to \(rawLength) bytes")
        }
        return output
    }
}

/// A compression context and output buffer reused for blob after blob: `ZSTD_compress` and a
/// fresh output `Data` per chunk cost a context set-up, a zero-filled multi-MiB buffer and its
/// page faults every time (a third of a backup's CPU went to the kernel's page clearing).
/// One thread uses it at a time (`Repository` keeps a pool).
package final class ZstdScratch: @unchecked Sendable {
    private let context: OpaquePointer
    private let buffer = ReusedBuffer()

    package init() { context = ZSTD_createCCtx()! }

    deinit { ZSTD_freeCCtx(context) }

    /// The compressed bytes, valid until the next call; nil when not smaller than the input.
    package func compress(_ input: UnsafeRawBufferPointer, level: Int32) -> UnsafeRawBufferPointer? {
        let output = buffer.atLeast(ZSTD_compressBound(input.count))
        let written = ZSTD_compressCCtx(context, output.baseAddress, output.count, input.baseAddress, input.count, level)
        guard ZSTD_isError(written) == 0, written < input.count else { return nil }
        return UnsafeRawBufferPointer(rebasing: output[0..<written])
    }
}

/// A decompression context and output buffer reused for blob after blob (one thread at a time):
/// `Zstd.decompress` allocates and zero-fills a fresh `Data` of the raw length per blob, which a
/// restore then only copies out of.
package final class ZstdDecompressor: @unchecked Sendable {
    private let context: OpaquePointer
    private let buffer = ReusedBuffer()

    package init() { context = ZSTD_createDCtx()! }

    deinit { ZSTD_freeDCtx(context) }

    /// The decompressed bytes, valid until the next call; throws unless the frame decompresses
    /// to exactly `rawLength` bytes.
    package func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) throws -> UnsafeRawBufferPointer {
        let output = buffer.atLeast(rawLength)
        let written = ZSTD_decompressDCtx(context, output.baseAddress, rawLength, input.baseAddress, input.count)
        guard ZSTD_isError(written) == 0, written == rawLength else {
            throw FormatError.malformed("zstd frame does not decompress to \(rawLength) bytes")
        }
        return UnsafeRawBufferPointer(rebasing: output[0..<rawLength])
    }
}

/// An output buffer that grows to the largest size asked for and is kept for the next call.
private final class ReusedBuffer {
    private var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 64)

    deinit { storage.deallocate() }

    /// At least `count` bytes, valid until the next call.
    func atLeast(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if storage.count < count {
            storage.deallocate()
            storage = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 64)
        }
        return storage
    }
}
