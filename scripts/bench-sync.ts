/**
 * Sync cost by repository size (1,000, 10,000 and 100,000 commits; `BENCH_SYNC_SIZES=1000,10000` for a quick run):
 *
 * 1. the first sync (full import): `jj-watcher sync --json` in a child process of its own, so its peak RSS is the
 *    import's alone (`jj-watcher migrate` gives the same process's floor), with the cost of the jj processes it runs,
 *    and `jj log` alone with the same template for comparison;
 * 2. the sync of one new jj operation (`jj describe`), `BENCH_SYNC_RUNS` times after a warm-up, in this process;
 * 3. the earlier design's sync (scripts/bench/baseline.ts) on the same repository states in the same run;
 * 4. the CPU of `BENCH_SYNC_CPU_RUNS` more one-operation syncs of jj-watcher alone, each with its details fill.
 *
 * Each size works on a fresh copy of a cached generated repository (scripts/bench/generate.ts) and in fresh schemas
 * (jj-watcher's, and the baseline's made by the same migrations), dropped afterwards.
 */
import { Command } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Config, ConfigProvider, Console, Context, Effect, Layer, Schema } from "effect"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { pathToFileURL } from "node:url"
import { DatabaseLive } from "../src/Database.js"
import { DetailsFill } from "../src/DetailsFill.js"
import { SyncResult } from "../src/Domain/Sync.js"
import type { SyncMode } from "../src/Domain/Sync.js"
import { changeTemplate } from "../src/JjClient/Templates.js"
import { SyncLive } from "../src/Layers.js"
import { SyncService } from "../src/Sync.js"
import { baselineLimits, baselineRepository, baselineSync } from "./bench/baseline.js"
import type { BaselineResult } from "./bench/baseline.js"
import { generatedOpLog, generatedRepo } from "./bench/generate.js"
import type { GeneratedRepo, Shape } from "./bench/generate.js"
import type { CpuSplit } from "./bench/support.js"
import {
  cpuBetween,
  cpuMean,
  cpuSplit,
  cpuTotal,
  fixed,
  headOf,
  jjBin,
  jjConfigDir,
  jjSync,
  makeBase,
  output,
  pinnedAt,
  statCpuMs,
  summarize
} from "./bench/support.js"

const BenchConfig = Config.all({
  sizes: Config.array(Config.integer(), "BENCH_SYNC_SIZES").pipe(Config.withDefault([1_000, 10_000, 100_000])),
  runs: Config.integer("BENCH_SYNC_RUNS").pipe(Config.withDefault(20)),
  /**
   * One-operation syncs of jj-watcher alone after the timed rounds, whose CPU is summed: apart from the earlier design,
   * whose garbage the timed rounds' collections would otherwise partly charge to jj-watcher's syncs.
   */
  cpuRuns: Config.integer("BENCH_SYNC_CPU_RUNS").pipe(Config.withDefault(100)),
  /** Commits of a linear history with half as many bookmarks, measured like the sizes; 0 skips it. */
  bookmarkHeavy: Config.integer("BENCH_SYNC_BOOKMARK_HEAVY").pipe(Config.withDefault(20_000)),
  /** Commits of the merge-heavy history whose first import is measured both ways; 0 skips it. */
  mergeHeavy: Config.integer("BENCH_SYNC_MERGE_HEAVY").pipe(Config.withDefault(50_000)),
  /** Operations of the long-operation-log history (undos and concurrent operations); 0 skips it. */
  opLog: Config.integer("BENCH_SYNC_OP_LOG").pipe(Config.withDefault(20_000)),
  /**
   * One-operation syncs of both designs run first on a 1,000-commit repository, unreported: until the JIT has compiled
   * the code they run, syncs cost more CPU, and that would fall on whichever size is measured first.
   */
  warmup: Config.integer("BENCH_SYNC_WARMUP").pipe(Config.withDefault(100))
})

const targets = { importCommitsPerSecond: 20_000, importRssMb: 300, oneOpMs: 50, oneOpGrowth: 1.3 } as const
const targetSize = 100_000
const smallSize = 1_000

const projectRoot = path.resolve(import.meta.dirname, "..")
const cliBin = path.join(projectRoot, "dist", "bin.js")
const rusagePreload = pathToFileURL(path.join(import.meta.dirname, "bench", "report-rusage.mjs")).href
const owner = "bench"

/** Cost of one jj process, as /usr/bin/time reports it. */
interface JjCall {
  readonly label: string
  readonly wallMs: number
  readonly cpuMs: number
  readonly maxRssKb: number
}

const timeFormat = "%e\\t%U\\t%S\\t%M\\t%C"

const jjCallLabel = (commandLine: string) =>
  commandLine.includes(" --version") ?
    "version"
    : commandLine.includes(" op log") ?
    "op log"
    : commandLine.includes(" bookmark list") ?
    "bookmark list"
    : commandLine.includes("conflicts()") ?
    "log conflicts()"
    : commandLine.includes("merges()") ?
    "log merges()"
    : commandLine.includes("visible_heads()") ?
    "log visible_heads()"
    : commandLine.includes(" log ") ?
    "log (changes)"
    : "other"

/** The calls /usr/bin/time appended to `file` (lines of `timeFormat`; it adds a note line for failed commands). */
const readJjCalls = (file: string): Array<JjCall> =>
  (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "").split("\n").flatMap((line) => {
    const match = /^([\d.]+)\t([\d.]+)\t([\d.]+)\t(\d+)\t(.*)$/.exec(line)
    return match === null ? [] : [{
      label: jjCallLabel(match[5]!),
      wallMs: Number(match[1]) * 1000,
      cpuMs: (Number(match[2]) + Number(match[3])) * 1000,
      maxRssKb: Number(match[4])
    }]
  })

/**
 * A jj that records each call's wall time, CPU and peak RSS: the import's child runs it as JJ_BIN, so the cost of
 * jj's processes can be told apart from the cost of ours.
 */
const timedJj = (directory: string) => {
  const log = path.join(directory, "jj-calls.tsv")
  const wrapper = path.join(directory, "jj")
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec /usr/bin/time -a -o '${log}' -f '${timeFormat}' '${jjBin}' "$@"\n`, {
    mode: 0o755
  })
  return { wrapper, log }
}

/** `jj log` as the full import runs it (same revset and template), output thrown away: jj's own share. */
const jjLogAlone = (repository: string, operationId: string, directory: string, emptyConfig: string) =>
  Effect.gen(function*() {
    const log = path.join(directory, "jj-log-alone.tsv")
    yield* output(
      "jj log",
      Command.make(
        "sh",
        "-c",
        `exec "$@" >/dev/null`,
        "sh",
        "/usr/bin/time",
        "-o",
        log,
        "-f",
        timeFormat,
        jjBin,
        ...pinnedAt(repository, operationId, [
          "log",
          "--revisions",
          "all() ~ root()",
          "--no-graph",
          "-T",
          changeTemplate("inline")
        ])
      ).pipe(Command.env({ JJ_CONFIG: emptyConfig, COLUMNS: "1000" }))
    )
    return readJjCalls(log)[0]!
  })

const Rusage = Schema.parseJson(Schema.Struct({
  maxRSS: Schema.Number,
  userCPUTime: Schema.Number,
  systemCPUTime: Schema.Number
}))

/** What one run of the CLI cost its own process (jj's processes not included). */
interface CliRun {
  readonly stdout: string
  readonly wallMs: number
  readonly maxRssKb: number
  readonly cpuMs: number
}

/**
 * Runs the built CLI as users do (through its shebang, V8 flags included), with a preload that reports the process's
 * own peak RSS and CPU time when it exits.
 */
const runCli = (args: ReadonlyArray<string>, env: Record<string, string>, directory: string) =>
  Effect.gen(function*() {
    const rusageFile = path.join(directory, `rusage-${args[0]}.json`)
    const started = performance.now()
    const stdout = yield* output(
      `jj-watcher ${args[0]}`,
      Command.make(cliBin, ...args).pipe(
        Command.env({ ...env, NODE_OPTIONS: `--import ${rusagePreload}`, BENCH_RUSAGE_FILE: rusageFile })
      )
    )
    const wallMs = performance.now() - started
    const usage = yield* Schema.decode(Rusage)(fs.readFileSync(rusageFile, "utf8"))
    return {
      stdout,
      wallMs,
      maxRssKb: usage.maxRSS,
      cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000
    } satisfies CliRun
  })

const configFor = (schema: string) =>
  ConfigProvider.fromMap(new Map([["DATABASE_SCHEMA", schema], ["JJ_BIN", jjBin]])).pipe(
    ConfigProvider.orElse(() => ConfigProvider.fromEnv())
  )

/** An effect's value, its wall time, and the CPU it cost this process, jj's launcher and jj, part by part. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const cpuBefore = cpuSplit()
    const started = performance.now()
    const value = yield* effect
    const ms = performance.now() - started
    return { value, ms, cpu: cpuBetween(cpuBefore, cpuSplit()) }
  })

interface SizeResult {
  readonly size: number
  readonly repo: GeneratedRepo
  /** 1, 5 and 15 minute load averages when the size started: other work on the machine skews every timing. */
  readonly loadAverage: ReadonlyArray<number>
  /** The CLI's first sync, and the same CLI doing nothing but `migrate` (its floor). */
  readonly firstSync: CliRun & { readonly result: SyncResult }
  readonly floor: CliRun
  readonly jjCalls: ReadonlyArray<JjCall>
  readonly jjAlone: JjCall
  readonly baselineImport: BaselineResult
  readonly ours: ReturnType<typeof summarize>
  /** CPU per one-operation sync, averaged: this process, jj's launcher and the jj processes it ran, apart. */
  readonly oursCpu: CpuSplit
  readonly cpuRuns: number
  /** The details fill after each one-operation sync (its commit's files and predecessors): wall and CPU. */
  readonly fill: ReturnType<typeof summarize>
  readonly fillCpuMs: number
  readonly oursModes: ReadonlyArray<SyncMode>
  readonly oursChanges: number
  readonly baseline: ReturnType<typeof summarize>
  readonly baselineOneOp: BaselineResult
}

const measure = (size: number, runs: number, cpuRuns: number, shape: Shape = "linear") =>
  Effect.gen(function*() {
    const repo = yield* Effect.promise(() => generatedRepo(size, shape))
    const loadAverage = os.loadavg()
    const key = `${shape === "linear" ? "" : `${shape.replace("-", "_")}_`}${size}`
    const base = makeBase(`sync-${key}`)
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
    const name = `repo-${size}`
    const repository = path.join(base, owner, name)
    fs.cpSync(repo.path, repository, { recursive: true })

    const schema = `bench_sync_${process.pid}_${key}`
    const baselineSchema = `${schema}_baseline`
    // Both schemas get jj-watcher's migrations; the finalizer (added last, so run first) drops them while the pools
    // are still open.
    const ours = yield* Layer.build(SyncLive.pipe(Layer.provideMerge(DatabaseLive))).pipe(
      Effect.withConfigProvider(configFor(schema))
    )
    const baselineContext = yield* Layer.build(DatabaseLive).pipe(Effect.withConfigProvider(configFor(baselineSchema)))
    const sql = Context.get(ours, SqlClient.SqlClient)
    yield* Effect.addFinalizer(() =>
      sql`DROP SCHEMA IF EXISTS ${sql(schema)}, ${sql(baselineSchema)} CASCADE`.pipe(Effect.ignore)
    )
    const sync = Context.get(ours, SyncService)
    const details = Context.get(ours, DetailsFill)
    // The imported history's files are measured on the merge-heavy shape; here, only each new commit's.
    yield* sql`DELETE FROM commit_details_pending`
    const withBaselineSql = Effect.provideService(
      SqlClient.SqlClient,
      Context.get(baselineContext, SqlClient.SqlClient)
    )

    // 1. The full import, in a child process.
    const floor = yield* runCli(["migrate"], { DATABASE_SCHEMA: schema }, base)
    const jjTimer = timedJj(base)
    const cliRun = yield* runCli(
      ["sync", repository, "--owner", owner, "--name", name, "--json", "--no-wait"],
      { DATABASE_SCHEMA: schema, JJ_BIN: jjTimer.wrapper },
      base
    )
    const result = yield* Schema.decode(Schema.parseJson(SyncResult))(cliRun.stdout.trim().split("\n").at(-1) ?? "")
    const firstSync = { ...cliRun, result }
    const jjCalls = readJjCalls(jjTimer.log)
    const [operationId] = yield* headOf(repository)
    // An empty user configuration, as jj-watcher's own jj calls use.
    const emptyConfig = fs.mkdtempSync(path.join(base, "jj-config-"))
    const jjAlone = yield* jjLogAlone(repository, operationId!, base, emptyConfig)

    // 2 and 3. The earlier design's first sync at the same operation, then one new operation at a time for both; the
    // first round is a warm-up, and which of the two syncs first alternates.
    const baselineId = yield* withBaselineSql(baselineRepository(owner, name, repository))
    const baselineRun = baselineSync({ jjBin, jjConfigDir: emptyConfig, path: repository, repositoryId: baselineId })
      .pipe(withBaselineSql)
    const baselineImport = yield* baselineRun
    // A new operation in the repository, from jj as its users run it.
    const describe = (message: string) =>
      output(
        "jj describe",
        Command.make(jjBin, "describe", "-m", message).pipe(
          Command.workingDirectory(repository),
          Command.env({ JJ_CONFIG: jjConfigDir })
        )
      )
    const oursMs: Array<number> = []
    const baselineMs: Array<number> = []
    const oursModes: Array<SyncMode> = []
    const oursCpu: Array<CpuSplit> = []
    const fillMs: Array<number> = []
    const fillCpuMs: Array<number> = []
    let oursChanges = 0
    let baselineOneOp = baselineImport
    for (let round = 0; round <= runs; round++) {
      yield* describe(`bench: one new operation ${round}`)
      const runOurs = Effect.gen(function*() {
        const run = yield* timed(sync.syncPath({ path: repository, owner, name }))
        const filled = yield* timed(details.fill(run.value.repositoryId))
        if (round > 0) fillMs.push(filled.ms)
        return run
      })
      const [oursRun, baselineRound] = round % 2 === 0
        ? yield* Effect.all([runOurs, timed(baselineRun)])
        : yield* Effect.map(Effect.all([timed(baselineRun), runOurs]), ([b, o]) => [o, b] as const)
      if (round === 0) continue
      oursMs.push(oursRun.ms)
      oursModes.push(oursRun.value.mode)
      oursChanges = oursRun.value.counts.changes
      baselineMs.push(baselineRound.ms)
      baselineOneOp = baselineRound.value
    }
    // 4. CPU: jj-watcher's syncs alone, each followed by its details fill as in the daemon.
    for (let round = 0; round < cpuRuns; round++) {
      yield* describe(`bench: CPU ${round}`)
      const run = yield* timed(sync.syncPath({ path: repository, owner, name }))
      const filled = yield* timed(details.fill(run.value.repositoryId))
      oursCpu.push(run.cpu)
      fillCpuMs.push(cpuTotal(filled.cpu))
    }
    return {
      size,
      repo,
      loadAverage,
      firstSync,
      floor,
      jjCalls,
      jjAlone,
      baselineImport,
      ours: summarize(oursMs),
      oursCpu: cpuMean(oursCpu),
      cpuRuns,
      fill: summarize(fillMs),
      fillCpuMs: fillCpuMs.reduce((sum, cpu) => sum + cpu, 0) / Math.max(1, fillCpuMs.length),
      oursModes,
      oursChanges,
      baseline: summarize(baselineMs),
      baselineOneOp
    } satisfies SizeResult
  }).pipe(Effect.scoped)

const count = (n: number) => Math.round(n).toLocaleString("en-US")
const seconds = (ms: number) => `${fixed(ms / 1000, 2)} s`
const ms = (value: number) => `${fixed(value)} ms`
const mb = (kb: number) => `${fixed(kb / 1024, 0)} MB`
const row = (label: string, ours: string, baseline: string, ratio = "") =>
  `${label.padEnd(26)}${ours.padEnd(22)}${baseline.padEnd(24)}${ratio}`
const perSecond = (rows: number, ms: number) => rows / (ms / 1000)
const tally = (modes: ReadonlyArray<string>) =>
  [...new Set(modes)].map((mode) => `${mode} x${modes.filter((m) => m === mode).length}`).join(", ")

/** Commits per second of the first sync, from the sync's own duration (process start-up not included). */
const importRate = (r: SizeResult) => perSecond(r.firstSync.result.counts.changes, r.firstSync.result.durationMs)
const baselineImportRate = (r: SizeResult) => perSecond(r.baselineImport.changes, r.baselineImport.durationMs)

const report = (r: SizeResult) => {
  const imported = r.firstSync.result
  const log = r.jjCalls.find((call) => call.label === "log (changes)")
  const made = r.repo.generated ? "generated now" : "cached"
  return [
    "",
    `== ${count(r.size)} commits (repository ${made}: git fast-import ${seconds(r.repo.fastImportMs)}, jj git init ${
      seconds(r.repo.jjImportMs)
    })`,
    row("", "jj-watcher", "earlier design", "earlier / jj-watcher"),
    row("first sync (import)", seconds(imported.durationMs), `${seconds(r.baselineImport.durationMs)} *`),
    row(
      "import throughput",
      `${count(importRate(r))} commits/s`,
      `${count(baselineImportRate(r))} commits/s *`,
      `${fixed(importRate(r) / baselineImportRate(r))}x (time per commit)`
    ),
    row("import peak RSS", mb(r.firstSync.maxRssKb), "-"),
    row("one new operation p50", ms(r.ours.p50), ms(r.baseline.p50), `${fixed(r.baseline.p50 / r.ours.p50)}x`),
    row("one new operation p95", ms(r.ours.p95), ms(r.baseline.p95), `${fixed(r.baseline.p95 / r.ours.p95)}x`),
    `* the earlier design reads at most ${count(baselineLimits.changes)} changes: it imported ${
      count(r.baselineImport.changes)
    } of ${count(imported.counts.changes)} (truncated), with ${count(r.baselineImport.statements)} statements`,
    `import: mode ${imported.mode} (${imported.fullReason ?? "-"}), ${count(imported.counts.changes)} changes, ${
      count(imported.counts.bookmarks)
    } bookmarks, ${count(imported.counts.operations)} operations; \`jj-watcher sync\` process: ${
      seconds(r.firstSync.wallMs)
    } wall, CPU ${seconds(r.firstSync.cpuMs)}, peak RSS ${mb(r.firstSync.maxRssKb)} (\`jj-watcher migrate\` alone: ${
      mb(r.floor.maxRssKb)
    })`,
    `jj during the import: ${
      r.jjCalls.filter((call) => call.label !== "version").map((call) =>
        `${call.label} ${seconds(call.wallMs)} (CPU ${seconds(call.cpuMs)}, peak ${mb(call.maxRssKb)})`
      ).join("; ")
    }`,
    `jj log alone, same revset and template, output discarded: ${seconds(r.jjAlone.wallMs)} (CPU ${
      seconds(r.jjAlone.cpuMs)
    }, peak ${mb(r.jjAlone.maxRssKb)}) = ${fixed((100 * r.jjAlone.wallMs) / imported.durationMs, 0)}% of the import${
      log === undefined ? "" : `; inside the import jj log ran ${seconds(log.wallMs)}`
    }`,
    `one new operation (jj describe), ${r.ours.n} runs after a warm-up: jj-watcher modes ${tally(r.oursModes)}, ${
      count(r.oursChanges)
    } changes held; earlier design per sync: jj ${ms(r.baselineOneOp.jjMs)} + database ${
      ms(r.baselineOneOp.databaseMs)
    } (${count(r.baselineOneOp.statements)} statements)`,
    `CPU per one-operation sync, mean of ${r.cpuRuns} run alone, this process + jj's launcher + jj (PostgreSQL not counted): ${
      ms(cpuTotal(r.oursCpu))
    }${
      r.size === smallSize
        ? ` (target <= 25 ms at ${count(smallSize)} commits: ${cpuTotal(r.oursCpu) <= 25 ? "PASS" : "FAIL"})`
        : ""
    }; of which jj ${ms(r.oursCpu.grandchildren)}, jj's launcher ${ms(r.oursCpu.children)}, this process ${
      ms(r.oursCpu.self)
    }`,
    `details fill after each one-operation sync (the new commit's files and predecessors, one jj evolog): p50 ${
      ms(r.fill.p50)
    }, p95 ${ms(r.fill.p95)}, CPU ${ms(r.fillCpuMs)}; sync and fill together CPU ${
      ms(cpuTotal(r.oursCpu) + r.fillCpuMs)
    }`,
    `load average ${r.loadAverage.map((n) => fixed(n, 2)).join(" ")} at the start, ${
      os.loadavg().map((n) => fixed(n, 2)).join(" ")
    } at the end (other work on the machine slows every timing)`
  ].join("\n")
}

/** One PASS/FAIL line per target; SKIP when the sizes a target needs were not run. */
const verdicts = (results: ReadonlyArray<SizeResult>) => {
  const large = results.find((r) => r.size === targetSize)
  const small = results.find((r) => r.size === smallSize)
  const at = `at ${count(targetSize)} commits`
  const line = (text: string, needs: ReadonlyArray<number>, check: () => { pass: boolean; detail: string }) => {
    if (needs.some((size) => !results.some((r) => r.size === size))) {
      return `SKIP ${text} (needs BENCH_SYNC_SIZES to include ${needs.map(count).join(" and ")})`
    }
    const { detail, pass } = check()
    return `${pass ? "PASS" : "FAIL"} ${text}: ${detail}`
  }
  return [
    line(`import throughput ${at}`, [targetSize], () => {
      const rate = importRate(large!)
      return {
        pass: rate >= targets.importCommitsPerSecond,
        detail: `${count(rate)} commits/s (target >= ${count(targets.importCommitsPerSecond)})`
      }
    }),
    line(`import peak RSS ${at}`, [targetSize], () => {
      const rssMb = large!.firstSync.maxRssKb / 1024
      return { pass: rssMb < targets.importRssMb, detail: `${fixed(rssMb, 0)} MB (target < ${targets.importRssMb} MB)` }
    }),
    line(`one new operation ${at} against ${count(smallSize)} (p50)`, [targetSize, smallSize], () => ({
      pass: large!.ours.p50 <= targets.oneOpGrowth * small!.ours.p50,
      detail: `${ms(large!.ours.p50)} / ${ms(small!.ours.p50)} = ${
        fixed(large!.ours.p50 / small!.ours.p50, 2)
      }x (target <= ${targets.oneOpGrowth}x)`
    })),
    ...(large !== undefined && small !== undefined
      ? [
        // jj's own growth, next to the allowance: what the ratio cannot go below whatever this process does.
        `  jj's processes alone, CPU per one-operation sync: ${ms(large.oursCpu.grandchildren)} ${at} against ${
          ms(small.oursCpu.grandchildren)
        } (+${
          ms(large.oursCpu.grandchildren - small.oursCpu.grandchildren)
        }; the ${targets.oneOpGrowth}x target allows +${ms((targets.oneOpGrowth - 1) * small.ours.p50)} in all)`
      ]
      : []),
    line(`one new operation ${at} (p50)`, [targetSize], () => ({
      pass: large!.ours.p50 < targets.oneOpMs,
      detail: `${ms(large!.ours.p50)} (target < ${targets.oneOpMs} ms)`
    }))
  ]
}

/** One first import of the merge-heavy history into a schema of its own, by the CLI, with extra settings. */
const importMerges = (repository: string, directory: string, label: string, env: Record<string, string>) =>
  Effect.gen(function*() {
    const schema = `bench_merges_${process.pid}_${label}`
    const sql = Context.get(
      yield* Layer.build(DatabaseLive).pipe(Effect.withConfigProvider(configFor(schema))),
      SqlClient.SqlClient
    )
    yield* Effect.addFinalizer(() => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`.pipe(Effect.ignore))
    const calls = path.join(directory, label)
    fs.mkdirSync(calls)
    const jjTimer = timedJj(calls)
    const run = yield* runCli(
      ["sync", repository, "--owner", owner, "--name", "merges", "--json", "--no-wait"],
      { DATABASE_SCHEMA: schema, JJ_BIN: jjTimer.wrapper, ...env },
      calls
    )
    const result = yield* Schema.decode(Schema.parseJson(SyncResult))(run.stdout.trim().split("\n").at(-1) ?? "")
    const [emptiness] = yield* sql<{ readonly empty: number; readonly merges: number }>`
      SELECT count(*) FILTER (WHERE is_empty)::int AS empty, count(*) FILTER (WHERE cardinality(parent_commit_ids) > 1)::int AS merges
      FROM changes`
    return { run, result, jjCalls: readJjCalls(jjTimer.log), emptiness: emptiness!, schema }
  })

/**
 * The details fill of an imported mirror (every commit's files, line counts and predecessors), by the CLI: `sync`
 * with nothing new to sync waits for the fill, in batches of `DETAILS_BATCH_SIZE`, `DETAILS_READERS` jj processes at
 * once.
 */
const fillMerges = (repository: string, directory: string, schema: string) =>
  Effect.gen(function*() {
    const calls = path.join(directory, "fill")
    fs.mkdirSync(calls)
    const jjTimer = timedJj(calls)
    const run = yield* runCli(
      ["sync", repository, "--owner", owner, "--name", "merges", "--json"],
      { DATABASE_SCHEMA: schema, JJ_BIN: jjTimer.wrapper },
      calls
    )
    const printed = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as {
      readonly details?: { readonly commits?: number; readonly files?: number; readonly predecessors?: number }
      readonly durationMs?: number
    }
    const jjCalls = readJjCalls(jjTimer.log)
    return {
      run,
      commits: printed.details?.commits ?? 0,
      files: printed.details?.files ?? 0,
      predecessors: printed.details?.predecessors ?? 0,
      jjCpuMs: jjCalls.reduce((sum, call) => sum + call.cpuMs, 0),
      jjPeakKb: Math.max(0, ...jjCalls.map((call) => call.maxRssKb)),
      jjProcesses: jjCalls.length
    }
  })

/**
 * On an imported mirror: reconciliations with nothing new (due by setting the last full comparison back), against
 * jj's own listing of the visible commit ids; then one new operation at a time, in this process.
 */
const afterImport = (repository: string, schema: string, runs: number) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(SyncLive.pipe(Layer.provideMerge(DatabaseLive))).pipe(
      Effect.withConfigProvider(configFor(schema))
    )
    const sync = Context.get(context, SyncService)
    const sql = Context.get(context, SqlClient.SqlClient)
    const target = { path: repository, owner, name: "merges" }
    const reconcileMs: Array<number> = []
    const idsMs: Array<number> = []
    for (let round = 0; round <= 3; round++) {
      yield* sql`UPDATE repositories SET last_full_sync_at = now() - interval '1 day'`
      const reconciled = yield* timed(sync.syncPath(target))
      if (reconciled.value.fullReason !== "reconciliation") {
        return yield* Effect.dieMessage(`expected a reconciliation, got ${reconciled.value.mode}`)
      }
      const [operationId] = yield* headOf(repository)
      const ids = yield* timed(output(
        "jj log ids",
        Command.make(
          jjBin,
          ...pinnedAt(repository, operationId!, [
            "log",
            "-r",
            "all() ~ root()",
            "--no-graph",
            "-T",
            `commit_id ++ "\\n"`
          ])
        ).pipe(Command.env({ JJ_CONFIG: jjConfigDir }))
      ))
      // The first round warms caches.
      if (round > 0) {
        reconcileMs.push(reconciled.ms)
        idsMs.push(ids.ms)
      }
    }
    const oneOpMs: Array<number> = []
    const oneOpCpu: Array<CpuSplit> = []
    for (let round = 0; round <= runs; round++) {
      jjSync(repository, "describe", "-m", `bench: one new operation ${round}`)
      const synced = yield* timed(sync.syncPath(target))
      if (round > 0) {
        oneOpMs.push(synced.ms)
        oneOpCpu.push(synced.cpu)
      }
    }
    return {
      reconcile: summarize(reconcileMs),
      ids: summarize(idsMs),
      oneOp: summarize(oneOpMs),
      oneOpJjCpuMs: cpuMean(oneOpCpu).grandchildren
    }
  })

/**
 * The first import of a merge-heavy history (shape a): merges' emptiness read apart by parallel jj processes (our
 * way), and in the one listing (`JJ_MERGE_READERS=0`, the way before), in the same run.
 */
const measureMergeHeavy = (size: number, runs: number) =>
  Effect.gen(function*() {
    const repo = yield* Effect.promise(() => generatedRepo(size, "merge-heavy"))
    const base = makeBase(`sync-merges-${size}`)
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
    const repository = path.join(base, owner, "merges")
    fs.cpSync(repo.path, repository, { recursive: true })
    // A fresh copy makes the first jj process pay for cold caches (seconds of system time at this size): one jj
    // listing with every merge's emptiness first, so that both ways start warm.
    const [operationId] = yield* headOf(repository)
    yield* output(
      "jj warm-up",
      Command.make(jjBin, ...pinnedAt(repository, operationId!, ["log", "-r", "merges()", "-T", "empty"])).pipe(
        Command.env({ JJ_CONFIG: jjConfigDir })
      )
    )
    const ours = yield* importMerges(repository, base, "parallel", {})
    const inline = yield* importMerges(repository, base, "inline", { JJ_MERGE_READERS: "0" })
    const fill = yield* fillMerges(repository, base, ours.schema)
    const after = yield* afterImport(repository, ours.schema, runs)
    const lines = [
      `\n== merge-heavy history, first import (${count(ours.result.counts.changes)} commits, ${
        count(ours.emptiness.merges)
      } merges; ${repo.generated ? "generated now" : "cached"}: git fast-import ${
        seconds(repo.fastImportMs)
      }, jj git init ${seconds(repo.jjImportMs)})`,
      row("", "merges apart", "merges inline", "inline / apart")
    ]
    const rate = (r: typeof ours) => perSecond(r.result.counts.changes, r.result.durationMs)
    const jjCpu = (r: typeof ours) => r.jjCalls.reduce((sum, call) => sum + call.cpuMs, 0)
    const jjPeak = (r: typeof ours) => Math.max(0, ...r.jjCalls.map((call) => call.maxRssKb))
    lines.push(
      row(
        "import",
        seconds(ours.result.durationMs),
        seconds(inline.result.durationMs),
        `${fixed(inline.result.durationMs / ours.result.durationMs)}x`
      ),
      row("import throughput", `${count(rate(ours))} commits/s`, `${count(rate(inline))} commits/s`),
      row("CPU, jj processes", seconds(jjCpu(ours)), seconds(jjCpu(inline))),
      row("CPU, jj-watcher process", seconds(ours.run.cpuMs), seconds(inline.run.cpuMs)),
      row("jj processes", String(ours.jjCalls.length), String(inline.jjCalls.length)),
      row("peak RSS, jj-watcher", mb(ours.run.maxRssKb), mb(inline.run.maxRssKb)),
      row("peak RSS, largest jj", mb(jjPeak(ours)), mb(jjPeak(inline))),
      // Our process and one emptiness reader per core at most at once (the listing ends before they start).
      row(
        "peak RSS, all (bound)",
        mb(ours.run.maxRssKb + os.availableParallelism() * jjPeak(ours)),
        mb(inline.run.maxRssKb + jjPeak(inline))
      ),
      row("empty merges", count(ours.emptiness.empty), count(inline.emptiness.empty)),
      `${
        ours.emptiness.empty === inline.emptiness.empty ? "same" : "DIFFERENT"
      } emptiness both ways; target >= 5,000 commits/s: ${rate(ours) >= 5_000 ? "PASS" : "FAIL"} (${
        count(rate(ours))
      })`,
      `details fill of the import (files with line counts, predecessors), after it committed: ${
        count(fill.commits)
      } commits, ${count(fill.files)} change_files rows, ${count(fill.predecessors)} predecessor rows in ${
        seconds(fill.run.wallMs)
      } (${count(perSecond(fill.commits, fill.run.wallMs))} commits/s; ${fill.jjProcesses} jj processes, CPU jj ${
        seconds(fill.jjCpuMs)
      } + jj-watcher ${seconds(fill.run.cpuMs)}; peak RSS jj-watcher ${mb(fill.run.maxRssKb)}, largest jj ${
        mb(fill.jjPeakKb)
      })`,
      `first import of this history: ${seconds(ours.result.durationMs)} without the details, ${
        seconds(ours.result.durationMs + fill.run.wallMs)
      } until files_complete with them`,
      `reconciliation with nothing new, p50 of 3: ${ms(after.reconcile.p50)}; jj's listing of the visible commit ids ` +
        `alone: ${ms(after.ids.p50)}; ratio ${fixed(after.reconcile.p50 / after.ids.p50, 2)}x (target <= 2x: ${
          after.reconcile.p50 <= 2 * after.ids.p50 ? "PASS" : "FAIL"
        })`,
      `one new operation (jj describe), ${runs} runs after a warm-up: p50 ${ms(after.oneOp.p50)}, p95 ${
        ms(after.oneOp.p95)
      } (target <= 50 ms: ${after.oneOp.p50 <= 50 ? "PASS" : "FAIL"}); CPU of jj's processes per sync, mean: ${
        ms(after.oneOpJjCpuMs)
      }`
    )
    return lines.join("\n")
  }).pipe(Effect.scoped)

/**
 * A long operation log with undos and concurrent operations (shape c): its first sync, then rounds of one plain
 * operation (`jj describe`) and one `jj undo`, each synced in this process.
 */
const measureOpLog = (
  operations: number,
  runs: number,
  small: { readonly oneOpMs: number; readonly jjCpuMs: number } | undefined
) =>
  Effect.gen(function*() {
    const repo = yield* Effect.promise(() => generatedOpLog(operations))
    const base = makeBase(`sync-op-log-${operations}`)
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
    const repository = path.join(base, owner, "op-log")
    fs.cpSync(repo.path, repository, { recursive: true })
    const schema = `bench_op_log_${process.pid}`
    const context = yield* Layer.build(SyncLive.pipe(Layer.provideMerge(DatabaseLive))).pipe(
      Effect.withConfigProvider(configFor(schema))
    )
    const sql = Context.get(context, SqlClient.SqlClient)
    yield* Effect.addFinalizer(() => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`.pipe(Effect.ignore))
    const sync = Context.get(context, SyncService)
    const target = { path: repository, owner, name: "op-log" }
    const first = yield* timed(sync.syncPath(target))
    const plainMs: Array<number> = []
    const undoMs: Array<number> = []
    const plainCpu: Array<CpuSplit> = []
    const undoCpu: Array<CpuSplit> = []
    for (let round = 0; round <= runs; round++) {
      jjSync(repository, "describe", "-m", `bench: plain operation ${round}`)
      const plain = yield* timed(sync.syncPath(target))
      jjSync(repository, "undo")
      const undo = yield* timed(sync.syncPath(target))
      if (round > 0) {
        plainMs.push(plain.ms)
        undoMs.push(undo.ms)
        plainCpu.push(plain.cpu)
        undoCpu.push(undo.cpu)
      }
    }
    const plain = summarize(plainMs)
    const undo = summarize(undoMs)
    const jjPlain = cpuMean(plainCpu).grandchildren
    return [
      `\n== long operation log: ${count(first.value.counts.operations)} operations (undos, concurrent operations), ${
        count(first.value.counts.changes)
      } commits; ${repo.generated ? `generated now in ${seconds(repo.jjImportMs)}` : "cached"}`,
      `first sync ${seconds(first.ms)}; ${runs} rounds after a warm-up of a plain operation and an undo:`,
      `one plain operation p50 ${ms(plain.p50)}, p95 ${ms(plain.p95)} (target <= 50 ms: ${
        plain.p50 <= 50 ? "PASS" : "FAIL"
      }${small === undefined ? "" : `; ${fixed(plain.p50 / small.oneOpMs, 2)}x the 1,000-commit repository's`})`,
      `one undo p50 ${ms(undo.p50)}, p95 ${ms(undo.p95)}; undo / plain ${
        fixed(undo.p50 / plain.p50, 2)
      }x (target <= 2x: ${undo.p50 <= 2 * plain.p50 ? "PASS" : "FAIL"})`,
      `CPU of jj's processes per sync, mean: plain operation ${ms(jjPlain)}${
        small === undefined ? "" : ` (${ms(small.jjCpuMs)} at 1,000 commits)`
      }, undo ${ms(cpuMean(undoCpu).grandchildren)}`
    ].join("\n")
  }).pipe(Effect.scoped)

/**
 * `jj --version`, 50 times: a reference for comparing runs on different machines (a jj process's start-up, which
 * every sync pays once), printed before the results.
 */
const machineReference = Effect.gen(function*() {
  const walls: Array<number> = []
  const cpuBefore = statCpuMs("self", "reaped")
  for (let i = 0; i < 50; i++) {
    const run = yield* timed(output("jj --version", Command.make(jjBin, "--version")))
    walls.push(run.ms)
  }
  const cpu = (statCpuMs("self", "reaped") - cpuBefore) / walls.length
  return `machine reference: jj --version p50 ${ms(summarize(walls).p50)} wall, ${
    ms(cpu)
  } CPU (mean of ${walls.length})`
})

const main = Effect.gen(function*() {
  const { bookmarkHeavy, cpuRuns, mergeHeavy, opLog, runs, sizes, warmup } = yield* BenchConfig
  yield* Console.log(
    `jj ${jjBin}; sizes ${sizes.map(count).join(", ")}; ${runs} one-operation runs per size; ${os.cpus().length} CPUs`
  )
  yield* Console.log(yield* machineReference)
  if (warmup > 0) {
    yield* measure(smallSize, warmup, 0)
    yield* Console.log(
      `warm-up: ${warmup} one-operation syncs of each design on a ${
        count(smallSize)
      }-commit repository, not reported ` +
        `(a daemon that has run a while; BENCH_SYNC_WARMUP=0 measures from a cold start)`
    )
  }
  const results: Array<SizeResult> = []
  for (const size of sizes) {
    const result = yield* measure(size, runs, cpuRuns)
    results.push(result)
    yield* Console.log(report(result))
  }
  yield* Console.log("\n== earlier design / jj-watcher")
  yield* Console.log(
    `${"commits".padStart(9)}  ${"one-op p50".padStart(11)}  ${"one-op p95".padStart(11)}  import throughput`
  )
  for (const r of results) {
    const throughput = importRate(r) / baselineImportRate(r)
    yield* Console.log(
      `${count(r.size).padStart(9)}  ${`${fixed(r.baseline.p50 / r.ours.p50)}x`.padStart(11)}  ${
        `${fixed(r.baseline.p95 / r.ours.p95)}x`.padStart(11)
      }  ${fixed(throughput)}x`
    )
  }
  yield* Console.log("\n== targets")
  for (const line of verdicts(results)) yield* Console.log(line)
  if (bookmarkHeavy > 0) {
    const result = yield* measure(bookmarkHeavy, runs, cpuRuns, "bookmark-heavy")
    yield* Console.log(`\n== bookmark-heavy history: ${count(result.firstSync.result.counts.bookmarks)} bookmark rows`)
    yield* Console.log(report(result))
  }
  if (mergeHeavy > 0) yield* Console.log(yield* measureMergeHeavy(mergeHeavy, runs))
  if (opLog > 0) {
    const small = results.find((r) => r.size === smallSize)
    yield* Console.log(
      yield* measureOpLog(
        opLog,
        runs,
        small && { oneOpMs: small.ours.p50, jjCpuMs: small.oursCpu.grandchildren }
      )
    )
  }
})

main.pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
