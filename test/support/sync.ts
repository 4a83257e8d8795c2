import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { localServerUrl } from "../../src/Database.js"
import { DetailsFill } from "../../src/DetailsFill.js"
import type { RepositoryId } from "../../src/Domain/Ids.js"
import type { SyncTarget } from "../../src/Domain/Sync.js"
import { SyncService } from "../../src/Sync.js"

/** The PostgreSQL the tests use: `DATABASE_URL`, or jj-watcher's own default. */
export const databaseUrl = process.env["DATABASE_URL"] ?? localServerUrl

/** Syncs the jj repository at `path` through the SyncService, as `jj-watcher sync` does. */
export const sync = (path: string, options: Omit<SyncTarget, "path"> = {}) =>
  SyncService.pipe(Effect.flatMap((service) => service.syncPath({ path, ...options })))

/** The columns of a `repositories` row the tests look at. */
export interface RepositoryRow {
  readonly id: number
  readonly owner: string
  readonly name: string
  readonly lastSyncedOperationId: string | null
  readonly lastError: string | null
  readonly consecutiveFailures: number
  readonly syncedWith: string | null
  readonly lastFullSyncAt: Date | null
}

/** The `repositories` row with this id (which must exist), or the one named owner/name if any. */
export function repositoryRow(id: number): Effect.Effect<RepositoryRow, SqlError, SqlClient.SqlClient>
export function repositoryRow(
  owner: string,
  name: string
): Effect.Effect<RepositoryRow | undefined, SqlError, SqlClient.SqlClient>
export function repositoryRow(key: number | string, name?: string) {
  return SqlClient.SqlClient.pipe(
    Effect.flatMap((sql) =>
      typeof key === "number"
        ? sql<RepositoryRow>`SELECT * FROM repositories WHERE id = ${key}`
        : sql<RepositoryRow>`SELECT * FROM repositories WHERE owner = ${key} AND name = ${name ?? ""}`
    ),
    Effect.flatMap((rows) =>
      typeof key === "number" && rows[0] === undefined
        ? Effect.dieMessage(`no repository row ${key}`)
        : Effect.succeed(rows[0])
    )
  )
}

/** Reads the details (files, predecessors) of every commit waiting for them, as the daemon does after a sync. */
export const fillDetails = (repositoryId: number) =>
  DetailsFill.pipe(Effect.flatMap((details) => details.fill(repositoryId as RepositoryId)))
