import { spawn } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import pg from "pg"
import { databaseUrl, jjBin, makeBase, makeRepos } from "/work/main/scripts/bench/support.js"
const n = Number(process.env.N ?? 10000)
const q = async (text: string, values: Array<unknown> = []) => { const c = new pg.Client({ connectionString: databaseUrl }); await c.connect(); try { return (await c.query(text, values)).rows } finally { await c.end() } }
const bin = "/work/main/dist/bin.js"
const schema = `scratch_startup_${process.pid}`
let t = performance.now()
const base = process.env.BASE ?? makeBase(`startup-${n}`); const repos = process.env.BASE ? fs.readdirSync(base).filter((o) => o.startsWith("owner")).flatMap((o) => fs.readdirSync(path.join(base, o)).map((r) => path.join(base, o, r))) : makeRepos(base, n)
console.log(`made ${n} repos in ${(performance.now() - t).toFixed(0)} ms`)
await new Promise<void>((res, rej) => spawn(process.execPath, [bin, "migrate"], { env: { ...process.env, DATABASE_SCHEMA: schema }, stdio: "ignore" }).on("exit", (c) => c === 0 ? res() : rej(new Error("migrate"))))
const rows = repos.map((repo) => ({ owner: path.basename(path.dirname(repo)), name: path.basename(repo), path: repo, head: fs.readdirSync(path.join(repo, ".jj", "repo", "op_heads", "heads"))[0]! }))
await q(`INSERT INTO ${schema}.repositories (owner, name, path, last_synced_operation_id, operation_heads, last_synced_at) SELECT owner, name, path, head, ARRAY[head], now() FROM json_to_recordset($1::json) AS r(owner text, name text, path text, head text)`, [JSON.stringify(rows)])
t = performance.now()
const extra = (process.env.NODE_EXTRA ?? "").split(" ").filter((s) => s !== "")
const child = spawn(process.execPath, ["--no-memory-reducer", "--heap-growing-percent=50", ...extra, bin, "serve", "--repos", base], { env: { ...process.env, DATABASE_SCHEMA: schema, JJ_BIN: jjBin, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] })
let log = ""
await new Promise<void>((res) => { const on = (c: Buffer) => { log += String(c); if (/watching \d+ repositories/.test(log)) res() }; child.stdout.on("data", on); child.stderr.on("data", on) })
console.log(`watching after ${(performance.now() - t).toFixed(0)} ms`)
console.log(log.split("\n").filter((l) => l.trim() !== "").slice(0, 8).map((l) => l.slice(0, 200)).join("\n"))
await new Promise<void>((res) => { child.on("exit", () => res()); child.kill("SIGTERM") })
await q(`DROP SCHEMA ${schema} CASCADE`)
