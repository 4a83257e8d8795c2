import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import fs from "node:fs"
import path from "node:path"
import { makeTestLayer, mirrorOf } from "./support/database.js"
import { git, headOperation, initRepo, jj, makeBaseDir, writeFile } from "./support/jj.js"
import { expectMirrorsJj } from "./support/oracle.js"
import { sync } from "./support/sync.js"

/** Tags and workspaces are mirrored as jj lists them, by full and incremental syncs alike. */

const base = makeBaseDir("tags")

layer(makeTestLayer("tags_workspaces"), { timeout: "120 seconds" })("tags and workspaces", (it) => {
  it.effect("tags: local, remote and tracked, moved, conflicted by concurrent operations, deleted", () =>
    Effect.gen(function*() {
      // A git remote with a plain and an annotated tag, fetched: remote tags, tracked, and their local tags.
      const source = path.join(base, "sources", "tags-src")
      fs.mkdirSync(source, { recursive: true })
      git(source, "init", "-q", "-b", "main")
      git(source, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "one")
      git(source, "tag", "rel-1")
      git(source, "tag", "-a", "rel-2", "-m", "annotated")
      const bare = path.join(base, "sources", "tags.git")
      git(path.dirname(source), "clone", "-q", "--bare", source, bare)
      const repo = initRepo(base, "tagger", "tags")
      jj(repo, "git", "remote", "add", "origin", bare)
      jj(repo, "git", "fetch")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "a")
      jj(repo, "tag", "set", "local-1", "-r", "@-", "--allow-move")
      const first = yield* sync(repo)
      expect(first.mode).toBe("full")
      const mirror = yield* expectMirrorsJj(first.repositoryId, repo)
      expect(mirror.tags.map((t) => `${t.name}@${t.remote}`)).toEqual(
        expect.arrayContaining(["rel-1@origin", "rel-1@", "local-1@"])
      )
      expect(mirror.tags.some((t) => t.isTracked)).toBe(true)

      // Moved, then set to two targets by concurrent operations: conflicted once jj merges them.
      writeFile(repo, "b.txt", "b\n")
      jj(repo, "commit", "-m", "b")
      jj(repo, "tag", "set", "local-1", "-r", "@-", "--allow-move")
      expect((yield* sync(repo)).mode).toBe("incremental")
      yield* expectMirrorsJj(first.repositoryId, repo)
      const before = headOperation(repo)
      jj(repo, "--at-operation", before, "tag", "set", "both", "-r", "@-")
      jj(repo, "--at-operation", before, "tag", "set", "both", "-r", "rel-1")
      jj(repo, "log", "-r", "@", "--no-graph", "-T", "commit_id")
      yield* sync(repo)
      const conflicted = yield* expectMirrorsJj(first.repositoryId, repo)
      expect(conflicted.tags.find((t) => t.name === "both" && t.remote === "")?.isConflicted).toBe(true)

      jj(repo, "tag", "delete", "both", "local-1")
      expect((yield* sync(repo)).mode).toBe("incremental")
      const deleted = yield* expectMirrorsJj(first.repositoryId, repo)
      expect(deleted.tags.some((t) => t.name === "local-1" && t.remote === "")).toBe(false)
    }))

  it.effect("workspaces: a second workspace, its working copy moving, then forgotten", () =>
    Effect.gen(function*() {
      const repo = initRepo(base, "tagger", "workspaces")
      writeFile(repo, "a.txt", "a\n")
      jj(repo, "commit", "-m", "a")
      const first = yield* sync(repo)
      expect((yield* mirrorOf(first.repositoryId)).workspaces.map((w) => w.name)).toEqual(["default"])

      const second = path.join(base, "tagger-second")
      jj(repo, "workspace", "add", "--name", "second", second)
      // A name jj quotes in its diff.
      jj(repo, "workspace", "add", "--name", "odd \"name\"", path.join(base, "tagger-odd"))
      expect((yield* sync(repo)).mode).toBe("incremental")
      const added = yield* expectMirrorsJj(first.repositoryId, repo)
      expect(added.workspaces.map((w) => w.name).sort()).toEqual(["default", "odd \"name\"", "second"])

      // The second workspace's @ moves (a commit there), read from the first one's mirror.
      writeFile(second, "b.txt", "b\n")
      jj(second, "commit", "-m", "in the second workspace")
      const moved = yield* sync(repo)
      expect(moved.mode).toBe("incremental")
      expect(moved.written.workspaces).toBe(1)
      yield* expectMirrorsJj(first.repositoryId, repo)

      // A rewrite of the working copies' parent moves them all; an operation on none leaves them as they were.
      jj(repo, "describe", "-r", "@-", "-m", "a, reworded")
      expect((yield* sync(repo)).written.workspaces).toBe(3)
      yield* expectMirrorsJj(first.repositoryId, repo)
      jj(repo, "bookmark", "create", "somewhere", "-r", "@-")
      expect((yield* sync(repo)).written.workspaces).toBe(0)

      jj(repo, "workspace", "forget", "second", "odd \"name\"")
      expect((yield* sync(repo)).mode).toBe("incremental")
      const forgotten = yield* expectMirrorsJj(first.repositoryId, repo)
      expect(forgotten.workspaces.map((w) => w.name)).toEqual(["default"])
    }))
})
