import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { DetailsFill } from "../src/DetailsFill.js"
import type { RepositoryId } from "../src/Domain/Ids.js"
import { makeTestLayer } from "./support/database.js"
import { headOperation, initRepo, jj, makeBaseDir, writeFile } from "./support/jj.js"
import { repositoryRow, sync } from "./support/sync.js"

/**
 * Fencing: a sync or a details fill made under a lease commits only while that lease is still held at its epoch, so
 * an instance that was paused or cut off past its TTL writes nothing over its successor's work.
 */

const base = makeBaseDir("fencing")

layer(makeTestLayer("fencing"), { timeout: "120 seconds" })("fencing", (it) => {
  it.effect("a sync or a fill under a lease that moved on writes nothing; under the current one it commits", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = initRepo(base, "fence", "one")
      const first = yield* sync(repo)
      const id = first.repositoryId
      // Instance "old" held epoch 1; "new" claimed it since (epoch 2).
      yield* sql`UPDATE repositories SET lease_owner = 'new', lease_epoch = 2, lease_expires_at = now() + interval '1 minute' WHERE id = ${id}`
      const events = sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM sync_events WHERE repository_id = ${id}`
      const [before] = yield* events

      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "while the old owner sleeps")
      const stale = yield* sync(repo, { lease: { owner: "old", epoch: 1 } }).pipe(Effect.flip)
      expect(stale._tag).toBe("LeaseLost")
      const row = yield* repositoryRow(id)
      expect(row.lastSyncedOperationId).toBe(first.operationId)
      // Not even the failure is recorded: the row is the new owner's.
      expect(row.lastError).toBeNull()
      expect((yield* events)[0]).toEqual(before)
      const sameOwnerOldEpoch = yield* sync(repo, { lease: { owner: "new", epoch: 1 } }).pipe(Effect.flip)
      expect(sameOwnerOldEpoch._tag).toBe("LeaseLost")

      const current = yield* sync(repo, { lease: { owner: "new", epoch: 2 } })
      expect(current.operationId).toBe(headOperation(repo))
      const [event] = yield* sql<{ readonly writtenBy: string }>`
        SELECT written_by FROM sync_events WHERE repository_id = ${id} ORDER BY id DESC LIMIT 1
      `
      expect(event?.writtenBy).toBe("new")

      // The details of the new commit: the stale lease writes none, the current one all.
      const details = yield* DetailsFill
      const pending = sql<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM commit_details_pending WHERE repository_id = ${id}
      `
      const [waiting] = yield* pending
      expect(waiting!.n).toBeGreaterThan(0)
      const staleFill = yield* details.fill(id as RepositoryId, undefined, { owner: "old", epoch: 1 }).pipe(Effect.flip)
      expect(staleFill._tag).toBe("LeaseLost")
      expect((yield* pending)[0]).toEqual(waiting)
      yield* details.fill(id as RepositoryId, undefined, { owner: "new", epoch: 2 })
      expect((yield* pending)[0]!.n).toBe(0)
    }))
})
