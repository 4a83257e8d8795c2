/**
 * Several instances over one database: `jj-watcher serve` over 1,000 repositories (`BENCH_SCALE_REPOS`), first as one
 * instance (the baseline: today's single daemon), then as three over the same base directory and schema. Prints, in
 * one run: the time to claim and spread the leases, to rebalance when a fourth instance joins, to take over after a
 * SIGKILL and to hand over on SIGTERM; the cost of lease renewal in the database (transactions per second and
 * PostgreSQL's CPU while every instance is idle); and the latency of one jj operation to the database, with one
 * instance and with three, and their ratio.
 */
import { execFile } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import fs from "node:fs"
import { promisify } from "node:util"
import pg from "pg"
import { databaseUrl, fixed, jjBin, jjConfigDir, makeBase, makeRepos, startServe, summarize } from "./bench/support.js"

const repoCount = Number(process.env["BENCH_SCALE_REPOS"] ?? 1_000)
const samples = Number(process.env["BENCH_SCALE_SAMPLES"] ?? 30)
const idleWindowMs = Number(process.env["BENCH_SCALE_IDLE_MS"] ?? 10_000)
const token = "bench-scale-admin-token"
const schema = `bench_scale_${process.pid}`

const jjAsync = (cwd: string, ...args: Array<string>) =>
  promisify(execFile)(jjBin, args, { cwd, env: { ...process.env, JJ_CONFIG: jjConfigDir } })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const client = new pg.Client({ connectionString: databaseUrl })

interface Ownership {
  readonly owned: number
  readonly synced: number
  readonly perOwner: Map<string, number>
}

const ownership = async (): Promise<Ownership> => {
  const { rows } = await client.query<{ owner: string | null; n: number; synced: number }>(
    `SELECT CASE WHEN r.lease_expires_at > now() AND r.lease_owner IN (
         SELECT id FROM ${schema}.watcher_instances WHERE heartbeat_at > now() - interval '4 seconds'
       ) THEN r.lease_owner END AS owner,
       count(*)::int AS n, count(r.last_synced_operation_id)::int AS synced
     FROM ${schema}.repositories r
     GROUP BY 1`
  ).catch(() => ({ rows: [] }))
  const perOwner = new Map<string, number>()
  let owned = 0
  let synced = 0
  for (const row of rows) {
    synced += row.synced
    if (row.owner === null) continue
    perOwner.set(row.owner, row.n)
    owned += row.n
  }
  return { owned, synced, perOwner }
}

/** Milliseconds until `done` holds for the ownership, polled every 20 ms. */
const until = async (done: (o: Ownership) => boolean, limitMs = 300_000) => {
  const started = performance.now()
  while (performance.now() - started < limitMs) {
    const o = await ownership()
    if (done(o)) return { ms: performance.now() - started, ownership: o }
    await sleep(20)
  }
  throw new Error(`not reached within ${limitMs} ms: ${JSON.stringify([...(await ownership()).perOwner])}`)
}

const spread = (o: Ownership) => [...o.perOwner.entries()].map(([id, n]) => `${id} ${n}`).join(", ")

/** PostgreSQL's CPU seconds, all its processes, from /proc. */
const postgresCpu = () => {
  let ticks = 0
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      if (!/\((postgres|postmaster)\)/.test(stat)) continue
      const fields = stat.replace(/^.*\) /, "").split(" ")
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // A process that ended meanwhile.
    }
  }
  return ticks / 100
}
const processCpu = (pid: number) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const commits = async () =>
  Number(
    (await client.query<{ n: string }>(
      `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`
    )).rows[0]!.n
  )

/** Transactions per second in the database and CPU of PostgreSQL and the instances over an idle window. */
const idleCost = async (instances: ReadonlyArray<ChildProcess>) => {
  // Idle: no sync and no details fill left (the fills of a first import run after it).
  while (
    (await client.query(`SELECT 1 FROM ${schema}.repositories WHERE NOT files_complete LIMIT 1`)).rows.length > 0
  ) await sleep(200)
  await sleep(2_000)
  const [tx0, pg0] = [await commits(), postgresCpu()]
  const own0 = instances.map((child) => processCpu(child.pid!))
  await sleep(idleWindowMs)
  const [tx1, pg1] = [await commits(), postgresCpu()]
  const own1 = instances.map((child) => processCpu(child.pid!))
  const seconds = idleWindowMs / 1000
  return {
    txPerSecond: (tx1 - tx0) / seconds,
    postgresCpuPct: ((pg1 - pg0) / seconds) * 100,
    instanceCpuPct: (own1.reduce((a, b) => a + b, 0) - own0.reduce((a, b) => a + b, 0)) / seconds * 100
  }
}

/** One jj operation in each sample repository, in turn; milliseconds from jj's exit to the mirror showing it. */
const oneOpLatency = async (repos: ReadonlyArray<string>, round: number) => {
  const latencies: Array<number> = []
  for (const [i, repo] of repos.entries()) {
    await jjAsync(repo, "describe", "-m", `round ${round} ${i}`)
    const done = performance.now()
    const head = fs.readdirSync(`${repo}/.jj/repo/op_heads/heads`)[0]!
    const name = repo.split("/").slice(-2)
    while (true) {
      const { rows } = await client.query(
        `SELECT 1 FROM ${schema}.repositories WHERE owner = $1 AND name = $2 AND last_synced_operation_id = $3`,
        [name[0], name[1], head]
      )
      if (rows.length > 0) break
      await sleep(2)
    }
    latencies.push(performance.now() - done)
  }
  return summarize(latencies)
}

const exitOf = (child: ChildProcess) => new Promise((resolve) => child.once("exit", resolve))

const main = async () => {
  await client.connect()
  const base = makeBase("scale")
  process.stdout.write(`making ${repoCount} repositories... `)
  const repos = makeRepos(base, repoCount)
  console.log("done")
  const sample = repos.filter((_, i) => i % Math.max(1, Math.floor(repoCount / samples)) === 0).slice(0, samples)
  const start = (id: string) => startServe(base, schema, token, { WATCHER_INSTANCE_ID: id, LOG_LEVEL: "Warning" })

  // One instance: today's single daemon, the baseline.
  const t0 = performance.now()
  const single = await start("solo")
  const firstImport = await until((o) => o.owned === repoCount && o.synced === repoCount)
  console.log(
    `one instance: claimed and synced ${repoCount} repositories in ${fixed((performance.now() - t0) / 1000)} s`
  )
  const singleIdle = await idleCost([single.child])
  // A warm-up round (a process's first sync of a repository sets up its read view), then the measured one.
  await oneOpLatency(sample, 0)
  const singleLatency = await oneOpLatency(sample, 1)
  const singleExit = exitOf(single.child)
  single.child.kill("SIGTERM")
  await singleExit
  void firstImport

  // Three instances over the same base and schema: claims, spread, idle cost, latency.
  const t1 = performance.now()
  const three = await Promise.all(["one", "two", "three"].map(start))
  const share = Math.ceil(repoCount / 3)
  const claimed = await until((o) =>
    o.owned === repoCount && o.perOwner.size === 3 && [...o.perOwner.values()].every((n) => n <= 2 * share)
  )
  const claimMs = performance.now() - t1
  const balanced = await until((o) => o.owned === repoCount && [...o.perOwner.values()].every((n) => n <= share))
  console.log(
    `three instances: all ${repoCount} owned, each within twice its share, ${fixed(claimMs / 1000, 2)} s after start ` +
      `(${spread(claimed.ownership)}); balanced (each at most ${share}) ${fixed((claimMs + balanced.ms) / 1000, 2)} s`
  )
  const threeIdle = await idleCost(three.map((s) => s.child))
  await oneOpLatency(sample, 2)
  const threeLatency = await oneOpLatency(sample, 3)

  // A fourth joins: leases move until it holds its share.
  const fourth = await start("four")
  const joinShare = Math.ceil(repoCount / 4)
  const rebalance = await until((o) => (o.perOwner.get("four") ?? 0) >= joinShare - 1 && o.owned === repoCount)
  console.log(
    `a fourth instance joins: it holds ${rebalance.ownership.perOwner.get("four")} after ${
      fixed(rebalance.ms / 1000, 2)
    } s (${spread(rebalance.ownership)})`
  )

  // SIGKILL one: its leases expire (TTL) and are claimed at the next renewal.
  const killed = three[1]!
  const killedHeld = (await ownership()).perOwner.get("two") ?? 0
  killed.child.kill("SIGKILL")
  const takeover = await until((o) => o.owned === repoCount && !o.perOwner.has("two"))
  console.log(`SIGKILL of an instance holding ${killedHeld}: all owned again after ${fixed(takeover.ms / 1000, 2)} s`)

  // SIGTERM one: it gives its leases back and peers claim them at once.
  const stopped = three[2]!
  const stoppedHeld = (await ownership()).perOwner.get("three") ?? 0
  const stoppedExit = exitOf(stopped.child).then(() => performance.now())
  const termAt = performance.now()
  stopped.child.kill("SIGTERM")
  // Handed over when the leases are given back (before the process has closed everything else and exited).
  const handover = await until((o) => o.owned === repoCount && !o.perOwner.has("three"))
  const exitedMs = (await stoppedExit) - termAt
  console.log(
    `SIGTERM of an instance holding ${stoppedHeld}: all owned again ${fixed(handover.ms / 1000, 2)} s after the ` +
      `signal; the process exited after ${fixed(exitedMs / 1000, 2)} s`
  )

  console.log("")
  console.log(`                            one instance        three instances     ratio`)
  console.log(
    `one-op latency p50          ${fixed(singleLatency.p50).padEnd(8)} ms         ${
      fixed(threeLatency.p50).padEnd(8)
    } ms         ${fixed(threeLatency.p50 / singleLatency.p50, 2)}x`
  )
  console.log(
    `one-op latency p99          ${fixed(singleLatency.p99).padEnd(8)} ms         ${
      fixed(threeLatency.p99).padEnd(8)
    } ms         ${fixed(threeLatency.p99 / singleLatency.p99, 2)}x`
  )
  console.log(
    `idle transactions/s         ${fixed(singleIdle.txPerSecond).padEnd(8)}            ${
      fixed(threeIdle.txPerSecond).padEnd(8)
    }            ${fixed(threeIdle.txPerSecond / singleIdle.txPerSecond, 2)}x`
  )
  console.log(
    `idle PostgreSQL CPU         ${fixed(singleIdle.postgresCpuPct).padEnd(8)} %          ${
      fixed(threeIdle.postgresCpuPct).padEnd(8)
    } %          (renewing ${repoCount} leases every second)`
  )
  console.log(
    `idle instances' CPU (sum)   ${fixed(singleIdle.instanceCpuPct).padEnd(8)} %          ${
      fixed(threeIdle.instanceCpuPct).padEnd(8)
    } %`
  )

  for (const s of [...three, fourth]) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL")
  }
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()
  fs.rmSync(base, { recursive: true, force: true })
}

main().catch(async (error) => {
  console.error(error)
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined)
  process.exit(1)
})
