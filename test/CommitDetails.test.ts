import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import fs from "node:fs"
import path from "node:path"
import { detailsOf, makeTestLayer } from "./support/database.js"
import { commitIdOf, initRepo, jj, makeBaseDir, snapshotDotJj, writeFile } from "./support/jj.js"
import { expectDetailsMirrorJj, expectMirrorsJj } from "./support/oracle.js"
import { fillDetails, sync } from "./support/sync.js"

/**
 * The files each commit changed and its predecessors are read once per commit, after the sync that brought it, and
 * equal what jj reports (its git-format patches and `jj evolog`), on first imports and incremental syncs alike.
 */

const base = makeBaseDir("details")

const lines = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix} ${i}`).join("\n") + "\n"

/** Syncs, checks that the details wait, fills them, and compares everything with jj. */
const syncAndFill = (repo: string) =>
  Effect.gen(function*() {
    const result = yield* sync(repo)
    yield* expectMirrorsJj(result.repositoryId, repo)
    const filled = yield* fillDetails(result.repositoryId)
    const details = yield* expectDetailsMirrorJj(result.repositoryId, repo)
    return { result, filled, details }
  })

layer(makeTestLayer("commit_details", { DETAILS_BATCH_SIZE: "3" }), { timeout: "180 seconds" })(
  "commit details",
  (it) => {
    it.effect("files: added, modified, removed, renamed and copied, with line counts, on merges too", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "files", "kinds")
        writeFile(repo, "src/a.txt", lines(20, "a"))
        writeFile(repo, "src/deep/nested/b.txt", lines(5, "b"))
        writeFile(repo, "gone.txt", "bye\n")
        jj(repo, "commit", "-m", "first")
        const first = yield* syncAndFill(repo)
        expect(first.filled.commits).toBeGreaterThan(0)
        expect(first.details.files.filter((f) => f.status === "added").length).toBe(3)

        // Modified (lines added and removed), removed, and renamed with a small edit.
        writeFile(repo, "src/a.txt", lines(20, "a").replace("a 3\n", "changed\n") + "tail\n")
        fs.rmSync(path.join(repo, "gone.txt"))
        fs.renameSync(path.join(repo, "src/deep/nested/b.txt"), path.join(repo, "src/moved.txt"))
        jj(repo, "commit", "-m", "second")
        const second = yield* syncAndFill(repo)
        expect(second.result.mode).toBe("incremental")
        const secondId = commitIdOf(repo, "@-")
        const byPath = new Map(second.details.files.filter((f) => f.commitId === secondId).map((f) => [f.path, f]))
        expect(byPath.get("src/a.txt")).toMatchObject({ status: "modified", linesAdded: 2, linesRemoved: 1 })
        expect(byPath.get("gone.txt")).toMatchObject({ status: "removed", linesAdded: 0, linesRemoved: 1 })
        expect(byPath.get("src/moved.txt")).toMatchObject({
          status: "renamed",
          sourcePath: "src/deep/nested/b.txt"
        })

        // A copy (jj's git backend finds copies of unchanged files when asked for copy records).
        fs.copyFileSync(path.join(repo, "src/a.txt"), path.join(repo, "src/a-copy.txt"))
        jj(repo, "commit", "-m", "copy")
        yield* syncAndFill(repo)

        // A merge of two branches with different files, and a change of its own: its diff is against the
        // auto-merged parents.
        const trunk = commitIdOf(repo, "@-")
        jj(repo, "new", trunk, "-m", "left")
        writeFile(repo, "left.txt", lines(3, "l"))
        jj(repo, "new", trunk, "-m", "right")
        writeFile(repo, "right.txt", lines(4, "r"))
        jj(repo, "new", "description(exact:'left\n')", "description(exact:'right\n')", "-m", "merge")
        writeFile(repo, "merge-only.txt", "m\n")
        jj(repo, "new")
        const merged = yield* syncAndFill(repo)
        const mergeId = commitIdOf(repo, "@-")
        expect(merged.details.files.filter((f) => f.commitId === mergeId).map((f) => f.path)).toEqual([
          "merge-only.txt"
        ])
      }))

    it.effect("predecessors after describe, rebase, squash, split and a divergent rewrite", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "evolution", "steps")
        writeFile(repo, "a.txt", "a\n")
        jj(repo, "describe", "-m", "a")
        const { result } = yield* syncAndFill(repo)
        const original = commitIdOf(repo, "@")

        jj(repo, "describe", "-m", "a, described again")
        const described = yield* syncAndFill(repo)
        const rewritten = commitIdOf(repo, "@")
        expect(described.details.predecessors).toContainEqual(
          expect.objectContaining({ commitId: rewritten, predecessorCommitId: original })
        )

        jj(repo, "new", "-m", "b")
        writeFile(repo, "b.txt", "b\n")
        jj(repo, "new", "-m", "c")
        writeFile(repo, "c.txt", "c\n")
        yield* syncAndFill(repo)
        // Rebase c onto a; squash c into b's change; split a file out.
        jj(repo, "rebase", "-r", "@", "-d", "description(exact:'a, described again\n')")
        yield* syncAndFill(repo)
        jj(repo, "squash", "--from", "@", "--into", "description(exact:'b\n')", "--use-destination-message")
        const squashed = yield* syncAndFill(repo)
        const into = commitIdOf(repo, "description(exact:'b\n')")
        expect(squashed.details.predecessors.filter((p) => p.commitId === into).length).toBe(2)
        writeFile(repo, "d.txt", "d\n")
        writeFile(repo, "e.txt", "e\n")
        jj(repo, "split", "-m", "d only", "d.txt")
        yield* syncAndFill(repo)

        // Two concurrent rewrites of one commit: a divergent change, both commits with the same predecessor.
        const head = jj(repo, "op", "log", "--no-graph", "-n", "1", "-T", "id").trim()
        jj(repo, "--at-operation", head, "describe", "-r", "description(exact:'b\n')", "-m", "b one way")
        jj(repo, "--at-operation", head, "describe", "-r", "description(exact:'b\n')", "-m", "b another way")
        jj(repo, "log", "-r", "@", "--no-graph", "-T", "commit_id")
        const divergent = yield* syncAndFill(repo)
        const sources = divergent.details.predecessors.filter((p) => p.predecessorCommitId === into)
        expect(sources.length).toBe(2)

        // Read-only: the fill wrote nothing into .jj.
        const before = snapshotDotJj(repo)
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO commit_details_pending SELECT repository_id, commit_id FROM changes
          WHERE repository_id = ${result.repositoryId} ON CONFLICT DO NOTHING`
        yield* fillDetails(result.repositoryId)
        expect(snapshotDotJj(repo)).toEqual(before)
        yield* expectDetailsMirrorJj(result.repositoryId, repo)
      }))

    it.effect("a first import waits for its details, filled in batches; rows go with their commits", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "batches", "many")
        for (let i = 0; i < 12; i++) {
          writeFile(repo, `dir${i % 3}/file${i}.txt`, lines(i + 1, `line of ${i}`))
          jj(repo, "commit", "-m", `commit ${i}`)
        }
        const first = yield* sync(repo)
        const waiting = yield* detailsOf(first.repositoryId)
        expect(waiting.complete).toBe(false)
        expect(waiting.files).toEqual([])
        const filled = yield* fillDetails(first.repositoryId)
        expect(filled.commits).toBe(13)
        yield* expectDetailsMirrorJj(first.repositoryId, repo)

        // An abandoned commit takes its rows with it; its rebased child is read anew.
        jj(repo, "abandon", "description(exact:'commit 11\n')")
        const abandoned = yield* sync(repo)
        expect(abandoned.mode).toBe("incremental")
        expect((yield* detailsOf(first.repositoryId)).complete).toBe(false)
        expect((yield* fillDetails(first.repositoryId)).commits).toBe(1)
        const after = yield* expectDetailsMirrorJj(first.repositoryId, repo)
        expect(after.files.some((f) => f.path === "dir2/file11.txt")).toBe(false)

        // Switched off, a kind is not read; switched on again, every held commit is read again.
        yield* sync(repo, { kinds: ["changes", "bookmarks", "operations", "conflicts", "tags", "workspaces"] })
        writeFile(repo, "late.txt", "late\n")
        jj(repo, "commit", "-m", "late")
        yield* sync(repo)
        yield* fillDetails(first.repositoryId)
        const off = yield* detailsOf(first.repositoryId)
        expect(off.complete).toBe(true)
        expect(off.files.some((f) => f.path === "late.txt")).toBe(false)
        const on = yield* sync(repo, {
          kinds: ["changes", "bookmarks", "operations", "conflicts", "tags", "workspaces", "files", "predecessors"]
        })
        expect((yield* detailsOf(on.repositoryId)).complete).toBe(false)
        yield* fillDetails(on.repositoryId)
        yield* expectDetailsMirrorJj(on.repositoryId, repo)
      }))
  }
)

layer(makeTestLayer("commit_details_large"), { timeout: "180 seconds" })("commit details, large batches", (it) => {
  it.effect("a batch of many commits reads files and evolution in two jj processes, with the same rows", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "large", "history")
      for (let i = 0; i < 60; i++) {
        writeFile(repo, `d${i % 4}/f${i % 7}.txt`, lines(i + 2, `v${i}`))
        if (i % 10 === 5) fs.renameSync(path.join(repo, `d${i % 4}/f${i % 7}.txt`), path.join(repo, `moved${i}.txt`))
        jj(repo, "commit", "-m", `commit ${i}`)
        if (i % 15 === 0) jj(repo, "describe", "-r", "@-", "-m", `commit ${i}, described again`)
      }
      const { filled } = yield* syncAndFill(repo)
      expect(filled.commits).toBeGreaterThanOrEqual(61)
    }))
})
