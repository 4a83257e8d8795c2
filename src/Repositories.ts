import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, ParseResult, Schema } from "effect"
import type { Changed } from "./Domain/Events.js"
import type { OperationId, RepositoryId } from "./Domain/Ids.js"
import type { Lease } from "./Domain/Lease.js"
import { LeaseLost } from "./Domain/Lease.js"
import type { KindCounts, MirrorKind, RepositoryName } from "./Domain/Repository.js"
import { Repository, RepositoryRowNotFound } from "./Domain/Repository.js"
import { emptyCounts } from "./Domain/Sync.js"
import { lockRepository } from "./RepositoryLock.js"

/** What a committed sync records on its repository row; see `recordSync`. */
export interface SyncRecord {
  readonly id: RepositoryId
  readonly operationId: OperationId
  readonly heads: ReadonlyArray<OperationId>
  readonly changesTruncated: boolean
  readonly syncedWith: string
  readonly full: boolean
  /** Rows added net by an incremental sync, to keep the row counts; undefined after a full sync (recounted). */
  readonly added: { readonly changes: number; readonly operations: number } | undefined
  /** The digest of the bookmarks read (`Sync/BookmarksDigest.ts`); null when bookmarks are not mirrored. */
  readonly bookmarksDigest: string | null
  /** Bookmarks or tags were read: whether a `git` export is pending is computed again from the rows written. */
  readonly refsRead: boolean
  /** The visible heads kept of the synced operation (`Sync/VisibleHeads.ts`: an empty array when there are many). */
  readonly visibleHeads: ReadonlyArray<string>
  readonly channel: string
  readonly payload: Record<string, unknown>
  /** The lease the syncing instance holds: nothing is recorded (and the transaction fails) unless it still does. */
  readonly lease: Lease | undefined
  /** The sync's entry in the change feed (`sync_events`). */
  readonly event: {
    readonly previousOperationId: OperationId | null
    readonly mode: "incremental" | "full"
    readonly fullReason: string | null
    readonly written: KindCounts
    readonly changed: Changed
  }
}

/**
 * The `repositories` table: one row per mirrored repository, created on first sync. Database failures stay typed
 * (`SqlError`), so that a sync can retry them and each caller decides what a failure means.
 */
export class Repositories extends Effect.Service<Repositories>()("jj-watcher/Repositories", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const asJson = (value: unknown) => sql`${JSON.stringify(value)}::json`
    // A host application's pg client may return bigint as a string.
    // A row that does not decode is a defect of the schema, not a failure a caller could handle.
    const dieOnParseError = <A, E, R>(effect: Effect.Effect<A, E | ParseResult.ParseError, R>) =>
      Effect.catchIf(effect, ParseResult.isParseError, Effect.die) as Effect.Effect<
        A,
        Exclude<E, ParseResult.ParseError>,
        R
      >
    const ids = (rows: ReadonlyArray<{ readonly id: number | string }>) =>
      rows.map((row) => Number(row.id) as RepositoryId)

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

    const findByIds = SqlSchema.findAll({
      Request: Schema.Array(Schema.Number),
      Result: Repository,
      execute: (ids) =>
        sql`SELECT * FROM repositories WHERE id IN (SELECT json_array_elements_text(${asJson(ids)})::bigint)`
    })

    const list = SqlSchema.findAll({
      Request: Schema.Struct({ afterId: Schema.Number, limit: Schema.Number }),
      Result: Repository,
      execute: ({ afterId, limit }) => sql`SELECT * FROM repositories WHERE id > ${afterId} ORDER BY id LIMIT ${limit}`
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

    /** The row by id; fails with `RepositoryRowNotFound` when there is none. */
    const getById = Effect.fn("Repositories.getById")(function*(id: RepositoryId) {
      const found = yield* findById(id).pipe(dieOnParseError)
      return yield* Option.match(found, {
        onNone: () => Effect.fail(new RepositoryRowNotFound({ key: { id } })),
        onSome: Effect.succeed
      })
    })

    /** The row by owner/name; fails with `RepositoryRowNotFound` when there is none. */
    const getByName = Effect.fn("Repositories.getByName")(function*(owner: string, name: string) {
      const found = yield* findByName({ owner, name }).pipe(dieOnParseError)
      return yield* Option.match(found, {
        onNone: () => Effect.fail(new RepositoryRowNotFound({ key: { owner, name } })),
        onSome: Effect.succeed
      })
    })

    /** The repository row for owner/name at `path`, created when missing; writes nothing when it is current. */
    const ensure = Effect.fn("Repositories.ensure")(
      function*(owner: RepositoryName, name: RepositoryName, path: string) {
        yield* Effect.annotateCurrentSpan({ owner, name, path })
        const found = yield* findByName({ owner, name }).pipe(dieOnParseError)
        if (Option.isSome(found) && found.value.path === path) return found.value
        return yield* upsert({ owner, name, path }).pipe(
          Effect.catchTags({ ParseError: Effect.die, NoSuchElementException: Effect.die })
        )
      }
    )

    /**
     * Switches the kinds mirrored for this repository; the others are left as they are. A detail kind switched on
     * (files, predecessors) has every held commit read again by the details fill.
     */
    const setSyncKinds = Effect.fn("Repositories.setSyncKinds")(
      function*(id: RepositoryId, kinds: ReadonlyArray<MirrorKind>) {
        yield* Effect.annotateCurrentSpan({ id, kinds })
        yield* Effect.zipRight(
          lockRepository(sql, id),
          sql`
          WITH previous AS (SELECT sync_files, sync_predecessors FROM repositories WHERE id = ${id} FOR UPDATE),
          updated AS (
            UPDATE repositories SET
              sync_changes = ${kinds.includes("changes")},
              sync_bookmarks = ${kinds.includes("bookmarks")},
              sync_operations = ${kinds.includes("operations")},
              sync_conflicts = ${kinds.includes("conflicts")},
              sync_tags = ${kinds.includes("tags")},
              sync_workspaces = ${kinds.includes("workspaces")},
              sync_files = ${kinds.includes("files")},
              sync_predecessors = ${kinds.includes("predecessors")}
            WHERE id = ${id}
            RETURNING id
          )
          INSERT INTO commit_details_pending (repository_id, commit_id)
          SELECT repository_id, commit_id FROM changes
          WHERE repository_id = ${id} AND EXISTS (
            SELECT 1 FROM previous, updated
            WHERE (${kinds.includes("files")} AND NOT previous.sync_files)
              OR (${kinds.includes("predecessors")} AND NOT previous.sync_predecessors)
          )
          ON CONFLICT DO NOTHING
        `.pipe(Effect.zipRight(sql`
          UPDATE repositories SET files_complete = NOT EXISTS (
            SELECT 1 FROM commit_details_pending WHERE repository_id = ${id}
          ) WHERE id = ${id}
        `))
        ).pipe(sql.withTransaction)
        return yield* getById(id)
      }
    )

    /** Ids on the persisted watch list; cheap enough to compare often with what is watched. */
    const watchedIds = sql<{ readonly id: number | string }>`SELECT id FROM repositories WHERE watched`.pipe(
      Effect.map(ids),
      Effect.withSpan("Repositories.watchedIds")
    )

    /**
     * Watched, already synced repositories last compared in full with jj at or before `cutoff` (see
     * `Sync/Plan.reconciliationCutoff`).
     */
    const dueForReconciliation = (cutoff: Date) =>
      sql<{ readonly id: number | string }>`
        SELECT id FROM repositories
        WHERE watched AND last_synced_operation_id IS NOT NULL
          AND (last_full_sync_at IS NULL OR last_full_sync_at <= ${cutoff})
      `.pipe(Effect.map(ids), Effect.withSpan("Repositories.dueForReconciliation"))

    /** Rows for repositories found on disk, created or re-pointed in one statement. */
    const ensureMany = (found: ReadonlyArray<{ owner: RepositoryName; name: RepositoryName; path: string }>) =>
      found.length === 0 ? Effect.void : sql`
        INSERT INTO repositories (owner, name, path)
        SELECT owner, name, path FROM json_to_recordset(${asJson(found)}) AS f(owner text, name text, path text)
        ON CONFLICT (owner, name) DO UPDATE SET path = excluded.path
          WHERE repositories.path IS DISTINCT FROM excluded.path
      `.pipe(Effect.asVoid, Effect.withSpan("Repositories.ensureMany", { attributes: { count: found.length } }))

    const setWatched = (id: RepositoryId, watched: boolean) =>
      sql`UPDATE repositories SET watched = ${watched} WHERE id = ${id}`.pipe(
        Effect.asVoid,
        Effect.withSpan("Repositories.setWatched", { attributes: { id, watched } })
      )

    /** Deletes a repository's mirrored rows and forgets what was synced; the row itself stays (unwatched). */
    const purgeMirror = (id: RepositoryId) =>
      Effect.all([
        lockRepository(sql, id),
        sql`DELETE FROM changes WHERE repository_id = ${id}`,
        sql`DELETE FROM bookmarks WHERE repository_id = ${id}`,
        sql`DELETE FROM jj_operations WHERE repository_id = ${id}`,
        sql`DELETE FROM conflicts WHERE repository_id = ${id}`,
        sql`DELETE FROM tags WHERE repository_id = ${id}`,
        sql`DELETE FROM workspaces WHERE repository_id = ${id}`,
        sql`
          UPDATE repositories SET last_synced_operation_id = NULL, last_synced_at = NULL, operation_heads = '{}',
            synced_with = NULL, last_full_sync_at = NULL, change_rows = NULL, operation_rows = NULL,
            bookmark_rows = NULL, tag_rows = NULL,
            bookmarks_digest = NULL, git_export_pending = false, files_complete = true
          WHERE id = ${id}
        `
      ], { discard: true }).pipe(
        sql.withTransaction,
        Effect.withSpan("Repositories.purgeMirror", { attributes: { id } })
      )

    /** The condition of a fenced write: the lease, when given, is still held at its epoch. */
    const heldBy = (lease: Lease | undefined) =>
      lease === undefined ? sql`` : sql` AND lease_owner = ${lease.owner} AND lease_epoch = ${lease.epoch}`

    /** Why `recordSync` found no row to update: the lease moved on, or the row was deleted. */
    const notRecorded = (id: RepositoryId, lease: Lease | undefined) =>
      Effect.flatMap(
        sql`SELECT 1 FROM repositories WHERE id = ${id}`,
        (rows): Effect.Effect<never, LeaseLost | RepositoryRowNotFound> =>
          rows.length > 0 && lease !== undefined
            ? Effect.fail(new LeaseLost({ repositoryId: id, ...lease }))
            : Effect.fail(new RepositoryRowNotFound({ key: { id } }))
      )

    /** Records a failed sync on the row; with a `lease`, only while it is still held. */
    const recordFailure = (id: RepositoryId, message: string, lease?: Lease) =>
      sql`
        UPDATE repositories SET last_error = ${message}, consecutive_failures = consecutive_failures + 1
        WHERE id = ${id}${heldBy(lease)}
      `.pipe(Effect.asVoid, Effect.withSpan("Repositories.recordFailure", { attributes: { id } }))

    /**
     * The rows a mirror holds, given its row as `r` (open conflicts only). Changes, operations, bookmarks and tags,
     * the kinds that grow large, come from `kept` (the counts `recordSync` keeps, or expressions of them); conflicts
     * and workspaces are few and counted.
     */
    const countsOf = (kept: Record<"changes" | "operations" | "bookmarks" | "tags", string>) =>
      sql.literal(`
        ${kept.changes}::int AS changes,
        ${kept.bookmarks}::int AS bookmarks,
        ${kept.operations}::int AS operations,
        (SELECT count(*) FROM conflicts WHERE repository_id = r.id AND NOT resolved)::int AS conflicts,
        ${kept.tags}::int AS tags,
        (SELECT count(*) FROM workspaces WHERE repository_id = r.id)::int AS workspaces
      `)

    /** The kept row counts' columns, and the tables they count. */
    const keptRows = {
      changes: ["change_rows", "changes"],
      operations: ["operation_rows", "jj_operations"],
      bookmarks: ["bookmark_rows", "bookmarks"],
      tags: ["tag_rows", "tags"]
    } as const
    const recount = (table: string, id: string) => `(SELECT count(*) FROM ${table} WHERE repository_id = ${id})`

    /** Rows the mirror holds for the repository (open conflicts only). */
    const counts = (id: RepositoryId) =>
      sql<KindCounts>`
        SELECT ${
        countsOf(
          Object.fromEntries(
            Object.entries(keptRows).map(([kind, [column, table]]) => [
              kind,
              `COALESCE(r.${column}, ${recount(table, "r.id")})`
            ])
          ) as Record<keyof typeof keptRows, string>
        )
      } FROM repositories r WHERE r.id = ${id}
      `.pipe(
        Effect.map((rows) => rows[0] ?? emptyCounts()),
        Effect.withSpan("Repositories.counts")
      )

    /**
     * Whether a bookmark's or tag's `git` remote row differs from its local row: a `git` row whose local row is absent
     * or has other targets (jj could not export it). jj then exports again at its next operation, whatever it
     * is. A local row with no `git` row is not counted: it is the usual state of a repository that is not colocated.
     */
    const gitExportPending = (id: RepositoryId) =>
      sql`
        WITH refs AS (
          SELECT 'bookmark' AS kind, name, remote, target_commit_ids::text AS targets FROM bookmarks
          WHERE repository_id = ${id} AND remote IN ('', 'git')
          UNION ALL SELECT 'tag', name, remote, target_commit_ids::text FROM tags
          WHERE repository_id = ${id} AND remote IN ('', 'git')
        ), paired AS (
          SELECT max(targets) FILTER (WHERE remote = '') AS local, max(targets) FILTER (WHERE remote = 'git') AS git
          FROM refs GROUP BY kind, name
        )
        SELECT EXISTS (SELECT 1 FROM paired WHERE git IS NOT NULL AND local IS DISTINCT FROM git)
      `

    /**
     * Records a committed sync's operation, queues its notification (delivered on commit) and returns the rows the
     * mirror holds, in one statement. Changes and operations are recounted after a full sync and kept up to date
     * from what an incremental one `added`.
     */
    const recordSync = (record: SyncRecord) => {
      const { added, event, id } = record
      // Changes and operations follow from what an incremental sync added; bookmarks and tags are counted again
      // only when this sync merged them.
      const counted = (table: string) => sql.literal(recount(table, String(id)))
      const kept = (kind: keyof typeof keptRows) => {
        const [column, table] = keptRows[kind]
        const n = kind === "changes" || kind === "operations" ? added?.[kind] : undefined
        return n === undefined
          ? (kind === "bookmarks" || kind === "tags") && !record.full && !record.refsRead
            ? sql`COALESCE(${sql(column)}, ${counted(table)})`
            : counted(table)
          : sql`COALESCE(${sql(column)} + ${n}, ${counted(table)})`
      }
      return sql<KindCounts>`
        WITH ordered AS (
          -- Events are numbered in commit order: the syncs of every repository take turns from here to their commit,
          -- so that an event with a smaller id can never commit after a reader saw a greater one. The event's row
          -- (and its id) is made only once this has returned.
          SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.sync_events'))
        ), r AS (
          UPDATE repositories SET last_synced_operation_id = ${record.operationId}, last_synced_at = now(),
            last_error = NULL, consecutive_failures = 0, changes_truncated = ${record.changesTruncated},
            synced_with = ${record.syncedWith},
            last_full_sync_at = CASE WHEN ${record.full} THEN now() ELSE last_full_sync_at END,
            operation_heads = ARRAY(SELECT json_array_elements_text(${asJson(record.heads)})),
            bookmarks_digest = ${record.bookmarksDigest},
            visible_heads = ARRAY(SELECT json_array_elements_text(${asJson(record.visibleHeads)})),
            git_export_pending = CASE WHEN ${record.refsRead} THEN (${
        gitExportPending(id)
      }) ELSE git_export_pending END,
            files_complete = NOT EXISTS (SELECT 1 FROM commit_details_pending WHERE repository_id = ${id}),
            change_rows = ${kept("changes")},
            operation_rows = ${kept("operations")},
            bookmark_rows = ${kept("bookmarks")},
            tag_rows = ${kept("tags")}
          WHERE id = ${id}${heldBy(record.lease)}
          RETURNING id, change_rows, operation_rows, bookmark_rows, tag_rows
        ), event AS (
          INSERT INTO sync_events (
            repository_id, operation_id, previous_operation_id, mode, full_reason, written, changed, created_at,
            written_by
          )
          SELECT r.id, ${record.operationId}, ${event.previousOperationId}, ${event.mode}, ${event.fullReason},
            ${JSON.stringify(event.written)}::jsonb, ${JSON.stringify(event.changed)}::jsonb,
            -- The moment of the append, moments before the commit (now() would be the transaction's start).
            clock_timestamp(), ${record.lease?.owner ?? null}
          FROM r, ordered
          RETURNING id
        ), notified AS (
          SELECT pg_notify(
            ${record.channel},
            (${JSON.stringify(record.payload)}::jsonb || jsonb_build_object('eventId', event.id))::text
          ) FROM event
        )
        SELECT ${
        countsOf({
          changes: "r.change_rows",
          operations: "r.operation_rows",
          bookmarks: "r.bookmark_rows",
          tags: "r.tag_rows"
        })
      }, (SELECT count(*) FROM notified)::int AS notified
        FROM r
      `.pipe(
        Effect.flatMap(([row]) =>
          row === undefined ? notRecorded(id, record.lease) : Effect.succeed<KindCounts>({
            changes: row.changes,
            bookmarks: row.bookmarks,
            operations: row.operations,
            conflicts: row.conflicts,
            tags: row.tags,
            workspaces: row.workspaces
          })
        ),
        Effect.withSpan("Repositories.recordSync")
      )
    }

    return {
      findByName: (owner: string, name: string) =>
        findByName({ owner, name }).pipe(dieOnParseError, Effect.withSpan("Repositories.findByName")),
      getByName,
      getById,
      ensure,
      list: (afterId: number, limit: number) =>
        list({ afterId, limit }).pipe(dieOnParseError, Effect.withSpan("Repositories.list")),
      findByIds: (repositoryIds: ReadonlyArray<RepositoryId>) =>
        repositoryIds.length === 0
          ? Effect.succeed([])
          : findByIds(repositoryIds).pipe(dieOnParseError, Effect.withSpan("Repositories.findByIds")),
      setWatched,
      purgeMirror,
      setSyncKinds,
      watchedIds,
      ensureMany,
      dueForReconciliation,
      recordFailure,
      counts,
      recordSync
    } as const
  })
}) {}
