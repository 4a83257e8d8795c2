import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The change feed: one row per committed sync, appended in the sync's own transaction, in commit order (the insert
// takes a transaction-level advisory lock, so ids never commit out of order and a cursor misses nothing).
// `sync_events_pruned` records the newest id retention deleted, to tell a cursor older than it from a quiet feed.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE sync_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      operation_id text NOT NULL,
      previous_operation_id text,
      mode text NOT NULL,
      full_reason text,
      written jsonb NOT NULL,
      changed jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`CREATE INDEX sync_events_repository_id_id_idx ON sync_events (repository_id, id)`
  yield* sql`CREATE INDEX sync_events_created_at_idx ON sync_events (created_at)`
  yield* sql`CREATE TABLE sync_events_pruned (one boolean PRIMARY KEY DEFAULT true CHECK (one), through_id bigint NOT NULL)`
  yield* sql`INSERT INTO sync_events_pruned (through_id) VALUES (0)`
})
