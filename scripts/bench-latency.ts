/**
 * Change-to-database latency: K repositories (1, 4 and 50), N jj operations each (repositories in parallel, operations within
 * one repository in sequence); per operation, the time from the jj command's exit to the NOTIFY that the database
 * holds that operation. The jj commands are run by a shell per repository (`jjShell`), as users' commands run outside
 * the watcher's process. Runs jj-watcher's defaults and the earlier design's configuration (poll 100 ms, trailing
 * debounce 300 ms, no native events) in the same run and prints the ratio; as a service, also the code issue 10 was
 * measured on (`BENCH_LATENCY_BASELINE_REV`, built from this clone's history by `bench/checkout.ts`).
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Console, Deferred, Effect, Layer, Schema, Stream } from "effect"
import { DatabaseLive } from "../src/Database.js"
import { SyncLive } from "../src/Layers.js"
import { Watcher } from "../src/Watcher.js"
import { builtCheckout, CheckoutUnavailable } from "./bench/checkout.js"
import {
  fixed,
  headOf,
  jjBin,
  jjShell,
  makeBase,
  makeRepos,
  postgresCpuMs,
  processTreeCpuMs,
  startServe,
  statCpuMs,
  stopServe,
  summarize
} from "./bench/support.js"

interface Configuration {
  readonly label: string
  readonly settings: Record<string, string>
  /** Another build's CLI, run as a service only (it cannot share this process). */
  readonly bin?: string
}

const configurations: ReadonlyArray<Configuration> = [
  { label: "jj-watcher", settings: {} },
  {
    label: "earlier design",
    settings: {
      WATCHER_FS_EVENTS: "false",
      WATCHER_POLL_INTERVAL_MS: "100",
      WATCHER_DEBOUNCE_MS: "300",
      WATCHER_LEADING_EDGE: "false",
      WATCHER_MAX_WAIT_MS: "60000"
    }
  }
]

const layouts: ReadonlyArray<Layout> = process.env["BENCH_LATENCY_LAYOUTS"] === undefined
  ? ["in-process", "service"]
  : process.env["BENCH_LATENCY_LAYOUTS"].split(",") as Array<Layout>

/**
 * The code issue 10 measured ("today's code" when it was taken up: the commit before its first change), built from
 * this clone's history and run with its defaults beside today's; `BENCH_LATENCY_BASELINE_REV=none` leaves it out.
 */
const baselineRevision = process.env["BENCH_LATENCY_BASELINE_REV"] ?? "4ca3e03"
const baseline: Configuration | string = (() => {
  if (baselineRevision === "none") return "left out (BENCH_LATENCY_BASELINE_REV=none)"
  // It runs as a service only: without that layout, nothing to build.
  if (!layouts.includes("service")) return "left out (runs as a service only; BENCH_LATENCY_LAYOUTS has no service)"
  try {
    return { label: `code at ${baselineRevision}`, settings: {}, bin: builtCheckout(baselineRevision) }
  } catch (error) {
    if (error instanceof CheckoutUnavailable) return error.message
    throw error
  }
})()

const scenarios = [
  { repos: 1, operations: Number(process.env["BENCH_OPS_1"] ?? 20) },
  { repos: 4, operations: Number(process.env["BENCH_OPS_4"] ?? 25) },
  { repos: 50, operations: Number(process.env["BENCH_OPS_50"] ?? 4) }
]

/**
 * Operations per repository run untimed after the first mirror, in each configuration alike: a started watcher's
 * first syncs run code the JIT has not compiled yet, which the first rounds of 50 busy repositories would pay.
 */
const warmup = Number(process.env["BENCH_LATENCY_WARMUP"] ?? 2)

const Notification = Schema.parseJson(Schema.Struct({ operationId: Schema.String }))

/**
 * Where the watcher runs: in this process (and session), or as `jj-watcher serve` in a session of its own, as a
 * service runs apart from its users' terminals. With both in one session the kernel shares the processor process by
 * process, so under load the watcher's one event loop gets one share against every user jj process of the moment.
 */
type Layout = "in-process" | "service"

const measure = (configuration: Configuration, repos: number, operations: number, layout: Layout) =>
  Effect.gen(function*() {
    const base = makeBase(`latency-${repos}`)
    const paths = makeRepos(base, repos)
    const schema = `bench_latency_${process.pid}_${Math.floor(Math.random() * 1e6)}`
    const provider = ConfigProvider.fromMap(
      new Map(Object.entries({
        DATABASE_SCHEMA: schema,
        REPOS_BASE_PATH: base,
        JJ_BIN: jjBin,
        ...configuration.settings
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
      // In the service layout, the service's process: its CPU (with its launcher's and jj's) is told apart from the
      // users' and PostgreSQL's.
      const servePid = layout === "in-process"
        ? yield* Effect.gen(function*() {
          // Added first, run last: the schema goes once the watcher has stopped.
          yield* Effect.addFinalizer(() => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`.pipe(Effect.ignore))
          yield* Layer.build(Watcher.Default)
          return undefined
        })
        : yield* Effect.acquireRelease(
          Effect.promise(() =>
            startServe(
              base,
              schema,
              "bench-latency-token",
              { ...configuration.settings, LOG_LEVEL: "Warning" },
              true,
              configuration.bin
            )
          ),
          ({ child }) => Effect.promise(() => stopServe(child, schema))
        ).pipe(Effect.map(({ child }) => String(child.pid)))
      // Every repository mirrored once before timing starts.
      yield* Effect.forEach(
        paths,
        (repo) => headOf(repo).pipe(Effect.flatMap(([head]) => Deferred.await(arrival(head!)))),
        { discard: true }
      )

      const latencies: Array<number> = []
      // By the operation's place in its repository's sequence: the first operations start together, later ones spread.
      const byRound: Array<Array<number>> = Array.from({ length: operations }, () => [])
      const shells = yield* Effect.forEach(paths, jjShell)
      // Each repository's operations in sequence, all repositories at once; `record` hears each latency.
      const rounds = (count: number, label: string, record: (i: number, latency: number) => void) =>
        Effect.forEach(
          paths,
          (repo, r) =>
            Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
              Effect.gen(function*() {
                const exited = yield* shells[r]!.run("new", "-m", `${label}-${i}`)
                const [head] = yield* headOf(repo)
                const synced = yield* Deferred.await(arrival(head!))
                record(i, Math.max(0, synced - exited))
              }), { discard: true }),
          { concurrency: "unbounded", discard: true }
        )
      // Untimed: a daemon runs warm (until the JIT has compiled a sync's code, each costs more CPU).
      yield* rounds(warmup, "warm-up", () => {})
      // CPU so far: the users' jj processes (reaped by their shells), the service's processes, PostgreSQL's.
      const cpu = () => ({
        users: shells.reduce((sum, shell) => sum + statCpuMs(String(shell.child.pid), "reaped"), 0),
        watcher: servePid === undefined ? Number.NaN : processTreeCpuMs(servePid),
        postgres: postgresCpuMs()
      })
      const cpuBefore = cpu()
      yield* rounds(operations, "operation", (i, latency) => {
        latencies.push(latency)
        byRound[i]!.push(latency)
      })
      const cpuAfter = cpu()
      const perOperation = (part: keyof typeof cpuAfter) => (cpuAfter[part] - cpuBefore[part]) / latencies.length
      return {
        label: configuration.label,
        repos,
        operations,
        ...summarize(latencies),
        byRound: byRound.map(summarize),
        cpuPerOperation: {
          users: perOperation("users"),
          watcher: perOperation("watcher"),
          postgres: perOperation("postgres")
        }
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(SyncLive, NodeContext.layer).pipe(Layer.provideMerge(DatabaseLive))),
      Effect.withConfigProvider(provider)
    )
  })

type Measured = Effect.Effect.Success<ReturnType<typeof measure>>

const row = (result: Measured) =>
  `${result.label.padEnd(18)} ${String(result.repos).padStart(5)} ${String(result.operations).padStart(9)} ${
    String(result.n).padStart(8)
  } ${fixed(result.p50).padStart(7)} ${fixed(result.p95).padStart(7)} ${fixed(result.p99).padStart(7)}`

const main = Effect.gen(function*() {
  yield* Console.log(
    `jj ${jjBin}; change-to-database latency in ms (jj exit -> NOTIFY received), after ${warmup} untimed operations ` +
      `per repository (BENCH_LATENCY_WARMUP)`
  )
  yield* Console.log(
    typeof baseline === "string"
      ? `issue 10's code: ${baseline}`
      : `issue 10's code: ${baselineRevision}, built apart (${baseline.bin}), run as a service beside today's`
  )
  for (const layout of layouts) {
    yield* Console.log(
      layout === "in-process"
        ? "\n== the watcher in this process, in the session of the users' jj commands"
        : "\n== the watcher as `jj-watcher serve` in a session of its own (as a service), the users' jj commands in this one"
    )
    yield* Console.log("configuration      repos  ops/repo  samples     p50     p95     p99")
    const measured = layout === "service" && typeof baseline !== "string"
      ? [...configurations, baseline]
      : configurations
    for (const scenario of scenarios) {
      const results = []
      for (const configuration of measured) {
        const result = yield* measure(configuration, scenario.repos, scenario.operations, layout)
        results.push(result)
        yield* Console.log(row(result))
        if (layout === "service") {
          const { postgres, users, watcher } = result.cpuPerOperation
          yield* Console.log(
            `  CPU per operation: the users' jj ${fixed(users)} ms, the service (its process, launcher and jj) ${
              fixed(watcher)
            } ms, PostgreSQL ${fixed(postgres)} ms`
          )
        }
        if (scenario.repos > 1 && scenario.operations <= 8) {
          yield* Console.log(
            `  p50/p95 by operation in each repository: ${
              result.byRound.map((round, i) => `#${i + 1} ${fixed(round.p50, 0)}/${fixed(round.p95, 0)}`).join(", ")
            }`
          )
        }
      }
      const [ours, ...others] = results
      for (const other of others) {
        yield* Console.log(
          `ratio (${other.label} / jj-watcher) at ${scenario.repos} repos: p50 ${fixed(other.p50 / ours!.p50)}x, p95 ${
            fixed(other.p95 / ours!.p95)
          }x, p99 ${fixed(other.p99 / ours!.p99)}x`
        )
      }
    }
  }
})

main.pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
