import { execFileSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { freePort } from "./ports.js"

/**
 * A PostgreSQL cluster of a test's own (initdb in a temporary directory, its own port), for faults that would
 * disturb every other test on the machine's server: stopping it with `-m immediate` is a crash as far as clients
 * can tell. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
 */

const binDir = (() => {
  const versions = fs.existsSync("/usr/lib/postgresql")
    ? fs.readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a))
    : []
  for (const version of versions) {
    const dir = path.join("/usr/lib/postgresql", version, "bin")
    if (fs.existsSync(path.join(dir, "initdb"))) return dir
  }
  return undefined
})()

/** Why a private cluster cannot be made here, or undefined when it can. */
export const privatePostgresUnavailable = binDir === undefined
  ? "no PostgreSQL server binaries in /usr/lib/postgresql"
  : undefined

const asRoot = process.getuid?.() === 0

const run = (program: string, args: ReadonlyArray<string>) =>
  execFileSync(
    asRoot ? "runuser" : path.join(binDir!, program),
    asRoot ? ["-u", "postgres", "--", path.join(binDir!, program), ...args] : args,
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }
  )

export interface PrivatePostgres {
  readonly url: string
  /** Kills the server the way a crash would (`pg_ctl stop -m immediate`). */
  readonly crash: () => void
  readonly start: () => void
  /** Stops it for good and removes its data. */
  readonly destroy: () => void
}

export const makePrivatePostgres = async (): Promise<PrivatePostgres> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-pg-"))
  const data = path.join(dir, "data")
  fs.mkdirSync(data)
  if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir])
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
  const port = await freePort()
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  const start = () => run("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "log"), "-w", "start"])
  start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    crash: () => run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]),
    start,
    destroy: () => {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
      } catch {
        // Already stopped.
      }
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
