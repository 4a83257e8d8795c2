/**
 * Change-to-database latency: K repositories (1, 4 and 50), N jj operations each (repositories in parallel, operations within
 * one repository in sequence); per operation, the time from the jj command's exit to the NOTIFY that the database
 * holds that operation. The jj commands are run by a shell per repository (`jjShell`), as users' commands run outside
 * the watcher's process. Runs jj-watcher's defaults and the earlier design's configuration (poll 100 ms, trailing
 * debounce 300 ms, no native events) in the same run and prints the ratio.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Console, Deferred, Effect, Layer, Schema, Stream } from "effect"
import { DatabaseLive } from "../src/Database.js"
import { SyncLive } from "../src/Layers.js"
import { Watcher } from "../src/Watcher.js"
import {
  fixed,
  headOf,
  jjBin,
  jjShell,
  makeBase,
  makeRepos,
  startServe,
  stopServe,
  summarize
} from "./bench/support.js"

const configurations = {
  "jj-watcher": {},
  "earlier design": {
    WATCHER_FS_EVENTS: "false",
    WATCHER_POLL_INTERVAL_MS: "100",
    WATCHER_DEBOUNCE_MS: "300",
    WATCHER_LEADING_EDGE: "false",
    WATCHER_MAX_WAIT_MS: "60000"
  }
} as const

const scenarios = [
  { repos: 1, operations: Number(process.env["BENCH_OPS_1"] ?? 20) },
  { repos: 4, operations: Number(process.env["BENCH_OPS_4"] ?? 25) },
  { repos: 50, operations: Number(process.env["BENCH_OPS_50"] ?? 4) }
]

const Notification = Schema.parseJson(Schema.Struct({ operationId: Schema.String }))

/**
 * Where the watcher runs: in this process (and session), or as `jj-watcher serve` in a session of its own, as a
 * service runs apart from its users' terminals. With both in one session the kernel shares the processor process by
 * process, so under load the watcher's one event loop gets one share against every user jj process of the moment.
 */
type Layout = "in-process" | "service"

const measure = (label: string, settings: Record<string, string>, repos: number, operations: number, layout: Layout) =>
  Effect.gen(function*() {
    const base = makeBase(`latency-${repos}`)
    const paths = makeRepos(base, repos)
    const schema = `bench_latency_${process.pid}_${Math.floor(Math.random() * 1e6)}`
    const provider = ConfigProvider.fromMap(
      new Map(Object.entries({
        DATABASE_SCHEMA: schema,
        REPOS_BASE_PATH: base,
        JJ_BIN: jjBin,
        ...settings
      }))
    ).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))

    return yield* Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const sql = yield* SqlClient.SqlClient
      const arrivals = new Map<string, Deferred.Deferred<number>>()
      const arrival = (operationId: string) => {
        let deferred = arrivals.get(operationId)
        if (deferred === undefined) {
          deferred = Deferred.unsafeMake<number>(Effect.runSync(Effect.fiberId))
          arrivals.set(operationId, deferred)
        }
        return deferred
      }
      yield* pg.listen("jj_watcher").pipe(
        Stream.mapEffect((payload) => Schema.decode(Notification)(payload)),
        Stream.runForEach(({ operationId }) => Deferred.succeed(arrival(operationId), performance.now())),
        Effect.forkScoped
      )
      yield* Effect.sleep("200 millis") // LISTEN is registered before the watcher starts
      if (layout === "in-process") {
        // Added first, run last: the schema goes once the watcher has stopped.
        yield* Effect.addFinalizer(() => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`.pipe(Effect.ignore))
        yield* Layer.build(Watcher.Default)
      } else {
        yield* Effect.acquireRelease(
          Effect.promise(() =>
            startServe(base, schema, "bench-latency-token", { ...settings, LOG_LEVEL: "Warning" }, true)
          ),
          ({ child }) => Effect.promise(() => stopServe(child, schema))
        )
      }
      // Every repository mirrored once before timing starts.
      yield* Effect.forEach(
        paths,
        (repo) => headOf(repo).pipe(Effect.flatMap(([head]) => Deferred.await(arrival(head!)))),
        { discard: true }
      )

      const latencies: Array<number> = []
      const shells = yield* Effect.forEach(paths, jjShell)
      yield* Effect.forEach(
        paths,
        (repo, r) =>
          Effect.forEach(Array.from({ length: operations }, (_, i) => i), (i) =>
            Effect.gen(function*() {
              const exited = yield* shells[r]!.run("new", "-m", `operation-${i}`)
              const [head] = yield* headOf(repo)
              const synced = yield* Deferred.await(arrival(head!))
              latencies.push(Math.max(0, synced - exited))
            }), { discard: true }),
        { concurrency: "unbounded", discard: true }
      )
      return { label, repos, operations, ...summarize(latencies) }
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(SyncLive, NodeContext.layer).pipe(Layer.provideMerge(DatabaseLive))),
      Effect.withConfigProvider(provider)
    )
  })

const layouts: ReadonlyArray<Layout> = process.env["BENCH_LATENCY_LAYOUTS"] === undefined
  ? ["in-process", "service"]
  : process.env["BENCH_LATENCY_LAYOUTS"].split(",") as Array<Layout>

const main = Effect.gen(function*() {
  yield* Console.log(`jj ${jjBin}; change-to-database latency in ms (jj exit -> NOTIFY received)`)
  for (const layout of layouts) {
    yield* Console.log(
      layout === "in-process"
        ? "\n== the watcher in this process, in the session of the users' jj commands"
        : "\n== the watcher as `jj-watcher serve` in a session of its own (as a service), the users' jj commands in this one"
    )
    yield* Console.log("configuration      repos  ops/repo  samples     p50     p95     p99")
    for (const scenario of scenarios) {
      const results = []
      for (const [label, settings] of Object.entries(configurations)) {
        const result = yield* measure(label, settings, scenario.repos, scenario.operations, layout)
        results.push(result)
        yield* Console.log(
          `${label.padEnd(18)} ${String(result.repos).padStart(5)} ${String(result.operations).padStart(9)} ${
            String(result.n).padStart(8)
          } ${fixed(result.p50).padStart(7)} ${fixed(result.p95).padStart(7)} ${fixed(result.p99).padStart(7)}`
        )
      }
      const [ours, earlier] = results
      yield* Console.log(
        `ratio (earlier / jj-watcher) at ${scenario.repos} repos: p50 ${fixed(earlier!.p50 / ours!.p50)}x, p95 ${
          fixed(earlier!.p95 / ours!.p95)
        }x, p99 ${fixed(earlier!.p99 / ours!.p99)}x`
      )
    }
  }
})

main.pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
