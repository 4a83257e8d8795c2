import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { makeTestLayer } from "./support/database.js"
import { changeIdOf, initRepo, jj, jjBin, makeBaseDir, snapshotDotJj, writeFile } from "./support/jj.js"
import { expectMirrorsJj } from "./support/oracle.js"
import { sync } from "./support/sync.js"

/**
 * A repository's jj configuration changes nothing the watcher mirrors, and the watcher's jj never migrates or creates
 * configuration (in the repository or in a home directory). Each case puts a hostile configuration where jj looks
 * for one, syncs, and compares the mirror with jj's own listing of a copy of the repository without it.
 */

const base = makeBaseDir("hostile")

// Aliases that shadow every built-in revset and template function the watcher's templates use, and settings that
// change what jj prints.
const hostileConfig = [
  `[revset-aliases]`,
  `"all()" = "none()"`,
  `"bookmarks()" = "none()"`,
  `"visible_heads()" = "none()"`,
  `"conflicts()" = "none()"`,
  `"root()" = "none()"`,
  `"at_operation(op, x)" = "none()"`,
  `[template-aliases]`,
  `"json(x)" = '"{}"'`,
  `"commit_summary" = '"hostile"'`,
  `[templates]`,
  `op_summary = '"hostile"'`,
  `bookmark_list = '"hostile"'`,
  `[revsets]`,
  `op-diff-changes-in = "none()"`,
  `short-prefixes = "all()"`,
  ""
].join("\n")

/** A history with merges, a conflict and bookmarks, so that every kind has rows a shadowing alias would hide. */
const makeHistory = (owner: string, name: string) => {
  const repo = initRepo(base, owner, name)
  writeFile(repo, "a.txt", "base\n")
  jj(repo, "commit", "-m", "base")
  jj(repo, "bookmark", "create", "main", "-r", "@-")
  writeFile(repo, "a.txt", "left\n")
  jj(repo, "commit", "-m", "left")
  const left = changeIdOf(repo, "@-")
  jj(repo, "new", "main", "-m", "right")
  writeFile(repo, "a.txt", "right\n")
  jj(repo, "new", "@", left, "-m", "merge with a conflict")
  jj(repo, "bookmark", "create", "topic", "-r", "@")
  return repo
}

/** The files a case adds, relative to the workspace; removed from the oracle's copy. */
const configFiles = [".jj/repo/config.toml", ".jj/repo/config-id", ".jj/workspace-config.toml"]

/** jj's own listing of the repository without any of its configuration: a copy with the configuration removed. */
const pristineCopy = (repo: string) => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-hostile-oracle-"))
  fs.cpSync(repo, copy, { recursive: true, verbatimSymlinks: true })
  for (const file of configFiles) fs.rmSync(path.join(copy, file), { force: true })
  return copy
}

/** Syncs (first in full, then once more after new work) and checks each time: exact mirror, nothing written. */
const expectNeutralized = (repo: string, watched: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const before = snapshotDotJj(repo)
    const result = yield* sync(repo)
    expect(result.counts.changes).toBe(4)
    expect(result.counts.bookmarks).toBeGreaterThanOrEqual(2)
    expect(result.counts.conflicts).toBeGreaterThan(0)
    expect(snapshotDotJj(repo), "the sync wrote into .jj").toEqual(before)
    for (const file of watched) expect(fs.lstatSync(path.join(repo, file)).isFile(), `${file} was replaced`).toBe(true)
    expect(fs.existsSync(path.join(repo, ".jj", "repo", "config-id")), "config-id").toBe(
      watched.includes(".jj/repo/config-id")
    )
    yield* expectMirrorsJj(result.repositoryId, pristineCopy(repo))

    // New work (done by the test's own jj without the hostile files), read incrementally with them back in place.
    const saved = watched.map((file) => [file, fs.readFileSync(path.join(repo, file))] as const)
    for (const [file] of saved) fs.rmSync(path.join(repo, file))
    jj(repo, "bookmark", "move", "main", "--to", "topic", "--allow-backwards")
    jj(repo, "new", "main", "-m", "after")
    for (const [file, content] of saved) fs.writeFileSync(path.join(repo, file), content)
    const afterWork = snapshotDotJj(repo)
    const next = yield* sync(repo)
    expect(next.mode).toBe("incremental")
    expect(snapshotDotJj(repo), "the incremental sync wrote into .jj").toEqual(afterWork)
    yield* expectMirrorsJj(next.repositoryId, pristineCopy(repo))
  })

layer(makeTestLayer("hostile"), { timeout: "120 seconds" })("a repository's jj configuration changes nothing", (it) => {
  it.effect("a legacy repository config.toml is neither read nor migrated", () =>
    Effect.gen(function*() {
      const repo = makeHistory("hostile", "legacy-repo")
      writeFile(repo, ".jj/repo/config.toml", hostileConfig)
      yield* expectNeutralized(repo, [".jj/repo/config.toml"])
    }))

  it.effect("a legacy workspace-config.toml is neither read nor migrated", () =>
    Effect.gen(function*() {
      const repo = makeHistory("hostile", "legacy-workspace")
      writeFile(repo, ".jj/workspace-config.toml", hostileConfig)
      yield* expectNeutralized(repo, [".jj/workspace-config.toml"])
    }))

  it.effect("a per-repository config (config-id in the repository, config.toml in a user's config directory)", () =>
    Effect.gen(function*() {
      const repo = makeHistory("hostile", "secure-repo")
      const userConfig = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-hostile-xdg-"))
      // jj itself writes the per-repository configuration, where a user of the repository would find it.
      const configFile = execFileSync(jjBin, ["config", "path", "--repo"], {
        cwd: repo,
        env: { ...process.env, XDG_CONFIG_HOME: userConfig, JJ_CONFIG: "" },
        encoding: "utf8"
      }).trim()
      fs.mkdirSync(path.dirname(configFile), { recursive: true })
      fs.writeFileSync(configFile, hostileConfig)
      expect(fs.existsSync(path.join(repo, ".jj", "repo", "config-id"))).toBe(true)
      const userConfigBefore = fs.readdirSync(userConfig, { recursive: true }).sort()
      yield* expectNeutralized(repo, [".jj/repo/config-id"])
      expect(fs.readdirSync(userConfig, { recursive: true }).sort()).toEqual(userConfigBefore)
    }))
})

describe("system configuration", () => {
  // jj reads /etc/jj when JJ_CONFIG is unset; the watcher always sets it. Writing there needs root, as in CI.
  const writable = (() => {
    try {
      fs.accessSync("/etc", fs.constants.W_OK)
      return true
    } catch {
      return false
    }
  })()
  layer(makeTestLayer("hostile_system"), { timeout: "120 seconds" })("with /etc writable", (it) => {
    it.effect.skipIf(!writable)(
      "hostile system configuration in /etc/jj/conf.d changes nothing",
      () =>
        Effect.gen(function*() {
          const repo = makeHistory("hostile", "system")
          const made = fs.mkdirSync("/etc/jj/conf.d", { recursive: true })
          const file = path.join("/etc/jj/conf.d", `jj-watcher-test-${process.pid}.toml`)
          fs.writeFileSync(file, hostileConfig)
          const cleanUp = Effect.sync(() => {
            fs.rmSync(file, { force: true })
            if (made !== undefined) fs.rmSync(made, { recursive: true, force: true })
          })
          yield* expectNeutralized(repo, []).pipe(Effect.ensuring(cleanUp))
        })
    )
  })
})
