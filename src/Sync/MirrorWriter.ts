import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import { Effect } from "effect"
import { maxChangedItems } from "../Domain/Events.js"
import type { Changed, ConflictKey, RefMoved } from "../Domain/Events.js"
import type { RepositoryId } from "../Domain/Ids.js"
import type { Bookmark, Change, ConflictedCommit, Operation, Tag, Workspace } from "../Domain/Jj.js"
import type { SyncKind } from "../Domain/Repository.js"
import { undoDescriptionPattern } from "../Operations/UndoState.js"
import type { OperationNode } from "../Operations/UndoState.js"
import { lockRepository } from "../RepositoryLock.js"
import {
  bookmarksTable,
  changesTable,
  conflictsTable,
  differsFromExcluded,
  kindTables,
  operationsTable,
  recordType,
  setFromExcluded,
  tagsTable,
  toRecords,
  valueColumns,
  workspacesTable
} from "./Columns.js"
import type { KindTable } from "./Columns.js"
import type { SyncedState } from "./Plan.js"
import type { HeldCommit } from "./Visibility.js"

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
export type MergeScope = "all" | Difference | NamedChanges

/**
 * How a batch is staged: an insert into a staging table that may run together with others (`stageTogether`), or an
 * effect of its own (a first import's direct write, which no `WITH` can hold).
 */
export type Staging =
  | { readonly _tag: "Combinable"; readonly statement: Statement.Statement<unknown> }
  | Effect.Effect<void, SqlError>

/** Rows of a listed kind that changed by name (workspaces, from jj's diff): the staged ones and the ones removed. */
export interface NamedChanges {
  readonly removedNames: ReadonlyArray<string>
}

/** What the last sync recorded of the bookmarks and tags it read, for an incremental sync to decide what to list. */
export interface StoredRefs {
  /** The digest of jj's bookmark listing (`Sync/BookmarksDigest.ts`). */
  readonly bookmarksDigest: string | null
  /**
   * A bookmark's or tag's `git` remote row differs from its local row in the mirror (an export jj could not do): jj
   * may then move the `git` ref in any operation (retrying the export), which its diff does not show.
   */
  readonly gitExportPending: boolean
  /**
   * The working-copy commits of the mirrored workspaces: what a diff names of the previous operation when its visible
   * heads are too many to keep.
   */
  readonly workingCopyCommitIds: ReadonlyArray<string>
}

/**
 * Rows a merge wrote, rows it added net (kept only for changes and operations, whose counts are maintained), and what
 * it moved, for the sync's event.
 */
export interface Merged {
  readonly written: number
  readonly added: number
  readonly changed?: Partial<Changed>
}

/** What a merge of conflicts reports. */
interface ConflictsMergedRow {
  readonly written: number
  readonly openedCount: number
  readonly opened: ReadonlyArray<ConflictKey>
  readonly resolvedCount: number
  readonly resolved: ReadonlyArray<ConflictKey>
}

/** What a merge of refs reports (`refsMoved`). */
interface RefsMergedRow {
  readonly written: number
  readonly movedCount: number
  readonly moved: ReadonlyArray<RefMoved>
}

const refsMerged = ([row]: ReadonlyArray<RefsMergedRow>) => ({
  written: row?.written ?? 0,
  moved: capped(row?.movedCount ?? 0, row?.moved ?? [])
})

/** What an upsert-and-delete statement reports (`mergedCounts`). */
interface MergedRows {
  readonly written: number
  readonly added: number
  readonly insertedCount: number
  readonly deletedCount: number
  readonly insertedKeys: ReadonlyArray<string>
  readonly deletedKeys: ReadonlyArray<string>
}

const capped = <A>(count: number, items: ReadonlyArray<A>) => ({ count, items: [...items] })

const scopeName = (scope: MergeScope) => scope === "all" ? "all" : "removedNames" in scope ? "named" : "difference"

/** A scope of the kinds that follow commits (changes, operations, conflicts): all, or a difference of commits. */
const commitScope = (kind: SyncKind, scope: MergeScope): Effect.Effect<Difference | "all"> =>
  scope !== "all" && "removedNames" in scope
    ? Effect.dieMessage(`a scope of names given for ${kind}, which follows commits`)
    : Effect.succeed(scope)

/**
 * Writes a sync into the mirror, all inside the caller's transaction: readers append batches to temporary staging
 * tables (one statement per batch), then one statement per kind brings the real table in line with them, writing
 * only rows that differ.
 */
export class MirrorWriter extends Effect.Service<MirrorWriter>()("jj-watcher/MirrorWriter", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const asJson = (value: unknown) => sql`${JSON.stringify(value)}::json`
    const textArray = (values: ReadonlyArray<string>) => sql`ARRAY(SELECT json_array_elements_text(${asJson(values)}))`
    const count = (statement: Effect.Effect<ReadonlyArray<{ readonly n: number }>, SqlError>) =>
      Effect.map(statement, (rows) => rows[0]?.n ?? 0)

    /** Locks the repository against concurrent writers and returns what it last synced (read after the lock). */
    /**
     * Staging tables live for the connection and are emptied at each commit, so a sync pays no catalog writes for
     * them; one round trip creates them on a connection that has none.
     */
    const createStaging = sql.unsafe(
      Object.values(kindTables).map((spec) =>
        `CREATE TEMP TABLE IF NOT EXISTS ${spec.staging} (LIKE ${spec.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;`
      ).join("\n")
    ).pipe(Effect.asVoid, Effect.withSpan("MirrorWriter.createStaging"))

    /**
     * Takes the repository's lock for the transaction and reads its synced state, with the staging tables ready: the
     * same statement says whether this connection already has them (they are made together).
     */
    const lock = Effect.fn("MirrorWriter.lock")(function*(id: RepositoryId) {
      yield* lockRepository(sql, id)
      const rows = yield* sql<
        SyncedState & StoredRefs & {
          readonly visibleHeads: ReadonlyArray<string> | null
          readonly stagingExists: boolean
        }
      >`
        SELECT last_synced_operation_id, operation_heads, synced_with, last_full_sync_at, bookmarks_digest,
          git_export_pending, visible_heads,
          ARRAY(SELECT working_copy_commit_id FROM workspaces WHERE repository_id = ${id}) AS working_copy_commit_ids,
          to_regclass(${`pg_temp.${changesTable.staging}`}) IS NOT NULL AS staging_exists
        FROM repositories WHERE id = ${id}
      `
      const row = rows[0]
      if (row?.stagingExists !== true) yield* createStaging
      return row
    })

    /** Empties the staging tables, for a second pass in the same transaction (a fallback or a reconciliation). */
    const clearStaging = (kinds: ReadonlyArray<SyncKind>) =>
      sql.unsafe(kinds.map((kind) => `TRUNCATE ${kindTables[kind].staging};`).join("\n")).pipe(
        Effect.asVoid,
        Effect.withSpan("MirrorWriter.clearStaging", { attributes: { kinds } })
      )

    /** Appends a batch to `into` (the kind's staging table, or the table itself), derived columns at their initial values. */
    const insertBatch = <A>(spec: KindTable<A>, into: string, id: RepositoryId, batch: ReadonlyArray<A>) => {
      const read = spec.read.map((c) => c.name)
      const columns = ["repository_id", ...read, ...spec.derived.map((c) => c.name)].join(", ")
      const values = [...read.map((name) => `r.${name}`), ...spec.derived.map((c) => c.staged)].join(", ")
      return sql`
        INSERT INTO ${sql.literal(into)} (${sql.literal(columns)})
        SELECT ${id}, ${sql.literal(values)}
        FROM json_to_recordset(${asJson(toRecords(spec, batch))}) AS ${sql.literal(recordType(spec))}
      `
    }
    const stage = <A>(spec: KindTable<A>, into: string, id: RepositoryId, batch: ReadonlyArray<A>): Staging => ({
      _tag: "Combinable",
      statement: insertBatch(spec, into, id, batch)
    })

    /**
     * Runs staging statements (`Staging`'s combinable ones) as one: each an insert of its own in a `WITH`, which
     * PostgreSQL runs to completion whether or not the statement reads it.
     */
    const stageTogether = (statements: ReadonlyArray<Statement.Statement<unknown>>) =>
      (statements.length === 1 ?
        statements[0]! :
        sql`WITH ${
          sql.join(", ", false)(statements.map((statement, i) => sql`${sql.literal(`staged_${i}`)} AS (${statement})`))
        } SELECT 1`).pipe(
          Effect.asVoid,
          Effect.withSpan("MirrorWriter.stage", { attributes: { statements: statements.length } })
        )

    /**
     * Queues the details (files, predecessors) of the commits a statement's `from` part returned (`commit_id`) for
     * the details fill: commits new to the mirror, whose details are read once.
     */
    const queueDetails = (id: RepositoryId, from: string) =>
      sql`
        INSERT INTO commit_details_pending (repository_id, commit_id)
        SELECT ${id}, commit_id FROM ${sql.literal(from)} ON CONFLICT DO NOTHING
      `

    /**
     * Stages a batch of commits; `direct` writes them straight into `changes`, for a first import into an empty
     * mirror, where staging and merging would only copy every row twice, and queues their details for the fill.
     */
    const stageChanges = (id: RepositoryId, batch: ReadonlyArray<Change>, direct = false): Staging =>
      direct
        ? sql`
          WITH written AS (${insertBatch(changesTable, changesTable.table, id, batch)} RETURNING commit_id)
          ${queueDetails(id, "written")}
        `.pipe(Effect.asVoid, Effect.withSpan("MirrorWriter.stageChanges", { attributes: { rows: batch.length } }))
        : stage(changesTable, changesTable.staging, id, batch)

    const stageBookmarks = (id: RepositoryId, batch: ReadonlyArray<Bookmark>) =>
      stage(bookmarksTable, bookmarksTable.staging, id, batch)

    const stageTags = (id: RepositoryId, batch: ReadonlyArray<Tag>) => stage(tagsTable, tagsTable.staging, id, batch)

    const stageWorkspaces = (id: RepositoryId, batch: ReadonlyArray<Workspace>) =>
      stage(workspacesTable, workspacesTable.staging, id, batch)

    const stageOperations = (id: RepositoryId, batch: ReadonlyArray<Operation>) =>
      stage(operationsTable, operationsTable.staging, id, batch)

    const stageConflicts = (id: RepositoryId, batch: ReadonlyArray<ConflictedCommit>) =>
      stage(
        conflictsTable,
        conflictsTable.staging,
        id,
        batch.flatMap((commit) => commit.files.map((file) => ({ commit, file })))
      )

    const markUndone = (operationIds: ReadonlyArray<string>) =>
      operationIds.length === 0 ? Effect.void : sql`
        UPDATE incoming_operations SET is_undone = true
        WHERE operation_id IN (SELECT json_array_elements_text(${asJson(operationIds)}))
      `.pipe(Effect.asVoid, Effect.withSpan("MirrorWriter.markUndone"))

    // Fresh planner statistics for large staged loads, so they are joined with hashes, not nested loops.
    const analyze = (table: string, large: boolean) =>
      large ? sql`ANALYZE ${sql(table)}`.pipe(Effect.asVoid) : Effect.void

    // What an upsert-and-delete statement did: rows written, rows added net (inserted minus deleted), and the keys of
    // the rows inserted and deleted (the first `maxChangedItems`); an upsert's row is new when it has no previous
    // version (xmax = 0).
    const mergedCounts = sql`
      SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM deleted))::int AS written,
        ((SELECT count(*) FROM upserted WHERE inserted) - (SELECT count(*) FROM deleted))::int AS added,
        (SELECT count(*) FROM upserted WHERE inserted)::int AS inserted_count,
        (SELECT count(*) FROM deleted)::int AS deleted_count,
        (SELECT coalesce(json_agg(key), '[]') FROM (
          SELECT key FROM upserted WHERE inserted LIMIT ${maxChangedItems}
        ) s) AS inserted_keys,
        (SELECT coalesce(json_agg(key), '[]') FROM (SELECT key FROM deleted LIMIT ${maxChangedItems}) s) AS deleted_keys
    `

    /**
     * Upserts every staged row of a kind whose rows are exactly what jj reports (changes, operations) and deletes the
     * stored rows `stale` selects (as `t`), in one statement: they touch disjoint rows. Only rows that differ are
     * written. "all" deletes every stored row that was not staged.
     */
    const upsertStaged = (
      spec: KindTable<never>,
      id: RepositoryId,
      update: ReadonlyArray<string>,
      stale: Statement.Fragment | "all",
      detailsOfInserted = false
    ) => {
      const key = spec.key.join(", ")
      const sameKey = spec.key.map((name) => `i.${name} = t.${name}`).join(" AND ")
      return sql<MergedRows>`
        WITH upserted AS (
          INSERT INTO ${sql.literal(spec.table)} SELECT * FROM ${sql.literal(spec.staging)}
          ON CONFLICT (repository_id, ${sql.literal(key)}) DO UPDATE SET ${sql.literal(setFromExcluded(update))}
          WHERE ${sql.literal(spec.table)}.* IS DISTINCT FROM excluded.*
          RETURNING xmax = 0 AS inserted, ${sql.literal(spec.key[0]!)} AS key${
        sql.literal(detailsOfInserted ? ", commit_id" : "")
      }
        ), ${
        detailsOfInserted
          ? sql`queued AS (
          ${queueDetails(id, "(SELECT commit_id FROM upserted WHERE inserted) AS inserted")}
        ), `
          : sql``
      }deleted AS (
          DELETE FROM ${sql.literal(spec.table)} t WHERE t.repository_id = ${id} AND ${
        stale === "all" ? sql.literal(`NOT EXISTS (SELECT 1 FROM ${spec.staging} i WHERE ${sameKey})`) : stale
      }
          RETURNING t.${sql.literal(spec.key[0]!)} AS key
        ) ${mergedCounts}
      `.pipe(Effect.map(([merged]) => merged!))
    }

    /**
     * A difference deletes the commits that went away, then recomputes `is_divergent` (more than one visible commit
     * with the change id, as jj defines it) for the changes it touched.
     */
    const mergeChanges = (id: RepositoryId, scope: Difference | "all", large: boolean) =>
      Effect.gen(function*() {
        yield* analyze(changesTable.staging, large)
        const merged = yield* upsertStaged(
          changesTable,
          id,
          valueColumns(changesTable),
          scope === "all" ? "all" : sql`t.commit_id = ANY(${textArray(scope.hiddenCommitIds)})`,
          true
        )
        const changed: Partial<Changed> = {
          commits: {
            appeared: capped(merged.insertedCount, merged.insertedKeys),
            gone: capped(merged.deletedCount, merged.deletedKeys)
          }
        }
        if (scope === "all") return { written: merged.written, added: merged.added, changed }
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
        return { written: merged.written + divergence, added: merged.added, changed }
      }).pipe(Effect.withSpan("MirrorWriter.mergeChanges", { attributes: { scope: scopeName(scope) } }))

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
      `.pipe(Effect.map((rows) => rows.map((row) => row.commitId)), Effect.withSpan("MirrorWriter.conflictedSiblings"))

    /**
     * The end of a merge of refs whose `upserted` and `deleted` return their name, remote and targets: rows written,
     * and the refs whose targets moved, with their targets before (read from the table's state before the statement)
     * and after.
     */
    const refsMoved = (table: "bookmarks" | "tags", id: RepositoryId) =>
      sql`before AS (
          SELECT name, remote, target_commit_ids FROM ${sql.literal(table)}
          WHERE repository_id = ${id} AND (name, remote) IN (SELECT name, remote FROM upserted)
        ), moved AS (
          SELECT u.name, u.remote, b.target_commit_ids AS old, u.target_commit_ids AS new
          FROM upserted u LEFT JOIN before b ON b.name = u.name AND b.remote = u.remote
          WHERE b.target_commit_ids IS DISTINCT FROM u.target_commit_ids
          UNION ALL SELECT d.name, d.remote, d.target_commit_ids, NULL FROM deleted d
        )
        SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM deleted))::int AS written,
          (SELECT count(*) FROM moved)::int AS moved_count,
          (SELECT coalesce(json_agg(m), '[]') FROM (
            SELECT * FROM moved ORDER BY name, remote LIMIT ${maxChangedItems}
          ) m) AS moved`

    /** The default bookmark is the first of main, master, trunk present (the names jj's `trunk()` looks for). */
    const bookmarkRead = ["repository_id", ...bookmarksTable.read.map((c) => c.name)].join(", ")
    const bookmarkValues = [...valueColumns(bookmarksTable), "is_default"]
    const mergeBookmarks = (id: RepositoryId) =>
      sql<RefsMergedRow>`
        WITH default_name AS (
          SELECT name FROM incoming_bookmarks WHERE name IN ('main', 'master', 'trunk')
          ORDER BY array_position(ARRAY['main', 'master', 'trunk'], name) LIMIT 1
        ), upserted AS (
          INSERT INTO bookmarks (${sql.literal(bookmarkRead)}, is_default)
          SELECT ${sql.literal(bookmarkRead)}, name IN (SELECT name FROM default_name) FROM incoming_bookmarks
          ON CONFLICT (repository_id, name, remote) DO UPDATE SET ${sql.literal(setFromExcluded(bookmarkValues))},
            updated_at = now()
          WHERE ${sql.literal(differsFromExcluded("bookmarks", bookmarkValues))}
          RETURNING name, remote, target_commit_ids
        ), deleted AS (
          DELETE FROM bookmarks b WHERE b.repository_id = ${id}
            AND NOT EXISTS (SELECT 1 FROM incoming_bookmarks i WHERE i.name = b.name AND i.remote = b.remote)
          RETURNING name, remote, target_commit_ids
        ), ${refsMoved("bookmarks", id)}
      `.pipe(Effect.map(refsMerged), Effect.withSpan("MirrorWriter.mergeBookmarks"))

    /**
     * A kind whose table is exactly jj's whole listing of it (tags, workspaces): rows that differ are written, with
     * `updated_at` now, and rows no longer listed are deleted; or, for changes by name, the named rows.
     */
    const mergeListing = (spec: KindTable<never>, id: RepositoryId, scope: MergeScope) => {
      const read = ["repository_id", ...spec.read.map((c) => c.name)].join(", ")
      const values = valueColumns(spec)
      const sameKey = spec.key.map((name) => `i.${name} = t.${name}`).join(" AND ")
      // Tags are refs: what moved is reported like bookmarks.
      const refs = spec.table === tagsTable.table
      return sql<RefsMergedRow>`
        WITH upserted AS (
          INSERT INTO ${sql.literal(spec.table)} (${sql.literal(read)})
          SELECT ${sql.literal(read)} FROM ${sql.literal(spec.staging)}
          ON CONFLICT (repository_id, ${sql.literal(spec.key.join(", "))}) DO UPDATE SET ${
        sql.literal(setFromExcluded(values))
      }, updated_at = now()
          WHERE ${sql.literal(differsFromExcluded(spec.table, values))}
          RETURNING ${sql.literal(refs ? "name, remote, target_commit_ids" : "1")}
        ), deleted AS (
          DELETE FROM ${sql.literal(spec.table)} t WHERE t.repository_id = ${id} AND ${
        scope !== "all" && "removedNames" in scope
          ? sql`t.name = ANY(${textArray(scope.removedNames)})`
          : sql.literal(`NOT EXISTS (SELECT 1 FROM ${spec.staging} i WHERE ${sameKey})`)
      }
          RETURNING ${sql.literal(refs ? "name, remote, target_commit_ids" : "1")}
        ) ${
        refs
          ? sql`, ${refsMoved("tags", id)}`
          : sql`SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM deleted))::int AS written`
      }
      `.pipe(
        Effect.map(refsMerged),
        Effect.withSpan("MirrorWriter.mergeListing", { attributes: { table: spec.table } })
      )
    }

    /** A difference only adds operations: the log only grows while the previous head stays an ancestor. */
    const mergeOperations = (id: RepositoryId, scope: Difference | "all", large: boolean) =>
      analyze(operationsTable.staging, large).pipe(
        Effect.zipRight(
          upsertStaged(
            operationsTable,
            id,
            [...valueColumns(operationsTable), "is_undone"],
            scope === "all" ? "all" : sql`false`
          )
        ),
        Effect.map((merged): Merged => ({
          written: merged.written,
          added: merged.added,
          changed: { operations: capped(merged.insertedCount, merged.insertedKeys) }
        })),
        Effect.withSpan("MirrorWriter.mergeOperations", { attributes: { scope: scopeName(scope) } })
      )

    /** Whether the mirror already holds an operation. */
    const hasOperation = (id: RepositoryId, operationId: string) =>
      sql<{ readonly stored: boolean }>`
        SELECT EXISTS (SELECT 1 FROM jj_operations WHERE repository_id = ${id} AND operation_id = ${operationId}) AS stored
      `.pipe(Effect.map((rows) => rows[0]?.stored === true), Effect.withSpan("MirrorWriter.hasOperation"))

    /**
     * The stored operation graph, for recomputing `is_undone` after an undo, redo, restore, revert or merge: one text
     * row, a line per operation (its id, its parents, then the description of one that can name another), since
     * decoding tens of thousands of rows with arrays costs far more than splitting lines. Ids are hex; a tab or a
     * newline in a description becomes a space, which changes no decision (jj writes an undo's on one line).
     */
    const operationGraph = (id: RepositoryId) =>
      sql<{ readonly graph: string | null }>`
        SELECT string_agg(
          operation_id || E'\t' || array_to_string(parent_operation_ids, ' ') || E'\t' ||
            CASE WHEN description LIKE '%operation %' AND description ~ ${undoDescriptionPattern.source}
              THEN replace(replace(description, E'\n', ' '), E'\t', ' ') ELSE '' END,
          E'\n') AS graph
        FROM jj_operations WHERE repository_id = ${id}
      `.pipe(
        Effect.map((rows) =>
          (rows[0]?.graph ?? "").split("\n").filter((line) => line.length > 0).map((line): OperationNode => {
            const [operationId = "", parents = "", description = ""] = line.split("\t")
            return { id: operationId, parentIds: parents === "" ? [] : parents.split(" "), description }
          })
        ),
        Effect.withSpan("MirrorWriter.operationGraph")
      )

    /** Sets `is_undone` to exactly the given operations; returns the rows that changed. */
    const setUndone = (id: RepositoryId, undone: ReadonlyArray<string>) =>
      count(sql<{ readonly n: number }>`
        WITH undone AS (SELECT json_array_elements_text(${asJson(undone)}) AS operation_id), updated AS (
          UPDATE jj_operations o SET is_undone = NOT o.is_undone
          WHERE o.repository_id = ${id} AND o.is_undone <> (o.operation_id IN (SELECT operation_id FROM undone))
          RETURNING 1
        ) SELECT count(*)::int AS n FROM updated
      `).pipe(Effect.withSpan("MirrorWriter.setUndone"))

    /** Sets `is_undone` of the named operations; returns the rows that changed. */
    const setUndoneOf = (
      id: RepositoryId,
      statuses: ReadonlyArray<{ readonly id: string; readonly undone: boolean }>
    ) =>
      statuses.length === 0 ? Effect.succeed(0) : count(sql<{ readonly n: number }>`
        WITH updated AS (
          UPDATE jj_operations o SET is_undone = s.undone
          FROM json_to_recordset(${asJson(statuses)}) AS s(id text, undone boolean)
          WHERE o.repository_id = ${id} AND o.operation_id = s.id AND o.is_undone <> s.undone
          RETURNING 1
        ) SELECT count(*)::int AS n FROM updated
      `).pipe(Effect.withSpan("MirrorWriter.setUndoneOf"))

    /**
     * Conflicts still present are opened (or reopened); ones that vanished are kept as resolved. A divergent change
     * with the same conflicted path in several commits keeps one row, from the lowest commit id. A difference only
     * reconsiders the changes it touched, whose conflicted commits were all staged.
     */
    const conflictRead = ["repository_id", ...conflictsTable.read.map((c) => c.name)].join(", ")
    const conflictValues = [...valueColumns(conflictsTable), "resolved"]
    const mergeConflicts = (id: RepositoryId, scope: Difference | "all") =>
      sql<ConflictsMergedRow>`
        WITH upserted AS (
          INSERT INTO conflicts (${sql.literal(conflictRead)}, resolved, resolved_at)
          SELECT DISTINCT ON (change_id, file_path) ${sql.literal(conflictRead)}, false, NULL::timestamptz
          FROM incoming_conflicts ORDER BY change_id, file_path, commit_id
          ON CONFLICT (repository_id, change_id, file_path) DO UPDATE SET ${
        sql.literal(setFromExcluded(conflictValues))
      }, resolved_at = NULL
          WHERE ${sql.literal(differsFromExcluded("conflicts", conflictValues))}
          RETURNING change_id, file_path
        ), resolved AS (
          UPDATE conflicts c SET resolved = true, resolved_at = now()
          WHERE c.repository_id = ${id} AND NOT c.resolved
            AND NOT EXISTS (
              SELECT 1 FROM incoming_conflicts i WHERE i.change_id = c.change_id AND i.file_path = c.file_path
            )${scope === "all" ? sql`` : sql` AND c.change_id = ANY(${textArray(scope.touchedChangeIds)})`}
          RETURNING change_id, file_path
        ) SELECT ((SELECT count(*) FROM upserted) + (SELECT count(*) FROM resolved))::int AS written,
          (SELECT count(*) FROM upserted)::int AS opened_count,
          (SELECT coalesce(json_agg(json_build_object('changeId', change_id, 'filePath', file_path)), '[]') FROM (
            SELECT * FROM upserted ORDER BY change_id, file_path LIMIT ${maxChangedItems}
          ) o) AS opened,
          (SELECT count(*) FROM resolved)::int AS resolved_count,
          (SELECT coalesce(json_agg(json_build_object('changeId', change_id, 'filePath', file_path)), '[]') FROM (
            SELECT * FROM resolved ORDER BY change_id, file_path LIMIT ${maxChangedItems}
          ) r) AS resolved
      `.pipe(
        Effect.map(([row]): Merged => ({
          written: row?.written ?? 0,
          added: 0,
          changed: {
            conflicts: {
              opened: capped(row?.openedCount ?? 0, row?.opened ?? []),
              resolved: capped(row?.resolvedCount ?? 0, row?.resolved ?? [])
            }
          }
        })),
        Effect.withSpan("MirrorWriter.mergeConflicts", { attributes: { scope: scopeName(scope) } })
      )

    /** Brings the kind's table in line with its staged rows; `large` loads get fresh statistics first. */
    const merge = (
      id: RepositoryId,
      kind: SyncKind,
      scope: MergeScope,
      large: boolean
    ): Effect.Effect<Merged, SqlError> => {
      switch (kind) {
        case "changes":
          return Effect.flatMap(commitScope(kind, scope), (commits) => mergeChanges(id, commits, large))
        case "bookmarks":
          return Effect.map(
            mergeBookmarks(id),
            ({ moved, written }) => ({ written, added: 0, changed: { bookmarks: moved } })
          )
        case "operations":
          return Effect.flatMap(commitScope(kind, scope), (commits) => mergeOperations(id, commits, large))
        case "conflicts":
          return Effect.flatMap(
            commitScope(kind, scope),
            (commits) => mergeConflicts(id, commits)
          )
        case "tags":
          return Effect.map(
            mergeListing(tagsTable, id, "all"),
            ({ moved, written }) => ({ written, added: 0, changed: { tags: moved } })
          )
        case "workspaces":
          return Effect.map(mergeListing(workspacesTable, id, scope), ({ written }) => ({ written, added: 0 }))
      }
    }

    /** What the mirror holds of each commit, for a comparison with jj's visible commits. */
    const heldCommits = (id: RepositoryId) =>
      sql<HeldCommit>`
        SELECT commit_id, change_id, is_divergent, has_conflicts FROM changes WHERE repository_id = ${id}
      `.pipe(Effect.withSpan("MirrorWriter.heldCommits"))

    /** Whether the mirror holds no change of the repository yet. */
    const hasNoChanges = (id: RepositoryId) =>
      sql<{ readonly empty: boolean }>`
        SELECT NOT EXISTS (SELECT 1 FROM changes WHERE repository_id = ${id}) AS empty
      `.pipe(Effect.map((rows) => rows[0]?.empty === true), Effect.withSpan("MirrorWriter.hasNoChanges"))

    return {
      lock,
      clearStaging,
      stageChanges,
      hasNoChanges,
      heldCommits,
      stageBookmarks,
      stageTags,
      stageWorkspaces,
      stageOperations,
      stageConflicts,
      stageTogether,
      markUndone,
      merge,
      conflictedSiblings,
      hasOperation,
      operationGraph,
      setUndone,
      setUndoneOf
    } as const
  })
}) {}
