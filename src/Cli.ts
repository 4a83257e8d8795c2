import { Args, Command, Options } from "@effect/cli"
import { Cause, Console, Effect, Layer, Option, Schema } from "effect"
import { DatabaseLive } from "./Database.js"
import { SyncKind } from "./Domain/Repository.js"
import { JjClient } from "./JjClient.js"
import { SyncResult, SyncService } from "./Sync.js"
import packageJson from "../package.json" with { type: "json" }

const shortId = (id: string) => id.slice(0, 12)

const summary = (result: SyncResult) => {
  const counts = Object.entries(result.counts).map(([kind, n]) => `${kind} ${n}`).join(", ")
  const what = result.upToDate
    ? `already at operation ${shortId(result.operationId)}`
    : `synced operation ${shortId(result.operationId)}`
  const notes = [
    result.divergentOperations ? ` (jj has ${result.operationHeads.length} concurrent op heads; read the latest)` : "",
    result.changesTruncated ? " (changes truncated at WATCHER_MAX_CHANGES)" : ""
  ].join("")
  return `${result.owner}/${result.name}: ${what} in ${result.durationMs} ms (${counts})${notes}`
}

/** Prints the failure as one clear line and fails, so the process exits non-zero. */
const reportFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tapErrorCause(effect, (cause) => {
    const failure = Cause.failureOption(cause)
    const message = Option.match(failure, {
      onNone: () => Cause.pretty(cause),
      onSome: (error) => error instanceof Error ? error.message : String(error)
    })
    return Console.error(`jj-watcher: ${message}`)
  })

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
const kinds = Options.choice("kind", SyncKind.literals).pipe(
  Options.repeated,
  Options.withDescription(
    "mirror only these kinds for this repository from now on (repeatable; saved on the repository row)"
  )
)

const syncCommand = Command.make("sync", { path, owner, name, json, full, kinds }, (args) =>
  Effect.gen(function*() {
    yield* JjClient.pipe(Effect.flatMap((jj) => jj.checkVersion))
    const sync = yield* SyncService
    const result = yield* sync.syncPath({
      path: args.path,
      owner: Option.getOrUndefined(args.owner),
      name: Option.getOrUndefined(args.name),
      kinds: args.kinds.length > 0 ? args.kinds : undefined,
      full: args.full
    })
    yield* args.json
      ? Console.log(JSON.stringify(yield* Schema.encode(SyncResult)(result)))
      : Console.log(summary(result))
  }).pipe(
    Effect.provide(Layer.merge(SyncService.Default, JjClient.Default)),
    reportFailure
  )).pipe(Command.withDescription("Mirror one jj repository into PostgreSQL now, in one transaction"))

const migrateCommand = Command.make("migrate", {}, () =>
  Console.log("database schema is up to date").pipe(
    Effect.provide(DatabaseLive),
    reportFailure
  )).pipe(Command.withDescription("Create the schema and apply pending migrations"))

export const command = Command.make("jj-watcher").pipe(
  Command.withDescription("Keeps a live copy of jj repositories in PostgreSQL"),
  Command.withSubcommands([syncCommand, migrateCommand])
)

export const cli = Command.run(command, { name: "jj-watcher", version: packageJson.version })
