import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect } from "effect"
import type { RepositoryLocation } from "../Domain/Jj.js"
import { NotAJjRepository, RepositoryPathNotFound } from "../Domain/JjErrors.js"

/** Finds the workspace root, the store (through `.jj/repo` when it is a pointer file) and its op heads. */
export const locate = Effect.fn("JjClient.locate")(function*(directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  yield* Effect.annotateCurrentSpan("directory", directory)
  const workspaceRoot = path.resolve(directory)
  const rootInfo = yield* fs.stat(workspaceRoot).pipe(
    Effect.mapError(() => new RepositoryPathNotFound({ path: workspaceRoot }))
  )
  if (rootInfo.type !== "Directory") {
    return yield* new RepositoryPathNotFound({ path: workspaceRoot })
  }
  const notRepo = (reason: string) => new NotAJjRepository({ path: workspaceRoot, reason })
  const dotJj = path.join(workspaceRoot, ".jj")
  const dotJjInfo = yield* fs.stat(dotJj).pipe(Effect.mapError(() => notRepo("no .jj directory")))
  if (dotJjInfo.type !== "Directory") return yield* notRepo(".jj is not a directory")
  const repoPointer = path.join(dotJj, "repo")
  const pointerInfo = yield* fs.stat(repoPointer).pipe(Effect.mapError(() => notRepo("no .jj/repo")))
  const storePath = pointerInfo.type === "Directory"
    ? repoPointer
    : path.resolve(
      dotJj,
      (yield* fs.readFileString(repoPointer).pipe(Effect.mapError(() => notRepo("unreadable .jj/repo")))).trim()
    )
  const opHeadsPath = path.join(storePath, "op_heads", "heads")
  const headsInfo = yield* fs.stat(opHeadsPath).pipe(
    Effect.mapError(() => notRepo(`no op heads at ${opHeadsPath}`))
  )
  if (headsInfo.type !== "Directory") return yield* notRepo(`${opHeadsPath} is not a directory`)
  return { workspaceRoot, storePath, opHeadsPath } satisfies RepositoryLocation
})
