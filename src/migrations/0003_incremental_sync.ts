import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// What an incremental sync needs to trust the mirror it continues from: how it was written (jj version, sync format,
// kinds), and when everything was last compared with jj; and the row counts it keeps up to date instead of counting
// a large history on every sync.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE repositories
      ADD COLUMN synced_with text,
      ADD COLUMN last_full_sync_at timestamptz,
      ADD COLUMN change_rows integer,
      ADD COLUMN operation_rows integer
  `
})
