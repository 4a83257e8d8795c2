import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, Console, Effect, Option, Redacted, Schedule, Schema, Stream } from "effect"
import { WatcherApi } from "../Api.js"
import { DataDirectory } from "../DataDirectory.js"
import { localTokenFile, readLocalToken } from "../LocalToken.js"
import { RepoDetail, RepoPath, ReposPage, RepoSummary, UnwatchResult, WatcherStatusResponse } from "../Watcher/Api.js"

/**
 * What the daemon commands (`Cli/Daemon.ts`) do: talk to a running `jj-watcher serve` through the client derived from
 * the same `HttpApi` the server serves, and print tables for people or JSON for scripts. Loaded only by those
 * commands, so that the others do not load the HTTP client.
 */

interface ClientOptions {
  readonly url: Option.Option<string>
  readonly token: Option.Option<Redacted.Redacted>
}

export class DaemonRequestFailed extends Schema.TaggedError<DaemonRequestFailed>()("DaemonRequestFailed", {
  message: Schema.String
}) {}

const DaemonConfig = Config.all({
  url: Config.option(Config.string("JJ_WATCHER_URL")),
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.integer("PORT").pipe(Config.withDefault(4000)),
  adminToken: Config.option(Config.redacted("WATCHER_ADMIN_TOKEN"))
})

/** Where the daemon is (`--url` or its default), the token to send (`--token` or its default), and how a failure reads. */
const connectionFor = (options: ClientOptions) =>
  Effect.gen(function*() {
    const config = yield* DaemonConfig
    // A server listening on every interface is reached on the loopback one.
    const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host
    const baseUrl = Option.getOrElse(
      Option.orElse(options.url, () => config.url),
      () => `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`
    )
    const dataDirectory = yield* DataDirectory
    const bearer = Option.isSome(options.token)
      ? options.token
      : Option.isSome(config.adminToken)
      ? config.adminToken
      : yield* readLocalToken(dataDirectory)
    const explain = (error: { readonly _tag: string; readonly message?: string }) => {
      switch (error._tag) {
        case "RequestError":
          return new DaemonRequestFailed({
            message: `cannot reach jj-watcher at ${baseUrl} (is \`jj-watcher serve\` running? --url or JJ_WATCHER_URL)`
          })
        case "Unauthorized":
        case "Forbidden":
          return new DaemonRequestFailed({
            message: `jj-watcher at ${baseUrl} refused the token (${error.message ?? error._tag}); pass --token, ` +
              `set WATCHER_ADMIN_TOKEN, or run as the user whose ${localTokenFile(dataDirectory)} it wrote`
          })
        default:
          return new DaemonRequestFailed({ message: error.message ?? error._tag })
      }
    }
    const authorize = Option.match(bearer, {
      onNone: () => (request: HttpClientRequest.HttpClientRequest) => request,
      onSome: (secret) => HttpClientRequest.bearerToken(Redacted.value(secret))
    })
    return { baseUrl, authorize, explain } as const
  })

/** A client of the daemon at `--url` (or its default) sending `--token` (or its default). */
const clientFor = (options: ClientOptions) =>
  Effect.gen(function*() {
    const { authorize, baseUrl, explain } = yield* connectionFor(options)
    const client = yield* HttpApiClient.make(WatcherApi, {
      baseUrl,
      transformClient: HttpClient.mapRequest(authorize)
    })
    /** A call of the client, its failures said as one line each. */
    const call = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.mapError(effect, (error) => explain(error as { readonly _tag: string; readonly message?: string }))
    return { client, call } as const
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** One server-sent event: its id, its name and its data. */
interface ServerSentEvent {
  readonly id: string | undefined
  readonly event: string
  readonly data: string
}

/** The events of a `text/event-stream` body, its comments left out. */
const serverSentEvents = <E, R>(body: Stream.Stream<Uint8Array, E, R>): Stream.Stream<ServerSentEvent, E, R> =>
  Stream.suspend(() => {
    let fields: Array<string> = []
    return body.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.filterMap((line) => {
        if (line !== "") {
          if (!line.startsWith(":")) fields.push(line)
          return Option.none()
        }
        const block = fields
        fields = []
        const field = (name: string) =>
          block.filter((entry) => entry.startsWith(`${name}:`)).map((entry) => entry.slice(name.length + 1).trimStart())
        return block.length === 0 ? Option.none() : Option.some({
          id: field("id").at(-1),
          event: field("event").at(-1) ?? "message",
          data: field("data").join("\n")
        })
      })
    )
  })

/**
 * `jj-watcher events`: follows the daemon's change feed, printing each event's JSON on a line of its own; after a
 * lost connection it reconnects with the last cursor it printed, so nothing is missed or printed twice.
 */
export const events = (
  options: ClientOptions & { readonly repository: Option.Option<string>; readonly after: Option.Option<number> }
) =>
  Effect.gen(function*() {
    const { authorize, baseUrl, explain } = yield* connectionFor(options)
    const client = yield* HttpClient.HttpClient
    let cursor = Option.getOrUndefined(options.after)
    const follow = Effect.gen(function*() {
      const request = HttpClientRequest.get(`${baseUrl}/api/watcher/events`).pipe(
        HttpClientRequest.setUrlParams({
          ...(cursor === undefined ? {} : { after: String(cursor) }),
          ...Option.match(options.repository, { onNone: () => ({}), onSome: (repository) => ({ repository }) })
        }),
        authorize
      )
      const response = yield* client.execute(request).pipe(Effect.mapError(explain))
      if (response.status !== 200) {
        const body = yield* response.json.pipe(Effect.orElseSucceed(() => ({})))
        return yield* explain({
          _tag: response.status === 401 ? "Unauthorized" : response.status === 403 ? "Forbidden" : "Refused",
          message: `${response.status}: ${(body as { readonly message?: string }).message ?? "refused"}`
        })
      }
      yield* serverSentEvents(response.stream).pipe(
        Stream.mapError(explain),
        Stream.runForEach((event) =>
          event.event === "sync"
            ? Effect.zipRight(
              Console.log(event.data),
              Effect.sync(() => (cursor = event.id === undefined ? cursor : Number(event.id)))
            )
            : event.event === "error"
            ? Effect.fail(
              new DaemonRequestFailed({
                message: (JSON.parse(event.data) as { readonly message?: string }).message ?? event.data
              })
            )
            : Effect.void
        )
      )
    }).pipe(Effect.scoped)
    // A connection that ends or drops is opened again from the last event printed; a refusal ends the command.
    yield* follow.pipe(
      Effect.catchIf(
        (error) => error.message.startsWith("cannot reach"),
        (error) => Effect.logDebug(error.message)
      ),
      Effect.repeat(Schedule.spaced("1 second"))
    )
  }).pipe(Effect.provide(FetchHttpClient.layer))

const parseRepository = (value: string) => {
  const [user, repo, ...rest] = value.split("/")
  const invalid = () => new DaemonRequestFailed({ message: `expected OWNER/NAME, got ${JSON.stringify(value)}` })
  return rest.length === 0 ? Effect.mapError(Schema.decodeUnknown(RepoPath)({ user, repo }), invalid) : invalid()
}

/** Rows as a plain text table, columns padded to their widest cell. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)))
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd())
    .join("\n")
}

const ago = (date: Date | null, now: number) => {
  if (date === null) return "never"
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000))
  return seconds < 60 ?
    `${seconds}s ago` :
    seconds < 3600 ?
    `${Math.round(seconds / 60)}m ago` :
    `${Math.round(seconds / 3600)}h ago`
}

const shortId = (id: string | null) => id === null ? "-" : id.slice(0, 12)

const printJson = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Effect.flatMap(Schema.encode(schema)(value), (encoded) => Console.log(JSON.stringify(encoded, null, 2)))

export const status = (options: ClientOptions & { readonly json: boolean }) =>
  Effect.gen(function*() {
    const { call, client } = yield* clientFor(options)
    const status = yield* call(client.watcher.status())
    if (options.json) return yield* printJson(WatcherStatusResponse, status)
    const down = status.dependenciesDown.map((entry) => `${entry.dependency} (${entry.reason})`).join(", ")
    yield* Console.log(
      table(["", ""], [
        ["version", status.version],
        ["instance", `${status.instanceId} (${status.instances} live, ${status.leases} leases held here)`],
        ["running", String(status.running)],
        ["watched repositories", String(status.watchedRepos)],
        ["syncs succeeded / failed", `${status.syncsSucceeded} / ${status.syncsFailed}`],
        ["in flight / queued", `${status.inFlight} / ${status.queueDepth}`],
        ["native events", `${status.nativeEvents ? "on" : "off"} (${status.nativelyWatched} watched natively)`],
        ["not answering", down === "" ? "none" : `${down}: syncing paused`],
        ["uptime", `${status.uptimeSeconds} s`]
      ]).split("\n").slice(1).join("\n")
    )
  })

const summaryRow = (repo: RepoSummary, now: number) => [
  `${repo.user}/${repo.repo}`,
  repo.watching ? "yes" : repo.watched ? "listed" : "no",
  ago(repo.lastSyncedAt, now),
  shortId(repo.lastSyncedOperationId),
  repo.leaseOwner ?? "-",
  String(repo.consecutiveFailures),
  (repo.lastError ?? "").split("\n")[0]!.slice(0, 60)
]

export const repos = (options: ClientOptions & { readonly json: boolean }) =>
  Effect.gen(function*() {
    const { call, client } = yield* clientFor(options)
    const repos: Array<RepoSummary> = []
    let cursor: number | undefined = undefined
    do {
      const page: ReposPage = yield* call(client.watcher.listRepos({ urlParams: { cursor, limit: 1000 } }))
      repos.push(...page.repos)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    const everything = new ReposPage({ repos, nextCursor: null })
    if (options.json) return yield* printJson(ReposPage, everything)
    const now = Date.now()
    yield* Console.log(
      table(
        ["REPOSITORY", "WATCHING", "LAST SYNC", "OPERATION", "OWNER", "FAILURES", "LAST ERROR"],
        repos.map((repo) => summaryRow(repo, now))
      )
    )
  })

export const repo = (options: ClientOptions & { readonly json: boolean; readonly repository: string }) =>
  Effect.gen(function*() {
    const path = yield* parseRepository(options.repository)
    const { call, client } = yield* clientFor(options)
    const detail = yield* call(client.watcher.getRepo({ path }))
    if (options.json) return yield* printJson(RepoDetail, detail)
    const counts = Object.entries(detail.counts).map(([kind, n]) => `${kind} ${n}`).join(", ")
    yield* Console.log(
      table(["", ""], [
        ["repository", `${detail.user}/${detail.repo}`],
        ["path", detail.path],
        ["watching", detail.watching ? "yes" : detail.watched ? "listed, not watched by this daemon" : "no"],
        ["synced by", detail.leaseOwner ?? "no instance holds its lease"],
        ["last sync", `${ago(detail.lastSyncedAt, Date.now())} at operation ${shortId(detail.lastSyncedOperationId)}`],
        ["rows", counts],
        [
          "commit details",
          `files ${detail.details.files}, predecessors ${detail.details.predecessors}${
            detail.details.complete ? "" : ` (${detail.details.pendingCommits} commits still to read)`
          }`
        ],
        ["operation heads", String(detail.operationHeads.length)],
        ["failures", String(detail.consecutiveFailures)],
        ["last error", detail.lastError ?? "none"]
      ]).split("\n").slice(1).join("\n")
    )
  })

export const watch = (options: ClientOptions & { readonly json: boolean; readonly repository: string }) =>
  Effect.gen(function*() {
    const path = yield* parseRepository(options.repository)
    const { call, client } = yield* clientFor(options)
    const repo = yield* call(client.watcher.watch({ path }))
    if (options.json) return yield* printJson(RepoSummary, repo)
    yield* Console.log(`watching ${repo.user}/${repo.repo} at ${repo.path}`)
  })

export const unwatch = (
  options: ClientOptions & { readonly json: boolean; readonly repository: string; readonly purge: boolean }
) =>
  Effect.gen(function*() {
    const path = yield* parseRepository(options.repository)
    const { call, client } = yield* clientFor(options)
    const result = yield* call(client.watcher.unwatch({ path, urlParams: { purge: options.purge } }))
    if (options.json) return yield* printJson(UnwatchResult, result)
    yield* Console.log(
      `${result.user}/${result.repo} is off the watch list${result.purged ? "; its rows are deleted" : ""}`
    )
  })
