import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { makeReadViews } from "../src/JjClient/ReadView.js"

/** Read views on the real file system, without jj: what links a view holds, and that readers starting together share one. */

const workspaceWith = (entries: ReadonlyArray<string>) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-readview-"))
  const storePath = path.join(root, ".jj", "repo")
  fs.mkdirSync(path.join(root, ".jj", "working_copy"), { recursive: true })
  for (const entry of entries) fs.mkdirSync(path.join(storePath, entry), { recursive: true })
  return { workspaceRoot: root, storePath }
}

describe("read views", () => {
  it.effect("readers of a workspace that start together share one view, which leaves out the configuration", () =>
    Effect.gen(function*() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-views-"))
      const views = yield* makeReadViews(directory)
      const workspace = workspaceWith(["op_store", "store", "index"])
      fs.writeFileSync(path.join(workspace.storePath, "config.toml"), "[aliases]\n")
      expect(fs.readdirSync(directory)).toEqual([])
      const roots = yield* Effect.all(Array.from({ length: 4 }, () => views.viewOf(workspace)), {
        concurrency: "unbounded"
      })
      expect(new Set(roots).size).toBe(1)
      expect(fs.readdirSync(directory)).toHaveLength(1)
      expect(fs.readdirSync(path.join(roots[0]!, ".jj", "repo")).sort()).toEqual(["index", "op_store", "store"])
      // Asked again later, the same view.
      expect(yield* views.viewOf(workspace)).toBe(roots[0])
      // A store that changed its entries (an upgrade) gets a new view.
      fs.mkdirSync(path.join(workspace.storePath, "new_entry"))
      const renewed = yield* views.viewOf(workspace)
      expect(renewed).not.toBe(roots[0])
      expect(fs.readdirSync(path.join(renewed, ".jj", "repo"))).toContain("new_entry")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a store that cannot be read fails with NotAJjRepository and makes nothing", () =>
    Effect.gen(function*() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "jj-watcher-views-"))
      const views = yield* makeReadViews(directory)
      const error = yield* Effect.flip(
        views.viewOf({ workspaceRoot: "/nonexistent", storePath: "/nonexistent/.jj/repo" })
      )
      expect(error._tag).toBe("NotAJjRepository")
      expect(fs.readdirSync(directory)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer)))
})
