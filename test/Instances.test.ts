import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import type { ChildProcess } from "node:child_process"
import pg from "pg"
import { testSchemaName } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { headOperation, initRepo, jj, makeBaseDir, writeFile } from "./support/jj.js"
import { databaseUrl } from "./support/sync.js"
import { spawnServe } from "./support/watcher.js"

/**
 * Several `serve` processes over one database: each repository leased to exactly one live instance, crashes and
 * shutdowns handed over, a paused instance fenced off. Real processes, real jj, real PostgreSQL; the default lease
 * settings (TTL 4 s, renewal every 1 s).
 */

const client = new pg.Client({ connectionString: databaseUrl })
const children: Array<ChildProcess> = []
const schemas: Array<string> = []
afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGCONT")
      child.kill("SIGKILL")
    }
  }
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()
})

beforeAll(() => client.connect())

interface Row {
  readonly owner: string
  readonly name: string
  readonly lease_owner: string | null
  readonly last_synced_operation_id: string | null
}

// Fails (and is tried again by `eventually`) until the first instance has made the schema.
const rowsOf = (schema: string) =>
  Effect.tryPromise(() =>
    client.query<Row>(
      `SELECT owner, name, lease_owner, last_synced_operation_id FROM ${schema}.repositories ORDER BY owner, name`
    )
  ).pipe(Effect.map((result) => result.rows))

const adminToken = "instances-test-admin-token"

const instance = (base: string, schema: string, id: string) => {
  const child = spawnServe(base, schema, "pipe", {
    WATCHER_INSTANCE_ID: id,
    LOG_LEVEL: "Info",
    WATCHER_ADMIN_TOKEN: adminToken
  })
  children.push(child)
  let output = ""
  child.stdout?.on("data", (chunk) => (output += String(chunk)))
  child.stderr?.on("data", (chunk) => (output += String(chunk)))
  /** The port it listens on (it picks a free one), once it says so. */
  const port = eventually(
    Effect.sync(() => /Listening on http:\/\/[^:]+:(\d+)/.exec(output)?.[1]),
    (found) => found !== undefined,
    "60 seconds"
  ).pipe(Effect.map(Number))
  return { child, id, output: () => output, port }
}

const exited = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

const commit = (repo: string, text: string) => {
  writeFile(repo, "file.txt", text)
  jj(repo, "commit", "-m", text)
}

/** Every repository owned by one of `owners` and synced at its jj head. */
const allSyncedBy = (rows: ReadonlyArray<Row>, paths: Map<string, string>, owners: ReadonlyArray<string>) =>
  rows.length === paths.size && rows.every((row) =>
    row.lease_owner !== null && owners.includes(row.lease_owner) &&
    row.last_synced_operation_id === headOperation(paths.get(`${row.owner}/${row.name}`)!)
  )

const perOwner = (rows: ReadonlyArray<Row>) => {
  const counts = new Map<string, number>()
  for (const row of rows) counts.set(row.lease_owner ?? "none", (counts.get(row.lease_owner ?? "none") ?? 0) + 1)
  return counts
}

describe("several instances over one database", () => {
  it.scopedLive(
    "each repository owned by one live instance; crash, shutdown and pause handed over",
    () =>
      Effect.gen(function*() {
        const schema = testSchemaName("instances")
        schemas.push(schema)
        const base = makeBaseDir("instances")
        const paths = new Map<string, string>()
        for (let i = 0; i < 12; i++) paths.set(`team${i % 3}/repo${i}`, initRepo(base, `team${i % 3}`, `repo${i}`))
        const owners = ["alpha", "beta", "gamma"]
        const started = owners.map((id) => instance(base, schema, id))
        const [alpha, beta, gamma] = started
        const alphaPort = yield* alpha!.port
        // A failure shows where the mirror and each instance's log were.
        yield* Effect.addFinalizer((exit) =>
          exit._tag === "Success" ? Effect.void : rowsOf(schema).pipe(
            Effect.flatMap((rows) =>
              Effect.logError(
                `rows: ${JSON.stringify(rows)}\n${
                  started.map((s) => `== ${s.id}\n${s.output().slice(-3000)}`).join("\n")
                }`
              )
            ),
            Effect.ignore
          )
        )

        // Spread evenly: everything synced, each at most twice its fair share (4), none idle.
        const settled = yield* eventually(
          rowsOf(schema),
          (rows) =>
            allSyncedBy(rows, paths, owners) && perOwner(rows).size === 3 &&
            [...perOwner(rows).values()].every((n) => n <= 8),
          "60 seconds"
        )
        yield* Effect.log(`spread: ${JSON.stringify([...perOwner(settled)])}`)

        // Every new operation mirrored once, by the owner.
        const before = yield* Effect.promise(() =>
          client.query<{ readonly id: number }>(`SELECT coalesce(max(id), 0)::int AS id FROM ${schema}.sync_events`)
        )
        for (const [key, repo] of paths) commit(repo, `one ${key}`)
        yield* eventually(rowsOf(schema), (rows) => allSyncedBy(rows, paths, owners), "30 seconds")
        const events = yield* Effect.promise(() =>
          client.query<{ readonly repos: number; readonly wrong: number }>(
            `SELECT count(DISTINCT e.repository_id)::int AS repos,
            count(*) FILTER (WHERE e.written_by IS DISTINCT FROM r.lease_owner)::int AS wrong
           FROM ${schema}.sync_events e JOIN ${schema}.repositories r ON r.id = e.repository_id
           WHERE e.id > $1`,
            [before.rows[0]!.id]
          )
        )
        // Each repository's new operations written by its owner only, each operation once.
        expect(events.rows[0]).toEqual({ repos: 12, wrong: 0 })
        const duplicated = yield* Effect.promise(() =>
          client.query(
            `SELECT repository_id, operation_id FROM ${schema}.sync_events GROUP BY 1, 2 HAVING count(*) > 1`
          )
        )
        expect(duplicated.rows).toEqual([])

        // A manual sync asked of alpha for a repository gamma owns is run by gamma, and answered by alpha.
        const forwarded = (yield* rowsOf(schema)).find((row) => row.lease_owner === "gamma")!
        const response = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${alphaPort}/api/watcher/sync/${forwarded.owner}/${forwarded.name}?full=true`, {
            method: "POST",
            headers: { authorization: `Bearer ${adminToken}` }
          }).then(async (res) => ({ status: res.status, body: await res.json() as Record<string, unknown> }))
        )
        expect(response.status).toBe(200)
        expect(response.body).toMatchObject({
          owner: forwarded.owner,
          name: forwarded.name,
          mode: "full",
          fullReason: "requested"
        })
        const [requested] = (yield* Effect.promise(() =>
          client.query(
            `SELECT e.written_by, e.mode FROM ${schema}.sync_events e JOIN ${schema}.repositories r ON r.id = e.repository_id
             WHERE r.owner = $1 AND r.name = $2 ORDER BY e.id DESC LIMIT 1`,
            [forwarded.owner, forwarded.name]
          )
        )).rows
        expect(requested).toEqual({ written_by: "gamma", mode: "full" })

        // SIGKILL: beta's repositories are taken over and their new operations mirrored within TTL + one renewal.
        const betaRepos = (yield* rowsOf(schema)).filter((row) => row.lease_owner === "beta")
        beta!.child.kill("SIGKILL")
        const killedAt = yield* Clock.currentTimeMillis
        for (const row of betaRepos) commit(paths.get(`${row.owner}/${row.name}`)!, "after the crash")
        yield* eventually(rowsOf(schema), (rows) => allSyncedBy(rows, paths, ["alpha", "gamma"]), "6 seconds")
        const takeoverMs = (yield* Clock.currentTimeMillis) - killedAt
        yield* Effect.log(`crash: ${betaRepos.length} repositories taken over and synced in ${takeoverMs} ms`)

        // SIGTERM: gamma gives its leases back; alpha claims them at once.
        const gammaRepos = (yield* rowsOf(schema)).filter((row) => row.lease_owner === "gamma")
        expect(gammaRepos.length).toBeGreaterThan(0)
        gamma!.child.kill("SIGTERM")
        const termAt = yield* Clock.currentTimeMillis
        yield* exited(gamma!.child)
        yield* eventually(rowsOf(schema), (rows) => rows.every((row) => row.lease_owner === "alpha"), "2 seconds")
        const handoverMs = (yield* Clock.currentTimeMillis) - termAt
        yield* Effect.log(`shutdown: ${gammaRepos.length} repositories handed over in ${handoverMs} ms`)
        expect(gamma!.output()).toContain("gave back")

        // Alpha, alone now, says so: its status and its metrics count the 12 leases it holds.
        const get = (path: string) =>
          Effect.promise(() =>
            fetch(`http://127.0.0.1:${alphaPort}${path}`, { headers: { authorization: `Bearer ${adminToken}` } })
              .then((res) => res.text())
          )
        const status = yield* eventually(
          get("/api/watcher/status").pipe(Effect.map((text) => JSON.parse(text) as Record<string, unknown>)),
          (body) => body["instances"] === 1 && body["leases"] === 12
        )
        expect(status["instanceId"]).toBe("alpha")
        const metrics = yield* get("/metrics")
        expect(metrics).toMatch(/^jj_watcher_leases_held 12$/m)
        expect(metrics).toMatch(/^jj_watcher_lease_takeovers_total \d+$/m)

        // Pause: delta joins and takes its share; paused past its TTL it loses it, and after SIGCONT writes nothing,
        // though changes it had noticed wait for it.
        const delta = instance(base, schema, "delta")
        yield* eventually(rowsOf(schema), (rows) => (perOwner(rows).get("delta") ?? 0) >= 4, "30 seconds")
        yield* eventually(rowsOf(schema), (rows) => allSyncedBy(rows, paths, ["alpha", "delta"]), "30 seconds")
        const deltaRepos = (yield* rowsOf(schema)).filter((row) => row.lease_owner === "delta")
        delta.child.kill("SIGSTOP")
        const lastEvent = yield* Effect.promise(() =>
          client.query<{ readonly id: number }>(`SELECT coalesce(max(id), 0)::int AS id FROM ${schema}.sync_events`)
        )
        for (const row of deltaRepos) commit(paths.get(`${row.owner}/${row.name}`)!, "while delta sleeps")
        yield* eventually(rowsOf(schema), (rows) => allSyncedBy(rows, paths, ["alpha"]), "15 seconds")
        delta.child.kill("SIGCONT")
        yield* eventually(Effect.sync(() => delta.output()), (output) => output.includes("lost to another instance"))
        // Delta's rounds after waking: it claims its share back from alpha, by the book (new epochs).
        yield* eventually(rowsOf(schema), (rows) => allSyncedBy(rows, paths, ["alpha", "delta"]), "30 seconds")
        const written = yield* Effect.promise(() =>
          client.query(
            `SELECT e.id, e.written_by, e.operation_id FROM ${schema}.sync_events e
           WHERE e.id > $1 AND e.written_by = 'delta' AND e.operation_id IN (
             SELECT operation_id FROM ${schema}.sync_events WHERE id > $1 AND written_by = 'alpha'
           )`,
            [lastEvent.rows[0]!.id]
          )
        )
        // No operation alpha mirrored after the pause was written again by delta.
        expect(written.rows).toEqual([])
      }),
    { timeout: 180_000 }
  )

  it.live("instances over separate base directories each own only what they see", () =>
    Effect.gen(function*() {
      const schema = testSchemaName("instances_hosts")
      schemas.push(schema)
      const north = makeBaseDir("north")
      const south = makeBaseDir("south")
      const paths = new Map<string, string>([
        ["n/one", initRepo(north, "n", "one")],
        ["n/two", initRepo(north, "n", "two")],
        ["n/three", initRepo(north, "n", "three")],
        ["s/one", initRepo(south, "s", "one")]
      ])
      instance(north, schema, "north")
      instance(south, schema, "south")
      const rows = yield* eventually(
        rowsOf(schema),
        (rows) => allSyncedBy(rows, paths, ["north", "south"]),
        "60 seconds"
      )
      expect(rows.map((row) => [`${row.owner}/${row.name}`, row.lease_owner])).toEqual([
        ["n/one", "north"],
        ["n/three", "north"],
        ["n/two", "north"],
        ["s/one", "south"]
      ])
    }), { timeout: 120_000 })
})
