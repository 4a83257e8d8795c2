import { SqlClient } from "@effect/sql"
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { detailsOf, mirrorOf } from "./database.js"
import {
  jj,
  jjBookmarkList,
  jjChangeFiles,
  jjLog,
  jjOpLog,
  jjPredecessors,
  jjResolveList,
  jjTagList,
  jjWorkspaceList
} from "./jj.js"

/** Assertions that compare a mirror in the database with jj itself, or with another mirror of the same repository. */

export const byKey = <A>(key: (a: A) => string) => (a: A, b: A) => key(a).localeCompare(key(b))

/**
 * The database holds exactly what jj reports, field by field, at its current head or at operation `at`. `message`
 * (optional) prefixes every failure, e.g. to say which seed and step of a randomized test broke it.
 */
export const expectMirrorsJj = (repositoryId: number, repo: string, message?: string, at?: string) =>
  Effect.gen(function*() {
    const mirror = yield* mirrorOf(repositoryId)
    const log = jjLog(repo, at)
    expect([...mirror.changes].sort(byKey((c) => c.commitId)), message).toEqual(log.sort(byKey((c) => c.commitId)))

    const changeIds = new Map(log.map((change) => [change.commitId, change.changeId]))
    const bookmarkKey = (b: { name: string; remote: string }) => `${b.name}@${b.remote}`
    expect(
      mirror.bookmarks.map(({ isDefault: _, targetChangeId: __, ...rest }) => rest).sort(byKey(bookmarkKey)),
      message
    ).toEqual(jjBookmarkList(repo, at).sort(byKey(bookmarkKey)))
    // A bookmark that is not conflicted names its target's change, even when that commit is hidden (a remote
    // bookmark left on an abandoned commit); a conflicted one names none, even with a single added target.
    const changeIdOf = (commitId: string) =>
      changeIds.get(commitId) ??
        jj(
          repo,
          "--ignore-working-copy",
          ...(at === undefined ? [] : ["--at-operation", at]),
          "log",
          "--no-graph",
          "-r",
          commitId,
          "-T",
          "change_id"
        ).trim()
    for (const bookmark of mirror.bookmarks) {
      const [only] = bookmark.targetCommitIds
      expect(bookmark.targetChangeId, `${message ?? ""} bookmark ${bookmark.name}@${bookmark.remote}`).toEqual(
        !bookmark.isConflicted && bookmark.targetCommitIds.length === 1 && only !== undefined ? changeIdOf(only) : null
      )
    }

    expect(
      mirror.tags.map(({ targetChangeId: _, ...rest }) => rest).sort(byKey(bookmarkKey)),
      `${message ?? ""} tags`
    ).toEqual(jjTagList(repo, at).sort(byKey(bookmarkKey)))
    for (const tag of mirror.tags) {
      const [only] = tag.targetCommitIds
      expect(tag.targetChangeId, `${message ?? ""} tag ${tag.name}@${tag.remote}`).toEqual(
        !tag.isConflicted && tag.targetCommitIds.length === 1 && only !== undefined ? changeIdOf(only) : null
      )
    }
    expect([...mirror.workspaces].sort(byKey((w) => w.name)), `${message ?? ""} workspaces`).toEqual(
      jjWorkspaceList(repo, at).sort(byKey((w) => w.name))
    )

    const opLog = jjOpLog(repo, at)
    expect(
      mirror.operations.map(({ isUndone: _, operationType: __, ...rest }) => rest).sort(byKey((o) => o.operationId)),
      message
    ).toEqual(opLog.sort(byKey((o) => o.operationId)))

    const conflictKey = (c: { changeId: string; filePath: string }) => `${c.changeId}:${c.filePath}`
    const open = mirror.conflicts.filter((c) => !c.resolved).map(({ resolved: _, resolvedAt: __, ...rest }) => rest)
    // The table keeps one row per change and path: a divergent change conflicted at the same path in several commits
    // is stored once, from its lowest commit id.
    const expected = new Map<string, ReturnType<typeof jjResolveList>[number]>()
    for (const conflict of jjResolveList(repo, at).sort(byKey((c) => c.commitId)).reverse()) {
      expected.set(conflictKey(conflict), conflict)
    }
    expect(open.sort(byKey(conflictKey)), message).toEqual([...expected.values()].sort(byKey(conflictKey)))
    return mirror
  })

/** Operation columns `mirrorOf` leaves out, so that two mirrors are compared on every column jj determines. */
const operationDetails = (repositoryId: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ operationId: string; startTime: Date; workspaceName: string; tags: unknown }>`
      SELECT operation_id, start_time, workspace_name, tags FROM jj_operations WHERE repository_id = ${repositoryId}`
    return rows
      .map((row) => ({ ...row, startTime: row.startTime.toISOString() }))
      .sort(byKey((o) => o.operationId))
  })

/**
 * Two mirrors of the same jj repository, stored under two repository rows (say, one kept up to date incrementally
 * and one synced from scratch), hold the same rows: changes, bookmarks (with `isDefault` and `targetChangeId`),
 * operations (with `isUndone` and `operationType`) and open conflicts. Resolved conflict rows are history, which
 * legitimately differs between a mirror that saw a conflict come and go and one that never saw it, so only open ones
 * are compared.
 */
export const expectSameMirror = (repositoryId: number, referenceId: number, message?: string) =>
  Effect.gen(function*() {
    const [mirror, reference] = [yield* mirrorOf(repositoryId), yield* mirrorOf(referenceId)]
    const label = (kind: string) => `${message === undefined ? "" : `${message}: `}${kind} differ from the reference`

    const changeKey = (c: { commitId: string }) => c.commitId
    expect([...mirror.changes].sort(byKey(changeKey)), label("changes")).toEqual(
      [...reference.changes].sort(byKey(changeKey))
    )

    const bookmarkKey = (b: { name: string; remote: string }) => `${b.name}@${b.remote}`
    expect([...mirror.bookmarks].sort(byKey(bookmarkKey)), label("bookmarks")).toEqual(
      [...reference.bookmarks].sort(byKey(bookmarkKey))
    )

    expect([...mirror.tags].sort(byKey(bookmarkKey)), label("tags")).toEqual(
      [...reference.tags].sort(byKey(bookmarkKey))
    )
    expect([...mirror.workspaces].sort(byKey((w) => w.name)), label("workspaces")).toEqual(
      [...reference.workspaces].sort(byKey((w) => w.name))
    )

    const operationKey = (o: { operationId: string }) => o.operationId
    expect([...mirror.operations].sort(byKey(operationKey)), label("operations")).toEqual(
      [...reference.operations].sort(byKey(operationKey))
    )
    expect(yield* operationDetails(repositoryId), label("operation details")).toEqual(
      yield* operationDetails(referenceId)
    )

    const conflictKey = (c: { changeId: string; filePath: string }) => `${c.changeId}:${c.filePath}`
    const open = (conflicts: typeof mirror.conflicts) =>
      conflicts.filter((c) => !c.resolved).map(({ resolvedAt: _, ...rest }) => rest).sort(byKey(conflictKey))
    expect(open(mirror.conflicts), label("open conflicts")).toEqual(open(reference.conflicts))
    return mirror
  })

/**
 * The details fill has read every mirrored commit (`files_complete`), and `change_files` and `commit_predecessors`
 * hold exactly what jj reports, field by field, at its current head or at operation `at`.
 */
export const expectDetailsMirrorJj = (repositoryId: number, repo: string, message?: string, at?: string) =>
  Effect.gen(function*() {
    const details = yield* detailsOf(repositoryId)
    expect(details.complete, `${message ?? ""} files_complete`).toBe(true)
    expect(details.files, `${message ?? ""} change_files`).toEqual(
      jjChangeFiles(repo, at).sort(byKey((f) => `${f.commitId}:${f.path}`))
    )
    expect(details.predecessors, `${message ?? ""} commit_predecessors`).toEqual(
      jjPredecessors(repo, at).sort(byKey((p) => `${p.commitId}:${p.predecessorCommitId}`))
    )
    return details
  })
