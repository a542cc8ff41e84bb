import Crypto
import _CryptoExtras
package import Foundation

/// A key file under `keys/`: the master keys wrapped (AES-256-GCM) by a key derived from the
/// password with scrypt, with the parameters stored beside them. `kdf == "none"` marks a
/// repository created with `--insecure-no-password`: the master keys are stored unwrapped.
package struct KeyFile: Codable, Sendable {
    package var kdf: String
    package var n: Int
    package var r: Int
    package var p: Int
    package var salt: String
    package var data: String
    package var created: String
    package var host: String

    package static let defaultN = 1 << 15
    package static let defaultR = 8
    package static let defaultP = 1

    package static func wrap(_ keys: MasterKeys, password: [UInt8]?, host: String, now: Date,
                             n: Int = defaultN) throws -> KeyFile {
        let created = ISO8601DateFormatter().string(from: now)
        guard let password else {
            return KeyFile(kdf: "none", n: 0, r: 0, p: 0, salt: "",
                           data: Data(keys.serialized).base64EncodedString(), created: created, host: host)
        }
        let salt = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let kek = try derive(password: password, salt: salt, n: n, r: defaultR, p: defaultP)
        let sealed = try AES.GCM.seal(Data(keys.serialized), using: kek).combined!
        return KeyFile(kdf: "scrypt", n: n, r: defaultR, p: defaultP, salt: salt.base64EncodedString(),
                       data: sealed.base64EncodedString(), created: created, host: host)
    }

    /// Unwraps the master keys; `nil` when the password does not open this key file.
    package func unwrap(password: [UInt8]?) throws -> MasterKeys? {
        guard let blob = Data(base64Encoded: data) else { throw FormatError.malformed("key file data is not base64") }
        if kdf == "none" { return try MasterKeys(serialized: Array(blob)) }
        guard kdf == "scrypt", let saltData = Data(base64Encoded: salt) else {
            throw FormatError.malformed("key file uses unknown kdf \(kdf)")
        }
        guard let password else { return nil }
        let kek = try Self.derive(password: password, salt: saltData, n: n, r: r, p: p)
        guard let box = try? AES.GCM.SealedBox(combined: blob),
              let plain = try? AES.GCM.open(box, using: kek) else { return nil }
        return try MasterKeys(serialized: Array(plain))
    }

    private static func derive(password: [UInt8], salt: Data, n: Int, r: Int, p: Int) throws -> SymmetricKey {
        try KDF.Scrypt.deriveKey(from: password, salt: salt, outputByteCount: 32, rounds: n, blockSize: r, parallelism: p)
    }
}
