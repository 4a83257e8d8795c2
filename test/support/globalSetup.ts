import { execFileSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import pg from "pg"
import { databaseUrl } from "./sync.js"

/**
 * Makes the suite self-sufficient: finds the pinned jj (installing it through scripts/install-jj.sh when neither
 * JJ_BIN nor PATH has it) and checks that PostgreSQL answers, with a clear message when it does not.
 */
export default async function setup() {
  if (process.env["JJ_BIN"] === undefined) {
    const script = path.resolve(import.meta.dirname, "../../scripts/install-jj.sh")
    const output = execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
    process.env["JJ_BIN"] = output.trim().split("\n").at(-1)!
  }
  // The tests, and the jj-watcher processes they start, use this machine's PostgreSQL, never the embedded one (but
  // in the test that is about it).
  process.env["DATABASE_URL"] = databaseUrl
  // And a data directory of their own (local admin tokens of the daemons they start).
  process.env["JJ_WATCHER_DATA_DIR"] = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-test-data-"))
  const client = new pg.Client({ connectionString: databaseUrl })
  try {
    await client.connect()
    await client.query("SELECT 1")
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at DATABASE_URL (${String(error)}); start it or set DATABASE_URL`)
  } finally {
    await client.end().catch(() => undefined)
  }
}
