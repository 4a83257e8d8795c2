import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as jose from "jose"
import http from "node:http"
import type { Changed } from "../src/Domain/Events.js"
import { testSchemaName } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { httpAppLayer, serverPort } from "./support/http.js"
import { commitIdOf, headOperation, initRepo, jj, makeBaseDir, writeFile } from "./support/jj.js"
import { sync } from "./support/sync.js"

/**
 * The change feed: every committed sync appends an event saying what moved, in the same transaction; the SSE stream
 * replays after a cursor and goes on live with nothing lost or repeated, across disconnects; users see their own
 * repositories; retention prunes, and a cursor it outran is told to resync.
 */

const adminToken = "test-admin-token-feed-0123456789"
const jwtSecret = "test-jwt-secret-feed-long-enough-for-hs256"
const base = makeBaseDir("feed")
const alice = initRepo(base, "alice", "proj")
const bob = initRepo(base, "bob", "other")

const schema = testSchemaName("feed")
const AppLive = httpAppLayer(schema, {
  REPOS_BASE_PATH: base,
  WATCHER_ADMIN_TOKEN: adminToken,
  WATCHER_JWT_SECRET: jwtSecret,
  WATCHER_ENABLED: "false",
  EVENTS_HEARTBEAT_MS: "300",
  SYNC_EVENTS_PRUNE_INTERVAL_MS: "200"
})

const jwt = (sub: string) =>
  Effect.promise(() =>
    new jose.SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("1h")
      .sign(new TextEncoder().encode(jwtSecret))
  )

interface Received {
  readonly id: number | undefined
  readonly event: string
  readonly data:
    & { readonly id?: number; readonly repository?: string; readonly _tag?: string }
    & Record<string, unknown>
}

/** An SSE client of `/api/watcher/events`, collecting what arrives until the scope closes. */
const openFeed = (query = "", token = adminToken, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const port = yield* serverPort
      return yield* Effect.async<
        { events: Array<Received>; comments: number; status: number; type: string; request: http.ClientRequest },
        Error
      >((resume) => {
        const request = http.request({
          host: "127.0.0.1",
          port,
          path: `/api/watcher/events${query}`,
          headers: { authorization: `Bearer ${token}`, ...headers }
        }, (response) => {
          const feed = {
            events: [] as Array<Received>,
            comments: 0,
            status: response.statusCode ?? 0,
            type: String(response.headers["content-type"]),
            request
          }
          let buffer = ""
          response.on("data", (chunk) => {
            buffer += String(chunk)
            let end: number
            while ((end = buffer.indexOf("\n\n")) !== -1) {
              const block = buffer.slice(0, end)
              buffer = buffer.slice(end + 2)
              if (block.startsWith(":")) {
                feed.comments++
                continue
              }
              const field = (name: string) =>
                block.split("\n").find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2)
              const id = field("id")
              feed.events.push({
                id: id === undefined ? undefined : Number(id),
                event: field("event") ?? "message",
                data: JSON.parse(field("data") ?? "null")
              })
            }
          })
          resume(Effect.succeed(feed))
        })
        request.on("error", (error) => resume(Effect.fail(error)))
        request.end()
      })
    }),
    (feed) => Effect.sync(() => feed.request.destroy())
  )

const eventsOf = (feed: { events: Array<Received> }, n: number) =>
  eventually(Effect.sync(() => feed.events.length), (length) => length >= n).pipe(
    Effect.map(() => feed.events.slice())
  )

const storedEvents = SqlClient.SqlClient.pipe(
  Effect.flatMap((sql) =>
    sql<{ id: number; changed: Changed; mode: string }>`SELECT id, mode, changed FROM sync_events ORDER BY id`
  )
)

layer(AppLive, { timeout: "120 seconds", excludeTestServices: true })("change feed", (it) => {
  it.effect("every sync appends an event saying what moved; the notification carries its id", () =>
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const notified = yield* pg.listen("jj_watcher").pipe(
        Stream.filter((payload) => payload.includes(schema)),
        Stream.take(3),
        Stream.runCollect,
        Effect.fork
      )
      yield* Effect.sleep("200 millis")
      const first = yield* sync(alice)
      writeFile(alice, "a.txt", "one\n")
      jj(alice, "commit", "-m", "a")
      jj(alice, "bookmark", "create", "main", "-r", "@-")
      const second = yield* sync(alice)
      const made = commitIdOf(alice, "@-")
      // A conflict: two children of the parent of `a` edit the same file differently, merged.
      jj(alice, "new", "root()", "-m", "left")
      writeFile(alice, "a.txt", "left\n")
      jj(alice, "new", "root()", "-m", "right")
      writeFile(alice, "a.txt", "right\n")
      jj(alice, "new", "description(exact:'left\n')", "description(exact:'right\n')", "-m", "merge")
      yield* sync(alice)
      const stored = yield* storedEvents
      expect(stored.length).toBe(3)
      expect(stored[0]!.mode).toBe("full")
      const [, moved, conflicted] = stored
      expect(moved!.changed.commits.appeared.items).toContain(made)
      // The local bookmark, and its `git` row when jj exported it.
      expect(moved!.changed.bookmarks.items).toContainEqual({ name: "main", remote: "", old: null, new: [made] })
      expect(moved!.changed.bookmarks.items.every((b) => b.name === "main" && b.old === null)).toBe(true)
      expect(moved!.changed.operations.count).toBeGreaterThan(0)
      expect(conflicted!.changed.conflicts.opened.items).toEqual([
        expect.objectContaining({ filePath: "a.txt" })
      ])
      const payloads = (yield* Fiber.join(notified)).pipe((chunk) => [...chunk].map((p) => JSON.parse(p)))
      expect(payloads.map((p: { eventId: number }) => p.eventId)).toEqual(stored.map((e) => Number(e.id)))
      expect(first.operationId).not.toBe(second.operationId)
    }))

  it.scoped("SSE: replay after a cursor, then live; a reconnect with Last-Event-ID misses and repeats nothing", () =>
    Effect.gen(function*() {
      const before = yield* storedEvents
      const cursor = Number(before.at(-1)!.id)
      const feed = yield* openFeed(`?after=${before.length > 1 ? Number(before.at(-2)!.id) : 0}`)
      expect(feed.status).toBe(200)
      expect(feed.type).toContain("text/event-stream")
      // Replayed: the last stored event; then live ones.
      const replayed = yield* eventsOf(feed, 1)
      expect(replayed[0]!.id).toBe(cursor)
      expect(replayed[0]!.data.repository).toBe("alice/proj")
      jj(alice, "describe", "-m", "live one")
      yield* sync(alice)
      const live = yield* eventsOf(feed, 2)
      expect(live[1]!.id).toBeGreaterThan(cursor)
      expect(live[1]!.event).toBe("sync")
      feed.request.destroy()

      // While disconnected: two syncs; the reconnect gets them, then goes on.
      jj(alice, "describe", "-m", "while away 1")
      yield* sync(alice)
      jj(bob, "describe", "-m", "while away 2")
      yield* sync(bob)
      const again = yield* openFeed("", adminToken, { "last-event-id": String(live[1]!.id) })
      const caught = yield* eventsOf(again, 2)
      expect(caught.map((e) => e.data.repository)).toEqual(["alice/proj", "bob/other"])
      // During a sync's commit: an event whose transaction is still open when the client connects arrives once it
      // commits, after everything before it.
      const sql = yield* SqlClient.SqlClient
      const during = yield* openFeed("", adminToken, { "last-event-id": String(caught[1]!.id) })
      const release = yield* Effect.makeLatch(false)
      const committing = yield* sql.withTransaction(Effect.gen(function*() {
        jj(alice, "describe", "-m", "during")
        yield* sync(alice)
        yield* release.await
      })).pipe(Effect.fork)
      yield* Effect.sleep("300 millis")
      expect(during.events.filter((e) => e.event === "sync")).toEqual([])
      yield* release.open
      yield* Fiber.join(committing)
      const afterCommit = yield* eventsOf(during, 1)
      expect(afterCommit[0]!.id).toBeGreaterThan(caught[1]!.id!)
      const ids = [...replayed, ...live.slice(1), ...caught, ...afterCommit].map((e) => e.id!)
      expect(new Set(ids).size).toBe(ids.length)
      expect([...ids].sort((a, b) => a - b)).toEqual(ids)
      // Idle streams get heartbeat comments.
      yield* eventually(Effect.sync(() => during.comments), (n) => n >= 2)
    }))

  it.scoped("a user sees only their own repositories; ?repository= filters", () =>
    Effect.gen(function*() {
      const aliceFeed = yield* openFeed("?after=0", yield* jwt("alice"))
      const bobOnly = yield* openFeed("?after=0&repository=bob/other")
      const all = yield* openFeed("?after=0")
      const stored = yield* storedEvents
      yield* eventsOf(all, stored.length)
      const aliceEvents = yield* eventsOf(aliceFeed, 1)
      yield* eventsOf(bobOnly, 1)
      expect(new Set(aliceEvents.map((e) => e.data.repository))).toEqual(new Set(["alice/proj"]))
      expect(new Set(bobOnly.events.map((e) => e.data.repository))).toEqual(new Set(["bob/other"]))
      const bad = yield* openFeed("?repository=nope")
      expect(bad.status).toBe(400)
      const anonymous = yield* openFeed("", "not-a-token")
      expect(anonymous.status).toBe(401)
    }))

  it.scoped("retention prunes old events; a cursor it outran gets an error event telling it to resync", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const stored = yield* storedEvents
      const oldest = Number(stored[0]!.id)
      yield* sql`UPDATE sync_events SET created_at = now() - interval '30 days' WHERE id <= ${oldest + 1}`
      yield* eventually(
        sql<{ n: number }>`SELECT count(*)::int AS n FROM sync_events WHERE id <= ${oldest + 1}`,
        (rows) => rows[0]!.n === 0
      )
      const expired = yield* openFeed(`?after=${oldest}`)
      const [error] = yield* eventsOf(expired, 1)
      expect(error!.event).toBe("error")
      expect(error!.data._tag).toBe("CursorExpired")
      // A cursor at the pruned edge is still good.
      const fine = yield* openFeed(`?after=${oldest + 1}`)
      const [next] = yield* eventsOf(fine, 1)
      expect(next!.event).toBe("sync")
      expect(next!.id).toBe(Number(stored[2]!.id))
      expect(headOperation(alice)).toBeTruthy()
    }))
})
