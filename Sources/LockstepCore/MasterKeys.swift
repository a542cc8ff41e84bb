package import Crypto
package import Foundation

/// The repository's secret material, generated once at `init` and never stored in the clear:
/// an AES-256-GCM key for every stored object, an HMAC-SHA256 key for blob ids, and the seed
/// of the chunker's gear table.
package struct MasterKeys: @unchecked Sendable {  // SymmetricKey is immutable; keyedMAC is only copied
    package let encryption: SymmetricKey
    package let mac: SymmetricKey
    package let chunkerSeed: SymmetricKey
    /// HMAC-SHA256 keyed with `mac`, nothing hashed yet: each blob id starts from a copy of it.
    /// Keying hashes a padded block twice and allocates both hashers; for a small blob (a tree,
    /// a file of a few kilobytes) that was a fifth of the time spent loading it. A copy shares
    /// the hashers until its first update copies them (copy-on-write), so threads may copy it.
    private let keyedMAC: HMAC<SHA256>

    package static func generate() -> MasterKeys {
        MasterKeys(
            encryption: SymmetricKey(size: .bits256),
            mac: SymmetricKey(size: .bits256),
            chunkerSeed: SymmetricKey(size: .bits256))
    }

    package init(encryption: SymmetricKey, mac: SymmetricKey, chunkerSeed: SymmetricKey) {
        self.encryption = encryption
        self.mac = mac
        self.chunkerSeed = chunkerSeed
        keyedMAC = HMAC<SHA256>(key: mac)
    }

    /// 96 bytes: encryption ‖ mac ‖ chunker seed.
    package var serialized: [UInt8] {
        [encryption, mac, chunkerSeed].flatMap { key in key.withUnsafeBytes { Array($0) } }
    }

    package init(serialized: [UInt8]) throws {
        guard serialized.count == 96 else { throw FormatError.malformed("master key material is not 96 bytes") }
        self.init(
            encryption: SymmetricKey(data: serialized[0..<32]),
            mac: SymmetricKey(data: serialized[32..<64]),
            chunkerSeed: SymmetricKey(data: serialized[64..<96]))
    }

    /// A blob's id: HMAC-SHA256 of its plaintext under the repository's MAC key, so an id says
    /// nothing about the content to anyone without the key.
    package func blobID(of data: UnsafeRawBufferPointer) -> BlobID {
        var mac = keyedMAC
        mac.update(data: data)
        return BlobID(bytes: mac.finalize().withUnsafeBytes { Array($0) })
    }

    package func blobID(of data: Data) -> BlobID {
        data.withUnsafeBytes { blobID(of: $0) }
    }

    /// AES-256-GCM with a random 96-bit nonce: nonce ‖ ciphertext ‖ tag (28 bytes of overhead).
    package func seal(_ plaintext: some DataProtocol) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: encryption).combined else {
            throw FormatError.malformed("AES-GCM produced no combined form")
        }
        return combined
    }

    /// Opens what `seal` made; throws `CryptoError.authenticationFailure` on any damage.
    package func open(_ sealed: Data) throws -> Data {
        try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: encryption)
    }

    /// The gear table of the content-defined chunker, derived from the chunker seed so that chunk
    /// boundaries differ per repository and chunk lengths cannot fingerprint known files.
    package func gearTable() -> [UInt64] {
        var table = [UInt64]()
        table.reserveCapacity(256)
        var counter: UInt32 = 0
        while table.count < 256 {
            var mac = HMAC<SHA256>(key: chunkerSeed)
            mac.update(data: Array("lockstep gear".utf8))
            withUnsafeBytes(of: counter.bigEndian) { mac.update(data: $0) }
            let digest = Array(mac.finalize())
            for word in 0..<4 {
                var v: UInt64 = 0
                for b in digest[(word * 8)..<(word * 8 + 8)] { v = (v << 8) | UInt64(b) }
                table.append(v)
            }
            counter += 1
        }
        return table
    }

    package static let sealOverhead = 28
}

/// SHA-256 of stored bytes: how packs, index files and snapshots are named.
package func storageID(of data: Data) -> BlobID {
    BlobID(bytes: Array(SHA256.hash(data: data)))
}
