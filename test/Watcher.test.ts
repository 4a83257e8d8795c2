import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import fs from "node:fs"
import path from "node:path"
import type { RepositoryId } from "../src/Domain/Ids.js"
import { Watcher } from "../src/Watcher.js"
import { detailsOf, makeTestLayer, mirrorOf } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { initRepo, jj, jjLog, makeBaseDir, writeFile } from "./support/jj.js"
import { expectDetailsMirrorJj } from "./support/oracle.js"
import { repositoryRow } from "./support/sync.js"
import { spawnServe, syncedAtHead, watcherOver as watcherLayer } from "./support/watcher.js"

/** A watcher over `base` that polls and retries quickly. */
const watcherOver = (base: string, extra: Record<string, string> = {}) =>
  watcherLayer(base, {
    WATCHER_POLL_INTERVAL_MS: "100",
    WATCHER_SCAN_INTERVAL_MS: "200",
    WATCHER_RETRY_BASE_MS: "50",
    WATCHER_RETRY_MAX_MS: "200",
    ...extra
  })

layer(makeTestLayer("watcher"), { timeout: "120 seconds", excludeTestServices: true })("watcher, end to end", (it) => {
  it.effect("mirrors repositories present at start and every new operation", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("watch-start")
      const repo = initRepo(base, "alice", "one")
      const other = initRepo(base, "bob", "two")
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher
        yield* syncedAtHead(repo, "alice", "one")
        yield* syncedAtHead(other, "bob", "two")
        for (const [owner, name] of [["alice", "one"], ["bob", "two"]] as const) {
          expect(yield* watcher.isWatched((yield* repositoryRow(owner, name))!.id as RepositoryId)).toBe(true)
        }
        for (const n of [1, 2, 3]) {
          writeFile(repo, `f${n}`, `${n}\n`)
          jj(repo, "commit", "-m", `change ${n}`)
          yield* syncedAtHead(repo, "alice", "one")
        }
        const row = yield* repositoryRow("alice", "one")
        const mirror = yield* mirrorOf(row!.id)
        expect(mirror.changes.map((c) => c.commitId).sort()).toEqual(jjLog(repo).map((c) => c.commitId).sort())
        // The files and predecessors of the new commits are read in the background, after the syncs.
        yield* eventually(detailsOf(row!.id), (details) => details.complete)
        yield* expectDetailsMirrorJj(row!.id, repo)
      }).pipe(Effect.provide(watcherOver(base)))
    }))

  it.effect("a burst of operations is coalesced into fewer syncs and ends at the last one", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("watch-burst")
      const repo = initRepo(base, "alice", "burst")
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher
        yield* syncedAtHead(repo, "alice", "burst")
        const before = (yield* watcher.status).syncsSucceeded
        for (let n = 0; n < 10; n++) jj(repo, "new", "-m", `burst ${n}`)
        yield* syncedAtHead(repo, "alice", "burst")
        yield* watcher.awaitIdle
        const syncs = (yield* watcher.status).syncsSucceeded - before
        expect(syncs).toBeGreaterThanOrEqual(1)
        expect(syncs).toBeLessThanOrEqual(10)
      }).pipe(Effect.provide(watcherOver(base)))
    }))

  it.effect("repositories appearing and vanishing while it runs", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("watch-appear")
      fs.mkdirSync(base, { recursive: true })
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher
        expect(yield* repositoryRow("carol", "late")).toBeUndefined()
        const repo = initRepo(base, "carol", "late")
        yield* syncedAtHead(repo, "carol", "late")
        const row = (yield* repositoryRow("carol", "late"))!
        const id = row.id as RepositoryId
        expect(yield* watcher.isWatched(id)).toBe(true)

        const changesBefore = (yield* mirrorOf(row.id)).changes.length
        fs.rmSync(repo, { recursive: true, force: true })
        yield* eventually(watcher.isWatched(id), (watched) => !watched)
        const after = yield* eventually(repositoryRow("carol", "late"), (r) => r?.lastError !== null)
        expect(after?.lastError).toContain("vanished")
        // Its rows stay.
        expect((yield* mirrorOf(row.id)).changes.length).toBe(changesBefore)
      }).pipe(Effect.provide(watcherOver(base)))
    }))

  it.effect("a failing repository is recorded, retried with backoff, and recovers", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("watch-fail")
      const repo = initRepo(base, "dave", "flaky")
      const heads = path.join(repo, ".jj", "repo", "op_heads", "heads")
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher
        yield* syncedAtHead(repo, "dave", "flaky")
        // A bogus op head: jj cannot load it, so every sync fails until it is gone.
        const bogus = path.join(heads, "f".repeat(128))
        fs.writeFileSync(bogus, "")
        const failing = yield* eventually(repositoryRow("dave", "flaky"), (r) => (r?.consecutiveFailures ?? 0) >= 2)
        expect(failing?.lastError).toBeTruthy()
        // Counted once the watcher has told the failure apart from an outage of the database or jj.
        expect((yield* eventually(watcher.status, (status) => status.syncsFailed >= 2)).syncsFailed)
          .toBeGreaterThanOrEqual(2)
        expect((yield* watcher.status).dependenciesDown).toEqual([])
        fs.rmSync(bogus)
        jj(repo, "new", "-m", "after the fix")
        yield* syncedAtHead(repo, "dave", "flaky")
        const recovered = yield* repositoryRow("dave", "flaky")
        expect(recovered?.lastError).toBeNull()
        expect(recovered?.consecutiveFailures).toBe(0)
      }).pipe(Effect.provide(watcherOver(base)))
    }))

  it.effect("with native events off, polling alone keeps the mirror current", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("watch-poll")
      const repo = initRepo(base, "erin", "polled")
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher
        expect((yield* watcher.status).nativelyWatched).toBe(0)
        yield* syncedAtHead(repo, "erin", "polled")
        jj(repo, "new", "-m", "seen by polling")
        yield* syncedAtHead(repo, "erin", "polled")
      }).pipe(Effect.provide(watcherOver(base, { WATCHER_FS_EVENTS: "false" })))
    }))

  it.effect("the watch list persists: an unwatched repository stays unwatched after a restart", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("watch-list")
      const repo = initRepo(base, "fay", "kept")
      initRepo(base, "fay", "dropped")
      yield* Effect.gen(function*() {
        yield* syncedAtHead(repo, "fay", "kept")
      }).pipe(Effect.provide(watcherOver(base)))
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE repositories SET watched = false WHERE owner = 'fay' AND name = 'dropped'`
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher
        const id = (name: string) => repositoryRow("fay", name).pipe(Effect.map((row) => row!.id as RepositoryId))
        expect(yield* watcher.isWatched(yield* id("kept"))).toBe(true)
        expect(yield* watcher.isWatched(yield* id("dropped"))).toBe(false)
      }).pipe(Effect.provide(watcherOver(base)))
    }))
})

layer(makeTestLayer("watcher_shutdown"), { timeout: "120 seconds", excludeTestServices: true })(
  "watcher process",
  (it) => {
    it.effect("SIGTERM mid-sync: exits 0 and leaves a consistent mirror", () =>
      Effect.gen(function*() {
        const base = makeBaseDir("watch-shutdown")
        const repo = initRepo(base, "gus", "busy")
        for (let n = 0; n < 30; n++) {
          writeFile(repo, `f${n}`, `${n}\n`)
          jj(repo, "commit", "-m", `c${n}`)
        }
        const sql = yield* SqlClient.SqlClient
        const [{ schema }] = (yield* sql`SELECT current_schema() AS schema`) as unknown as [{ schema: string }]
        const child = spawnServe(base, schema, "pipe")
        let output = ""
        child.stdout?.on("data", (chunk: Buffer) => (output += String(chunk)))
        child.stderr?.on("data", (chunk: Buffer) => (output += String(chunk)))
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
        yield* eventually(Effect.sync(() => output), (text) => text.includes("watching 1 repository"))
        jj(repo, "new", "-m", "during shutdown")
        child.kill("SIGTERM")
        const code = yield* Effect.promise(() => exited)
        expect(code).toBe(0)
        expect(output).toContain("watcher stopped")
        // Whatever operation was recorded, the rows are exactly jj's state at that operation.
        const row = (yield* repositoryRow("gus", "busy"))!
        const mirror = yield* mirrorOf(row.id)
        const atOp = jj(
          repo,
          "log",
          "--ignore-working-copy",
          "--at-op",
          row.lastSyncedOperationId!,
          "--no-graph",
          "-r",
          "all() ~ root()",
          "-T",
          "commit_id ++ \"\\n\""
        )
        expect(mirror.changes.map((c) => c.commitId).sort()).toEqual(atOp.split("\n").filter(Boolean).sort())
      }))
  }
)
