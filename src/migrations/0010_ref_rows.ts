import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The bookmark and tag row counts, kept by each sync that merged them instead of counted on every sync (a forge's
// repository holds thousands); NULL until a sync counts them.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE repositories ADD COLUMN bookmark_rows integer, ADD COLUMN tag_rows integer`
})
