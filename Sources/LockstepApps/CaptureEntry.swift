/// One path of a capture set: a file or directory to back up whole, every reason it is there
/// (two settings may name the same path), and whether its absence is normal (the optional
/// `-migration.gcfg` sibling) or worth a warning. In `CaptureSet.covered` an entry also names
/// the captured directory that already holds it.
package struct CaptureEntry: Sendable, Equatable, CustomStringConvertible {
    /// The normalized absolute path.
    package var path: String
    package var kind: ReferencedPath.Kind
    package var reasons: [CaptureReason]
    /// Absent is normal: back it up when it exists, say nothing when it does not.
    package var isOptional: Bool
    /// For a covered entry, the captured directory it lies in.
    package var coveredBy: String?

    package init(path: String, kind: ReferencedPath.Kind, reasons: [CaptureReason], isOptional: Bool = false,
                 coveredBy: String? = nil) {
        self.path = path
        self.kind = kind
        self.reasons = reasons
        self.isOptional = isOptional
        self.coveredBy = coveredBy
    }

    package var description: String {
        var text = "\(path) (\(kind.rawValue)\(isOptional ? ", if present" : "")): "
        text += reasons.map(\.description).joined(separator: "; ")
        if let coveredBy { text += " — inside \(coveredBy)" }
        return text
    }
}
