import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Exit } from "effect"
import fs from "node:fs"
import path from "node:path"
import { allColumns, kindTables } from "../src/Sync/Columns.js"
import { rowVersions } from "./support/database.js"
import { makeTestLayer } from "./support/database.js"
import {
  changeIdOf,
  commitIdOf,
  git,
  headOperation,
  initRepo,
  jj,
  makeBaseDir,
  snapshotDotJj,
  writeFile
} from "./support/jj.js"
import { expectMirrorsJj } from "./support/oracle.js"
import { sync } from "./support/sync.js"

const base = makeBaseDir("sync")

layer(makeTestLayer("sync"), { timeout: "120 seconds" })("sync mirrors jj exactly", (it) => {
  it.effect("each mirrored table has exactly the columns its spec lists, and its key", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // Migrations run on the layer's first use: sync once so the tables exist in this file's schema.
      yield* sync(initRepo(base, "spec", "tables"))
      for (const spec of Object.values(kindTables)) {
        const columns = yield* sql<{ columnName: string; dataType: string }>`
          SELECT column_name, format_type(atttypid, atttypmod) AS data_type FROM information_schema.columns
          JOIN pg_attribute ON attrelid = ${spec.table}::regclass AND attname = column_name
          WHERE table_schema = current_schema() AND table_name = ${spec.table}`
        expect(columns.map((c) => c.columnName).sort(), spec.table).toEqual([...allColumns(spec)].sort())
        const types = new Map(
          columns.map((c) => [c.columnName, c.dataType.replace("timestamp with time zone", "timestamptz")])
        )
        for (const column of spec.read) expect(types.get(column.name), `${spec.table}.${column.name}`).toBe(column.type)
        const [key] = yield* sql<{ columns: Array<string> }>`
          SELECT array_agg(a.attname::text ORDER BY k.n) AS columns
          FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a
          WHERE i.indrelid = ${spec.table}::regclass AND (i.indisunique) AND a.attrelid = i.indrelid
            AND a.attnum = k.attnum
          GROUP BY i.indexrelid`
        expect(key?.columns, `${spec.table} key`).toEqual(["repository_id", ...spec.key])
      }
    }))

  it.effect("an empty repository", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "empty")
      const result = yield* sync(repo)
      expect(result.owner).toBe("alice")
      expect(result.name).toBe("empty")
      expect(result.upToDate).toBe(false)
      expect(result.operationId).toBe(headOperation(repo))
      expect(result.counts).toEqual({ changes: 1, bookmarks: 0, operations: 2, conflicts: 0, tags: 0, workspaces: 1 })
      yield* expectMirrorsJj(result.repositoryId, repo)
    }))

  it.effect("linear history, then rewrites (describe, rebase, abandon) leave no old rows", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "linear")
      for (const n of [1, 2, 3]) {
        writeFile(repo, `file${n}.txt`, `content ${n}\n`)
        jj(repo, "commit", "-m", `commit ${n}\n\nwith a body line`)
      }
      const first = yield* sync(repo)
      expect(first.counts.changes).toBe(4)
      yield* expectMirrorsJj(first.repositoryId, repo)
      const [c1, c2, c3] = ["@---", "@--", "@-"].map((revset) => changeIdOf(repo, revset))
      const before = [c1, c2, c3].map((change) => commitIdOf(repo, change!))

      jj(repo, "describe", "-r", c2!, "-m", "commit 2, reworded")
      jj(repo, "rebase", "-r", c3!, "-d", "root()")
      jj(repo, "abandon", c1!)
      const second = yield* sync(repo)
      expect(second.previousOperationId).toBe(first.operationId)
      const mirror = yield* expectMirrorsJj(second.repositoryId, repo)
      const stored = mirror.changes.map((c) => c.commitId)
      for (const old of before) expect(stored).not.toContain(old)
      expect(mirror.changes.map((c) => c.changeId)).not.toContain(c1)
      expect(second.written.changes).toBeGreaterThan(0)
    }))

  it.effect("merges keep their parents in order", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "merges")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "left")
      const left = changeIdOf(repo, "@-")
      jj(repo, "new", "root()", "-m", "right")
      const right = changeIdOf(repo, "@")
      writeFile(repo, "b.txt", "b\n")
      jj(repo, "new", left, right, "-m", "merge")
      const result = yield* sync(repo)
      const mirror = yield* expectMirrorsJj(result.repositoryId, repo)
      const merge = mirror.changes.find((c) => c.description === "merge\n")
      expect(merge?.parentCommitIds).toEqual([commitIdOf(repo, left), commitIdOf(repo, right)])
    }))

  it.effect("a divergent change is stored as two rows with one change id", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "divergent")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "base")
      const op = headOperation(repo)
      const changeId = changeIdOf(repo, "@-")
      jj(repo, "describe", "-r", "@-", "-m", "version A")
      jj(repo, "--at-op", op, "--ignore-working-copy", "describe", "-r", "@-", "-m", "version B")
      jj(repo, "log", "-r", "@") // lets jj merge the concurrent operations
      const result = yield* sync(repo)
      const mirror = yield* expectMirrorsJj(result.repositoryId, repo)
      const divergent = mirror.changes.filter((c) => c.changeId === changeId)
      expect(divergent).toHaveLength(2)
      expect(divergent.every((c) => c.isDivergent)).toBe(true)
    }))

  it.effect("a conflict is recorded, then kept as resolved once resolved", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "conflict")
      writeFile(repo, "f.txt", "base\n")
      jj(repo, "commit", "-m", "base")
      const baseChange = changeIdOf(repo, "@-")
      writeFile(repo, "f.txt", "one\n")
      jj(repo, "commit", "-m", "one")
      const one = changeIdOf(repo, "@-")
      jj(repo, "new", baseChange, "-m", "two")
      writeFile(repo, "f.txt", "two\n")
      jj(repo, "new", one, "@", "-m", "merge")
      const conflicted = yield* sync(repo)
      const before = yield* expectMirrorsJj(conflicted.repositoryId, repo)
      expect(before.conflicts).toEqual([
        expect.objectContaining({ filePath: "f.txt", sides: 2, resolved: false, resolvedAt: null })
      ])
      expect(conflicted.counts.conflicts).toBe(1)

      writeFile(repo, "f.txt", "resolved\n")
      jj(repo, "status")
      const resolved = yield* sync(repo)
      const after = yield* expectMirrorsJj(resolved.repositoryId, repo)
      expect(after.conflicts).toEqual([
        expect.objectContaining({ filePath: "f.txt", resolved: true, resolvedAt: expect.any(Date) })
      ])
      expect(resolved.counts.conflicts).toBe(0)
    }))

  it.effect("bookmarks created, moved, deleted; a conflicted bookmark", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "bookmarks")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      writeFile(repo, "b.txt", "b\n")
      jj(repo, "commit", "-m", "two")
      jj(repo, "bookmark", "create", "main", "-r", "@--")
      jj(repo, "bookmark", "create", "feature/x", "-r", "@-")
      jj(repo, "bookmark", "create", "doomed", "-r", "@-")
      const created = yield* sync(repo)
      const first = yield* expectMirrorsJj(created.repositoryId, repo)
      expect(first.bookmarks.filter((b) => b.remote === "")).toHaveLength(3)
      expect(first.bookmarks.find((b) => b.name === "main" && b.remote === "")?.isDefault).toBe(true)
      expect(first.bookmarks.find((b) => b.name === "feature/x" && b.remote === "")?.isDefault).toBe(false)

      jj(repo, "bookmark", "set", "main", "-r", "@-")
      jj(repo, "bookmark", "delete", "doomed")
      const moved = yield* sync(repo)
      const second = yield* expectMirrorsJj(moved.repositoryId, repo)
      expect(second.bookmarks.find((b) => b.name === "main" && b.remote === "")?.targetCommitIds).toEqual([
        commitIdOf(repo, "@-")
      ])
      expect(second.bookmarks.some((b) => b.name === "doomed")).toBe(false)

      const op = headOperation(repo)
      jj(repo, "bookmark", "set", "feature/x", "-r", "@--", "--allow-backwards")
      jj(repo, "--at-op", op, "--ignore-working-copy", "bookmark", "set", "feature/x", "-r", "@", "--allow-backwards")
      jj(repo, "log", "-r", "@")
      const conflicted = yield* sync(repo)
      const third = yield* expectMirrorsJj(conflicted.repositoryId, repo)
      const feature = third.bookmarks.find((b) => b.name === "feature/x" && b.remote === "")
      expect(feature?.isConflicted).toBe(true)
      expect(feature?.targetCommitIds.length).toBeGreaterThanOrEqual(2)
      expect(feature?.targetChangeId).toBeNull()
    }))

  it.effect("remote bookmarks from a bare git remote, fetched", () =>
    Effect.gen(function*() {
      const remote = path.join(base, "remote.git")
      git(base, "init", "--bare", "--initial-branch=main", remote)
      const work = path.join(base, "git-work")
      git(base, "clone", remote, work)
      fs.writeFileSync(path.join(work, "readme"), "hello\n")
      git(work, "add", "readme")
      git(work, "-c", "user.name=Git", "-c", "user.email=git@example.com", "commit", "-m", "initial")
      git(work, "push", "origin", "HEAD:main", "HEAD:feature")

      fs.mkdirSync(path.join(base, "bob"), { recursive: true })
      jj(path.join(base, "bob"), "git", "clone", remote, "cloned")
      const repo = path.join(base, "bob", "cloned")
      const cloned = yield* sync(repo)
      const first = yield* expectMirrorsJj(cloned.repositoryId, repo)
      expect(first.bookmarks.find((b) => b.name === "main" && b.remote === "origin")?.isTracked).toBe(true)
      expect(first.bookmarks.find((b) => b.name === "feature" && b.remote === "origin")?.isTracked).toBe(false)

      fs.writeFileSync(path.join(work, "readme"), "hello again\n")
      git(work, "-c", "user.name=Git", "-c", "user.email=git@example.com", "commit", "-am", "second")
      git(work, "push", "origin", "HEAD:main")
      jj(repo, "git", "fetch")
      const fetched = yield* sync(repo)
      const second = yield* expectMirrorsJj(fetched.repositoryId, repo)
      expect(second.bookmarks.find((b) => b.name === "main" && b.remote === "origin")?.targetCommitIds).toEqual([
        git(work, "rev-parse", "HEAD").trim()
      ])
    }))

  it.effect("undo and redo mark operations undone as jj does", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "undo")
      jj(repo, "new", "-m", "one")
      jj(repo, "new", "-m", "two")
      const two = headOperation(repo)
      jj(repo, "undo")
      const undo = headOperation(repo)
      const undone = yield* sync(repo)
      const afterUndo = yield* expectMirrorsJj(undone.repositoryId, repo)
      const flags = (mirror: typeof afterUndo) => new Map(mirror.operations.map((o) => [o.operationId, o]))
      expect(flags(afterUndo).get(two)?.isUndone).toBe(true)
      expect(flags(afterUndo).get(undo)?.isUndone).toBe(false)
      expect(flags(afterUndo).get(undo)?.operationType).toBe("undo")
      expect(afterUndo.operations.filter((o) => o.isUndone)).toHaveLength(1)

      jj(repo, "redo")
      const redo = headOperation(repo)
      const redone = yield* sync(repo)
      const afterRedo = yield* expectMirrorsJj(redone.repositoryId, repo)
      expect(flags(afterRedo).get(two)?.isUndone).toBe(false)
      expect(flags(afterRedo).get(undo)?.isUndone).toBe(true)
      expect(flags(afterRedo).get(redo)?.isUndone).toBe(false)
      expect(flags(afterRedo).get(redo)?.operationType).toBe("redo")
    }))

  it.effect("a secondary workspace reads the shared store", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "carol", "main-ws")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "shared")
      jj(repo, "workspace", "add", "--name", "second", "../second-ws")
      const secondary = path.join(base, "carol", "second-ws")
      expect(fs.statSync(path.join(secondary, ".jj", "repo")).isFile()).toBe(true)
      const result = yield* sync(secondary)
      expect(result.name).toBe("second-ws")
      const mirror = yield* expectMirrorsJj(result.repositoryId, secondary)
      expect(mirror.operations.some((o) => o.description.includes("add workspace"))).toBe(true)
    }))

  it.effect("a missing path or a non-jj directory fails clearly and writes nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [{ n: before }] = (yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM repositories`) as unknown as [
        { n: number }
      ]
      const missing = yield* Effect.exit(sync(path.join(base, "nobody", "nothing")))
      expect(missing).toEqual(Exit.fail(expect.objectContaining({ _tag: "RepositoryPathNotFound" })))
      const plain = path.join(base, "dave", "plain")
      fs.mkdirSync(plain, { recursive: true })
      const notJj = yield* Effect.exit(sync(plain))
      expect(notJj).toEqual(Exit.fail(expect.objectContaining({ _tag: "NotAJjRepository" })))
      const corrupt = path.join(base, "dave", "corrupt")
      fs.mkdirSync(path.join(corrupt, ".jj", "repo"), { recursive: true })
      const corruptExit = yield* Effect.exit(sync(corrupt))
      expect(corruptExit).toEqual(Exit.fail(expect.objectContaining({ _tag: "NotAJjRepository" })))
      const [{ n: after }] = (yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM repositories`) as unknown as [
        { n: number }
      ]
      expect(after).toBe(before)
    }))

  it.effect("a sync writes nothing in .jj but jj's read caches (names, sizes, link targets, mtimes)", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "erin", "untouched")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      writeFile(repo, "unsnapshotted.txt", "not yet seen by jj\n")
      const before = snapshotDotJj(repo)
      expect(Object.keys(before).length).toBeGreaterThan(10)
      yield* sync(repo)
      expect(snapshotDotJj(repo)).toEqual(before)
      jj(repo, "--ignore-working-copy", "describe", "-r", "@-", "-m", "one, reworded")
      const afterWork = snapshotDotJj(repo)
      yield* sync(repo)
      yield* sync(repo, { full: true })
      expect(snapshotDotJj(repo)).toEqual(afterWork)
    }))

  it.effect("a second sync with nothing new writes nothing, even a full one", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "erin", "quiet")
      writeFile(repo, "f.txt", "base\n")
      jj(repo, "commit", "-m", "base")
      jj(repo, "bookmark", "create", "main", "-r", "@-")
      const first = yield* sync(repo)
      const versions = yield* rowVersions(first.repositoryId)
      const second = yield* sync(repo)
      expect(second.upToDate).toBe(true)
      expect(second.written).toEqual({ changes: 0, bookmarks: 0, operations: 0, conflicts: 0, tags: 0, workspaces: 0 })
      expect(yield* rowVersions(first.repositoryId)).toEqual(versions)
      const full = yield* sync(repo, { full: true })
      expect(full.upToDate).toBe(false)
      expect(full.written).toEqual({ changes: 0, bookmarks: 0, operations: 0, conflicts: 0, tags: 0, workspaces: 0 })
      expect((yield* rowVersions(first.repositoryId)).filter((row) => row.table !== "repositories")).toEqual(
        versions.filter((row) => row.table !== "repositories")
      )
    }))

  describe("concurrent operations", () => {
    it.effect("with two op heads, reads the latest without merging them, then converges", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "frank", "concurrent")
        writeFile(repo, "a.txt", "a\n")
        jj(repo, "commit", "-m", "base")
        const op = headOperation(repo)
        jj(repo, "describe", "-r", "@-", "-m", "first")
        jj(repo, "--at-op", op, "--ignore-working-copy", "describe", "-r", "@-", "-m", "second")
        const heads = fs.readdirSync(path.join(repo, ".jj", "repo", "op_heads", "heads")).sort()
        expect(heads).toHaveLength(2)
        const divergent = yield* sync(repo)
        expect(divergent.divergentOperations).toBe(true)
        expect([...divergent.operationHeads].sort()).toEqual(heads)
        expect(heads).toContain(divergent.operationId)
        // jj's op heads are untouched: no merge operation was written.
        expect(fs.readdirSync(path.join(repo, ".jj", "repo", "op_heads", "heads")).sort()).toEqual(heads)

        jj(repo, "log", "-r", "@")
        const merged = yield* sync(repo)
        expect(merged.divergentOperations).toBe(false)
        expect(merged.operationId).toBe(headOperation(repo))
        yield* expectMirrorsJj(merged.repositoryId, repo)
      }))
  })
})

layer(makeTestLayer("sync_limit", { WATCHER_MAX_CHANGES: "2" }), { timeout: "120 seconds" })(
  "maxChanges",
  (it) => {
    it.effect("a sync that hits WATCHER_MAX_CHANGES says so", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "gina", "limited")
        for (const n of [1, 2, 3]) {
          writeFile(repo, `f${n}`, `${n}\n`)
          jj(repo, "commit", "-m", `c${n}`)
        }
        const result = yield* sync(repo)
        expect(result.changesTruncated).toBe(true)
        expect(result.counts.changes).toBe(2)
      }))
  }
)
