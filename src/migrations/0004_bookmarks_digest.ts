import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// A digest of the bookmarks a sync last read from jj, so that an incremental sync whose listing has the same
// bookmarks stages and compares none of them.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE repositories ADD COLUMN bookmarks_digest text`
})
