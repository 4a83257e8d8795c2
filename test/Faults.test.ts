import { HttpApiBuilder, HttpClient } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { ApiLive } from "../src/Http.js"
import { Watcher } from "../src/Watcher.js"
import { makeTestLayer, mirrorOf } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { headOperation, initRepo, jj, jjBin, makeBaseDir, writeFile } from "./support/jj.js"
import { expectMirrorsJj } from "./support/oracle.js"
import { makePrivatePostgres, privatePostgresUnavailable } from "./support/privatePostgres.js"
import { repositoryRow } from "./support/sync.js"
import { spawnServe, syncedAtHead, watcherOver as watcherLayer } from "./support/watcher.js"

/**
 * Faults: an outage of the database or of jj costs seconds, a broken repository costs nothing to the others, and a
 * daemon killed at any moment leaves a mirror equal to jj at the operation it records.
 */

/**
 * A watcher over `base` whose own backoff would take a minute: a catch-up within seconds after an outage shows the
 * repositories were paused and resumed, not backed off.
 */
const watcherOver = (base: string) =>
  watcherLayer(base, {
    WATCHER_SCAN_INTERVAL_MS: "200",
    WATCHER_RETRY_BASE_MS: "60000",
    WATCHER_RETRY_MAX_MS: "60000"
  })

/** `watcherOver` with the HTTP API served on a test port (for `/ready`). */
const serverOver = (base: string) =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(ApiLive),
    Layer.provideMerge(watcherOver(base)),
    Layer.provideMerge(NodeHttpServer.layerTest)
  )

/** `GET /ready`: its status and body. */
const ready = HttpClient.get("/ready").pipe(
  Effect.flatMap((response) => Effect.map(response.json, (body) => ({ status: response.status, body }))),
  Effect.scoped
)

/** A commit in each repository (the work people keep doing during an outage). */
const workIn = (repos: ReadonlyArray<string>, label: string) => {
  for (const repo of repos) {
    writeFile(repo, `${label}.txt`, `${label}\n`)
    jj(repo, "commit", "-m", label)
  }
}

/** How long it took, after `since`, until every repository was synced at its head; logged for the record. */
const catchUp = (what: string, repos: ReadonlyArray<readonly [string, string, string]>, since: number) =>
  Effect.gen(function*() {
    for (const [repo, owner, name] of repos) yield* syncedAtHead(repo, owner, name, "20 seconds")
    const ms = Date.now() - since
    console.log(`catch-up after ${what}: ${ms} ms for ${repos.length} repositories`)
    return ms
  })

const makeRepos = (base: string, owner: string, count: number) =>
  Array.from({ length: count }, (_, n) => {
    const name = `r${n}`
    const repo = initRepo(base, owner, name)
    workIn([repo], "first")
    return [repo, owner, name] as const
  })

layer(makeTestLayer("faults"), { timeout: "180 seconds", excludeTestServices: true })("faults", (it) => {
  it.effect("a repository whose op head names a corrupt operation gets its own error, keeps its rows, delays no other", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("fault-corrupt")
      const [good, bad] = makeRepos(base, "corrupt", 2) as [
        readonly [string, string, string],
        readonly [string, string, string]
      ]
      yield* Effect.gen(function*() {
        const watcher = yield* Watcher
        yield* syncedAtHead(...good)
        yield* syncedAtHead(...bad)
        const badRow = (yield* repositoryRow(bad[1], bad[2]))!
        const rowsBefore = yield* mirrorOf(badRow.id)
        // A new operation whose object is then overwritten with garbage: the op head names an unreadable operation.
        jj(bad[0], "new", "-m", "about to be corrupted")
        const head = headOperation(bad[0])
        fs.writeFileSync(path.join(bad[0], ".jj", "repo", "op_store", "operations", head), "garbage")
        const failed = yield* eventually(repositoryRow(bad[1], bad[2]), (row) => row?.lastError != null)
        expect(failed?.lastError).toContain("Failed to load an operation")
        expect(failed?.lastSyncedOperationId).toBe(badRow.lastSyncedOperationId)
        expect(yield* mirrorOf(badRow.id)).toEqual(rowsBefore)
        // The other repository goes on as usual, and nothing is taken for an outage.
        workIn([good[0]], "while the other is broken")
        yield* syncedAtHead(...good)
        expect((yield* watcher.status).dependenciesDown).toEqual([])
      }).pipe(Effect.provide(watcherOver(base)))
    }))
})

// jj as the watcher runs it: the real one, or a failure on every call while the test says so.
const jjWrapperDir = makeBaseDir("fault-jj-wrapper")
const broken = path.join(jjWrapperDir, "jj-is-broken")
const wrapper = path.join(jjWrapperDir, "jj")
fs.writeFileSync(
  wrapper,
  `#!/bin/sh\nif [ -e '${broken}' ]; then echo 'jj is broken for this test' >&2; exit 1; fi\nexec '${jjBin}' "$@"\n`,
  { mode: 0o755 }
)

layer(makeTestLayer("faults_jj", { JJ_BIN: wrapper }), { timeout: "180 seconds", excludeTestServices: true })(
  "jj outage",
  (it) => {
    it.effect("jj failing on every call pauses syncing; every repository catches up at once when it works again", () =>
      Effect.gen(function*() {
        const base = makeBaseDir("fault-jj")
        const repos = makeRepos(base, "jjfault", 4)
        yield* Effect.gen(function*() {
          const watcher = yield* Watcher
          for (const [repo, owner, name] of repos) yield* syncedAtHead(repo, owner, name)
          fs.writeFileSync(broken, "")
          workIn(repos.map(([repo]) => repo), "during the jj outage")
          const down = yield* eventually(watcher.status, (status) => status.dependenciesDown.length > 0)
          expect(down.dependenciesDown.map((entry) => entry.dependency)).toEqual(["jj"])
          const notReady = yield* ready
          expect(notReady.status).toBe(503)
          expect(notReady.body).toMatchObject({ database: true, dependenciesDown: [{ dependency: "jj" }] })
          // People keep working while jj is broken for the watcher: the new operations start no attempt (a repository
          // failing on its own gets one per notification), each repository waits for jj.
          workIn(repos.map(([repo]) => repo), "still during the jj outage")
          yield* Effect.sleep("2 seconds")
          for (const [, owner, name] of repos) {
            expect((yield* repositoryRow(owner, name))?.consecutiveFailures).toBeLessThanOrEqual(1)
          }
          fs.rmSync(broken)
          const ms = yield* catchUp("jj failing", repos, Date.now())
          // Within the probe interval and the syncs themselves; a repository backing off would take a minute.
          expect(ms).toBeLessThan(10_000)
          expect((yield* watcher.status).dependenciesDown).toEqual([])
          expect((yield* ready).status).toBe(200)
          for (const [repo, owner, name] of repos) yield* expectMirrorsJj((yield* repositoryRow(owner, name))!.id, repo)
        }).pipe(Effect.provide(serverOver(base)))
      }))
  }
)

describe("database outage", () => {
  it.live.skipIf(privatePostgresUnavailable !== undefined)(
    "a PostgreSQL crash for 20 s under load: the daemon stays up, says so, and catches up within seconds",
    () =>
      Effect.gen(function*() {
        const postgres = yield* Effect.acquireRelease(
          Effect.promise(() => makePrivatePostgres()),
          (cluster) => Effect.sync(() => cluster.destroy())
        )
        const base = makeBaseDir("fault-db")
        const repos = makeRepos(base, "dbfault", 5)
        yield* Effect.gen(function*() {
          const watcher = yield* Watcher
          for (const [repo, owner, name] of repos) yield* syncedAtHead(repo, owner, name)
          postgres.crash()
          const outageStart = Date.now()
          workIn(repos.map(([repo]) => repo), "as the database goes down")
          const down = yield* eventually(watcher.status, (status) => status.dependenciesDown.length > 0)
          expect(down.dependenciesDown.map((entry) => entry.dependency)).toEqual(["database"])
          expect(down.running).toBe(true)
          const notReady = yield* ready
          expect(notReady.status).toBe(503)
          expect(notReady.body).toMatchObject({ database: false, dependenciesDown: [{ dependency: "database" }] })
          // Work goes on for the rest of the outage.
          let round = 0
          while (Date.now() - outageStart < 20_000) {
            workIn(repos.map(([repo]) => repo), `during the database outage ${round++}`)
            yield* Effect.sleep("1 second")
          }
          postgres.start()
          const ms = yield* catchUp("a 20 s database outage", repos, Date.now())
          expect(ms).toBeLessThan(10_000)
          expect((yield* watcher.status).dependenciesDown).toEqual([])
          for (const [repo, owner, name] of repos) {
            yield* expectMirrorsJj((yield* repositoryRow(owner, name))!.id, repo)
          }
        }).pipe(
          Effect.provide(serverOver(base)),
          Effect.provide(makeTestLayer("dboutage", { DATABASE_URL: postgres.url }))
        )
      }).pipe(Effect.scoped),
    { timeout: 120_000 }
  )
})

/** A linear git history of `commits` commits in nested directories, made by `git fast-import`, as a jj repository. */
const fastImportRepo = (base: string, owner: string, name: string, commits: number) => {
  const repo = path.join(base, owner, name)
  fs.mkdirSync(repo, { recursive: true })
  execFileSync("git", ["init", "-q", "-b", "main", repo])
  const chunks: Array<string> = []
  for (let n = 1; n <= commits; n++) {
    const message = `commit ${n}\n`
    const content = `line ${n}\n`
    chunks.push(
      `commit refs/heads/main\nmark :${n}\ncommitter Test <test@example.com> ${1_700_000_000 + n} +0000\n` +
        `data ${Buffer.byteLength(message)}\n${message}` + (n > 1 ? `from :${n - 1}\n` : "") +
        `M 100644 inline dir${n % 17}/sub${n % 5}/file${n % 101}.txt\ndata ${Buffer.byteLength(content)}\n${content}\n`
    )
  }
  execFileSync("git", ["fast-import", "--quiet"], { cwd: repo, input: chunks.join("") })
  jj(repo, "git", "init", "--git-repo", ".")
  return repo
}

layer(makeTestLayer("sigkill"), { timeout: "240 seconds", excludeTestServices: true })("SIGKILL", (it) => {
  it.effect("killed at random moments during work and a first import: always jj's state at the recorded operation", () =>
    Effect.gen(function*() {
      const base = makeBaseDir("fault-kill")
      const busy = makeRepos(base, "kill", 2)
      const big = [fastImportRepo(base, "kill", "big", 4_000), "kill", "big"] as const
      const all = [...busy, big]
      const sql = yield* SqlClient.SqlClient
      const [{ schema }] = (yield* sql`SELECT current_schema() AS schema`) as unknown as [{ schema: string }]
      const startDaemon = () => {
        const child = spawnServe(base, schema, "ignore")
        const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
        return { child, exited }
      }
      // A seeded sequence of pauses, so that a failing run can be repeated.
      let seed = 7
      const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
      let killsBeforeImport = 0
      for (let kill = 0; kill < 8; kill++) {
        const daemon = startDaemon()
        const until = Date.now() + 300 + random() * 1_500
        let step = 0
        while (Date.now() < until) {
          const repo = busy[step % busy.length]![0]
          if (step % 3 === 2) jj(repo, "bookmark", "set", `b${step % 4}`, "-r", "@-", "--allow-backwards")
          else workIn([repo], `kill ${kill} step ${step}`)
          step++
          yield* Effect.sleep(Duration.millis(random() * 100))
        }
        daemon.child.kill("SIGKILL")
        yield* Effect.promise(() => daemon.exited)
        if ((yield* repositoryRow("kill", "big"))?.lastSyncedOperationId == null) killsBeforeImport++
        for (const [repo, owner, name] of all) {
          const row = yield* repositoryRow(owner, name)
          if (row?.lastSyncedOperationId == null) continue
          yield* expectMirrorsJj(row.id, repo, `after kill ${kill}, ${owner}/${name}`, row.lastSyncedOperationId)
        }
      }
      console.log(`SIGKILL loop: ${killsBeforeImport} of 8 kills came before the first import of kill/big committed`)
      const daemon = startDaemon()
      for (const [repo, owner, name] of all) yield* syncedAtHead(repo, owner, name, "60 seconds")
      daemon.child.kill("SIGTERM")
      yield* Effect.promise(() => daemon.exited)
      for (const [repo, owner, name] of all) yield* expectMirrorsJj((yield* repositoryRow(owner, name))!.id, repo)
    }))
})
