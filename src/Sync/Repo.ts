import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import type { OperationId, RepositoryId } from "../Domain/Ids.js"
import type { Bookmark, Change, ConflictedCommit, Operation } from "../Domain/Jj.js"
import type { KindCounts, SyncKind } from "../Domain/Repository.js"
import { DatabaseLive } from "../Database.js"
import { operationType } from "../Operations/OperationType.js"

/**
 * What an incremental sync read besides the commits it staged: the commits that stopped being visible, and every
 * change id of a commit that appeared or went away. Passed as arrays, so that PostgreSQL plans index lookups for the
 * few rows they name.
 */
export interface Difference {
  readonly hiddenCommitIds: ReadonlyArray<string>
  readonly touchedChangeIds: ReadonlyArray<string>
}

/**
 * What a merge brings the table to: exactly the staged rows ("all", a full sync), or the stored rows changed by a
 * difference (an incremental sync: staged rows added, hidden commits removed, and only the changes those touch
 * reconsidered).
 */
export type MergeScope = "all" | Difference

/** Rows a merge wrote, and rows it added net (kept only for changes and operations, whose counts are maintained). */
export interface Merged {
  readonly written: number
  readonly added: number
}

const scopeName = (scope: MergeScope) => scope === "all" ? "all" : "difference"

/** What a sync last recorded for a repository, read under the row lock. */
export interface SyncState {
  readonly lastSyncedOperationId: OperationId | null
  readonly operationHeads: ReadonlyArray<OperationId>
  readonly syncedWith: string | null
  readonly lastFullSyncAt: Date | null
}

/**
 * Set-based SQL of one sync, all inside the caller's transaction: readers append batches to temporary staging tables
 * (one statement per batch), then one statement per kind brings the real table in line with them, writing only rows
 * that differ.
 */
export class SyncRepo extends Effect.Service<SyncRepo>()("SyncRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const asJson = (value: unknown) => sql`${JSON.stringify(value)}::json`
    const count = (statement: Effect.Effect<ReadonlyArray<{ readonly n: number }>, SqlError>) =>
      Effect.map(statement, (rows) => rows[0]?.n ?? 0)

    /** Locks the repository row against concurrent syncs and returns what it last synced. */
    const lock = (id: RepositoryId) =>
      sql<SyncState>`
        SELECT last_synced_operation_id, operation_heads, synced_with, last_full_sync_at
        FROM repositories WHERE id = ${id} FOR UPDATE
      `.pipe(Effect.map((rows) => rows[0]), Effect.withSpan("SyncRepo.lock"))

    /**
     * Staging tables live for the connection and are emptied at each commit, so a sync pays no catalog writes for
     * them; one round trip creates any that are missing.
     */
    const createStaging = sql.unsafe(`
      CREATE TEMP TABLE IF NOT EXISTS incoming_changes (LIKE changes) ON COMMIT DELETE ROWS;
      CREATE TEMP TABLE IF NOT EXISTS incoming_bookmarks (LIKE bookmarks INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
      CREATE TEMP TABLE IF NOT EXISTS incoming_operations (LIKE jj_operations) ON COMMIT DELETE ROWS;
      CREATE TEMP TABLE IF NOT EXISTS incoming_conflicts (change_id text, commit_id text, file_path text, sides integer)
        ON COMMIT DELETE ROWS;
    `).pipe(Effect.asVoid, Effect.withSpan("SyncRepo.createStaging"))

    /** Empties the staging tables, for a second pass in the same transaction (a fallback or a reconciliation). */
    const clearStaging = (kinds: ReadonlyArray<SyncKind>) =>
      sql.unsafe(kinds.map((kind) => `TRUNCATE incoming_${kind};`).join("\n")).pipe(
        Effect.asVoid,
        Effect.withSpan("SyncRepo.clearStaging", { attributes: { kinds } })
      )

    /**
     * Stages a batch of commits; `direct` writes them straight into `changes`, for a first import into an empty
     * mirror, where staging and merging would only copy every row twice.
     */
    const stageChanges = (id: RepositoryId, batch: ReadonlyArray<Change>, direct = false) =>
      sql`
        INSERT INTO ${sql(direct ? "changes" : "incoming_changes")}
        SELECT ${id}, r.commit_id, r.change_id, r.parent_commit_ids, r.description, r.author_name, r.author_email,
          r.timestamp, r.committer_name, r.committer_email, r.committer_timestamp, r.is_empty, r.has_conflicts,
          r.is_divergent
        FROM json_to_recordset(${
        asJson(batch.map((change) => ({
          commit_id: change.commitId,
          change_id: change.changeId,
          parent_commit_ids: change.parentCommitIds,
          description: change.description,
          author_name: change.author.name,
          author_email: change.author.email,
          timestamp: change.author.timestamp,
          committer_name: change.committer.name,
          committer_email: change.committer.email,
          committer_timestamp: change.committer.timestamp,
          is_empty: change.isEmpty,
          has_conflicts: change.hasConflicts,
          is_divergent: change.isDivergent
        })))
      }) AS r(commit_id text, change_id text, parent_commit_ids text[], description text, author_name text,
          author_email text, timestamp timestamptz, committer_name text, committer_email text,
          committer_timestamp timestamptz, is_empty boolean, has_conflicts boolean, is_divergent boolean)
      `.pipe(Effect.asVoid, Effect.withSpan("SyncRepo.stageChanges", { attributes: { rows: batch.length } }))

    const stageBookmarks = (id: RepositoryId, batch: ReadonlyArray<Bookmark>) =>
      sql`
        INSERT INTO incoming_bookmarks (repository_id, name, remote, target_commit_ids, target_change_id,
          is_conflicted, is_tracked, is_default)
        SELECT ${id}, r.name, r.remote, r.target_commit_ids, r.target_change_id, r.is_conflicted, r.is_tracked, false
        FROM json_to_recordset(${
        asJson(batch.map((bookmark) => ({
          name: bookmark.name,
          remote: bookmark.remote,
          target_commit_ids: bookmark.targetCommitIds,
          target_change_id: bookmark.targetChangeId,
          is_conflicted: bookmark.isConflicted,
          is_tracked: bookmark.isTracked
        })))
      }) AS r(name text, remote text, target_commit_ids text[], target_change_id text, is_conflicted boolean,
          is_tracked boolean)
      `.pipe(Effect.asVoid, Effect.withSpan("SyncRepo.stageBookmarks", { attributes: { rows: batch.length } }))

    const stageOperations = (id: RepositoryId, batch: ReadonlyArray<Operation>) =>
      sql`
        INSERT INTO incoming_operations
        SELECT ${id}, r.operation_id, r.parent_operation_ids, r.operation_type, r.description, r.username,
          r.hostname, r.start_time, r.timestamp, r.is_snapshot, false, r.workspace_name, r.tags
        FROM json_to_recordset(${
        asJson(batch.map((operation) => ({
          operation_id: operation.operationId,
          parent_operation_ids: operation.parentOperationIds,
          operation_type: operationType(operation),
          description: operation.description,
          username: operation.username,
          hostname: operation.hostname,
          start_time: operation.startTime,
          timestamp: operation.endTime,
          is_snapshot: operation.isSnapshot,
          workspace_name: operation.workspaceName,
          tags: operation.tags
        })))
      }) AS r(operation_id text, parent_operation_ids text[], operation_type text, description text, username text,
          hostname text, start_time timestamptz, timestamp timestamptz, is_snapshot boolean, workspace_name text,
          tags jsonb)
      `.pipe(Effect.asVoid, Effect.withSpan("SyncRepo.stageOperations", { attributes: { rows: batch.length } }))

    const stageConflicts = (batch: ReadonlyArray<ConflictedCommit>) =>
      sql`
        INSERT INTO incoming_conflicts (change_id, commit_id, file_path, sides)
        SELECT r.change_id, r.commit_id, r.file_path, r.sides
        FROM json_to_recordset(${
        asJson(batch.flatMap((commit) =>
          commit.files.map((file) => ({
            change_id: commit.changeId,
            commit_id: commit.commitId,
            file_path: file.path,
            sides: file.sides
          }))
        ))
      }) AS r(change_id text, commit_id text, file_path text, sides integer)
      `.pipe(Effect.asVoid, Effect.withSpan("SyncRepo.stageConflicts", { attributes: { commits: batch.length } }))

    const markUndone = (operationIds: ReadonlyArray<string>) =>
      operationIds.length === 0 ? Effect.void : sql`
        UPDATE incoming_operations SET is_undone = true
        WHERE operation_id IN (SELECT json_array_elements_text(${asJson(operationIds)}))
      `.pipe(Effect.asVoid, Effect.withSpan("SyncRepo.markUndone"))

    // Fresh planner statistics for large staged loads, so they are joined with hashes, not nested loops.
    const analyze = (table: string, large: boolean) => large ? sql`ANALYZE ${sql(table)}`.pipe(Effect.asVoid) : Effect.void

    // What an upsert-and-delete statement did: rows written, and rows added net (inserted minus deleted); an upsert's
    // row is new when it has no previous version (xmax = 0).
    const mergedCounts = sql`
      SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM deleted))::int AS written,
        ((SELECT count(*) FROM upserted WHERE inserted) - (SELECT count(*) FROM deleted))::int AS added
    `
    const textArray = (values: ReadonlyArray<string>) => sql`ARRAY(SELECT json_array_elements_text(${asJson(values)}))`

    /**
     * The upsert and the delete are one statement (they touch disjoint rows). A difference then recomputes
     * `is_divergent` (more than one visible commit with the change id, as jj defines it) for the changes it touched.
     */
    const mergeChanges = (id: RepositoryId, scope: MergeScope, large: boolean) =>
      Effect.gen(function*() {
        yield* analyze("incoming_changes", large)
        const [merged] = yield* sql<Merged>`
          WITH upserted AS (
            INSERT INTO changes SELECT * FROM incoming_changes
            ON CONFLICT (repository_id, commit_id) DO UPDATE SET
              change_id = excluded.change_id, parent_commit_ids = excluded.parent_commit_ids,
              description = excluded.description, author_name = excluded.author_name,
              author_email = excluded.author_email, timestamp = excluded.timestamp,
              committer_name = excluded.committer_name, committer_email = excluded.committer_email,
              committer_timestamp = excluded.committer_timestamp, is_empty = excluded.is_empty,
              has_conflicts = excluded.has_conflicts, is_divergent = excluded.is_divergent
            WHERE changes.* IS DISTINCT FROM excluded.*
            RETURNING xmax = 0 AS inserted
          ), deleted AS (
            DELETE FROM changes c WHERE c.repository_id = ${id} AND ${
          scope === "all"
            ? sql`NOT EXISTS (SELECT 1 FROM incoming_changes i WHERE i.commit_id = c.commit_id)`
            : sql`c.commit_id = ANY(${textArray(scope.hiddenCommitIds)})`
        }
            RETURNING 1
          ) ${mergedCounts}
        `
        if (scope === "all") return merged!
        const divergence = yield* count(sql<{ readonly n: number }>`
          WITH counted AS (
            SELECT commit_id, count(*) OVER (PARTITION BY change_id) > 1 AS divergent FROM changes
            WHERE repository_id = ${id} AND change_id = ANY(${textArray(scope.touchedChangeIds)})
          ), updated AS (
            UPDATE changes c SET is_divergent = counted.divergent FROM counted
            WHERE c.repository_id = ${id} AND c.commit_id = counted.commit_id AND c.is_divergent <> counted.divergent
            RETURNING 1
          ) SELECT count(*)::int AS n FROM updated
        `)
        return { written: merged!.written + divergence, added: merged!.added }
      }).pipe(Effect.withSpan("SyncRepo.mergeChanges", { attributes: { scope: scopeName(scope) } }))

    /**
     * Visible conflicted commits already stored that share a change id with a commit that appeared or went away:
     * with them, an incremental sync restages every conflicted commit of the changes it touched.
     */
    const conflictedSiblings = (id: RepositoryId, difference: Difference) =>
      sql<{ readonly commitId: string }>`
        SELECT commit_id FROM changes c
        WHERE c.repository_id = ${id} AND c.has_conflicts
          AND c.change_id = ANY(${textArray(difference.touchedChangeIds)})
          AND NOT c.commit_id = ANY(${textArray(difference.hiddenCommitIds)})
      `.pipe(Effect.map((rows) => rows.map((row) => row.commitId)), Effect.withSpan("SyncRepo.conflictedSiblings"))

    /** The default bookmark is the first of main, master, trunk present (the names jj's `trunk()` looks for). */
    const mergeBookmarks = (id: RepositoryId) =>
      count(sql<{ readonly n: number }>`
        WITH default_name AS (
          SELECT name FROM incoming_bookmarks WHERE name IN ('main', 'master', 'trunk')
          ORDER BY array_position(ARRAY['main', 'master', 'trunk'], name) LIMIT 1
        ), upserted AS (
          INSERT INTO bookmarks (repository_id, name, remote, target_commit_ids, target_change_id, is_conflicted,
            is_tracked, is_default)
          SELECT repository_id, name, remote, target_commit_ids, target_change_id, is_conflicted, is_tracked,
            name IN (SELECT name FROM default_name)
          FROM incoming_bookmarks
          ON CONFLICT (repository_id, name, remote) DO UPDATE SET
            target_commit_ids = excluded.target_commit_ids, target_change_id = excluded.target_change_id,
            is_conflicted = excluded.is_conflicted, is_tracked = excluded.is_tracked,
            is_default = excluded.is_default, updated_at = now()
          WHERE (bookmarks.target_commit_ids, bookmarks.target_change_id, bookmarks.is_conflicted,
              bookmarks.is_tracked, bookmarks.is_default)
            IS DISTINCT FROM (excluded.target_commit_ids, excluded.target_change_id, excluded.is_conflicted,
              excluded.is_tracked, excluded.is_default)
          RETURNING 1
        ), deleted AS (
          DELETE FROM bookmarks b WHERE b.repository_id = ${id}
            AND NOT EXISTS (SELECT 1 FROM incoming_bookmarks i WHERE i.name = b.name AND i.remote = b.remote)
          RETURNING 1
        ) SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM deleted))::int AS n
      `).pipe(Effect.withSpan("SyncRepo.mergeBookmarks"))

    /** A difference only adds operations: the log only grows while the previous head stays an ancestor. */
    const mergeOperations = (id: RepositoryId, scope: MergeScope, large: boolean) =>
      analyze("incoming_operations", large).pipe(
        Effect.zipRight(sql<Merged>`
          WITH upserted AS (
            INSERT INTO jj_operations SELECT * FROM incoming_operations
            ON CONFLICT (repository_id, operation_id) DO UPDATE SET
              parent_operation_ids = excluded.parent_operation_ids, operation_type = excluded.operation_type,
              description = excluded.description, username = excluded.username, hostname = excluded.hostname,
              start_time = excluded.start_time, timestamp = excluded.timestamp, is_snapshot = excluded.is_snapshot,
              is_undone = excluded.is_undone, workspace_name = excluded.workspace_name, tags = excluded.tags
            WHERE jj_operations.* IS DISTINCT FROM excluded.*
            RETURNING xmax = 0 AS inserted
          ), deleted AS (
            DELETE FROM jj_operations o WHERE o.repository_id = ${id} AND ${
          scope === "all" ? sql`NOT EXISTS (SELECT 1 FROM incoming_operations i WHERE i.operation_id = o.operation_id)` : sql`false`
        }
            RETURNING 1
          ) ${mergedCounts}
        `),
        Effect.map(([merged]) => merged!),
        Effect.withSpan("SyncRepo.mergeOperations", { attributes: { scope: scopeName(scope) } })
      )

    /** Whether the mirror already holds an operation. */
    const hasOperation = (id: RepositoryId, operationId: string) =>
      sql<{ readonly stored: boolean }>`
        SELECT EXISTS (SELECT 1 FROM jj_operations WHERE repository_id = ${id} AND operation_id = ${operationId}) AS stored
      `.pipe(Effect.map((rows) => rows[0]?.stored === true), Effect.withSpan("SyncRepo.hasOperation"))

    /** The stored operation graph, for recomputing `is_undone` after an undo, redo, restore, revert or merge. */
    const operationGraph = (id: RepositoryId) =>
      sql<{ readonly id: string; readonly parentIds: ReadonlyArray<string>; readonly description: string }>`
        SELECT operation_id AS id, parent_operation_ids AS parent_ids,
          CASE WHEN description ~ 'operation [0-9a-f]+$' THEN description ELSE '' END AS description
        FROM jj_operations WHERE repository_id = ${id}
      `.pipe(Effect.withSpan("SyncRepo.operationGraph"))

    /** Sets `is_undone` to exactly the given operations; returns the rows that changed. */
    const setUndone = (id: RepositoryId, undone: ReadonlyArray<string>) =>
      count(sql<{ readonly n: number }>`
        WITH undone AS (SELECT json_array_elements_text(${asJson(undone)}) AS operation_id), updated AS (
          UPDATE jj_operations o SET is_undone = NOT o.is_undone
          WHERE o.repository_id = ${id} AND o.is_undone <> (o.operation_id IN (SELECT operation_id FROM undone))
          RETURNING 1
        ) SELECT count(*)::int AS n FROM updated
      `).pipe(Effect.withSpan("SyncRepo.setUndone"))

    /**
     * Conflicts still present are opened (or reopened); ones that vanished are kept as resolved. A divergent change
     * with the same conflicted path in several commits keeps one row, from the lowest commit id. A difference only
     * reconsiders the changes it touched, whose conflicted commits were all staged.
     */
    const mergeConflicts = (id: RepositoryId, scope: MergeScope) =>
      count(sql<{ readonly n: number }>`
        WITH upserted AS (
          INSERT INTO conflicts (repository_id, change_id, commit_id, file_path, sides, resolved, resolved_at)
          SELECT DISTINCT ON (change_id, file_path) ${id}::bigint, change_id, commit_id, file_path, sides, false,
            NULL::timestamptz
          FROM incoming_conflicts ORDER BY change_id, file_path, commit_id
          ON CONFLICT (repository_id, change_id, file_path) DO UPDATE SET
            commit_id = excluded.commit_id, sides = excluded.sides, resolved = false, resolved_at = NULL
          WHERE (conflicts.commit_id, conflicts.sides, conflicts.resolved)
            IS DISTINCT FROM (excluded.commit_id, excluded.sides, false)
          RETURNING 1
        ), resolved AS (
          UPDATE conflicts c SET resolved = true, resolved_at = now()
          WHERE c.repository_id = ${id} AND NOT c.resolved
            AND NOT EXISTS (
              SELECT 1 FROM incoming_conflicts i WHERE i.change_id = c.change_id AND i.file_path = c.file_path
            )${scope === "all" ? sql`` : sql` AND c.change_id = ANY(${textArray(scope.touchedChangeIds)})`}
          RETURNING 1
        ) SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM resolved))::int AS n
      `).pipe(Effect.withSpan("SyncRepo.mergeConflicts", { attributes: { scope: scopeName(scope) } }))

    /** Brings the kind's table in line with its staged rows; `large` loads get fresh statistics first. */
    const merge = (id: RepositoryId, kind: SyncKind, scope: MergeScope, large: boolean): Effect.Effect<Merged, SqlError> => {
      switch (kind) {
        case "changes":
          return mergeChanges(id, scope, large)
        case "bookmarks":
          return Effect.map(mergeBookmarks(id), (written) => ({ written, added: 0 }))
        case "operations":
          return mergeOperations(id, scope, large)
        case "conflicts":
          return Effect.map(mergeConflicts(id, scope), (written) => ({ written, added: 0 }))
      }
    }

    /**
     * Records the synced operation, queues the notification (delivered on commit) and returns the rows the mirror
     * holds (open conflicts only), in one statement. Changes and operations, the kinds that grow with the history, are
     * counted after a full sync and kept up to date from what an incremental one `added`; bookmarks and open conflicts
     * are few and counted each time.
     */
    const finish = (options: {
      readonly id: RepositoryId
      readonly operationId: OperationId
      readonly heads: ReadonlyArray<OperationId>
      readonly changesTruncated: boolean
      readonly syncedWith: string
      readonly full: boolean
      readonly added: { readonly changes: number; readonly operations: number } | undefined
      readonly channel: string
      readonly payload: unknown
    }) => {
      const { added, id } = options
      const recount = (table: "changes" | "jj_operations") => sql`(SELECT count(*) FROM ${sql(table)} WHERE repository_id = ${id})`
      return sql<KindCounts & { readonly notified: number }>`
        WITH synced AS (
          UPDATE repositories SET last_synced_operation_id = ${options.operationId}, last_synced_at = now(),
            last_error = NULL, consecutive_failures = 0, changes_truncated = ${options.changesTruncated},
            synced_with = ${options.syncedWith},
            last_full_sync_at = CASE WHEN ${options.full} THEN now() ELSE last_full_sync_at END,
            operation_heads = ARRAY(SELECT json_array_elements_text(${asJson(options.heads)})),
            change_rows = ${
        added === undefined ? recount("changes") : sql`COALESCE(change_rows + ${added.changes}, ${recount("changes")})`
      },
            operation_rows = ${
        added === undefined
          ? recount("jj_operations")
          : sql`COALESCE(operation_rows + ${added.operations}, ${recount("jj_operations")})`
      }
          WHERE id = ${id}
          RETURNING change_rows, operation_rows
        ), notified AS (
          SELECT pg_notify(${options.channel}, ${JSON.stringify(options.payload)}) FROM synced
        )
        SELECT (SELECT count(*) FROM notified)::int AS notified,
          (SELECT change_rows FROM synced)::int AS changes,
          (SELECT count(*) FROM bookmarks WHERE repository_id = ${id})::int AS bookmarks,
          (SELECT operation_rows FROM synced)::int AS operations,
          (SELECT count(*) FROM conflicts WHERE repository_id = ${id} AND NOT resolved)::int AS conflicts
      `.pipe(
        Effect.map(([row]) => ({
          changes: row!.changes,
          bookmarks: row!.bookmarks,
          operations: row!.operations,
          conflicts: row!.conflicts
        })),
        Effect.withSpan("SyncRepo.finish")
      )
    }

    /** Whether the mirror holds no change of the repository yet. */
    const hasNoChanges = (id: RepositoryId) =>
      sql<{ readonly empty: boolean }>`
        SELECT NOT EXISTS (SELECT 1 FROM changes WHERE repository_id = ${id}) AS empty
      `.pipe(Effect.map((rows) => rows[0]?.empty === true), Effect.withSpan("SyncRepo.hasNoChanges"))

    /** Rows the mirror holds for the repository (open conflicts only), from the counts kept by `finish`. */
    const counts = (id: RepositoryId) =>
      sql<KindCounts>`
        SELECT
          COALESCE(r.change_rows, (SELECT count(*) FROM changes WHERE repository_id = r.id))::int AS changes,
          (SELECT count(*) FROM bookmarks WHERE repository_id = r.id)::int AS bookmarks,
          COALESCE(r.operation_rows, (SELECT count(*) FROM jj_operations WHERE repository_id = r.id))::int AS operations,
          (SELECT count(*) FROM conflicts WHERE repository_id = r.id AND NOT resolved)::int AS conflicts
        FROM repositories r WHERE r.id = ${id}
      `.pipe(
        Effect.map((rows) => rows[0] ?? { changes: 0, bookmarks: 0, operations: 0, conflicts: 0 }),
        Effect.withSpan("SyncRepo.counts")
      )

    return {
      lock,
      createStaging,
      clearStaging,
      stageChanges,
      hasNoChanges,
      stageBookmarks,
      stageOperations,
      stageConflicts,
      markUndone,
      merge,
      conflictedSiblings,
      hasOperation,
      operationGraph,
      setUndone,
      finish,
      counts
    } as const
  }),
  dependencies: [DatabaseLive]
}) {}
