import { Args, Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { reportFailure } from "./Report.js"

/**
 * Commands that talk to a running `jj-watcher serve`: `status`, `repos`, `repo`, `watch`, `unwatch`, `events`. What they do is
 * in `Cli/DaemonClient.ts`, loaded when one of them runs.
 */

const url = Options.text("url").pipe(
  Options.withDescription("the daemon's address (JJ_WATCHER_URL; default http://HOST:PORT, HOST 127.0.0.1, PORT 4000)"),
  Options.optional
)
const token = Options.redacted("token").pipe(
  Options.withDescription("an admin token (default WATCHER_ADMIN_TOKEN, else the local token `serve` wrote)"),
  Options.optional
)
const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of a table"))
const repository = Args.text({ name: "OWNER/NAME" }).pipe(Args.withDescription("a repository, as owner/name"))
const purge = Options.boolean("purge").pipe(Options.withDescription("also delete its mirrored rows"))
const repositoryFilter = Options.text("repository").pipe(
  Options.withDescription("only this repository's events (owner/name)"),
  Options.optional
)
const after = Options.integer("after").pipe(
  Options.withDescription("replay the events after this cursor (an event id) first"),
  Options.optional
)

const client = Effect.promise(() => import("./DaemonClient.js"))

export const daemonCommands = [
  Command.make(
    "status",
    { url, token, json },
    (options) => Effect.flatMap(client, (run) => run.status(options)).pipe(reportFailure)
  ).pipe(
    Command.withDescription("Show the running daemon's status")
  ),
  Command.make(
    "repos",
    { url, token, json },
    (options) => Effect.flatMap(client, (run) => run.repos(options)).pipe(reportFailure)
  ).pipe(
    Command.withDescription("List the repositories the daemon knows")
  ),
  Command.make(
    "repo",
    { repository, url, token, json },
    (options) => Effect.flatMap(client, (run) => run.repo(options)).pipe(reportFailure)
  ).pipe(
    Command.withDescription("Show one repository: its last sync and the rows its mirror holds")
  ),
  Command.make(
    "watch",
    { repository, url, token, json },
    (options) => Effect.flatMap(client, (run) => run.watch(options)).pipe(reportFailure)
  ).pipe(
    Command.withDescription("Put a repository under the base directory on the watch list")
  ),
  Command.make(
    "unwatch",
    { repository, url, token, json, purge },
    (options) => Effect.flatMap(client, (run) => run.unwatch(options)).pipe(reportFailure)
  ).pipe(
    Command.withDescription("Take a repository off the watch list (its rows stay unless --purge)")
  ),
  Command.make(
    "events",
    { repository: repositoryFilter, after, url, token },
    (options) => Effect.flatMap(client, (run) => run.events(options)).pipe(reportFailure)
  ).pipe(
    Command.withDescription("Follow the change feed: one JSON line per committed sync, replayed after --after")
  )
] as const
