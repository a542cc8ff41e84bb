import ArgumentParser
import Foundation
import LockstepCore

/// The one place errors become exit codes (published in docs/exit-codes.md).
enum ExitCodes {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let partial: Int32 = 3
    static let noRepository: Int32 = 10
    static let locked: Int32 = 11
    static let wrongPassword: Int32 = 12
    static let serviceNotStarted: Int32 = 20

    static func code(for error: any Error) -> Int32 {
        guard let error = error as? LockstepError else { return failure }
        switch error.code {
        case .noRepository: return noRepository
        case .locked: return locked
        case .wrongPassword: return wrongPassword
        case .serviceNotStarted: return serviceNotStarted
        case .failure, .repositoryExists, .usage, .damaged: return failure
        }
    }
}

/// Runs a command body: any error is printed as one line on stderr and becomes its exit code.
func execute(_ body: () throws -> Int32) throws {
    let status: Int32
    do {
        status = try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        Console.error("\(error)")
        throw ExitCode(ExitCodes.code(for: error))
    }
    if status != 0 { throw ExitCode(status) }
}
