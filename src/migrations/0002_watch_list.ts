import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The persisted watch list: rows stay when a repository is unwatched, so `watched` says whether it is.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE repositories ADD COLUMN watched boolean NOT NULL DEFAULT true`
})
