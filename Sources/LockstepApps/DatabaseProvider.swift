/// Where Connect keeps its database (`Database.Provider`): SQLite files under `SQLite.Dir`
/// (the default) or a PostgreSQL server named by `Postgres.URL`.
package enum DatabaseProvider: String, Sendable, Equatable, CaseIterable {
    case sqlite
    case postgres
}
