import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import type { ChildProcessWithoutNullStreams } from "node:child_process"
import fs from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import pg from "pg"
import { testSchemaName } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { headOperation, initRepo, jj, jjBin, makeBaseDir } from "./support/jj.js"
import { freePort } from "./support/ports.js"
import { databaseUrl } from "./support/sync.js"

/**
 * The CLI talking to a running `serve` with nothing configured for access: `serve` makes a local admin token the CLI
 * reads, and listens on the loopback interface only. Start-up failures are one line each.
 */

const bin = path.resolve(import.meta.dirname, "../dist/bin.js")
const schema = testSchemaName("cli_daemon")
const base = makeBaseDir("cli-daemon")
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-cli-daemon-"))
const repo = initRepo(base, "ann", "tool")
initRepo(base, "ann", "other")

// No admin token, no JWT key: as a user who configured nothing would run it (the database is the machine's).
const { WATCHER_ADMIN_TOKEN: _, WATCHER_JWT_SECRET: __, WATCHER_JWT_PUBLIC_KEY: ___, HOST: ____, ...clean } =
  process.env
const env = {
  ...clean,
  DATABASE_URL: databaseUrl,
  DATABASE_SCHEMA: schema,
  JJ_BIN: jjBin,
  JJ_WATCHER_DATA_DIR: dataDir
}

let daemon: ChildProcessWithoutNullStreams | undefined
afterAll(async () => {
  daemon?.kill("SIGTERM")
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()
})

describe("the CLI and a running daemon", () => {
  it.live("status, repos, repo, watch and unwatch with the local token; loopback only", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const cli = (...args: ReadonlyArray<string>) =>
        spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env: { ...env, PORT: String(port) } })
      daemon = spawn(process.execPath, [bin, "serve", "--repos", base, "--port", String(port)], {
        env: { ...env, LOG_FORMAT: "json" }
      })
      let output = ""
      let errors = ""
      daemon.stdout.on("data", (chunk) => (output += String(chunk)))
      daemon.stderr.on("data", (chunk) => (errors += String(chunk)))
      yield* eventually(Effect.sync(() => output), (text) => text.includes("Listening on"), "30 seconds")
      expect(output).toContain(`Listening on http://127.0.0.1:${port}`)
      // The log names the token's file, never the token.
      const tokenFile = path.join(dataDir, "admin-token")
      const token = fs.readFileSync(tokenFile, "utf8").trim()
      expect(token.length).toBeGreaterThan(20)
      expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600)
      expect(output).toContain(tokenFile)
      expect(output).not.toContain(token)
      yield* eventually(
        Effect.sync(() => cli("repo", "ann/tool", "--json")),
        (result) => result.status === 0 && JSON.parse(result.stdout).lastSyncedOperationId === headOperation(repo)
      )

      const status = cli("status")
      expect(status.stderr).toBe("")
      expect(status.stdout).toMatch(/watched repositories\s+2/)
      expect(JSON.parse(cli("status", "--json").stdout)).toMatchObject({ running: true, watchedRepos: 2 })

      const repos = cli("repos")
      expect(repos.stdout.split("\n")[0]).toMatch(/^REPOSITORY\s+WATCHING\s+LAST SYNC\s+OPERATION/)
      expect(repos.stdout).toMatch(/ann\/tool\s+yes/)
      const listed = JSON.parse(cli("repos", "--json").stdout) as { repos: Array<{ user: string; repo: string }> }
      expect(listed.repos.map((r) => `${r.user}/${r.repo}`).sort()).toEqual(["ann/other", "ann/tool"])

      jj(repo, "new", "-m", "seen by the daemon")
      yield* eventually(
        Effect.sync(() => JSON.parse(cli("repo", "ann/tool", "--json").stdout).lastSyncedOperationId),
        (id) => id === headOperation(repo)
      )
      expect(cli("repo", "ann/tool").stdout).toMatch(/rows\s+changes \d+, bookmarks \d+, operations \d+/)
      // The log: one JSON object per line, one line per committed sync (read as it arrives).
      const messages = () =>
        // Complete lines only: the last one may still be arriving.
        output.split("\n").slice(0, -1).map((line) => String((JSON.parse(line) as { message: unknown }).message))
      const synced = (mode: string) =>
        new RegExp(`^synced ann/tool at [0-9a-f]{12} \\(${mode}\\), wrote .* in \\d+ ms$`)
      yield* eventually(
        Effect.sync(messages),
        (lines) =>
          lines.some((line) => synced("incremental").test(line)) &&
          lines.some((line) => synced("full: first-sync").test(line))
      )
      expect(errors).toBe("")

      // The change feed, followed as JSON lines: replayed from the start, then live.
      const follower = spawn(process.execPath, [bin, "events", "--after", "0", "--repository", "ann/tool"], {
        env: { ...env, PORT: String(port) }
      })
      let followed = ""
      follower.stdout.on("data", (chunk) => (followed += String(chunk)))
      const feedLines = () =>
        followed.split("\n").slice(0, -1).map((line) => JSON.parse(line) as { id: number; repository: string })
      yield* eventually(Effect.sync(feedLines), (lines) => lines.length >= 2)
      jj(repo, "describe", "-m", "followed live")
      yield* eventually(
        Effect.sync(feedLines),
        (lines) => lines.some((line) => JSON.stringify(line).includes(headOperation(repo)))
      )
      follower.kill("SIGTERM")
      const ids = feedLines().map((line) => line.id)
      expect(new Set(feedLines().map((line) => line.repository))).toEqual(new Set(["ann/tool"]))
      expect([...ids].sort((a, b) => a - b)).toEqual(ids)

      expect(cli("unwatch", "ann/other").stdout).toContain("ann/other is off the watch list")
      expect(JSON.parse(cli("repo", "ann/other", "--json").stdout)).toMatchObject({ watched: false, watching: false })
      expect(cli("watch", "ann/other").stdout).toContain("watching ann/other")

      // Clear one-line failures: unknown repository, a wrong token, no daemon there.
      const missing = cli("repo", "ann/nothing")
      expect(missing.status).not.toBe(0)
      expect(missing.stderr).toBe("jj-watcher: ann/nothing: no such repository\n")
      const refused = cli("status", "--token", "wrong")
      expect(refused.status).not.toBe(0)
      expect(refused.stderr).toContain("refused the token")
      const nobody = cli("status", "--url", "http://127.0.0.1:1")
      expect(nobody.status).not.toBe(0)
      expect(nobody.stderr).toContain("cannot reach jj-watcher at http://127.0.0.1:1")
    }), { timeout: 90_000 })

  it("serve on a port in use says so on one line and exits non-zero", async () => {
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve))
    const { port } = holder.address() as net.AddressInfo
    const result = spawnSync(process.execPath, [bin, "serve", "--repos", base, "--port", String(port)], {
      encoding: "utf8",
      env
    })
    holder.close()
    expect(result.status).not.toBe(0)
    expect(result.stderr).toBe(
      `jj-watcher: cannot listen on 127.0.0.1:${port}: the port is in use; choose another with --port or PORT\n`
    )
  })
})
