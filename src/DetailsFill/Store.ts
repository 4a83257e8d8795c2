import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { OperationId, RepositoryId } from "../Domain/Ids.js"
import type { CommitDetails } from "../Domain/Jj.js"
import type { Lease } from "../Domain/Lease.js"
import { LeaseLost } from "../Domain/Lease.js"
import { lockRepository } from "../RepositoryLock.js"
import {
  changeFilesTable,
  commitPredecessorsTable,
  differsFromExcluded,
  recordType,
  setFromExcluded,
  toRecords,
  valueColumns
} from "../Sync/Columns.js"
import type { ReadTable } from "../Sync/Columns.js"

/** The commits a fill reads next, and the operation they are visible at (read together, so they agree). */
export interface PendingBatch {
  readonly path: string
  readonly operationId: OperationId | null
  readonly commitIds: ReadonlyArray<string>
  /** Commits waiting in all, when asked for. */
  readonly pending: number | null
}

/** What one written batch added. */
export interface WrittenDetails {
  readonly commits: number
  readonly files: number
  readonly predecessors: number
}

/**
 * The SQL of the details fill: which commits wait for their details (`commit_details_pending`, filled by the sync
 * that brought them), and writing what jj said of them into `change_files` and `commit_predecessors`.
 */
export class DetailsStore extends Effect.Service<DetailsStore>()("jj-watcher/DetailsStore", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const asJson = (value: unknown) => sql`${JSON.stringify(value)}::json`

    /** Up to `limit` commits waiting for their details, in commit id order, and the operation to read them at. */
    const nextBatch = (id: RepositoryId, limit: number, countPending: boolean) =>
      sql<PendingBatch>`
        SELECT r.path, r.last_synced_operation_id AS operation_id,
          ARRAY(
            SELECT commit_id FROM commit_details_pending p WHERE p.repository_id = r.id ORDER BY commit_id LIMIT ${limit}
          ) AS commit_ids,
          ${
        countPending
          ? sql`(SELECT count(*) FROM commit_details_pending p WHERE p.repository_id = r.id)::int`
          : sql`NULL::int`
      } AS pending
        FROM repositories r WHERE r.id = ${id}
      `.pipe(Effect.map((rows) => rows[0]), Effect.withSpan("DetailsStore.nextBatch"))

    /** Inserts the rows of a table read from jj, for the commits `read` names; rows that differ are updated. */
    const insertRead = <A>(spec: ReadTable<A>, id: RepositoryId, rows: ReadonlyArray<A>) => {
      const read = spec.read.map((c) => c.name)
      const values = valueColumns(spec)
      return sql`
        INSERT INTO ${sql.literal(spec.table)} (repository_id, ${sql.literal(read.join(", "))})
        SELECT ${id}, ${sql.literal(read.map((name) => `r.${name}`).join(", "))}
        FROM json_to_recordset(${asJson(toRecords(spec, rows))}) AS ${sql.literal(recordType(spec))}
        WHERE r.commit_id IN (SELECT commit_id FROM read)
        ON CONFLICT (repository_id, ${sql.literal(spec.key.join(", "))}) DO UPDATE
          SET ${sql.literal(setFromExcluded(values))}
          WHERE ${sql.literal(differsFromExcluded(spec.table, values))}
        RETURNING 1
      `
    }

    /**
     * Writes the details read of a batch, in one transaction under the repository's lock (which a sync holds while
     * it writes), and only while `lease` (when given) is still held: only for the commits still waiting, that is still mirrored (a commit that went away took its
     * waiting row with it). Says whether no commit waits any more in `files_complete`.
     */
    const write = (id: RepositoryId, details: ReadonlyArray<CommitDetails>, lease: Lease | undefined) =>
      Effect.gen(function*() {
        yield* lockRepository(sql, id)
        if (lease !== undefined) {
          const held = yield* sql`
            SELECT 1 FROM repositories WHERE id = ${id} AND lease_owner = ${lease.owner} AND lease_epoch = ${lease.epoch}
          `
          if (held.length === 0) return yield* new LeaseLost({ repositoryId: id, ...lease })
        }
        const files = details.flatMap((d) => d.files.map((file) => ({ commitId: d.commitId, file })))
        const predecessors = details.flatMap((d) =>
          d.predecessorCommitIds.map((predecessorCommitId) => ({ details: d, predecessorCommitId }))
        )
        const [written] = yield* sql<WrittenDetails>`
          WITH read AS (
            DELETE FROM commit_details_pending
            WHERE repository_id = ${id}
              AND commit_id IN (SELECT json_array_elements_text(${asJson(details.map((d) => d.commitId))}))
            RETURNING commit_id
          ), files AS (${insertRead(changeFilesTable, id, files)}
          ), predecessors AS (${insertRead(commitPredecessorsTable, id, predecessors)}
          ), flagged AS (
            UPDATE repositories SET files_complete = NOT EXISTS (
              SELECT 1 FROM commit_details_pending p
              WHERE p.repository_id = ${id} AND p.commit_id NOT IN (SELECT commit_id FROM read)
            ) WHERE id = ${id}
            RETURNING 1
          )
          SELECT (SELECT count(*) FROM read)::int AS commits, (SELECT count(*) FROM files)::int AS files,
            (SELECT count(*) FROM predecessors)::int AS predecessors, (SELECT count(*) FROM flagged)::int AS flagged
        `
        return written ?? { commits: 0, files: 0, predecessors: 0 }
      }).pipe(sql.withTransaction, Effect.withSpan("DetailsStore.write", { attributes: { commits: details.length } }))

    /** Rows the details tables hold for a repository, and the commits still waiting. */
    const counts = (id: RepositoryId) =>
      sql<{ readonly files: number; readonly predecessors: number; readonly pending: number }>`
        SELECT (SELECT count(*) FROM change_files WHERE repository_id = ${id})::int AS files,
          (SELECT count(*) FROM commit_predecessors WHERE repository_id = ${id})::int AS predecessors,
          (SELECT count(*) FROM commit_details_pending WHERE repository_id = ${id})::int AS pending
      `.pipe(
        Effect.map((rows) => rows[0] ?? { files: 0, predecessors: 0, pending: 0 }),
        Effect.withSpan("DetailsStore.counts")
      )

    /** Repositories whose details are not complete: the fills a starting daemon owes. */
    const incomplete = sql<{ readonly id: RepositoryId }>`
      SELECT id FROM repositories WHERE NOT files_complete AND last_synced_operation_id IS NOT NULL
    `.pipe(Effect.map((rows) => rows.map((row) => row.id)), Effect.withSpan("DetailsStore.incomplete"))

    return { nextBatch, write, counts, incomplete } as const
  })
}) {}
