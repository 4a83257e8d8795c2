import { NodeContext } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { ConfigProvider, Effect, Layer } from "effect"
import { DatabaseLive } from "../../src/Database.js"
import { SyncLive } from "../../src/Layers.js"
import {
  bookmarksTable,
  changeFilesTable,
  changesTable,
  commitPredecessorsTable,
  conflictsTable,
  tagsTable,
  workspacesTable
} from "../../src/Sync/Columns.js"
import type { KindTable } from "../../src/Sync/Columns.js"
import { jjBin } from "./jj.js"
import type {
  OracleBookmark,
  OracleChange,
  OracleChangeFile,
  OracleConflict,
  OraclePredecessor,
  OracleWorkspace
} from "./jj.js"
import { databaseUrl } from "./sync.js"

/** A schema of its own for each test file, dropped when the file's layer closes, so files run in parallel. */
export const testSchemaName = (label: string) =>
  `test_${label.replace(/[^a-z0-9]/g, "_")}_${process.pid}_${Math.floor(Math.random() * 1e6)}`

export const testConfig = (schema: string, extra: Record<string, string> = {}) =>
  ConfigProvider.fromMap(
    new Map(Object.entries({ DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, JJ_BIN: jjBin, ...extra }))
  ).pipe(
    ConfigProvider.orElse(() => ConfigProvider.fromEnv())
  )

const dropSchemaOnClose = (schema: string) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.addFinalizer(() => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`.pipe(Effect.ignore))
  }))

/** Sync service, jj client, repositories and SQL client over `schema`, dropped when the layer closes. */
export const servicesLayer = (schema: string) =>
  Layer.merge(SyncLive, NodeContext.layer).pipe(
    Layer.provideMerge(dropSchemaOnClose(schema).pipe(Layer.provideMerge(DatabaseLive)))
  )

/** `servicesLayer` over a fresh schema, configured from `extra` and then the environment. */
export const makeTestLayer = (label: string, extra: Record<string, string> = {}) => {
  const schema = testSchemaName(label)
  return servicesLayer(schema).pipe(Layer.provide(Layer.setConfigProvider(testConfig(schema, extra))))
}

const iso = (date: Date) => date.toISOString()

/** A repository's rows of a mirrored table, with the columns named (from its spec in `src/Sync/Columns.ts`). */
const rowsOf = <A extends object>(table: string, columns: ReadonlyArray<string>, repositoryId: number) =>
  SqlClient.SqlClient.pipe(
    Effect.flatMap((sql) =>
      sql<A>`SELECT ${sql.literal(columns.join(", "))} FROM ${sql(table)} WHERE repository_id = ${repositoryId}`
    )
  )

/** Timestamps as ISO strings, as the oracle prints them. */
const isoTimestamps = <A extends object>(row: A): A =>
  Object.fromEntries(
    Object.entries(row).map(([key, value]) => [key, value instanceof Date ? iso(value) : value])
  ) as A

const readColumns = (spec: KindTable<never>) => spec.read.map((column) => column.name)

/** What the database holds for a repository, in the oracle's shapes. */
export const mirrorOf = (repositoryId: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = (yield* rowsOf<OracleChange>("changes", readColumns(changesTable), repositoryId)).map(isoTimestamps)
    const bookmarks = yield* rowsOf<OracleBookmark & { targetChangeId: string | null; isDefault: boolean }>(
      "bookmarks",
      [...readColumns(bookmarksTable), "is_default"],
      repositoryId
    )
    const operations = yield* sql<{
      operationId: string
      parentOperationIds: Array<string>
      description: string
      username: string
      hostname: string
      timestamp: Date
      isSnapshot: boolean
      isUndone: boolean
      operationType: string
    }>`SELECT * FROM jj_operations WHERE repository_id = ${repositoryId}`
    const conflicts = yield* rowsOf<OracleConflict & { resolved: boolean; resolvedAt: Date | null }>(
      "conflicts",
      [...readColumns(conflictsTable), "resolved", "resolved_at"],
      repositoryId
    )
    const tags = yield* rowsOf<OracleBookmark & { targetChangeId: string | null }>(
      "tags",
      readColumns(tagsTable),
      repositoryId
    )
    const workspaces = yield* rowsOf<OracleWorkspace>("workspaces", readColumns(workspacesTable), repositoryId)
    return {
      changes,
      bookmarks,
      tags,
      workspaces,
      // The oracle reads jj's `user` (name@host) and end time; `operationDetails` compares the other columns.
      operations: operations.map((row) => ({
        operationId: row.operationId,
        parentOperationIds: row.parentOperationIds,
        description: row.description,
        user: `${row.username}@${row.hostname}`,
        endTime: iso(row.timestamp),
        isSnapshot: row.isSnapshot,
        isUndone: row.isUndone,
        operationType: row.operationType
      })),
      conflicts
    }
  })

/** Row versions (xmin) of everything stored for a repository: any write changes them. */
export const rowVersions = (repositoryId: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ table: string; key: string; xmin: string }>`
      SELECT 'repositories' AS table, id::text AS key, xmin::text FROM repositories WHERE id = ${repositoryId}
      UNION ALL SELECT 'changes', commit_id, xmin::text FROM changes WHERE repository_id = ${repositoryId}
      UNION ALL SELECT 'bookmarks', name || '@' || remote, xmin::text FROM bookmarks WHERE repository_id = ${repositoryId}
      UNION ALL SELECT 'jj_operations', operation_id, xmin::text FROM jj_operations WHERE repository_id = ${repositoryId}
      UNION ALL SELECT 'conflicts', change_id || ':' || file_path, xmin::text FROM conflicts
        WHERE repository_id = ${repositoryId}
      UNION ALL SELECT 'tags', name || '@' || remote, xmin::text FROM tags WHERE repository_id = ${repositoryId}
      UNION ALL SELECT 'workspaces', name, xmin::text FROM workspaces WHERE repository_id = ${repositoryId}
      ORDER BY 1, 2
    `
  })

/** What the database holds of a repository's commit details, in the oracle's shapes, sorted. */
export const detailsOf = (repositoryId: number) =>
  Effect.gen(function*() {
    const files = yield* rowsOf<OracleChangeFile>(
      "change_files",
      changeFilesTable.read.map((column) => column.name),
      repositoryId
    )
    const predecessors = yield* rowsOf<OraclePredecessor>(
      "commit_predecessors",
      commitPredecessorsTable.read.map((column) => column.name),
      repositoryId
    )
    const sql = yield* SqlClient.SqlClient
    const [flag] = yield* sql<{ filesComplete: boolean }>`
      SELECT files_complete FROM repositories WHERE id = ${repositoryId}`
    return {
      files: [...files].sort((a, b) => `${a.commitId}:${a.path}`.localeCompare(`${b.commitId}:${b.path}`)),
      predecessors: [...predecessors].sort((a, b) =>
        `${a.commitId}:${a.predecessorCommitId}`.localeCompare(`${b.commitId}:${b.predecessorCommitId}`)
      ),
      complete: flag?.filesComplete === true
    }
  })
