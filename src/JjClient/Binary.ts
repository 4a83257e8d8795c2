import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect } from "effect"
import os from "node:os"
import nodePath from "node:path"

/** Compares dotted version numbers. */
export const compareVersions = (a: string, b: string): number => {
  const pa = a.split(".").map(Number)
  const pb = b.split(".").map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (diff !== 0) return diff
  }
  return 0
}

/**
 * Where scripts/install-jj.sh builds jj releases (and the benchmarks keep what they generate): `JJ_CACHE_DIR`, else
 * `jj-watcher` under the user's cache directory.
 */
export const cacheDirectory = () =>
  process.env["JJ_CACHE_DIR"] ??
    nodePath.join(process.env["XDG_CACHE_HOME"] ?? nodePath.join(os.homedir(), ".cache"), "jj-watcher")

/**
 * Without `JJ_BIN`: `jj` from PATH, or else the newest release scripts/install-jj.sh built into its cache.
 */
export const defaultBin = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const exists = (file: string) => fs.exists(file).pipe(Effect.orElseSucceed(() => false))
  for (const directory of (process.env["PATH"] ?? "").split(nodePath.delimiter).filter((entry) => entry !== "")) {
    if (yield* exists(path.join(directory, "jj"))) return "jj"
  }
  const cache = cacheDirectory()
  const releases = (yield* fs.readDirectory(cache).pipe(Effect.orElseSucceed((): Array<string> => [])))
    .filter((entry) => /^jj-\d+\.\d+\.\d+$/.test(entry))
    .sort((a, b) => compareVersions(b.slice(3), a.slice(3)))
  for (const release of releases) {
    const candidate = path.join(cache, release, "bin", "jj")
    if (yield* exists(candidate)) return candidate
  }
  return "jj"
})
