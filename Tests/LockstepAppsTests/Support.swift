import LockstepApps
import LockstepCore
import Testing

/// Runs `body`, which must throw a `LockstepError` with `code`; returns its message.
@discardableResult
func expectLockstepError(_ code: LockstepError.Code = .failure, sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: () throws -> Void) -> String {
    let error = #expect(throws: LockstepError.self, sourceLocation: sourceLocation) { try body() }
    #expect(error?.code == code, "\(error.map { "\($0.code): \($0.message)" } ?? "no error")", sourceLocation: sourceLocation)
    return error?.message ?? ""
}

/// Parses `text` as the Connect configuration at the default path.
func document(_ text: String, path: String = ConnectConfiguration.defaultConfigPath) throws -> GcfgDocument {
    try GcfgParser.parse(text, path: path)
}

/// The configuration `text` describes, with `environment` as the process environment.
func configuration(_ text: String, environment: [String: String] = [:],
                   path: String = ConnectConfiguration.defaultConfigPath) throws -> ConnectConfiguration {
    try ConnectConfiguration(document: document(text, path: path), environment: environment)
}

/// The capture set of the configuration `text`.
func captureSet(_ text: String, environment: [String: String] = [:],
                path: String = ConnectConfiguration.defaultConfigPath) throws -> CaptureSet {
    try CaptureSet(configuration: configuration(text, environment: environment, path: path))
}

/// The 1-based line of the first line of `text` containing `marker`, so tests do not hard-code
/// fixture line numbers.
func line(of marker: String, in text: String) -> Int {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    return (lines.firstIndex { $0.contains(marker) } ?? -1) + 1
}

/// Everything a value can print: description, debug description and a full `dump`.
func everyRendering(_ value: Any) -> String {
    var dumped = ""
    dump(value, to: &dumped)
    return String(describing: value) + "\n" + String(reflecting: value) + "\n" + dumped
}
