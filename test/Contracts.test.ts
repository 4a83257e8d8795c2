import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"

/** The HTTP contract a client imports loads no database driver, no jj launcher and no service. */

const root = path.resolve(import.meta.dirname, "..")

/** Every module URL that importing `module` (a path under dist/) resolves, in a fresh Node process. */
const importsOf = (module: string): Array<string> => {
  const record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-imports-")), "imports.txt")
  const result = spawnSync(
    process.execPath,
    ["--import", "./test/support/record-imports.mjs", "--input-type=module", "-e", `await import("./dist/${module}")`],
    { cwd: root, encoding: "utf8", env: { ...process.env, RECORD_IMPORTS_TO: record } }
  )
  expect(result.status, result.stderr).toBe(0)
  return fs.readFileSync(record, "utf8").split("\n").filter((line) => line !== "")
}

const forbidden = [
  /\/node_modules\/pg\//,
  /\/node_modules\/@effect\/sql-pg\//,
  /\/dist\/(JjClient|Database|Repositories|Sync|Watcher|Layers|Auth|Metrics|Http|Serve|Cli)\.js$/,
  /\/dist\/(JjClient|Sync|Operations|migrations)\//,
  /\/dist\/(Watcher|Health|Auth)\/(?!Api\.js$)/
]
const offending = (urls: ReadonlyArray<string>) => urls.filter((url) => forbidden.some((pattern) => pattern.test(url)))

describe("contracts", () => {
  it("the watcher's API group and the whole HttpApi load neither pg nor jj nor any service", () => {
    for (const module of ["Watcher/Api.js", "Api.js", "Domain/Sync.js"]) {
      const urls = importsOf(module)
      expect(urls.some((url) => url.endsWith(`/dist/${module}`)), module).toBe(true)
      expect(offending(urls), module).toEqual([])
    }
  })

  it("the check sees pg and the services where they are loaded", () => {
    const urls = importsOf("Sync.js")
    expect(urls.some((url) => /\/node_modules\/pg\//.test(url))).toBe(true)
    expect(urls.some((url) => url.endsWith("/dist/JjClient.js"))).toBe(true)
  })
})
