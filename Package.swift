// swift-tools-version:6.0
import PackageDescription

// Upcoming features every target gets, set once.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

var targets: [Target] = [
    // Debian's libzstd through a system-library target (apt: libzstd-dev).
    .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
    // Debian's libsqlite3 (apt: libsqlite3-dev): integrity checks of application databases.
    .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
    .executableTarget(name: "lockstep", dependencies: ["LockstepCLI"]),
    .target(name: "LockstepCLI", dependencies: [
        "LockstepCore", "LockstepStorage", "LockstepHost", "LockstepApps",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),
    .target(name: "LockstepCore", dependencies: [
        "CZstd",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "_CryptoExtras", package: "swift-crypto"),
    ]),
    .target(name: "LockstepStorage", dependencies: ["LockstepCore", "LockstepHost"]),
    // Linux calls Swift's Glibc module leaves out (xattrs, SEEK_DATA, O_NOATIME, O_DIRECT).
    .target(name: "CHostShim"),
    .target(name: "LockstepHost", dependencies: ["LockstepCore", "CHostShim", "CSQLite"]),
    // Application profiles (Posit Connect, Package Manager): written against the core's ports.
    .target(name: "LockstepApps", dependencies: ["LockstepCore"]),
    .target(name: "LockstepTestSupport", dependencies: ["LockstepCore", "LockstepStorage", "LockstepHost"]),
    .testTarget(name: "LockstepCoreTests", dependencies: ["LockstepCore", "LockstepStorage", "LockstepHost", "LockstepTestSupport"]),
    .testTarget(name: "LockstepAppsTests", dependencies: ["LockstepApps", "LockstepCore", "LockstepTestSupport"]),
    .testTarget(name: "EndToEndTests", dependencies: ["LockstepCore", "LockstepStorage", "LockstepHost", "LockstepTestSupport"]),
]
for index in targets.indices where targets[index].type != .system && targets[index].name != "CHostShim" {
    targets[index].swiftSettings = (targets[index].swiftSettings ?? []) + strictSettings
}

let package = Package(
    name: "lockstep",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "lockstep", targets: ["lockstep"])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: targets,
    swiftLanguageModes: [.v6]
)
