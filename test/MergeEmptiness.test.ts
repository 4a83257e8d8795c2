import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { makeTestLayer } from "./support/database.js"
import { changeIdOf, initRepo, jj, jjLog, makeBaseDir, writeFile } from "./support/jj.js"
import { expectMirrorsJj } from "./support/oracle.js"
import { sync } from "./support/sync.js"

/**
 * Whether a merge is empty is read apart from the listing by `JJ_MERGE_READERS` parallel jj processes, each over its
 * own part of the history; the mirror is the same as when it is read in the listing (0), and as jj says.
 */

const base = makeBaseDir("merges")

/** Empty merges, a merge with changes of its own, a conflicted merge and an octopus merge, on two branches. */
const mergeHistory = (name: string) => {
  const repo = initRepo(base, "merges", name)
  writeFile(repo, "shared.txt", "base\n")
  jj(repo, "commit", "-m", "base")
  const tips: Array<string> = []
  for (const side of ["a", "b", "c"]) {
    jj(repo, "new", "-m", `side ${side}`, changeIdOf(repo, "@-"))
    writeFile(repo, `dir/${side}/file.txt`, `${side}\n`)
    tips.push(changeIdOf(repo, "@"))
  }
  const [a, b, c] = tips as [string, string, string]
  for (let round = 0; round < 3; round++) {
    jj(repo, "new", "-m", `empty merge ${round}`, a, b)
    writeFile(repo, `dir/a/round${round}.txt`, `${round}\n`)
    jj(repo, "new", "-m", `on a ${round}`, a)
  }
  jj(repo, "new", "-m", "merge with changes of its own", a, c)
  writeFile(repo, "own.txt", "own\n")
  jj(repo, "new", "-m", "octopus", a, b, c)
  // Both sides change the same line: the merge is conflicted.
  jj(repo, "new", "-m", "left", a)
  writeFile(repo, "shared.txt", "left\n")
  const left = changeIdOf(repo, "@")
  jj(repo, "new", "-m", "right", b)
  writeFile(repo, "shared.txt", "right\n")
  jj(repo, "new", "-m", "conflicted merge", left, changeIdOf(repo, "@"))
  return repo
}

const mergesOf = (repo: string) => jjLog(repo).filter((change) => change.parentCommitIds.length > 1)

describe("merge emptiness", () => {
  for (const readers of ["3", "0"]) {
    layer(makeTestLayer(`merges-${readers}`, { JJ_MERGE_READERS: readers }), { timeout: "120 seconds" })(
      `JJ_MERGE_READERS=${readers}`,
      (it) => {
        it.effect("every merge's emptiness is jj's, in a first import and after new merges", () =>
          Effect.gen(function*() {
            const repo = mergeHistory(`history-${readers}`)
            const merges = mergesOf(repo)
            // Enough merges for three parts, empty and non-empty ones among them.
            expect(merges.length).toBeGreaterThanOrEqual(6)
            expect(new Set(merges.map((merge) => merge.isEmpty))).toEqual(new Set([true, false]))
            const first = yield* sync(repo)
            expect(first.mode).toBe("full")
            yield* expectMirrorsJj(first.repositoryId, repo)

            jj(repo, "new", "-m", "one more merge", "description(exact:'side a\n')", "description(exact:'side c\n')")
            const next = yield* sync(repo)
            expect(next.mode).toBe("incremental")
            yield* expectMirrorsJj(next.repositoryId, repo)
            const full = yield* sync(repo, { full: true })
            expect(full.written).toEqual({
              changes: 0,
              bookmarks: 0,
              operations: 0,
              conflicts: 0,
              tags: 0,
              workspaces: 0
            })
          }))
      }
    )
  }
})
