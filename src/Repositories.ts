import { SqlClient, SqlSchema } from "@effect/sql"
import { Duration, Effect, Option, Schema } from "effect"
import { DatabaseLive } from "./Database.js"
import type { RepositoryId } from "./Domain/Ids.js"
import type { RepositoryName, SyncKind } from "./Domain/Repository.js"
import { Repository } from "./Domain/Repository.js"

/** The `repositories` table: one row per mirrored repository, created on first sync. */
export class Repositories extends Effect.Service<Repositories>()("Repositories", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const findByName = SqlSchema.findOne({
      Request: Schema.Struct({ owner: Schema.String, name: Schema.String }),
      Result: Repository,
      execute: ({ name, owner }) => sql`SELECT * FROM repositories WHERE owner = ${owner} AND name = ${name}`
    })

    const findById = SqlSchema.findOne({
      Request: Schema.Number,
      Result: Repository,
      execute: (id) => sql`SELECT * FROM repositories WHERE id = ${id}`
    })

    const upsert = SqlSchema.single({
      Request: Schema.Struct({ owner: Schema.String, name: Schema.String, path: Schema.String }),
      Result: Repository,
      execute: ({ name, owner, path }) =>
        sql`
          INSERT INTO repositories (owner, name, path) VALUES (${owner}, ${name}, ${path})
          ON CONFLICT (owner, name) DO UPDATE SET path = excluded.path
          RETURNING *
        `
    })

    /** The repository row for owner/name at `path`, created when missing; writes nothing when it is current. */
    const ensure = (owner: RepositoryName, name: RepositoryName, path: string) =>
      findByName({ owner, name }).pipe(
        Effect.flatMap(Option.match({
          onSome: (found) => found.path === path ? Effect.succeed(found) : upsert({ owner, name, path }),
          onNone: () => upsert({ owner, name, path })
        })),
        Effect.orDie,
        Effect.withSpan("Repositories.ensure", { attributes: { owner, name, path } })
      )

    /** Switches the kinds a sync mirrors for this repository; the others are left as they are. */
    const setSyncKinds = (id: RepositoryId, kinds: ReadonlyArray<SyncKind>) =>
      sql`
        UPDATE repositories SET
          sync_changes = ${kinds.includes("changes")},
          sync_bookmarks = ${kinds.includes("bookmarks")},
          sync_operations = ${kinds.includes("operations")},
          sync_conflicts = ${kinds.includes("conflicts")}
        WHERE id = ${id}
      `.pipe(
        Effect.zipRight(findById(id)),
        Effect.map(Option.getOrThrow),
        Effect.orDie,
        Effect.withSpan("Repositories.setSyncKinds", { attributes: { id, kinds } })
      )

    const watchedIds = sql<{ readonly id: number | string }>`SELECT id FROM repositories WHERE watched`.pipe(
      // A host application's pg client may return bigint as a string.
      Effect.map((rows) => rows.map((row) => Number(row.id) as RepositoryId))
    )

    /** Watched, already synced repositories whose last full comparison with jj is older than `interval`. */
    const dueForReconciliation = (interval: Duration.Duration) =>
      sql<{ readonly id: number | string }>`
        SELECT id FROM repositories
        WHERE watched AND last_synced_operation_id IS NOT NULL
          AND (last_full_sync_at IS NULL
            OR last_full_sync_at <= now() - make_interval(secs => ${Duration.toSeconds(interval)}))
      `.pipe(
        Effect.map((rows) => rows.map((row) => Number(row.id) as RepositoryId)),
        Effect.withSpan("Repositories.dueForReconciliation")
      )

    const findByIds = SqlSchema.findAll({
      Request: Schema.Array(Schema.Number),
      Result: Repository,
      execute: (ids) =>
        sql`SELECT * FROM repositories WHERE id IN (SELECT json_array_elements_text(${JSON.stringify(ids)}::json)::bigint)`
    })

    /** Rows for repositories found on disk, created or re-pointed in one statement. */
    const ensureMany = (found: ReadonlyArray<{ owner: RepositoryName; name: RepositoryName; path: string }>) =>
      found.length === 0 ? Effect.void : sql`
        INSERT INTO repositories (owner, name, path)
        SELECT owner, name, path FROM json_to_recordset(${JSON.stringify(found)}::json)
          AS f(owner text, name text, path text)
        ON CONFLICT (owner, name) DO UPDATE SET path = excluded.path
          WHERE repositories.path IS DISTINCT FROM excluded.path
      `.pipe(
        Effect.asVoid,
        Effect.orDie,
        Effect.withSpan("Repositories.ensureMany", { attributes: { count: found.length } })
      )

    /** A page of repositories in id order, after `afterId`. */
    const list = SqlSchema.findAll({
      Request: Schema.Struct({ afterId: Schema.Number, limit: Schema.Number }),
      Result: Repository,
      execute: ({ afterId, limit }) => sql`SELECT * FROM repositories WHERE id > ${afterId} ORDER BY id LIMIT ${limit}`
    })

    const setWatched = (id: RepositoryId, watched: boolean) =>
      sql`UPDATE repositories SET watched = ${watched} WHERE id = ${id}`.pipe(
        Effect.asVoid,
        Effect.orDie,
        Effect.withSpan("Repositories.setWatched", { attributes: { id, watched } })
      )

    /** Deletes a repository's mirrored rows and forgets what was synced; the row itself stays (unwatched). */
    const purgeMirror = (id: RepositoryId) =>
      Effect.all([
        sql`DELETE FROM changes WHERE repository_id = ${id}`,
        sql`DELETE FROM bookmarks WHERE repository_id = ${id}`,
        sql`DELETE FROM jj_operations WHERE repository_id = ${id}`,
        sql`DELETE FROM conflicts WHERE repository_id = ${id}`,
        sql`
          UPDATE repositories SET last_synced_operation_id = NULL, last_synced_at = NULL, operation_heads = '{}',
            synced_with = NULL, last_full_sync_at = NULL, change_rows = NULL, operation_rows = NULL
          WHERE id = ${id}
        `
      ], { discard: true }).pipe(
        sql.withTransaction,
        Effect.orDie,
        Effect.withSpan("Repositories.purgeMirror", { attributes: { id } })
      )

    const recordFailure = (id: RepositoryId, message: string) =>
      sql`
        UPDATE repositories SET last_error = ${message}, consecutive_failures = consecutive_failures + 1
        WHERE id = ${id}
      `.pipe(Effect.asVoid, Effect.withSpan("Repositories.recordFailure", { attributes: { id } }))

    return {
      findByName: (owner: string, name: string) =>
        findByName({ owner, name }).pipe(Effect.orDie, Effect.withSpan("Repositories.findByName")),
      findById: (id: RepositoryId) => findById(id).pipe(Effect.orDie, Effect.withSpan("Repositories.findById")),
      ensure,
      list: (afterId: number, limit: number) =>
        list({ afterId, limit }).pipe(Effect.orDie, Effect.withSpan("Repositories.list")),
      setWatched,
      purgeMirror,
      setSyncKinds,
      /** Ids on the persisted watch list; cheap enough to compare often with what is watched. */
      watchedIds: watchedIds.pipe(Effect.orDie, Effect.withSpan("Repositories.watchedIds")),
      findByIds: (ids: ReadonlyArray<RepositoryId>) =>
        ids.length === 0
          ? Effect.succeed([])
          : findByIds(ids).pipe(Effect.orDie, Effect.withSpan("Repositories.findByIds")),
      ensureMany,
      dueForReconciliation,
      recordFailure
    } as const
  }),
  dependencies: [DatabaseLive]
}) {}
