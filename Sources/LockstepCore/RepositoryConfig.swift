import Foundation

/// The plaintext `config` object: what a reader must know before it can read anything else.
/// It holds no secret: the chunker's gear table comes from the (encrypted) master keys.
package struct RepositoryConfig: Codable, Sendable, Equatable {
    package var version: Int
    package var id: String
    package var chunker: ChunkerParameters
    package var compressionLevel: Int
    package var packSize: Int

    package static let currentVersion = 1

    package init(id: String, chunker: ChunkerParameters = .default, compressionLevel: Int = 3, packSize: Int = 16 << 20) {
        self.version = Self.currentVersion
        self.id = id
        self.chunker = chunker
        self.compressionLevel = compressionLevel
        self.packSize = packSize
    }

    enum CodingKeys: String, CodingKey {
        case version, id, chunker, compressionLevel = "compression_level", packSize = "pack_size"
    }
}
