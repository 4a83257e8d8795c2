import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import fs from "node:fs"
import path from "node:path"
import { prometheusText } from "../src/Metrics.js"
import { maxKeptHeads } from "../src/Sync/VisibleHeads.js"
import { makeTestLayer } from "./support/database.js"
import { changeIdOf, commitIdOf, headOperation, initRepo, jj, jjBin, makeBaseDir, writeFile } from "./support/jj.js"
import { expectMirrorsJj } from "./support/oracle.js"
import { repositoryRow, sync } from "./support/sync.js"

/** When a sync reads only the difference, when it falls back to reading everything, and what it reports. */

const base = makeBaseDir("incremental")

// The real clock: reconciliation compares it with timestamps PostgreSQL wrote.
layer(makeTestLayer("incremental"), { timeout: "120 seconds", excludeTestServices: true })("incremental sync", (it) => {
  it.effect("the first sync is full; later ones read only the difference and say so", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "steps")
      const first = yield* sync(repo)
      expect([first.mode, first.fullReason]).toEqual(["full", "first-sync"])
      const row = yield* repositoryRow(first.repositoryId)
      expect(row.syncedWith).toMatch(
        /^jj \d+\.\d+\.\d+; format \d+; kinds changes,bookmarks,operations,conflicts,tags,workspaces$/
      )
      expect(row.lastFullSyncAt).not.toBeNull()

      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      jj(repo, "bookmark", "set", "main", "-r", "@-")
      const second = yield* sync(repo)
      expect([second.mode, second.fullReason, second.upToDate]).toEqual(["incremental", null, false])
      expect(second.previousOperationId).toBe(first.operationId)
      // The snapshot rewrote the working-copy commit: one row gone, two new (the commit and the new @).
      expect(second.written.changes).toBe(3)
      // main, and main@git in the colocated git repository.
      expect(second.written.bookmarks).toBe(2)
      yield* expectMirrorsJj(second.repositoryId, repo)
      // An incremental sync does not count as a full comparison.
      expect((yield* repositoryRow(first.repositoryId)).lastFullSyncAt).toEqual(row.lastFullSyncAt)

      const third = yield* sync(repo)
      expect([third.mode, third.upToDate]).toEqual(["unchanged", true])
    }))

  it.effect("the visible heads are kept from diff to diff; unknown ones (a mirror from before) are read once", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = initRepo(base, "alice", "heads")
      const storedHeads = (id: number) =>
        Effect.map(
          sql<{ readonly visibleHeads: ReadonlyArray<string> | null }>`
            SELECT visible_heads FROM repositories WHERE id = ${id}
          `,
          ([row]) => row?.visibleHeads ?? null
        )
      const jjHeads = () =>
        jj(repo, "log", "--no-graph", "-r", "visible_heads()", "-T", `commit_id ++ "\\n"`).split("\n").filter(
          (line) => line !== ""
        ).sort()
      const first = yield* sync(repo)
      expect(yield* storedHeads(first.repositoryId)).toEqual(jjHeads())

      // Two heads, then one of them abandoned: its parent is a head again.
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      const one = commitIdOf(repo, "@-")
      jj(repo, "describe", "-m", "on top")
      const onTop = changeIdOf(repo, "@")
      jj(repo, "new", "root()", "-m", "side")
      const side = commitIdOf(repo, "@")
      const second = yield* sync(repo)
      expect(second.mode).toBe("incremental")
      expect(yield* storedHeads(first.repositoryId)).toEqual(jjHeads())
      expect(jjHeads()).toContain(side)

      // A mirror synced before the heads were recorded: the next incremental sync lists them.
      yield* sql`UPDATE repositories SET visible_heads = NULL WHERE id = ${first.repositoryId}`
      jj(repo, "abandon", onTop)
      const third = yield* sync(repo)
      expect(third.mode).toBe("incremental")
      expect(yield* storedHeads(first.repositoryId)).toEqual(jjHeads())
      expect(jjHeads()).toContain(one)
      jj(repo, "new", "-m", "again")
      const fourth = yield* sync(repo)
      expect(fourth.mode).toBe("incremental")
      expect(yield* storedHeads(first.repositoryId)).toEqual(jjHeads())
      yield* expectMirrorsJj(fourth.repositoryId, repo)
    }))

  it.effect("--full is a full sync even when nothing changed", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "requested")
      yield* sync(repo)
      const full = yield* sync(repo, { full: true })
      expect([full.mode, full.fullReason]).toEqual(["full", "requested"])
      expect(full.written).toEqual({ changes: 0, bookmarks: 0, operations: 0, conflicts: 0, tags: 0, workspaces: 0 })
    }))

  it.effect("an abandoned and garbage-collected previous operation falls back to a full sync", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "abandoned")
      jj(repo, "new", "-m", "a")
      const first = yield* sync(repo)
      jj(repo, "new", "-m", "b")
      jj(repo, "new", "-m", "c")
      // Rewrites the operation log so the synced operation is no longer in it, then deletes it from the store.
      jj(repo, "op", "abandon", "..@-")
      jj(repo, "util", "gc", "--expire=now")
      expect(jj(repo, "op", "log", "--no-graph", "-T", `id ++ "\\n"`)).not.toContain(first.operationId)
      const second = yield* sync(repo)
      expect([second.mode, second.fullReason]).toEqual(["full", "previous-operation-missing"])
      yield* expectMirrorsJj(second.repositoryId, repo)
    }))

  it.effect("bookmarks are not read when jj's diff says none changed; any change re-reads them all", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = initRepo(base, "alice", "bookmark-digest")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      jj(repo, "bookmark", "create", "alpha", "beta", "-r", "@-")
      const first = yield* sync(repo)
      const id = first.repositoryId
      const digest = () => sql<{ bookmarksDigest: string }>`SELECT bookmarks_digest FROM repositories WHERE id = ${id}`
      const stored = (yield* digest())[0]?.bookmarksDigest
      expect(stored).toMatch(/^listing:[0-9a-f]{64}$/)
      // Drift that only a comparison of every bookmark would see.
      yield* sql`UPDATE bookmarks SET target_commit_ids = '{0123}' WHERE repository_id = ${id} AND name = 'alpha'`

      jj(repo, "describe", "-m", "working copy, bookmarks untouched")
      const unchanged = yield* sync(repo)
      expect([unchanged.mode, unchanged.written.bookmarks]).toEqual(["incremental", 0])
      const alpha = () =>
        sql<{ targetCommitIds: Array<string> }>`
          SELECT target_commit_ids FROM bookmarks WHERE repository_id = ${id} AND name = 'alpha' AND remote = ''`
      expect((yield* alpha())[0]?.targetCommitIds).toEqual(["0123"])
      expect((yield* digest())[0]?.bookmarksDigest).toBe(stored)

      jj(repo, "bookmark", "create", "gamma", "-r", "@-")
      const changed = yield* sync(repo)
      expect(changed.mode).toBe("incremental")
      expect((yield* alpha())[0]?.targetCommitIds).toEqual([commitIdOf(repo, "@-")])
      expect((yield* digest())[0]?.bookmarksDigest).not.toBe(stored)
      yield* expectMirrorsJj(id, repo)

      // The bookmark count is kept, not counted again, by a sync that did not read bookmarks; one that read them
      // counts them.
      const rows = () =>
        Effect.map(
          sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM bookmarks WHERE repository_id = ${id}`,
          ([row]) => row?.n
        )
      expect(changed.counts.bookmarks).toBe(yield* rows())
      yield* sql`UPDATE repositories SET bookmark_rows = 1000 WHERE id = ${id}`
      jj(repo, "describe", "-m", "working copy again, bookmarks untouched")
      expect((yield* sync(repo)).counts.bookmarks).toBe(1000)
      jj(repo, "bookmark", "delete", "gamma")
      const deleted = yield* sync(repo)
      expect(deleted.counts.bookmarks).toBe(yield* rows())
      expect(deleted.counts.bookmarks).toBeLessThan(changed.counts.bookmarks)
    }))

  it.effect("a git command that moves only `git` refs, which jj's diff leaves out, still re-reads bookmarks", () =>
    Effect.gen(function*() {
      // Not colocated: jj exports bookmarks to its git repository only when asked.
      const repo = path.join(base, "alice", "exported")
      fs.mkdirSync(path.dirname(repo), { recursive: true })
      jj(path.dirname(repo), "git", "init", "--no-colocate", "exported")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      jj(repo, "bookmark", "create", "main", "-r", "@-")
      const id = (yield* sync(repo)).repositoryId
      const remotes = jj(repo, "bookmark", "list", "--all-remotes", "-T", `name ++ "@" ++ remote ++ "\n"`)
      expect(remotes).not.toContain("main@git")

      jj(repo, "git", "export")
      expect(jj(repo, "bookmark", "list", "--all-remotes", "-T", `name ++ "@" ++ remote ++ "\n"`)).toContain("main@git")
      const exported = yield* sync(repo)
      expect([exported.mode, exported.written.bookmarks]).toEqual(["incremental", 1])
      yield* expectMirrorsJj(id, repo)
    }))

  it.effect("a mirror written another way (jj version, format, kinds) is read again in full", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = initRepo(base, "alice", "format")
      const first = yield* sync(repo)
      yield* sql`UPDATE repositories SET synced_with = 'jj 0.1.0; format 0' WHERE id = ${first.repositoryId}`
      jj(repo, "new", "-m", "next")
      const second = yield* sync(repo)
      expect([second.mode, second.fullReason]).toEqual(["full", "format-changed"])
      yield* expectMirrorsJj(second.repositoryId, repo)

      jj(repo, "new", "-m", "after")
      // A change of kinds alone leaves the stored commits' fields valid: the full sync compares visible ids and
      // reads only missing commits, so a tampered field of a held commit stays (a jj or format change rewrote it).
      yield* sql`UPDATE changes SET description = 'tampered' WHERE repository_id = ${first.repositoryId}
        AND commit_id = ${commitIdOf(repo, "@-")}`
      const narrowed = yield* sync(repo, { kinds: ["changes", "operations"] })
      expect([narrowed.mode, narrowed.fullReason]).toEqual(["full", "format-changed"])
      const [kept] = yield* sql<{ description: string }>`SELECT description FROM changes
        WHERE repository_id = ${first.repositoryId} AND commit_id = ${commitIdOf(repo, "@-")}`
      expect(kept?.description).toBe("tampered")
      yield* sql`UPDATE repositories SET synced_with = 'jj 0.1.0; format 0' WHERE id = ${first.repositoryId}`
      const reread = yield* sync(repo, { kinds: ["changes", "operations"] })
      expect([reread.mode, reread.fullReason]).toEqual(["full", "format-changed"])
      const [rewritten] = yield* sql<{ description: string }>`SELECT description FROM changes
        WHERE repository_id = ${first.repositoryId} AND commit_id = ${commitIdOf(repo, "@-")}`
      expect(rewritten?.description).toBe("next\n")
      jj(repo, "new", "-m", "last")
      expect((yield* sync(repo)).mode).toBe("incremental")
    }))

  it.effect("kinds switched with no new operation are read again at once", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "kinds")
      jj(repo, "bookmark", "create", "main", "-r", "@")
      yield* sync(repo)
      const narrowed = yield* sync(repo, { kinds: ["changes"] })
      expect([narrowed.mode, narrowed.fullReason]).toEqual(["full", "format-changed"])
      const widened = yield* sync(repo, { kinds: ["changes", "bookmarks", "operations", "conflicts"] })
      expect([widened.mode, widened.fullReason]).toEqual(["full", "format-changed"])
      yield* expectMirrorsJj(widened.repositoryId, repo)
      expect((yield* sync(repo)).mode).toBe("unchanged")
    }))

  it.effect("a due reconciliation applies the difference, then compares visible ids and repairs drift", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = initRepo(base, "alice", "drift")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      writeFile(repo, "b.txt", "b\n")
      jj(repo, "commit", "-m", "two")
      const first = yield* sync(repo)
      const id = first.repositoryId
      // Drift behind the watcher's back, which an incremental sync would never look at again: a visible commit
      // missing, a commit that is not visible, a wrong divergence, a missing operation, and a tampered field.
      const one = commitIdOf(repo, "@--")
      const two = commitIdOf(repo, "@-")
      yield* sql`DELETE FROM changes WHERE repository_id = ${id} AND commit_id = ${one}`
      yield* sql`
        INSERT INTO changes SELECT (jsonb_populate_record(c, ${
        JSON.stringify({ commit_id: "f".repeat(40), change_id: "z".repeat(32) })
      }::jsonb)).* FROM changes c WHERE c.repository_id = ${id} AND c.commit_id = ${two}`
      yield* sql`UPDATE changes SET is_divergent = true WHERE repository_id = ${id} AND commit_id = ${two}`
      yield* sql`DELETE FROM jj_operations WHERE repository_id = ${id} AND parent_operation_ids = '{}'`

      jj(repo, "new", "-m", "three")
      const incremental = yield* sync(repo)
      expect(incremental.mode).toBe("incremental")
      const held = yield* sql<{ commitId: string }>`SELECT commit_id FROM changes WHERE repository_id = ${id}`
      expect(held.map((row) => row.commitId)).not.toContain(one)

      yield* sql`UPDATE repositories SET last_full_sync_at = now() - interval '2 hours' WHERE id = ${id}`
      const before = yield* prometheusText
      // Due: a reconciliation runs even with nothing new in jj.
      const reconciled = yield* sync(repo)
      expect([reconciled.mode, reconciled.fullReason, reconciled.upToDate]).toEqual(["full", "reconciliation", false])
      // `one` read again, the made-up commit deleted, the divergence of `two` set right; the root operation read again.
      expect(reconciled.repaired).toEqual({
        changes: 3,
        bookmarks: 0,
        operations: 1,
        conflicts: 0,
        tags: 0,
        workspaces: 0
      })
      yield* expectMirrorsJj(id, repo)
      expect((yield* repositoryRow(id)).lastFullSyncAt!.getTime()).toBeGreaterThan(Date.now() - 60_000)

      const repairedTotal = (text: string) =>
        Number(/jj_watcher_reconciliation_repaired_rows_total\{kind="changes"\} (\d+)/.exec(text)?.[1] ?? 0)
      expect(repairedTotal(yield* prometheusText) - repairedTotal(before)).toBe(3)
      expect(yield* prometheusText).toMatch(/jj_watcher_full_syncs_total\{reason="reconciliation"\} [1-9]/)
      expect((yield* sync(repo)).mode).toBe("unchanged")
    }))

  it.effect("a reconciliation trusts the fields of held commits; a requested full sync reads them again", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const repo = initRepo(base, "alice", "tampered")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "one")
      const id = (yield* sync(repo)).repositoryId
      const one = commitIdOf(repo, "@-")
      // A commit's fields never change for its id, so a reconciliation does not read them again: it costs jj's
      // listing of visible ids, not a re-import.
      yield* sql`UPDATE changes SET description = 'tampered' WHERE repository_id = ${id} AND commit_id = ${one}`
      yield* sql`UPDATE changes SET is_divergent = true WHERE repository_id = ${id} AND commit_id = ${one}`
      yield* sql`UPDATE repositories SET last_full_sync_at = now() - interval '2 hours' WHERE id = ${id}`
      const reconciled = yield* sync(repo)
      expect([reconciled.fullReason, reconciled.repaired?.changes]).toEqual(["reconciliation", 1])
      const description = () =>
        sql<{ description: string; isDivergent: boolean }>`
          SELECT description, is_divergent FROM changes WHERE repository_id = ${id} AND commit_id = ${one}`
      expect(yield* description()).toEqual([{ description: "tampered", isDivergent: false }])

      const requested = yield* sync(repo, { full: true })
      expect([requested.mode, requested.fullReason]).toEqual(["full", "requested"])
      expect(yield* description()).toEqual([{ description: "one\n", isDivergent: false }])
      yield* expectMirrorsJj(id, repo)
    }))

  it.effect("undo after an incremental sync recomputes which operations are undone", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "undo")
      jj(repo, "new", "-m", "a")
      yield* sync(repo)
      jj(repo, "new", "-m", "b")
      jj(repo, "undo")
      const undone = yield* sync(repo)
      expect(undone.mode).toBe("incremental")
      const mirror = yield* expectMirrorsJj(undone.repositoryId, repo)
      const newB = mirror.operations.find((operation) =>
        operation.description.startsWith("new empty commit") &&
        operation.isUndone
      )
      expect(newB).toBeDefined()
      jj(repo, "redo")
      const redone = yield* sync(repo)
      expect(redone.mode).toBe("incremental")
      const after = yield* expectMirrorsJj(redone.repositoryId, repo)
      expect(after.operations.find((operation) => operation.operationId === newB!.operationId)?.isUndone).toBe(false)
    }))

  it.effect("a divergent change made and resolved incrementally keeps is_divergent right on every commit", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "divergent")
      jj(repo, "new", "-m", "x")
      const change = changeIdOf(repo, "@")
      const op = headOperation(repo)
      yield* sync(repo)
      jj(repo, "describe", "-m", "x one")
      jj(repo, "--at-op", op, "--ignore-working-copy", "describe", "-r", change, "-m", "x two")
      jj(repo, "log", "-r", "@")
      const diverged = yield* sync(repo)
      expect(diverged.mode).toBe("incremental")
      const mirror = yield* expectMirrorsJj(diverged.repositoryId, repo)
      const rows = mirror.changes.filter((c) => c.changeId === change)
      expect(rows.map((c) => c.isDivergent)).toEqual([true, true])

      jj(repo, "abandon", rows[0]!.commitId)
      const resolved = yield* sync(repo)
      expect(resolved.mode).toBe("incremental")
      const after = yield* expectMirrorsJj(resolved.repositoryId, repo)
      expect(after.changes.filter((c) => c.changeId === change).map((c) => c.isDivergent)).toEqual([false])
    }))

  it.effect("a first import reports its progress batch by batch", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "alice", "progress")
      for (const n of [1, 2, 3]) jj(repo, "new", "-m", `c${n}`)
      const seen: Array<number> = []
      const result = yield* sync(repo, { onProgress: (staged) => Effect.sync(() => seen.push(staged.changes)) })
      expect(Math.max(...seen)).toBe(result.counts.changes)
    }))
})

layer(makeTestLayer("reconcile_off", { SYNC_RECONCILE_INTERVAL: "0 millis" }), { timeout: "60 seconds" })(
  "SYNC_RECONCILE_INTERVAL=0",
  (it) => {
    it.effect("never reconciles", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const repo = initRepo(base, "bob", "never")
        const first = yield* sync(repo)
        yield* sql`UPDATE repositories SET last_full_sync_at = NULL WHERE id = ${first.repositoryId}`
        expect((yield* sync(repo)).mode).toBe("unchanged")
        jj(repo, "new", "-m", "next")
        expect((yield* sync(repo)).mode).toBe("incremental")
      }))
  }
)

// jj behind a wrapper that notes each command line: which jj processes a sync runs. jj runs as the wrapper's child,
// not in its place, so a jj the sync stops (kills) still runs to its end: whatever it would write, it writes.
const callsLog = path.join(base, "jj-calls.log")
const countingJj = path.join(base, "counting-jj")
fs.writeFileSync(countingJj, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${callsLog}'\n'${jjBin}' "$@"\n`, { mode: 0o755 })
/** The jj processes started since the last call, but for `--version`. */
const jjCallsSince = (() => {
  let seen = 0
  return () => {
    const all = fs.existsSync(callsLog) ? fs.readFileSync(callsLog, "utf8").split("\n").filter((l) => l !== "") : []
    const fresh = all.slice(seen)
    seen = all.length
    return fresh.filter((line) => !line.includes("--version"))
  }
})()

/**
 * More visible heads than are kept: the diff names the working copies; when more changed, it is read again. Run with
 * diffs read whole and streamed.
 */
const manyHeads = (name: string) =>
  Effect.gen(function*() {
    const repo = initRepo(base, "alice", name)
    for (let i = 0; i <= maxKeptHeads; i++) jj(repo, "new", "root()", "-m", `side ${i}`)
    const first = yield* sync(repo)
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly visibleHeads: ReadonlyArray<string> }>`
          SELECT visible_heads FROM repositories WHERE id = ${first.repositoryId}
        `
    // Too many to keep: stored as none.
    expect(row?.visibleHeads).toEqual([])

    // The working-copy commit is rewritten: the one commit hidden is the previous working copy.
    jj(repo, "describe", "-m", "described")
    jjCallsSince()
    const described = yield* sync(repo)
    expect(described.mode).toBe("incremental")
    const one = jjCallsSince()
    expect(one).toHaveLength(1)
    expect(one[0]).toContain("operation diff --from")
    expect(one[0]).not.toContain("at_operation")
    yield* expectMirrorsJj(described.repositoryId, repo)

    // Another head abandoned: jj says it left a hidden commit out, and the diff is read with the previous view.
    jj(repo, "abandon", "description(exact:\"side 3\\n\")")
    jjCallsSince()
    const abandoned = yield* sync(repo)
    expect(abandoned.mode).toBe("incremental")
    const two = jjCallsSince()
    expect(two).toHaveLength(2)
    expect(two[0]).not.toContain("at_operation")
    expect(two[1]).toContain("at_operation")
    yield* expectMirrorsJj(abandoned.repositoryId, repo)

    // A commit that appears outside every working copy's ancestry, nothing hidden: read again too.
    jj(repo, "new", "--no-edit", "description(exact:\"side 7\\n\")", "-m", "child of side 7")
    jjCallsSince()
    const added = yield* sync(repo)
    expect(added.mode).toBe("incremental")
    const three = jjCallsSince()
    expect(three).toHaveLength(2)
    expect(three[1]).toContain("at_operation")
    yield* expectMirrorsJj(added.repositoryId, repo)
  })

layer(makeTestLayer("incremental_calls", { JJ_BIN: countingJj }), {
  timeout: "120 seconds",
  excludeTestServices: true
})(
  "incremental sync, jj processes",
  (it) => {
    it.effect("one new operation is read by one jj process, jj op diff; several also walk the operation log", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "alice", "calls")
        yield* sync(repo)
        jj(repo, "new", "-m", "one")
        jjCallsSince()
        expect((yield* sync(repo)).mode).toBe("incremental")
        const one = jjCallsSince()
        expect(one).toHaveLength(1)
        expect(one[0]).toContain("operation diff --from")
        yield* expectMirrorsJj((yield* sync(repo)).repositoryId, repo)

        jj(repo, "new", "-m", "two")
        jj(repo, "describe", "-m", "two, described")
        jjCallsSince()
        const after = yield* sync(repo)
        expect(after.mode).toBe("incremental")
        const two = jjCallsSince()
        // Operations that are not the pinned one's are read from the log, walked back to the stored ones.
        expect(two).toHaveLength(2)
        expect(two[0]).toContain("operation diff --from")
        expect(two[1]).toContain("op log --no-graph")
        yield* expectMirrorsJj(after.repositoryId, repo)
      }))

    it.effect("with more visible heads than are kept, the diff names the working copies; more changed, it is read again", () =>
      manyHeads("many-heads"))

    it.effect("an operation that merges concurrent ones is read without writing into the operation store", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "alice", "merged-operations")
        jj(repo, "new", "-m", "base")
        yield* sync(repo)
        // Two operations from the same one, then a command that merges them: the head is a merge operation.
        const from = headOperation(repo)
        jj(repo, "--at-op", from, "--ignore-working-copy", "describe", "-m", "one side")
        jj(repo, "--at-op", from, "--ignore-working-copy", "new", "-m", "other side")
        jj(repo, "log", "-r", "@", "--no-graph", "-T", "commit_id")
        expect(jj(repo, "op", "log", "-n", "1", "--no-graph", "-T", "parents.len()")).toBe("2")
        const store = path.join(repo, ".jj", "repo", "op_store")
        const entries = () => ["operations", "views"].flatMap((dir) => fs.readdirSync(path.join(store, dir)).sort())
        const before = entries()
        const merged = yield* sync(repo)
        expect(merged.mode).toBe("incremental")
        expect(entries()).toEqual(before)
        yield* expectMirrorsJj(merged.repositoryId, repo)
      }))
  }
)

// Every diff's output past the first byte is streamed: the path of a diff too large to read in one piece.
layer(makeTestLayer("incremental_streamed", { JJ_BIN: countingJj, JJ_WHOLE_OUTPUT_BYTES: "1" }), {
  timeout: "120 seconds",
  excludeTestServices: true
})(
  "incremental sync, diffs streamed",
  (it) => {
    it.effect("commits, bookmarks, an abandon and a rewrite are read from streamed diffs", () =>
      Effect.gen(function*() {
        const repo = initRepo(base, "alice", "streamed")
        yield* sync(repo)
        writeFile(repo, "a.txt", "a\n")
        jj(repo, "commit", "-m", "one")
        jj(repo, "bookmark", "set", "main", "-r", "@-")
        const steps: ReadonlyArray<ReadonlyArray<string>> = [
          ["new", "-m", "two"],
          ["describe", "-m", "two, described"],
          ["new", "root()", "-m", "side"],
          ["abandon", "description(exact:\"two, described\n\")"],
          ["bookmark", "set", "main", "--allow-backwards", "-r", "@"]
        ]
        for (const step of steps) {
          jj(repo, ...step)
          const result = yield* sync(repo)
          expect(result.mode, step.join(" ")).toBe("incremental")
          yield* expectMirrorsJj(result.repositoryId, repo, step.join(" "))
        }
      }))

    it.effect("with more visible heads than are kept, the same as read whole", () => manyHeads("many-heads-streamed"))
  }
)
