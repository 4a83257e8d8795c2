/**
 * API throughput: 100 concurrent clients for 20 s on `GET /api/watcher/status` and on a repository's detail while
 * repositories keep syncing (a jj operation every 50 ms, round robin over 20 repositories). Runs the API with
 * jj-watcher's watcher settings and with the earlier design's (polling every 100 ms, trailing debounce 300 ms) in
 * the same run; prints requests/s, p99 latency and errors (non-2xx included), which must be 0.
 */
import autocannon from "autocannon"
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { jjBin, jjConfigDir, makeBase, makeRepos, startServe, stopServe } from "./bench/support.js"

// Asynchronous, so that jj never blocks the event loop autocannon measures from.
const jjAsync = (cwd: string, ...args: Array<string>) =>
  promisify(execFile)(jjBin, args, { cwd, env: { ...process.env, JJ_CONFIG: jjConfigDir } })

const seconds = Number(process.env["BENCH_API_SECONDS"] ?? 20)
const connections = Number(process.env["BENCH_API_CONNECTIONS"] ?? 100)
const token = "bench-admin-token"

const load = (url: string) =>
  autocannon({ url, connections, duration: seconds, headers: { authorization: `Bearer ${token}` } })

const run = async (label: string, env: Record<string, string>) => {
  const base = makeBase("api")
  const repos = makeRepos(base, 20)
  const schema = `bench_api_${process.pid}_${label.replace(/\W/g, "_")}`
  const { child, port } = await startServe(base, schema, token, env)
  let operations = 0
  let stop = false
  // Keeps syncs going during the load: one jj operation every 50 ms.
  const churn = (async () => {
    while (!stop) {
      await jjAsync(repos[operations % repos.length]!, "new", "-m", `churn ${operations}`)
      operations++
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  const results = []
  for (
    const [endpoint, url] of [
      ["status", `http://127.0.0.1:${port}/api/watcher/status`],
      ["repo detail", `http://127.0.0.1:${port}/api/watcher/repos/owner0/repo0`]
    ] as const
  ) {
    const result = await load(url)
    results.push({
      endpoint,
      rps: result.requests.average,
      p99: result.latency.p99,
      errors: result.errors + result.timeouts + result.non2xx
    })
  }
  stop = true
  await churn
  await stopServe(child, schema)
  return { label, operations, results }
}

const main = async () => {
  console.log(`${connections} connections, ${seconds} s per endpoint, jj operations every 50 ms on 20 repositories`)
  const ours = await run("jj-watcher", {})
  const earlier = await run("earlier design", {
    WATCHER_FS_EVENTS: "false",
    WATCHER_POLL_INTERVAL_MS: "100",
    WATCHER_DEBOUNCE_MS: "300",
    WATCHER_LEADING_EDGE: "false",
    WATCHER_MAX_WAIT_MS: "60000"
  })
  console.log("watcher settings   endpoint       req/s   p99 ms  errors  jj ops during run")
  for (const run of [ours, earlier]) {
    for (const r of run.results) {
      console.log(
        `${run.label.padEnd(18)} ${r.endpoint.padEnd(12)} ${r.rps.toFixed(0).padStart(7)} ${
          String(r.p99).padStart(8)
        } ${String(r.errors).padStart(7)}  ${run.operations}`
      )
    }
  }
  for (const [i, r] of ours.results.entries()) {
    const other = earlier.results[i]!
    console.log(
      `ratio (jj-watcher / earlier) ${r.endpoint}: req/s ${(r.rps / other.rps).toFixed(2)}x, p99 ${
        (other.p99 / r.p99).toFixed(2)
      }x lower`
    )
  }
}

await main()
