import { afterAll, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import fs from "node:fs"
import http from "node:http"
import type { AddressInfo } from "node:net"
import path from "node:path"
import pg from "pg"
import { testSchemaName } from "./support/database.js"
import { headOperation, initRepo, jj, jjBin, makeBaseDir, writeFile } from "./support/jj.js"
import { databaseUrl } from "./support/sync.js"

const bin = path.resolve(import.meta.dirname, "../dist/bin.js")
const schema = testSchemaName("cli")
const base = makeBaseDir("cli")

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, JJ_BIN: jjBin, ...env }
  })

const query = async <A>(text: string, values: ReadonlyArray<unknown> = []) => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return (await client.query(text, [...values])).rows as Array<A>
  } finally {
    await client.end()
  }
}

afterAll(() => query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))

describe("jj-watcher CLI", () => {
  it("--help lists the commands", () => {
    const result = run(["--help"])
    expect(result.status).toBe(0)
    expect(result.stdout).toContain("sync")
    expect(result.stdout).toContain("migrate")
  })

  it("migrate creates the schema and its tables", async () => {
    const result = run(["migrate"])
    expect(result.stderr).toBe("")
    expect(result.status).toBe(0)
    const tables = await query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
      [schema]
    )
    expect(tables.map((t) => t.tablename)).toEqual(
      expect.arrayContaining(["bookmarks", "changes", "conflicts", "jj_operations", "repositories"])
    )
  })

  it("sync --json prints one object with the operation, counts and duration; owner/name from the path", () => {
    const repo = initRepo(base, "alice", "project")
    writeFile(repo, "a.txt", "a\n")
    jj(repo, "commit", "-m", "first")
    const result = run(["sync", repo, "--json"])
    expect(result.status).toBe(0)
    const output = JSON.parse(result.stdout) as Record<string, unknown>
    expect(output).toMatchObject({
      owner: "alice",
      name: "project",
      operationId: headOperation(repo),
      upToDate: false,
      counts: { changes: 2, bookmarks: 0, operations: 4, conflicts: 0, tags: 0, workspaces: 1 }
    })
    expect(typeof output["durationMs"]).toBe("number")

    const again = run(["sync", repo])
    expect(again.status).toBe(0)
    expect(again.stdout).toMatch(/^alice\/project: already at operation [0-9a-f]{12} in \d+ ms/)
  })

  it("--owner and --name override the path; --kind limits what is mirrored", async () => {
    const repo = initRepo(base, "someone", "dir-name")
    const result = run(["sync", repo, "--owner", "bob", "--name", "renamed", "--kind", "changes", "--json"])
    expect(result.status).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ owner: "bob", name: "renamed", kinds: ["changes"] })
    const [row] = await query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${schema}.jj_operations o JOIN ${schema}.repositories r ON r.id = o.repository_id
       WHERE r.owner = 'bob'`
    )
    expect(row?.n).toBe(0)
  })

  it("fails clearly, writing nothing, for a missing path, a non-jj directory and an unreachable database", async () => {
    const before = await query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.repositories`)
    const missing = run(["sync", path.join(base, "nobody", "nothing")])
    expect(missing.status).not.toBe(0)
    expect(missing.stderr).toContain("no such directory")

    const plain = path.join(base, "carol", "plain")
    fs.mkdirSync(plain, { recursive: true })
    const notJj = run(["sync", plain])
    expect(notJj.status).not.toBe(0)
    expect(notJj.stderr).toContain("not a jj repository")

    const repo = initRepo(base, "carol", "real")
    const noDatabase = run(["sync", repo], { DATABASE_URL: "postgres://postgres@127.0.0.1:1/postgres" })
    expect(noDatabase.status).not.toBe(0)
    expect(noDatabase.stderr).toMatch(/cannot prepare the database.*ECONNREFUSED/)

    const badName = run(["sync", repo, "--owner", "../etc"])
    expect(badName.status).not.toBe(0)
    expect(badName.stderr).toContain("is not a valid name")
    expect(await query(`SELECT count(*)::int AS n FROM ${schema}.repositories`)).toEqual(before)
  })

  it("with OTEL_EXPORTER_OTLP_ENDPOINT set, the sync's spans reach an OTLP/HTTP receiver", async () => {
    const bodies: Array<unknown> = []
    const receiver = http.createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += String(chunk)))
      request.on("end", () => {
        if (request.url === "/v1/traces") bodies.push(JSON.parse(body))
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
    const { port } = receiver.address() as AddressInfo
    const repo = initRepo(base, "otel", "traced")
    const result = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, "sync", repo], {
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          DATABASE_SCHEMA: schema,
          JJ_BIN: jjBin,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`
        }
      })
      let stderr = ""
      child.stderr.on("data", (chunk) => (stderr += String(chunk)))
      child.on("close", (status) => resolve({ status, stderr }))
    })
    receiver.close()
    expect(result.stderr).toBe("")
    expect(result.status).toBe(0)
    interface OtlpSpan {
      readonly name: string
      readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: { readonly stringValue?: string } }>
    }
    const spans = (bodies as Array<{ resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }> }>)
      .flatMap((body) => body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((scope) => scope.spans)))
    const syncSpan = spans.find((span) => span.name === "Sync.syncRepository")
    expect(syncSpan?.attributes).toEqual(expect.arrayContaining([
      { key: "owner", value: { stringValue: "otel" } },
      { key: "name", value: { stringValue: "traced" } }
    ]))
    expect(spans.map((span) => span.name)).toEqual(expect.arrayContaining(["JjClient.operations"]))
  })

  it("a missing jj is reported at start", () => {
    const repo = initRepo(base, "dan", "nojj")
    const result = run(["sync", repo], { JJ_BIN: path.join(base, "no-such-jj") })
    expect(result.status).not.toBe(0)
    expect(result.stderr).toContain("cannot run")
  })
})
