import Foundation
import LockstepCore
import LockstepTestSupport
import Testing

/// Shared, built once: 20 MiB of pseudo-random bytes and two independent key sets.
enum ChunkerFixture {
    static let input: [UInt8] = pseudoRandomBytes(20 << 20, seed: 0xC0FFEE)
    static let keysA = MasterKeys.generate()
    static let keysB = MasterKeys.generate()
    static let small = ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10)

    /// The lengths of the chunks `chunker` cuts `data` into.
    static func lengths(_ data: [UInt8], _ chunker: Chunker) -> [Int] {
        data.withUnsafeBytes { raw in
            var out = [Int]()
            var start = 0
            while start < raw.count {
                let n = chunker.cut(UnsafeRawBufferPointer(rebasing: raw[start...]))
                guard n > 0, n <= raw.count - start else {
                    Issue.record("cut returned \(n) with \(raw.count - start) bytes left")
                    break
                }
                out.append(n)
                start += n
            }
            return out
        }
    }

    /// The SHA-256 of each chunk.
    static func chunkIDs(_ data: [UInt8], _ chunker: Chunker) -> [BlobID] {
        var start = 0
        return lengths(data, chunker).map { n in
            defer { start += n }
            return storageID(of: Data(data[start..<(start + n)]))
        }
    }

    static func offsets(_ lengths: [Int]) -> [Int] {
        var total = 0
        return lengths.map { total += $0; return total }
    }
}

@Suite("Chunker")
struct ChunkerTests {
    typealias F = ChunkerFixture

    static let parameterSets: [ChunkerParameters] = [.default, ChunkerFixture.small]

    @Test("the same gear table cuts the same input the same way")
    func deterministic() {
        let one = Chunker(parameters: .default, gear: F.keysA.gearTable())
        let two = Chunker(parameters: .default, gear: F.keysA.gearTable())
        let first = F.lengths(F.input, one)
        #expect(first.reduce(0, +) == F.input.count)
        #expect(first == F.lengths(F.input, two))
    }

    @Test("every chunk but the last is within [minSize, maxSize]", arguments: parameterSets)
    func bounds(_ parameters: ChunkerParameters) throws {
        let chunker = Chunker(parameters: parameters, gear: F.keysA.gearTable())
        for input in [F.input, [UInt8](repeating: 0, count: 3 * parameters.maxSize + 5)] {
            let lengths = F.lengths(input, chunker)
            #expect(lengths.reduce(0, +) == input.count)
            let last = try #require(lengths.last)
            #expect(last >= 1 && last <= parameters.maxSize)
            let outside = lengths.dropLast().filter { $0 < parameters.minSize || $0 > parameters.maxSize }
            #expect(outside.isEmpty, "chunks outside [\(parameters.minSize), \(parameters.maxSize)]: \(outside.prefix(5))")
        }
    }

    @Test("short buffers are one chunk; an empty one is cut at 0")
    func shortBuffers() {
        let p = F.small
        let chunker = Chunker(parameters: p, gear: F.keysA.gearTable())
        for count in [0, 1, p.minSize - 1, p.minSize] {
            let n = F.input.withUnsafeBytes { chunker.cut(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            #expect(n == count)
        }
        let justOver = F.input.withUnsafeBytes { chunker.cut(UnsafeRawBufferPointer(rebasing: $0[0..<(p.minSize + 1)])) }
        #expect(justOver == p.minSize + 1)
        let long = F.input.withUnsafeBytes { chunker.cut(UnsafeRawBufferPointer(rebasing: $0[0..<(4 * p.maxSize)])) }
        #expect(long > p.minSize && long <= p.maxSize)
    }

    @Test("a cut depends only on the bytes up to it, not on how much follows")
    func cutIsPrefixStable() {
        let chunker = Chunker(parameters: F.small, gear: F.keysA.gearTable())
        let full = F.input.withUnsafeBytes { chunker.cut(UnsafeRawBufferPointer(rebasing: $0[0..<(8 * F.small.maxSize)])) }
        let exact = F.input.withUnsafeBytes { chunker.cut(UnsafeRawBufferPointer(rebasing: $0[0..<F.small.maxSize])) }
        #expect(full == exact)
    }

    @Test("a scan resumed where a shorter buffer ran out cuts where a whole scan does", arguments: parameterSets)
    func resumedScan(_ parameters: ChunkerParameters) {
        let chunker = Chunker(parameters: parameters, gear: F.keysA.gearTable())
        F.input.withUnsafeBytes { raw in
            var start = 0
            var checked = 0
            while start + parameters.maxSize <= raw.count && checked < 40 {
                let whole = UnsafeRawBufferPointer(rebasing: raw[start..<(start + parameters.maxSize)])
                let cut = chunker.cut(whole)
                // Shorter buffers a reader may have held first: each ran out, or cut at its very end.
                for short in [parameters.minSize / 2, parameters.minSize + 1, parameters.minSize + 100, cut - 1, cut]
                where short > 0 && short <= cut {
                    #expect(chunker.cut(UnsafeRawBufferPointer(rebasing: whole[0..<short])) == short)
                    #expect(chunker.cut(whole, resumingAfter: max(short - 1, 0)) == cut)
                }
                start += cut
                checked += 1
            }
        }
    }

    @Test("different gear tables cut the same input at different points", arguments: parameterSets)
    func keyedGear(_ parameters: ChunkerParameters) {
        let a = F.lengths(F.input, Chunker(parameters: parameters, gear: F.keysA.gearTable()))
        let b = F.lengths(F.input, Chunker(parameters: parameters, gear: F.keysB.gearTable()))
        #expect(a != b)
        let shared = Set(F.offsets(a).dropLast()).intersection(F.offsets(b).dropLast())
        #expect(Double(shared.count) < 0.2 * Double(a.count), "\(shared.count) of \(a.count) cut points coincide")
    }

    @Test("inserting bytes near the start leaves most later chunks unchanged", arguments: parameterSets)
    func contentDefined(_ parameters: ChunkerParameters) {
        let chunker = Chunker(parameters: parameters, gear: F.keysA.gearTable())
        var edited = F.input
        edited.insert(contentsOf: pseudoRandomBytes(777, seed: 99), at: 1000)
        let before = F.chunkIDs(F.input, chunker)
        let after = Set(F.chunkIDs(edited, chunker))
        let kept = before.filter { after.contains($0) }.count
        #expect(Double(kept) >= 0.8 * Double(before.count), "only \(kept) of \(before.count) chunks unchanged")
        // And the edit is not invisible: the first chunk did change.
        #expect(!after.contains(before[0]))
    }

    @Test("the average chunk on random data is within 0.5x–2x of averageSize", arguments: parameterSets)
    func averageSize(_ parameters: ChunkerParameters) {
        let lengths = F.lengths(F.input, Chunker(parameters: parameters, gear: F.keysB.gearTable()))
        let mean = Double(F.input.count) / Double(lengths.count)
        #expect(mean >= 0.5 * Double(parameters.averageSize) && mean <= 2 * Double(parameters.averageSize),
                "mean \(Int(mean)) for averageSize \(parameters.averageSize) over \(lengths.count) chunks")
    }

    @Test("the gear table is 256 words, fixed by the keys, and differs between keys")
    func gearTable() throws {
        let a = F.keysA.gearTable()
        #expect(a.count == 256)
        #expect(a == F.keysA.gearTable())
        #expect(a == (try MasterKeys(serialized: F.keysA.serialized)).gearTable())
        #expect(a != F.keysB.gearTable())
        #expect(Set(a).count == 256)
    }
}
