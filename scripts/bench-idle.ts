/**
 * Idle cost: 1,000 watched repositories with nothing happening (CPU seconds per minute, RSS), jj-watcher's
 * defaults against the earlier design's polling (100 ms, no native events) in the same run; then start-up time
 * and RSS with 10,000 repositories, and the marginal memory per watched repository against an empty base.
 * "no watcher" is the same process with the watcher off: the floor of an idle Node process.
 * The watcher runs as `jj-watcher serve` in a child process; repository rows are created up front as already
 * synced, so what is measured is watching, not the first sync.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import pg from "pg"
import { databaseUrl, fixed, jjBin, makeBase, makeRepos } from "./bench/support.js"

const idleSeconds = Number(process.env["BENCH_IDLE_SECONDS"] ?? 60)
const rssSeconds = Number(process.env["BENCH_RSS_SECONDS"] ?? 45)
const bin = path.resolve(import.meta.dirname, "../dist/bin.js")
const clockTicks = 100 // USER_HZ on Linux

const query = async (text: string, values: Array<unknown> = []) => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return (await client.query(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Repository rows for every repo under `base`, marked as synced at their op head. */
const seedRows = async (schema: string, repos: ReadonlyArray<string>) => {
  // Migrations first, through the CLI, so the tables exist.
  await new Promise<void>((resolve, reject) =>
    spawn(process.execPath, [bin, "migrate"], { env: { ...process.env, DATABASE_SCHEMA: schema }, stdio: "ignore" })
      .on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))))
  )
  const rows = repos.map((repo) => {
    const head = fs.readdirSync(path.join(repo, ".jj", "repo", "op_heads", "heads"))[0]!
    return { owner: path.basename(path.dirname(repo)), name: path.basename(repo), path: repo, head }
  })
  await query(
    `INSERT INTO ${schema}.repositories (owner, name, path, last_synced_operation_id, operation_heads, last_synced_at)
     SELECT owner, name, path, head, ARRAY[head], now() FROM json_to_recordset($1::json)
       AS r(owner text, name text, path text, head text)`,
    [JSON.stringify(rows)]
  )
}

const procStat = (pid: number) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / clockTicks
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1])
  return { cpuSeconds, rssKb }
}

/** Starts `serve` over `base`; resolves when it reports what it watches, with the time that took. */
const startWatcher = (base: string, schema: string, env: Record<string, string>) =>
  new Promise<{ child: ReturnType<typeof spawn>; startupMs: number; log: () => string }>((resolve, reject) => {
    const started = performance.now()
    // Run as users do, through the shebang (which sets the daemon's V8 flags).
    const child = spawn(bin, ["serve", "--repos", base], {
      env: { ...process.env, DATABASE_SCHEMA: schema, JJ_BIN: jjBin, PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let log = ""
    const onData = (chunk: Buffer) => {
      log += String(chunk)
      // Ready once it watches (or, with the watcher off, once it listens).
      if (
        /watching \d+ repositories|Listening on/.test(log) &&
        (env["WATCHER_ENABLED"] === "false" || /watching \d+/.test(log))
      ) {
        resolve({ child, startupMs: performance.now() - started, log: () => log })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${log}`)))
  })

const stop = (child: ReturnType<typeof spawn>) =>
  new Promise<void>((resolve) => {
    child.removeAllListeners("exit")
    child.on("exit", () => resolve())
    child.kill("SIGTERM")
  })

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const measureIdle = async (label: string, base: string, schema: string, env: Record<string, string>) => {
  const { child } = await startWatcher(base, schema, env)
  await settle(3_000)
  const before = procStat(child.pid!)
  await settle(idleSeconds * 1_000)
  const after = procStat(child.pid!)
  await stop(child)
  const cpuPerMinute = ((after.cpuSeconds - before.cpuSeconds) * 60) / idleSeconds
  return { label, cpuPerMinute, rssMb: after.rssKb / 1024 }
}

/** Start-up time, then RSS sampled every second for a while: V8 returns start-up garbage to the OS only later. */
const measureStartup = async (base: string, schema: string) => {
  const { child, startupMs } = await startWatcher(base, schema, {})
  const samples: Array<number> = []
  for (let i = 0; i < rssSeconds; i++) {
    await settle(1_000)
    samples.push(procStat(child.pid!).rssKb)
  }
  await stop(child)
  return { startupMs, steadyKb: Math.min(...samples), peakKb: Math.max(...samples) }
}

const main = Effect.promise(async () => {
  const schemas: Array<string> = []
  const newSchema = () => {
    const schema = `bench_idle_${process.pid}_${schemas.length}`
    schemas.push(schema)
    return schema
  }
  try {
    console.log(`idle: 1,000 repositories, ${idleSeconds} s each configuration`)
    const base = makeBase("idle-1000")
    const repos = makeRepos(base, 1_000)
    const results = []
    for (
      const [label, env] of [
        ["jj-watcher", {}],
        ["no watcher", { WATCHER_ENABLED: "false" }],
        ["earlier design", { WATCHER_FS_EVENTS: "false", WATCHER_POLL_INTERVAL_MS: "100" }]
      ] as const
    ) {
      const schema = newSchema()
      await seedRows(schema, repos)
      const result = await measureIdle(label, base, schema, env)
      results.push(result)
      console.log(
        `${label.padEnd(16)} CPU ${fixed(result.cpuPerMinute, 3)} s per idle minute, RSS ${fixed(result.rssMb)} MB`
      )
    }
    console.log(`ratio (earlier / jj-watcher) idle CPU: ${fixed(results[2]!.cpuPerMinute / results[0]!.cpuPerMinute)}x`)

    console.log("start-up: 10,000 repositories against an empty base")
    const empty = makeBase("idle-empty")
    const emptySchema = newSchema()
    await seedRows(emptySchema, [])
    const none = await measureStartup(empty, emptySchema)
    const bigBase = makeBase("idle-10000")
    const bigRepos = makeRepos(bigBase, 10_000)
    const bigSchema = newSchema()
    await seedRows(bigSchema, bigRepos)
    const big = await measureStartup(bigBase, bigSchema)
    const row = (label: string, r: typeof none) =>
      `${label} start-up ${fixed(r.startupMs, 0)} ms, RSS steady ${fixed(r.steadyKb / 1024)} MB (peak ${
        fixed(r.peakKb / 1024)
      } MB over ${rssSeconds} s)`
    console.log(row("empty base:  ", none))
    console.log(row("10,000 repos:", big))
    console.log(
      `marginal memory per watched repository: ${
        fixed(((big.steadyKb - none.steadyKb) * 1024) / 10_000 / 1000, 2)
      } KB (steady RSS)`
    )
  } finally {
    for (const schema of schemas) await query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  }
})

main.pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
