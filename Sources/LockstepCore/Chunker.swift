/// Content-defined chunking in the FastCDC style: a gear rolling hash over the bytes after
/// `minSize`, with normalized masks (harder before `averageSize`, easier after), and a hard
/// cut at `maxSize`. The gear table comes from the repository key (see `MasterKeys.gearTable`).
package struct ChunkerParameters: Codable, Sendable, Equatable {
    package var minSize: Int
    package var averageSize: Int
    package var maxSize: Int

    package static let `default` = ChunkerParameters(minSize: 512 * 1024, averageSize: 1024 * 1024, maxSize: 4 * 1024 * 1024)

    package init(minSize: Int, averageSize: Int, maxSize: Int) {
        self.minSize = minSize
        self.averageSize = averageSize
        self.maxSize = maxSize
    }
}

package struct Chunker: Sendable {
    package let parameters: ChunkerParameters
    private let gear: [UInt64]
    private let maskHard: UInt64
    private let maskEasy: UInt64

    package init(parameters: ChunkerParameters, gear: [UInt64]) {
        precondition(gear.count == 256)
        precondition(parameters.minSize < parameters.averageSize && parameters.averageSize < parameters.maxSize)
        self.parameters = parameters
        self.gear = gear
        let bits = UInt64(parameters.averageSize).trailingZeroBitCount
        // The high bits of a gear hash mix best: take masks from the top of the word.
        maskHard = Self.topMask(bits: bits + 2)
        maskEasy = Self.topMask(bits: max(bits - 2, 1))
    }

    private static func topMask(bits: Int) -> UInt64 { ~UInt64(0) << UInt64(64 - bits) }

    /// The length of the next chunk at the start of `buffer`. `buffer` holds the rest of the input
    /// or at least `maxSize` bytes of it; with less than `minSize` bytes the whole buffer is one chunk.
    package func cut(_ buffer: UnsafeRawBufferPointer) -> Int { cut(buffer, resumingAfter: 0) }

    /// The same, when the first `scanned` bytes of `buffer` are known to hold no boundary (a scan
    /// of them ran out of input): each step shifts the hash left by one bit, so the hash at a
    /// position depends on the 64 bytes before it only, and the scan resumes from there instead
    /// of the chunk's start.
    package func cut(_ buffer: UnsafeRawBufferPointer, resumingAfter scanned: Int) -> Int {
        let n = buffer.count
        if n <= parameters.minSize { return n }
        let end = min(n, parameters.maxSize)
        let normal = min(end, parameters.averageSize)
        var hash: UInt64 = 0
        return gear.withUnsafeBufferPointer { g in
            let bytes = buffer.bindMemory(to: UInt8.self)
            var i = max(parameters.minSize, scanned - 64)
            let resume = min(scanned, end)
            while i < resume {
                hash = (hash << 1) &+ g[Int(bytes[i])]
                i += 1
            }
            while i < normal {
                hash = (hash << 1) &+ g[Int(bytes[i])]
                if hash & maskHard == 0 { return i + 1 }
                i += 1
            }
            while i < end {
                hash = (hash << 1) &+ g[Int(bytes[i])]
                if hash & maskEasy == 0 { return i + 1 }
                i += 1
            }
            return end
        }
    }
}
