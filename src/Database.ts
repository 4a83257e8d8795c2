// Modules by their own paths rather than the packages' indexes, which load every module (HTTP servers included):
// a `jj-watcher sync` process stays smaller.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Config, Data, Duration, Effect, Layer, Option, Redacted, String } from "effect"
import Pg from "pg"
import { DataDirectory } from "./DataDirectory.js"
import { acquireCluster } from "./EmbeddedPostgres.js"
import CreateTables from "./migrations/0001_create_tables.js"
import WatchList from "./migrations/0002_watch_list.js"
import IncrementalSync from "./migrations/0003_incremental_sync.js"
import BookmarksDigest from "./migrations/0004_bookmarks_digest.js"
import TagsWorkspaces from "./migrations/0005_tags_workspaces.js"
import CommitDetails from "./migrations/0006_commit_details.js"
import SyncEvents from "./migrations/0007_sync_events.js"
import Leases from "./migrations/0008_leases.js"
import VisibleHeads from "./migrations/0009_visible_heads.js"
import RefRows from "./migrations/0010_ref_rows.js"

/**
 * A PostgreSQL server on this machine's standard port trusting the `postgres` user: what the tests and benchmarks use
 * when `DATABASE_URL` is unset (jj-watcher itself then uses its embedded one).
 */
export const localServerUrl = "postgres://postgres@127.0.0.1:5432/postgres"

export const DatabaseConfig = Config.all({
  /** Unset: jj-watcher's embedded PostgreSQL (see `EmbeddedPostgres.ts`). */
  url: Config.option(Config.redacted("DATABASE_URL")),
  poolSize: Config.integer("DATABASE_POOL_SIZE").pipe(Config.withDefault(10)),
  schema: Config.string("DATABASE_SCHEMA").pipe(
    Config.withDefault("jj_watcher"),
    Config.validate({
      message: "DATABASE_SCHEMA must be a lower-case SQL identifier (a-z, 0-9, _)",
      validation: (schema) => /^[a-z_][a-z0-9_]{0,62}$/.test(schema)
    })
  )
})

/** The database could not be reached or prepared; carries the driver's message, never the URL's password. */
export class DatabaseUnavailable extends Data.TaggedError("DatabaseUnavailable")<{
  readonly message: string
}> {}

/** Numbered migrations, applied in order by the @effect/sql Migrator. */
export const migrations = Migrator.fromRecord({
  "0001_create_tables": CreateTables,
  "0002_watch_list": WatchList,
  "0003_incremental_sync": IncrementalSync,
  "0004_bookmarks_digest": BookmarksDigest,
  "0005_tags_workspaces": TagsWorkspaces,
  "0006_commit_details": CommitDetails,
  "0007_sync_events": SyncEvents,
  "0008_leases": Leases,
  "0009_visible_heads": VisibleHeads,
  "0010_ref_rows": RefRows
})

// bigint columns (ids, counts) arrive as numbers; they stay far below 2^53.
const types: Pg.CustomTypesConfig = {
  getTypeParser:
    ((oid: number, format?: "text" | "binary") =>
      oid === Pg.types.builtins.INT8 ? Number : Pg.types.getTypeParser(oid, format)) as Pg.CustomTypesConfig[
        "getTypeParser"
      ]
}

/**
 * Applies jj-watcher's migrations on whatever PgClient is provided (an embedding application's own included), in its
 * current schema, tracked in a table of their own so they never mix with the host's migrations.
 */
export const MigrationsLive = Layer.effectDiscard(
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly schema: string }>`SELECT current_schema() AS schema`.pipe(
      Effect.flatMap(([row]) =>
        oneAtATime(row?.schema ?? "", PgMigrator.run({ loader: migrations, table: "jj_watcher_migrations" }))
      )
    ))
).pipe(Layer.provide(NodeContext.layer))

/**
 * Runs `effect` holding a session-level advisory lock named after the schema, on a connection of its own: instances
 * starting together against a fresh database prepare it one at a time (`CREATE ... IF NOT EXISTS` statements run at
 * once can fail on PostgreSQL's catalog), and each later one finds the work done.
 */
const oneAtATime = <A, E, R>(schema: string, effect: Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const connection = yield* sql.reserve
    const key = `jj-watcher prepare ${schema}`
    yield* Effect.acquireRelease(
      connection.executeRaw("SELECT pg_advisory_lock(hashtext($1))", [key]),
      () => connection.executeRaw("SELECT pg_advisory_unlock(hashtext($1))", [key]).pipe(Effect.ignore)
    )
    return yield* effect
  }))

/** Every connection of the pool (and `psql` given `jj-watcher database-url`) works inside the configured schema. */
export const withSearchPath = (url: Redacted.Redacted, schema: string) => {
  const parsed = new URL(Redacted.value(url))
  parsed.searchParams.set("options", `-c search_path=${schema}`)
  // Spaces as %20, not +: libpq (psql) decodes only percent-escapes.
  parsed.search = parsed.searchParams.toString().replaceAll("+", "%20")
  return Redacted.make(parsed.toString())
}

/** An error's message followed by those of its causes (a migration's SQL error, the driver's connection error). */
const describeChain = (error: unknown): string => {
  const messages: Array<string> = []
  for (let current = error; current !== undefined && messages.length < 4;) {
    messages.push(current instanceof Error ? current.message : globalThis.String(current))
    current = current instanceof Error || (typeof current === "object" && current !== null && "cause" in current)
      ? (current as { cause?: unknown }).cause
      : undefined
  }
  return messages.filter((message) => message !== "").join(": ")
}

const ensureSchema = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => oneAtATime(schema, sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`))

/** `DATABASE_URL`, or the URL of the embedded cluster, started for as long as the scope lasts when needed. */
export const databaseUrl = Effect.gen(function*() {
  const config = yield* DatabaseConfig
  if (Option.isSome(config.url)) return config.url.value
  const cluster = yield* acquireCluster(yield* DataDirectory)
  return Redacted.make(cluster.url)
})

/**
 * PgClient for `DATABASE_URL` (or the embedded PostgreSQL), confined to `DATABASE_SCHEMA`, with the schema created
 * and migrations applied. Provides both `SqlClient` and `PgClient` (for LISTEN/NOTIFY).
 */
export const DatabaseLive = Layer.unwrapScoped(
  Effect.gen(function*() {
    const config = yield* DatabaseConfig
    const url = yield* databaseUrl
    const client = PgClient.layer({
      url: withSearchPath(url, config.schema),
      applicationName: "jj-watcher",
      maxConnections: config.poolSize,
      // Idle connections (and the staging tables they hold) are kept, so a sync after a quiet spell pays no
      // connection set-up.
      idleTimeout: Duration.minutes(10),
      transformQueryNames: String.camelToSnake,
      transformResultNames: String.snakeToCamel,
      types
    })
    // Layer.provide builds the schema before the migrator creates its table inside it.
    const prepare = MigrationsLive.pipe(
      Layer.provide(Layer.effectDiscard(ensureSchema(config.schema)))
    )
    const hint = Option.isSome(config.url)
      ? " (check DATABASE_URL and that its server runs; unset it and jj-watcher runs a PostgreSQL of its own)"
      : ""
    return prepare.pipe(
      Layer.provideMerge(client),
      // A failed migration arrives as a defect from the Migrator: it is reported the same way, with its SQL error.
      Layer.catchAllCause((cause) =>
        Layer.fail(
          new DatabaseUnavailable({
            message: `cannot prepare the database: ${describeChain(Cause.squash(cause))}${hint}`
          })
        )
      )
    )
  })
).pipe(
  // Failing before the client exists: the embedded PostgreSQL, or the configuration.
  Layer.catchAllCause((cause) => {
    const error = Cause.squash(cause)
    return Layer.fail(
      error instanceof DatabaseUnavailable
        ? error
        : new DatabaseUnavailable({ message: `cannot prepare the database: ${describeChain(error)}` })
    )
  })
)
