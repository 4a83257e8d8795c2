import { Config, Option } from "effect"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"

const isRoot = process.getuid?.() === 0

/**
 * Where jj-watcher keeps its own state (the embedded cluster, the local admin token): `JJ_WATCHER_DATA_DIR`, else
 * `$XDG_DATA_HOME/jj-watcher` (`~/.local/share/jj-watcher`); as root `/var/lib/jj-watcher`, a directory the
 * unprivileged PostgreSQL user can enter (it cannot enter `/root`).
 */
export const DataDirectory = Config.string("JJ_WATCHER_DATA_DIR").pipe(
  Config.option,
  Config.map(Option.getOrElse(() => {
    if (isRoot) return "/var/lib/jj-watcher"
    const xdg = process.env["XDG_DATA_HOME"]
    const dataHome = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".local", "share")
    return path.join(dataHome, "jj-watcher")
  })),
  Config.map((directory) => path.resolve(directory))
)

/**
 * Makes `directory` and the parents it lacks, each with `mode`. Parents are made one by one from the nearest one that
 * exists: Node's recursive mkdir never returns for some paths (under /proc, say).
 */
export const makeDirectories = (directory: string, mode: number) => {
  const missing: Array<string> = []
  let current = path.resolve(directory)
  while (!fs.existsSync(current)) {
    missing.unshift(current)
    const parent = path.dirname(current)
    if (parent === current) break
    current = parent
  }
  for (const entry of missing) fs.mkdirSync(entry, { mode })
}
