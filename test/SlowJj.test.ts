import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import fs from "node:fs"
import path from "node:path"
import { Watcher } from "../src/Watcher.js"
import { makeTestLayer } from "./support/database.js"
import { eventually } from "./support/eventually.js"
import { initRepo, jj, jjBin, makeBaseDir, writeFile } from "./support/jj.js"
import { headOperation } from "./support/jj.js"
import { repositoryRow, sync } from "./support/sync.js"

/**
 * A slow jj: calls are bounded by inactivity (`JJ_TIMEOUT`: no output for that long), not by their total time, so a
 * jj that keeps writing is left to finish while one that stalls fails clearly and is not retried unchanged; and the
 * daemon's log says how far a long sync got.
 */

const base = makeBaseDir("stall")
const calls = path.join(base, "log-calls.txt")

/** A jj that behaves as the real one, except that its listing of every commit stalls after two lines or is slow. */
const wrapper = (mode: "stall" | "slow") => {
  const script = path.join(base, `jj-${mode}.sh`)
  const log = mode === "stall"
    ? `"${jjBin}" "$@" | head -n 2; exec sleep 30`
    : `"${jjBin}" "$@" | while IFS= read -r line; do printf '%s\\n' "$line"; sleep 0.25; done; exit "\${PIPESTATUS[0]}"`
  fs.writeFileSync(
    script,
    [
      "#!/bin/bash",
      `case "$*" in *"all() ~ root()"*)`,
      `  echo log >> "${calls}"`,
      `  ${log} ;;`,
      "esac",
      `exec "${jjBin}" "$@"`
    ].join("\n"),
    { mode: 0o755 }
  )
  return script
}

const repoWithCommits = (name: string, commits: number) => {
  const repo = initRepo(base, "stall", name)
  for (let n = 0; n < commits; n++) {
    writeFile(repo, `f${n}`, `${n}\n`)
    jj(repo, "commit", "-m", `c${n}`)
  }
  return repo
}

layer(makeTestLayer("stall-slow", { JJ_BIN: wrapper("slow"), JJ_TIMEOUT: "1 second" }), {
  timeout: "120 seconds",
  excludeTestServices: true
})(
  "a slow jj",
  (it) => {
    it.effect("that keeps writing is not cut off, however long it takes in all", () =>
      Effect.gen(function*() {
        // Eight commits at a quarter of a second each: twice the inactivity limit in all.
        const repo = repoWithCommits("slow", 7)
        const result = yield* sync(repo)
        expect(result.counts.changes).toBe(8)
        expect(result.durationMs).toBeGreaterThan(1_000)
      }))
  }
)

layer(makeTestLayer("stall-stuck", { JJ_BIN: wrapper("stall"), JJ_TIMEOUT: "1 second" }), {
  timeout: "120 seconds",
  excludeTestServices: true
})(
  "a stalled jj",
  (it) => {
    it.effect("fails the sync with JjTimeout, once, and writes no mirror", () =>
      Effect.gen(function*() {
        const repo = repoWithCommits("stuck", 5)
        fs.rmSync(calls, { force: true })
        const error = yield* Effect.flip(sync(repo))
        expect(error._tag).toBe("JjTimeout")
        expect(error.message).toMatch(/^jj .* produced no output for 1000 ms$/)
        // Not retried: a stall at the same operation would stall again.
        expect(fs.readFileSync(calls, "utf8").trim().split("\n")).toEqual(["log"])
        const row = yield* repositoryRow("stall", "stuck")
        expect(row?.lastSyncedOperationId).toBeNull()
        expect(row?.lastError).toMatch(/produced no output/)
      }))
  }
)

const logged: Array<string> = []
const captureLogs = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ message }) => {
    logged.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
)
const watchedBase = makeBaseDir("stall-watched")

layer(
  Watcher.Default.pipe(
    Layer.provideMerge(
      makeTestLayer("stall-progress", {
        JJ_BIN: wrapper("slow"),
        REPOS_BASE_PATH: watchedBase,
        WATCHER_PROGRESS_INTERVAL_MS: "1000",
        SYNC_BATCH_SIZE: "2"
      })
    ),
    Layer.provide(captureLogs)
  ),
  { timeout: "120 seconds", excludeTestServices: true }
)("the daemon's log", (it) => {
  it.effect("shows a long sync's progress (rows read, rate); a quick one logs none", () =>
    Effect.gen(function*() {
      const repo = initRepo(watchedBase, "stall", "watched")
      for (let n = 0; n < 7; n++) {
        writeFile(repo, `f${n}`, `${n}\n`)
        jj(repo, "commit", "-m", `c${n}`)
      }
      yield* Watcher
      const synced = (head: string) =>
        eventually(repositoryRow("stall", "watched"), (row) => row?.lastSyncedOperationId === head)
      yield* synced(headOperation(repo))
      const progress = logged.filter((line) => line.startsWith("syncing stall/watched: "))
      expect(progress.length).toBeGreaterThan(0)
      expect(progress[0]).toMatch(
        /^syncing stall\/watched: read changes \d+(, \w+ \d+)* in \d+\.\d s \(\d+ changes\/s\)$/
      )

      // One more operation: an incremental sync, over in well under the interval.
      jj(repo, "new", "-m", "quick")
      yield* synced(headOperation(repo))
      expect(logged.filter((line) => line.startsWith("syncing stall/watched: "))).toEqual(progress)
    }))
})
