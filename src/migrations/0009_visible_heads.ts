import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The visible heads of the last synced operation, so that the next `jj op diff` can name them instead of asking jj
// to load that operation's view again (`Sync/VisibleHeads.ts`); NULL until a sync has read them.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE repositories ADD COLUMN visible_heads text[]`
})
