import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Schema } from "effect"
import { RepositoryPathNotFound } from "../Domain/JjErrors.js"
import { PathOutsideBase, RepositoryName } from "../Domain/Repository.js"
import { WatcherConfig } from "./Config.js"

/** A repository directory found under the base directory. */
export interface Found {
  readonly owner: RepositoryName
  readonly name: RepositoryName
  readonly path: string
}

const isName = Schema.is(RepositoryName)

/** Whether `candidate` lies strictly inside `directory` (both absolute and resolved the same way). */
export const isInside = (directory: string, candidate: string) =>
  candidate.startsWith(directory.endsWith("/") ? directory : `${directory}/`)

/**
 * Where repositories are: the `<owner>/<repo>` directories holding a `.jj` under `REPOS_BASE_PATH`. Nothing found or
 * named here may lead out of the base directory, through `..` or a symlink.
 */
export class Discovery extends Effect.Service<Discovery>()("jj-watcher/Watcher/Discovery", {
  effect: Effect.gen(function*() {
    const config = yield* WatcherConfig
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const basePath = path.resolve(config.basePath)

    const realBase = fs.realPath(basePath).pipe(Effect.orElseSucceed(() => basePath))
    const listDirectories = (directory: string) =>
      fs.readDirectory(directory).pipe(Effect.orElseSucceed((): Array<string> => []))

    /**
     * Repository directories under the base that are not in `known`, and every directory listed on the way (the base
     * and each owner's), which change when repositories come and go.
     */
    const scan = Effect.fn("Discovery.scan")(function*(known: ReadonlySet<string>) {
      const base = yield* realBase
      const directories = [basePath]
      const found: Array<Found> = []
      for (const owner of (yield* listDirectories(basePath)).filter(isName)) {
        const ownerPath = path.join(basePath, owner)
        directories.push(ownerPath)
        for (const name of (yield* listDirectories(ownerPath)).filter(isName)) {
          const repoPath = path.join(ownerPath, name)
          if (known.has(repoPath)) continue
          if (!(yield* fs.exists(path.join(repoPath, ".jj")).pipe(Effect.orElseSucceed(() => false)))) continue
          const real = yield* fs.realPath(repoPath).pipe(Effect.orElseSucceed(() => ""))
          if (isInside(base, real)) found.push({ owner, name, path: repoPath })
        }
      }
      return { found, directories }
    })

    /** `<base>/<user>/<repo>` resolved through symlinks; fails unless it exists and stays inside the base directory. */
    const resolveUnderBase = Effect.fn("Discovery.resolveUnderBase")(
      function*(user: RepositoryName, repo: RepositoryName) {
        yield* Effect.annotateCurrentSpan({ user, repo })
        const candidate = path.join(basePath, user, repo)
        const real = yield* fs.realPath(candidate).pipe(
          Effect.mapError(() => new RepositoryPathNotFound({ path: candidate }))
        )
        const base = yield* fs.realPath(basePath).pipe(
          Effect.mapError(() => new RepositoryPathNotFound({ path: basePath }))
        )
        if (!isInside(base, real)) return yield* new PathOutsideBase({ path: candidate })
        return real
      }
    )

    return { basePath, scan, resolveUnderBase } as const
  })
}) {}
