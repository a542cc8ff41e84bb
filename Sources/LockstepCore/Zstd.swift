import CZstd
package import Foundation

/// zstd through Debian's libzstd. Compression returns nil when the result is not smaller,
/// so the caller stores the blob as it is.
package enum Zstd {
    package static func compress(_ input: Data, level: Int32) -> Data? {
        let bound = ZSTD_compressBound(input.count)
        var output = Data(count: bound)
        let written = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { src in
                ZSTD_compress(out.baseAddress, bound, src.baseAddress, input.count, level)
            }
        }
        guard ZSTD_isError(written) == 0, written < input.count else { return nil }
        output.count = written
        return output
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
