/// Why a path or database is in a capture set: what it is for Connect, and the setting (with
/// its file line, environment variable or default) that put it there — `plan` prints it.
package struct CaptureReason: Sendable, Equatable, CustomStringConvertible {
    /// What the path is, for people (`variable data directory`).
    package var purpose: String
    /// The setting that names the path (`Server.DataDir`), if any.
    package var setting: String?
    package var origin: ConnectSetting.Origin?

    package init(purpose: String, setting: String? = nil, origin: ConnectSetting.Origin? = nil) {
        self.purpose = purpose
        self.setting = setting
        self.origin = origin
    }

    package init(purpose: String, from setting: ConnectSetting) {
        self.init(purpose: purpose, setting: setting.key, origin: setting.origin)
    }

    package var description: String {
        switch (setting, origin) {
        case let (setting?, origin?): "\(purpose) (\(setting), \(origin))"
        case let (setting?, nil): "\(purpose) (\(setting))"
        case let (nil, origin?): "\(purpose) (\(origin))"
        case (nil, nil): purpose
        }
    }
}
