import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Deferred, Effect } from "effect"
import { createHash } from "node:crypto"
import { NotAJjRepository } from "../Domain/JjErrors.js"

/**
 * What jj is pointed at instead of the watched workspace: a directory of our own whose `.jj/repo` holds a symbolic
 * link to each entry of the repository's store directory except its configuration, and whose `.jj/working_copy`
 * links to the workspace's. jj reads the same data through it, but finds no repository or workspace configuration:
 *
 * - jj looks for a repository's configuration by its `.jj/repo/config-id` (in the service user's config directory)
 *   or in a legacy `.jj/repo/config.toml`, which it migrates on first sight, writing into the repository and the
 *   user's home; the same for a workspace's `.jj/workspace-config-id` and `.jj/workspace-config.toml`. Neither exists
 *   in the view, so nothing is loaded or migrated, and aliases a repository defines cannot shadow the built-in
 *   revset and template functions the watcher's templates use.
 * - jj resolves the links physically: the git store's relative `git_target`, the op store and the index are the
 *   repository's own (jj's index and `store/extra` caches are written through them, as any read would).
 *
 * User and system configuration are left out by the client's `JJ_CONFIG` (jj reads no system configuration when it
 * is set).
 */

/** The entries of a repository directory that are configuration, not data (jj's `SecureConfig::new_repo`). */
export const repositoryConfigEntries: ReadonlySet<string> = new Set(["config.toml", "config-id"])

/** The store entries a view links to, in a stable order. */
export const linkedEntries = (storeEntries: ReadonlyArray<string>): Array<string> =>
  storeEntries.filter((name) => !repositoryConfigEntries.has(name)).sort()

interface View {
  readonly storePath: string
  readonly entries: string
  readonly root: string
}

/**
 * Read views under `directory`, one per workspace, made on first use and made again when the store's entries change
 * (which jj does only on upgrades), in a new directory that leaves the old one to any jj still reading through it.
 */
export const makeReadViews = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const views = new Map<string, View>()
    // Views being made: readers of a workspace that start together (a full sync's) share one.
    const making = new Map<string, Deferred.Deferred<string, NotAJjRepository>>()
    let generation = 0

    /** The directory to pass to jj's `--repository` for the workspace at `workspaceRoot`. */
    const viewOf = (location: { readonly workspaceRoot: string; readonly storePath: string }) =>
      Effect.gen(function*() {
        const { storePath, workspaceRoot } = location
        const entries = linkedEntries(
          yield* fs.readDirectory(storePath).pipe(
            Effect.mapError(() => new NotAJjRepository({ path: workspaceRoot, reason: `cannot read ${storePath}` }))
          )
        )
        const current = views.get(workspaceRoot)
        if (current !== undefined && current.storePath === storePath && current.entries === entries.join("/")) {
          return current.root
        }
        const pending = making.get(workspaceRoot)
        if (pending !== undefined) return yield* Deferred.await(pending)
        const made = yield* Deferred.make<string, NotAJjRepository>()
        making.set(workspaceRoot, made)
        return yield* makeView(location, entries).pipe(
          Effect.onExit((exit) =>
            Effect.zipRight(Effect.sync(() => making.delete(workspaceRoot)), Deferred.done(made, exit))
          )
        )
      })

    const makeView = (
      location: { readonly workspaceRoot: string; readonly storePath: string },
      entries: Array<string>
    ) =>
      Effect.gen(function*() {
        const { storePath, workspaceRoot } = location
        const key = createHash("sha256").update(workspaceRoot).digest("hex").slice(0, 16)
        const root = path.join(directory, `${key}-${++generation}`)
        const repoDir = path.join(root, ".jj", "repo")
        const made = Effect.gen(function*() {
          yield* fs.makeDirectory(repoDir, { recursive: true })
          for (const entry of entries) yield* fs.symlink(path.join(storePath, entry), path.join(repoDir, entry))
          yield* fs.symlink(path.join(workspaceRoot, ".jj", "working_copy"), path.join(root, ".jj", "working_copy"))
        })
        yield* made.pipe(
          Effect.mapError((error) =>
            new NotAJjRepository({
              path: workspaceRoot,
              reason: `cannot make a read view in ${directory}: ${error.message}`
            })
          )
        )
        views.set(workspaceRoot, { storePath, entries: entries.join("/"), root })
        return root
      })

    return { viewOf } as const
  })
