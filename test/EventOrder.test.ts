import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { nothingChanged } from "../src/Domain/Events.js"
import { OperationId } from "../src/Domain/Ids.js"
import { RepositoryName } from "../src/Domain/Repository.js"
import { emptyCounts } from "../src/Domain/Sync.js"
import { Repositories } from "../src/Repositories.js"
import type { SyncRecord } from "../src/Repositories.js"
import { makeTestLayer } from "./support/database.js"
import { eventually } from "./support/eventually.js"

/**
 * The change feed's ids are in commit order: a sync that records its event waits until every sync that recorded one
 * before it has committed, so a reader that saw an event never later finds a smaller id appear.
 */

const record = (id: SyncRecord["id"], operationId: string): SyncRecord => ({
  id,
  operationId: OperationId.make(operationId),
  heads: [OperationId.make(operationId)],
  changesTruncated: false,
  syncedWith: "test",
  full: true,
  added: undefined,
  bookmarksDigest: null,
  refsRead: false,
  visibleHeads: [],
  channel: "jj_watcher_event_order",
  payload: {},
  lease: undefined,
  event: {
    previousOperationId: null,
    mode: "full",
    fullReason: null,
    written: emptyCounts(),
    changed: nothingChanged()
  }
})

// The real clock: `eventually` polls in real time (under the TestClock a second poll never came).
layer(makeTestLayer("event_order"), { timeout: "60 seconds", excludeTestServices: true })("sync events", (it) => {
  it.effect("a second sync's event waits for the first one's commit, and comes after it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repositories = yield* Repositories
      const name = (value: string) => RepositoryName.make(value)
      const first = yield* repositories.ensure(name("order"), name("first"), "/nowhere/first")
      const second = yield* repositories.ensure(name("order"), name("second"), "/nowhere/second")
      const lastEvent = (id: number) =>
        Effect.map(
          sql<{ readonly id: number }>`SELECT max(id)::int AS id FROM sync_events WHERE repository_id = ${id}`,
          ([row]) => row?.id ?? null
        )
      const recorded = yield* Deferred.make<number>()
      const commit = yield* Deferred.make<void>()
      // The first sync records its event, then holds its transaction open.
      const firstSync = yield* repositories.recordSync(record(first.id, "aa")).pipe(
        Effect.zipRight(sql<{ readonly pid: number }>`SELECT pg_backend_pid() AS pid`),
        Effect.flatMap(([row]) => Deferred.succeed(recorded, row!.pid)),
        Effect.zipRight(Deferred.await(commit)),
        sql.withTransaction,
        Effect.fork
      )
      const firstPid = yield* Deferred.await(recorded)
      const secondSync = yield* repositories.recordSync(record(second.id, "bb")).pipe(sql.withTransaction, Effect.fork)
      // The second waits on the feed's lock, held by the first (other test files' waits, in other schemas, are not
      // counted), with nothing recorded.
      yield* eventually(
        Effect.map(
          sql<{ readonly waiting: number }>`
            SELECT count(*)::int AS waiting FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND ${firstPid}::int = ANY(pg_blocking_pids(pid))
          `,
          ([row]) => row?.waiting ?? 0
        ),
        (waiting) => waiting === 1
      )
      expect(yield* lastEvent(second.id)).toBeNull()
      yield* Deferred.succeed(commit, undefined)
      yield* Fiber.join(firstSync)
      yield* Fiber.join(secondSync)
      const [firstEvent, secondEvent] = [yield* lastEvent(first.id), yield* lastEvent(second.id)]
      expect(firstEvent).not.toBeNull()
      expect(secondEvent!).toBeGreaterThan(firstEvent!)
    }))
})
