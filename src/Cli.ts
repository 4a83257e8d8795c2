import { Args, Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Fiber, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { daemonCommands } from "./Cli/Daemon.js"
import { reportFailure } from "./Cli/Report.js"
import { DatabaseConfig, DatabaseLive, withSearchPath } from "./Database.js"
import { DataDirectory } from "./DataDirectory.js"
import { DetailsFill } from "./DetailsFill.js"
import type { DetailsFilled, DetailsProgress } from "./Domain/CommitDetails.js"
import { MirrorKind } from "./Domain/Repository.js"
import type { KindCounts } from "./Domain/Repository.js"
import { SyncResult } from "./Domain/Sync.js"
import { EmbeddedPostgresFailed, runningUrl } from "./EmbeddedPostgres.js"
import { JjClient } from "./JjClient.js"
import { SyncLive } from "./Layers.js"
import { withSettings } from "./Settings.js"
import { SyncService } from "./Sync.js"
import { describeDetails, describeRead } from "./Sync/Progress.js"
import { version } from "./Version.js"

const shortId = (id: string) => id.slice(0, 12)

const summary = (result: SyncResult) => {
  const counts = Object.entries(result.counts).map(([kind, n]) => `${kind} ${n}`).join(", ")
  const what = result.upToDate
    ? `already at operation ${shortId(result.operationId)}`
    : `synced operation ${shortId(result.operationId)} (${
      result.mode === "full" ? `full: ${result.fullReason}` : "incremental"
    })`
  const notes = [
    result.divergentOperations ? ` (jj has ${result.operationHeads.length} concurrent op heads; read the latest)` : "",
    result.changesTruncated ? " (changes truncated at WATCHER_MAX_CHANGES)" : ""
  ].join("")
  return `${result.owner}/${result.name}: ${what} in ${result.durationMs} ms (${counts})${notes}`
}

/** What the details fill did after a sync, for its summary line. */
const detailsSummary = (filled: DetailsFilled | null, pending: number) =>
  filled !== null && filled.commits > 0
    ? `; files and predecessors of ${filled.commits} commits read in ${filled.durationMs} ms`
    : pending > 0
    ? `; files and predecessors of ${pending} commits still to read`
    : ""

const path = Args.directory({ name: "path", exists: "either" }).pipe(
  Args.withDescription("directory of the jj repository (a workspace root)")
)
const owner = Options.text("owner").pipe(
  Options.optional,
  Options.withDescription("owner to record; defaults to the name of the parent directory")
)
const name = Options.text("name").pipe(
  Options.optional,
  Options.withDescription("repository name to record; defaults to the directory's name")
)
const json = Options.boolean("json").pipe(Options.withDescription("print the result as one JSON object"))
const full = Options.boolean("full").pipe(
  Options.withDescription("read and compare everything even when the op head is already synced")
)
const kinds = Options.choice("kind", MirrorKind.literals).pipe(
  Options.repeated,
  Options.withDescription(
    "mirror only these kinds for this repository from now on (repeatable; saved on the repository row)"
  )
)
const noWait = Options.boolean("no-wait").pipe(
  Options.withDescription(
    "do not wait for the files and predecessors of new commits (the next sync, or serve, reads them)"
  )
)

const dataDir = Options.directory("data-dir").pipe(
  Options.withDescription(
    "where jj-watcher keeps its embedded PostgreSQL and local token (JJ_WATCHER_DATA_DIR; used when DATABASE_URL is unset)"
  ),
  Options.optional
)

/**
 * On a terminal, a sync that takes more than a moment (a first import) shows the rows read so far on one stderr line,
 * rewritten in place and cleared at the end.
 */
const withProgressLine = <P, A, E, R>(
  describe: (progress: P) => string,
  run: (onProgress: (progress: P) => Effect.Effect<void>) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    if (process.stderr.isTTY !== true) return yield* run(() => Effect.void)
    let latest: P | undefined
    let shown = false
    const show = Effect.sync(() => {
      if (latest === undefined) return
      shown = true
      process.stderr.write(`\r\x1b[2Kreading… ${describe(latest)}`)
    })
    return yield* Effect.acquireUseRelease(
      show.pipe(Effect.repeat(Schedule.spaced(Duration.millis(250))), Effect.delay(Duration.seconds(1)), Effect.fork),
      () => run((progress) => Effect.sync(() => (latest = { ...progress }))),
      (fiber) => Effect.zipRight(Fiber.interrupt(fiber), Effect.sync(() => shown && process.stderr.write("\r\x1b[2K")))
    )
  })

const syncCommand = Command.make(
  "sync",
  { path, owner, name, json, full, kinds, noWait, dataDir },
  (args) =>
    Effect.gen(function*() {
      yield* JjClient.pipe(Effect.flatMap((jj) => jj.checkVersion))
      const sync = yield* SyncService
      const details = yield* DetailsFill
      const result = yield* withProgressLine((staged: KindCounts) => describeRead(staged), (onProgress) =>
        sync.syncPath({
          path: args.path,
          owner: Option.getOrUndefined(args.owner),
          name: Option.getOrUndefined(args.name),
          kinds: args.kinds.length > 0 ? args.kinds : undefined,
          full: args.full,
          onProgress
        }))
      const filled: DetailsFilled | null = args.noWait ? null : yield* withProgressLine(
        (progress: DetailsProgress) => describeDetails(progress),
        (onProgress) => details.fill(result.repositoryId, onProgress)
      )
      const { pending } = yield* details.counts(result.repositoryId)
      yield* args.json
        ? Console.log(JSON.stringify({
          ...(yield* Schema.encode(SyncResult)(result)),
          details: { ...filled, pendingCommits: pending }
        }))
        : Console.log(`${summary(result)}${detailsSummary(filled, pending)}`)
    }).pipe(
      Effect.provide(SyncLive.pipe(Layer.provide(DatabaseLive))),
      withSettings({ JJ_WATCHER_DATA_DIR: args.dataDir }),
      reportFailure
    )
).pipe(Command.withDescription("Mirror one jj repository into PostgreSQL now, in one transaction"))

// `serve` flags override the environment variable of the same setting; unset flags leave it to the environment.
const serveOptions = {
  repos: Options.text("repos").pipe(
    Options.withDescription("base directory of <owner>/<repo> repositories (REPOS_BASE_PATH, default repos)"),
    Options.optional
  ),
  port: Options.integer("port").pipe(Options.withDescription("HTTP port (PORT, default 4000)"), Options.optional),
  watcher: Options.choice("watcher", ["true", "false"]).pipe(
    Options.withDescription("run the watcher (WATCHER_ENABLED, default true)"),
    Options.optional
  ),
  fsEvents: Options.choice("fs-events", ["true", "false"]).pipe(
    Options.withDescription("use native file-system events (WATCHER_FS_EVENTS, default true)"),
    Options.optional
  ),
  pollIntervalMs: Options.integer("poll-interval-ms").pipe(
    Options.withDescription("WATCHER_POLL_INTERVAL_MS"),
    Options.optional
  ),
  debounceMs: Options.integer("debounce-ms").pipe(Options.withDescription("WATCHER_DEBOUNCE_MS"), Options.optional),
  maxWaitMs: Options.integer("max-wait-ms").pipe(Options.withDescription("WATCHER_MAX_WAIT_MS"), Options.optional),
  concurrency: Options.integer("concurrency").pipe(Options.withDescription("WATCHER_CONCURRENCY"), Options.optional),
  dataDir
}
const serveEnvNames: Record<keyof typeof serveOptions, string> = {
  repos: "REPOS_BASE_PATH",
  port: "PORT",
  watcher: "WATCHER_ENABLED",
  fsEvents: "WATCHER_FS_EVENTS",
  pollIntervalMs: "WATCHER_POLL_INTERVAL_MS",
  debounceMs: "WATCHER_DEBOUNCE_MS",
  maxWaitMs: "WATCHER_MAX_WAIT_MS",
  concurrency: "WATCHER_CONCURRENCY",
  dataDir: "JJ_WATCHER_DATA_DIR"
}

/** The given flags under the names of the settings they override. */
const serveSettings = (flags: Record<keyof typeof serveOptions, Option.Option<string | number>>) =>
  Object.fromEntries(
    (Object.keys(serveEnvNames) as Array<keyof typeof serveOptions>).map((key) => [serveEnvNames[key], flags[key]])
  )

// The watcher and the HTTP server are loaded only by `serve`, so that `sync` and `migrate` stay small processes.
const serve = Effect.promise(() => import("./Serve.js")).pipe(Effect.flatMap((module) => module.serve))

const serveCommand = Command.make("serve", serveOptions, (flags) =>
  serve.pipe(
    withSettings(serveSettings(flags)),
    reportFailure
  )).pipe(Command.withDescription("Watch every jj repository under the base directory and keep PostgreSQL current"))

const migrateCommand = Command.make("migrate", { dataDir }, (args) =>
  Console.log("database schema is up to date").pipe(
    Effect.provide(DatabaseLive),
    withSettings({ JJ_WATCHER_DATA_DIR: args.dataDir }),
    reportFailure
  )).pipe(Command.withDescription("Create the schema and apply pending migrations"))

const databaseUrlCommand = Command.make("database-url", { dataDir }, (args) =>
  Effect.gen(function*() {
    const config = yield* DatabaseConfig
    if (Option.isSome(config.url)) {
      return yield* Console.log(Redacted.value(withSearchPath(config.url.value, config.schema)))
    }
    const directory = yield* DataDirectory
    const url = yield* Option.match(runningUrl(directory), {
      onNone: () =>
        new EmbeddedPostgresFailed({
          message:
            `the embedded PostgreSQL in ${directory} is not running; \`jj-watcher serve\` (or sync, migrate) starts it`
        }),
      onSome: Effect.succeed
    })
    yield* Console.log(Redacted.value(withSearchPath(Redacted.make(url), config.schema)))
  }).pipe(
    withSettings({ JJ_WATCHER_DATA_DIR: args.dataDir }),
    reportFailure
  )).pipe(
    Command.withDescription(
      "Print the URL of the database in use (DATABASE_URL, or the embedded PostgreSQL while it runs), for psql"
    )
  )

export const command = Command.make("jj-watcher").pipe(
  Command.withDescription("Keeps a live copy of jj repositories in PostgreSQL"),
  Command.withSubcommands([
    serveCommand,
    syncCommand,
    migrateCommand,
    databaseUrlCommand,
    ...daemonCommands
  ])
)

export const cli = Command.run(command, { name: "jj-watcher", version })
