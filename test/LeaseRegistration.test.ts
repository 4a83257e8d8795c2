import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { makeLeases } from "../src/Leases.js"
import { LeaseStore } from "../src/Leases/Store.js"
import { makeTestLayer } from "./support/database.js"

/**
 * An instance is registered (live, with its base directory) as soon as its leases exist, before its first round: the
 * watcher's first scan writes repository rows right after, and a peer reading those rows must find whose base they
 * lie under, or it claims them.
 */

layer(LeaseStore.Default.pipe(Layer.provideMerge(makeTestLayer("lease_registration"))), { timeout: "60 seconds" })(
  "lease registration",
  (it) => {
    it.scoped("an instance is live with its base directory before its first round", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const options = {
          ttl: Duration.seconds(4),
          // No round runs during the test: what is registered comes from construction alone.
          renewInterval: Duration.hours(1),
          channel: "jj_watcher_lease_registration",
          visible: () => [],
          busy: () => false,
          onClaimed: () => Effect.void,
          onLost: () => Effect.void,
          onRequests: Effect.void
        } as const
        yield* makeLeases({
          ...options,
          instance: { id: "north", host: "here", basePath: "/repos/north" },
          claiming: true
        })
        // One that does not sync (an API-only process) does not register.
        yield* makeLeases({
          ...options,
          instance: { id: "api-only", host: "here", basePath: "/repos/north" },
          claiming: false
        })
        const instances = yield* sql<{ readonly id: string; readonly basePath: string; readonly live: boolean }>`
          SELECT id, base_path, heartbeat_at > now() - interval '4 seconds' AS live FROM watcher_instances ORDER BY id
        `
        expect(instances).toEqual([{ id: "north", basePath: "/repos/north", live: true }])
      }))
  }
)
