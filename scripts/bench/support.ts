import { Command } from "@effect/platform"
import { Data, Effect, Stream } from "effect"
import { execFileSync, spawn } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import pg from "pg"
import { localServerUrl } from "../../src/Database.js"
import { pinnedArgs } from "../../src/JjClient.js"
import { cacheDirectory } from "../../src/JjClient/Binary.js"

/** Shared by the benchmarks: the pinned jj, a jj configuration for making test operations, statistics. */

const scriptsDir = path.resolve(import.meta.dirname, "..")

/** A directory of the benchmarks' cache, beside the jj releases `install-jj.sh` builds (`JJ_CACHE_DIR`). */
export const benchCache = (name: string) => path.join(cacheDirectory(), name)

export const jjBin = process.env["JJ_BIN"] ??
  execFileSync("bash", [path.join(scriptsDir, "install-jj.sh")], { encoding: "utf8" }).trim().split("\n").at(-1)!

/**
 * The benchmarks measure against this machine's PostgreSQL (`DATABASE_URL`, else its standard port), and so do the
 * processes they start, which inherit it.
 */
export const databaseUrl = process.env["DATABASE_URL"] ??= localServerUrl

export const jjConfigDir = (() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-bench-config-"))
  fs.writeFileSync(path.join(dir, "config.toml"), `user.name = "Bench"\nuser.email = "bench@example.com"\n`)
  return dir
})()

/**
 * A pinned read as a person would run it, pointed at the repository with `--repository` (jj-watcher runs its reads in a
 * read view instead): for jj's own cost, and the earlier design's calls.
 */
export const pinnedAt = (repository: string, operationId: string, rest: ReadonlyArray<string>) => [
  "--repository",
  repository,
  ...pinnedArgs(operationId, rest)
]

/** Runs jj without blocking the event loop, so an in-process watcher keeps reacting. */
export const jj = (cwd: string, ...args: Array<string>) =>
  Command.make(jjBin, ...args).pipe(
    Command.workingDirectory(cwd),
    Command.env({ JJ_CONFIG: jjConfigDir }),
    Command.string
  )

/**
 * A shell in `cwd` that runs jj commands on request: the jj processes are started by it, not by this process, so an
 * in-process watcher's event loop does not pay for starting them (as it would not in production, where jj runs in
 * the user's own processes). `run` resolves with the time jj exited, read off the shell's clock and given on
 * `performance.now()`'s scale (both clocks are the system's).
 */
export const jjShell = (cwd: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      // One line per command, its arguments words without spaces (the shell splits the line).
      const script = `while IFS= read -r line; do read -r -a words <<<"$line"; "$JJ" "\${words[@]}" >/dev/null 2>&1; ` +
        `echo "$? $EPOCHREALTIME"; done`
      const child = spawn("bash", ["-c", script], {
        cwd,
        env: { ...process.env, JJ: jjBin, JJ_CONFIG: jjConfigDir, LC_ALL: "C" },
        stdio: ["pipe", "pipe", "inherit"]
      })
      const waiting: Array<(line: string) => void> = []
      let buffered = ""
      child.stdout.setEncoding("utf8").on("data", (data: string) => {
        buffered += data
        for (let end = buffered.indexOf("\n"); end !== -1; end = buffered.indexOf("\n")) {
          waiting.shift()?.(buffered.slice(0, end))
          buffered = buffered.slice(end + 1)
        }
      })
      const run = (...args: Array<string>) =>
        Effect.async<number, CommandFailed>((resume) => {
          if (args.some((arg) => /\s/.test(arg) || arg === "")) {
            return resume(Effect.dieMessage(`jjShell takes words without spaces: ${JSON.stringify(args)}`))
          }
          waiting.push((line) => {
            const [code, seconds] = line.split(" ")
            resume(
              code === "0"
                ? Effect.succeed(Number(seconds) * 1000 - performance.timeOrigin)
                : Effect.fail(new CommandFailed({ label: `jj ${args.join(" ")}`, exitCode: Number(code), stderr: "" }))
            )
          })
          child.stdin.write(`${args.join(" ")}\n`)
        })
      return { child, run }
    }),
    ({ child }) => Effect.sync(() => child.stdin.end())
  )

export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly label: string
  readonly exitCode: number
  readonly stderr: string
}> {
  get message() {
    return `${this.label} exited ${this.exitCode}: ${this.stderr.trim()}`
  }
}

/** A command's stdout; fails with its stderr when it exits non-zero (`Command.string` ignores the exit code). */
export const output = (label: string, command: Command.Command) =>
  Effect.scoped(Effect.gen(function*() {
    const process = yield* Command.start(command)
    const [stdout, stderr, exitCode] = yield* Effect.all([
      process.stdout.pipe(Stream.decodeText(), Stream.mkString),
      process.stderr.pipe(Stream.decodeText(), Stream.mkString),
      process.exitCode
    ], { concurrency: "unbounded" })
    if (exitCode !== 0) return yield* new CommandFailed({ label, exitCode, stderr: stderr.slice(-4_000) })
    return stdout
  }))

/** jj's stdout; its stderr (jj's messages) is kept out of the benchmark's report, and shown only when it fails. */
export const jjSync = (cwd: string, ...args: Array<string>) =>
  execFileSync(jjBin, args, {
    cwd,
    env: { ...process.env, JJ_CONFIG: jjConfigDir },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"]
  })

export const makeBase = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `jj-watcher-bench-${label}-`))

/** One repository made with jj, then copied: copies are complete jj repositories and cost no jj start-up each. */
export const makeRepos = (base: string, count: number, perOwner = 100): Array<string> => {
  const template = path.join(base, ".template")
  fs.mkdirSync(template, { recursive: true })
  jjSync(template, "git", "init", "repo")
  const paths: Array<string> = []
  for (let i = 0; i < count; i++) {
    const repo = path.join(base, `owner${Math.floor(i / perOwner)}`, `repo${i}`)
    fs.mkdirSync(path.dirname(repo), { recursive: true })
    fs.cpSync(path.join(template, "repo"), repo, { recursive: true })
    paths.push(repo)
  }
  return paths
}

export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

export const summarize = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) }
}

export const fixed = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "n/a"

export const headOf = (repo: string) =>
  Effect.sync(() => fs.readdirSync(path.join(repo, ".jj", "repo", "op_heads", "heads")))

/** The child processes of `pid` (for this process, `self`'s children), from /proc. */
const childrenOf = (pid: string): Array<string> =>
  fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter((child) => child.length > 0)

/** CPU milliseconds used so far by this process, by its child processes themselves, and by their reaped children. */
export interface CpuSplit {
  readonly self: number
  /** jj's launcher (and any other child of this process), its own CPU. */
  readonly children: number
  /** The processes the children reaped: the jj processes the launcher started. */
  readonly grandchildren: number
}

/**
 * CPU used so far by this process and its child processes (jj's launcher, with the jj processes it has reaped), from
 * /proc, apart: differences of it around a sync give the sync's CPU, all its processes counted, and jj's share of it.
 */
export const cpuSplit = (): CpuSplit => {
  const self = process.cpuUsage()
  const children = childrenOf(String(process.pid))
  return {
    self: (self.user + self.system) / 1000,
    children: children.reduce((sum, pid) => sum + statCpuMs(pid, "own"), 0),
    grandchildren: children.reduce((sum, pid) => sum + statCpuMs(pid, "reaped"), 0)
  }
}

/** `cpuSplit`'s total: all the processes counted. */
export const cpuTotal = (split: CpuSplit) => split.self + split.children + split.grandchildren

/** The mean of CPU splits, part by part (zeros for none). */
export const cpuMean = (splits: ReadonlyArray<CpuSplit>): CpuSplit => {
  const n = Math.max(1, splits.length)
  const sum = (part: keyof CpuSplit) => splits.reduce((total, split) => total + split[part], 0) / n
  return { self: sum("self"), children: sum("children"), grandchildren: sum("grandchildren") }
}

/** CPU used between two `cpuSplit` readings, part by part. */
export const cpuBetween = (before: CpuSplit, after: CpuSplit): CpuSplit => ({
  self: after.self - before.self,
  children: after.children - before.children,
  grandchildren: after.grandchildren - before.grandchildren
})

/**
 * CPU milliseconds used so far by a process and its children, with the processes they reaped (`jj-watcher serve`:
 * its own, its launcher's and the jj processes the launcher ran).
 */
export const processTreeCpuMs = (pid: string) =>
  statCpuMs(pid, "own") + statCpuMs(pid, "reaped") +
  childrenOf(pid).reduce((sum, child) => sum + statCpuMs(child, "own") + statCpuMs(child, "reaped"), 0)

/** CPU milliseconds used so far by the PostgreSQL server's processes now running (its backends, its workers). */
export const postgresCpuMs = () =>
  fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).reduce((sum, pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres" ? sum + statCpuMs(pid, "own") : sum
    } catch {
      return sum // gone meanwhile
    }
  }, 0)

/**
 * A process's CPU milliseconds from /proc/<pid>/stat (clock ticks of 1/100 s, USER_HZ): its own (utime, stime), or
 * its reaped children's (cutime, cstime).
 */
export const statCpuMs = (pid: string, which: "own" | "reaped") => {
  // After the command name, utime, stime, cutime and cstime are the 12th to 15th fields.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  const fields = which === "own" ? [11, 12] : [13, 14]
  return fields.reduce((sum, i) => sum + Number(stat[i] ?? 0), 0) * 10
}

const cliBin = path.resolve(scriptsDir, "../dist/bin.js")

/**
 * Starts the built `jj-watcher serve` over `base` in a schema of its own, on a free port, with `token` as its admin
 * token and `env` on top of this process's environment; resolves once it listens. With `ownSession`, it runs in a
 * session of its own, as a service does: the kernel then shares the processor between its processes and this one's
 * as groups, not process by process (autogroups; systemd gives services a cgroup of their own to the same effect).
 * `bin` is another build's CLI instead of this one's (an earlier commit's: `bench/checkout.ts`).
 */
export const startServe = (
  base: string,
  schema: string,
  token: string,
  env: Record<string, string> = {},
  ownSession = false,
  bin = cliBin
) =>
  new Promise<{ child: ReturnType<typeof spawn>; port: number }>((resolve, reject) => {
    const child = spawn(bin, ["serve", "--repos", base], {
      env: { ...process.env, DATABASE_SCHEMA: schema, JJ_BIN: jjBin, PORT: "0", WATCHER_ADMIN_TOKEN: token, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: ownSession
    })
    let log = ""
    const onData = (chunk: Buffer) => {
      log += String(chunk)
      const match = /Listening on http:\/\/[^:]+:(\d+)/.exec(log)
      if (match) resolve({ child, port: Number(match[1]) })
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${log}`)))
  })

/** Stops a `startServe` process (SIGTERM, waiting for it to exit) and drops its schema. */
export const stopServe = async (child: ReturnType<typeof spawn>, schema: string) => {
  child.removeAllListeners("exit")
  const exited = new Promise((resolve) => child.on("exit", resolve))
  child.kill("SIGTERM")
  await exited
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end())
}
