import type { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { RepositoryId } from "./Domain/Ids.js"

/**
 * Serializes the writers of one repository's mirror (syncs, details fills, purges, kind switches), in any process, to
 * the end of the current transaction. An advisory lock, not the row's: the row stays free for lease renewals during a
 * long sync, and transaction-level advisory locks work behind transaction-pooling proxies. The key space is the
 * schema's, so mirrors in different schemas of one database never wait for each other.
 */
export const lockRepository = (sql: SqlClient.SqlClient, id: RepositoryId) =>
  sql`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.repository'), ${id}::int)`.pipe(
    Effect.asVoid,
    Effect.withSpan("lockRepository", { attributes: { id } })
  )
