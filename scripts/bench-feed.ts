/**
 * The change feed under load: `jj-watcher serve` over 20 repositories, a jj operation in each of them per round,
 * and in the same run three ways of learning what moved: nobody listening (the floor), 200 clients on the SSE feed
 * (`GET /api/watcher/events`), and 200 clients polling the repository listing once a second (the way before the
 * feed). Prints, for each: delivery latency (the event's append, moments before its commit, to the client; for
 * polling, the sync's commit to the poll that saw it) p50/p99, whether every client got every event in order, and the
 * daemon's CPU and memory, with the extra per client.
 */
import { execFile } from "node:child_process"
import fs from "node:fs"
import http from "node:http"
import path from "node:path"
import { promisify } from "node:util"
import pg from "pg"
import {
  databaseUrl,
  fixed,
  jjBin,
  jjConfigDir,
  makeBase,
  makeRepos,
  startServe,
  stopServe,
  summarize
} from "./bench/support.js"

const repoCount = Number(process.env["BENCH_FEED_REPOS"] ?? 20)
const clientCount = Number(process.env["BENCH_FEED_CLIENTS"] ?? 200)
const rounds = Number(process.env["BENCH_FEED_ROUNDS"] ?? 10)
const token = "bench-feed-admin-token"

const jjAsync = (cwd: string, ...args: Array<string>) =>
  promisify(execFile)(jjBin, args, { cwd, env: { ...process.env, JJ_CONFIG: jjConfigDir } })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The daemon's CPU seconds (user and system) and resident memory in MB, from /proc. */
const usage = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return { cpuS: (Number(stat[11]) + Number(stat[12])) / 100, rssMb: Number(rss?.[1] ?? 0) / 1024 }
}

const getJson = (port: number, urlPath: string) =>
  new Promise<unknown>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: urlPath, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let body = ""
      response.on("data", (chunk) => (body += String(chunk)))
      response.on("end", () => resolve(JSON.parse(body)))
    }).on("error", reject)
  })

interface Repo {
  readonly user: string
  readonly repo: string
  readonly lastSyncedOperationId: string | null
  readonly lastSyncedAt: string | null
}
const listing = (port: number) =>
  getJson(port, "/api/watcher/repos?limit=1000") as Promise<{ repos: ReadonlyArray<Repo> }>

/** An SSE client from now on: the ids it received in order, and each one's latency from the event's append. */
const feedClient = (port: number) => {
  const client = {
    ids: [] as Array<number>,
    latencies: [] as Array<number>,
    request: undefined as http.ClientRequest | undefined
  }
  client.request = http.get(
    { host: "127.0.0.1", port, path: "/api/watcher/events", headers: { authorization: `Bearer ${token}` } },
    (response) => {
      let buffer = ""
      response.on("data", (chunk) => {
        const now = Date.now()
        buffer += String(chunk)
        let end: number
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          if (!block.includes("event: sync")) continue
          const data = JSON.parse(block.slice(block.indexOf("data: ") + 6)) as { id: number; createdAt: string }
          client.ids.push(data.id)
          client.latencies.push(now - Date.parse(data.createdAt))
        }
      })
    }
  )
  return client
}

/** A client polling the listing every second: the delay from each sync's commit to the poll that saw it. */
const poller = (port: number, stop: { stopped: boolean }) => {
  const client = { latencies: [] as Array<number>, seen: new Map<string, string | null>() }
  void (async () => {
    await sleep(Math.random() * 1000)
    while (!stop.stopped) {
      const page = await listing(port)
      const now = Date.now()
      for (const repo of page.repos) {
        const key = `${repo.user}/${repo.repo}`
        const before = client.seen.get(key)
        if (before !== undefined && before !== repo.lastSyncedOperationId && repo.lastSyncedAt !== null) {
          client.latencies.push(now - Date.parse(repo.lastSyncedAt))
        }
        client.seen.set(key, repo.lastSyncedOperationId)
      }
      await sleep(1000)
    }
  })()
  return client
}

const eventIds = async (schema: string, after: number) => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const { rows } = await client.query(`SELECT id FROM ${schema}.sync_events WHERE id > $1 ORDER BY id`, [after])
  await client.end()
  return rows.map((row: { id: string }) => Number(row.id))
}

/** A round: one jj operation in every repository at once, then until the daemon synced them all. */
const workload = async (port: number, repos: ReadonlyArray<string>, label: string) => {
  for (let round = 0; round < rounds; round++) {
    await Promise.all(repos.map((repo) => jjAsync(repo, "describe", "-m", `${label} ${round}`)))
    for (;;) {
      const page = await listing(port)
      const heads = await Promise.all(
        repos.map((repo) => fs.promises.readdir(path.join(repo, ".jj", "repo", "op_heads", "heads")))
      )
      const synced = new Set(page.repos.map((r) => r.lastSyncedOperationId))
      if (heads.every((names) => names.length === 1 && synced.has(names[0]!))) break
      await sleep(20)
    }
  }
}

const main = async () => {
  const base = makeBase("feed")
  const repos = makeRepos(base, repoCount)
  const schema = `bench_feed_${process.pid}`
  const { child, port } = await startServe(base, schema, token, {
    // The feed is measured, not the details fill: it would add the same jj work to every phase.
    WATCHER_DETAILS_DELAY_MS: "600000"
  })
  const pid = child.pid!
  try {
    await workload(port, repos, "warm-up")
    console.log(`${repoCount} repositories, ${rounds} rounds of one jj operation in each, ${clientCount} clients`)
    const results: Array<string> = []
    const phase = async (label: string, connect: () => { after: () => string }) => {
      await sleep(1500)
      const idle = usage(pid)
      const report = connect()
      await sleep(3000)
      const connected = usage(pid)
      const started = usage(pid)
      await workload(port, repos, label)
      await sleep(1500)
      const finished = usage(pid)
      const line = `${label.padEnd(22)} daemon CPU ${fixed(finished.cpuS - started.cpuS, 2)} s for ${
        repoCount * rounds
      } syncs; RSS ${fixed(idle.rssMb, 0)} MB idle, ${fixed(connected.rssMb, 0)} MB connected, ${
        fixed(finished.rssMb, 0)
      } MB after; ${report.after()}`
      results.push(line)
      console.log(line)
      return { cpuS: finished.cpuS - started.cpuS, rssMb: connected.rssMb - idle.rssMb }
    }
    const floor = await phase("nobody listening", () => ({ after: () => "" }))

    const lastBefore = (await eventIds(schema, 0)).at(-1) ?? 0
    const clients: Array<ReturnType<typeof feedClient>> = []
    const sse = await phase("SSE feed", () => {
      for (let i = 0; i < clientCount; i++) clients.push(feedClient(port))
      return {
        after: () => {
          const latencies = summarize(clients.flatMap((c) => c.latencies))
          return `delivery p50 ${fixed(latencies.p50)} ms, p99 ${fixed(latencies.p99)} ms (${latencies.n} deliveries)`
        }
      }
    })
    const expected = await eventIds(schema, lastBefore)
    const complete = clients.filter((c) => JSON.stringify(c.ids) === JSON.stringify(expected)).length
    for (const c of clients) c.request?.destroy()
    console.log(`SSE: ${complete} of ${clients.length} clients received all ${expected.length} events, in order`)

    const stop = { stopped: false }
    const pollers: Array<ReturnType<typeof poller>> = []
    const polling = await phase("polling every 1 s", () => {
      for (let i = 0; i < clientCount; i++) pollers.push(poller(port, stop))
      return {
        after: () => {
          const latencies = summarize(pollers.flatMap((c) => c.latencies))
          return `detection p50 ${fixed(latencies.p50)} ms, p99 ${fixed(latencies.p99)} ms (${latencies.n} detections)`
        }
      }
    })
    stop.stopped = true
    const perClient = (value: number) => value / clientCount
    console.log(
      `extra per SSE client: CPU ${fixed(perClient((sse.cpuS - floor.cpuS) * 1000), 2)} ms over the run, memory ${
        fixed(perClient(sse.rssMb * 1024), 0)
      } kB; per polling client: CPU ${fixed(perClient((polling.cpuS - floor.cpuS) * 1000), 2)} ms, memory ${
        fixed(perClient(polling.rssMb * 1024), 0)
      } kB`
    )
    const sseP50 = summarize(clients.flatMap((c) => c.latencies)).p50
    const pollP50 = summarize(pollers.flatMap((c) => c.latencies)).p50
    console.log(
      `ratio (polling / SSE): delivery p50 ${fixed(pollP50 / sseP50)}x, daemon CPU ${
        fixed((polling.cpuS - floor.cpuS) / Math.max(0.001, sse.cpuS - floor.cpuS))
      }x the extra`
    )
  } finally {
    await stopServe(child, schema)
  }
}

await main()
