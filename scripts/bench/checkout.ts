import { Data } from "effect"
import { execFileSync } from "node:child_process"
import fs from "node:fs"
import path from "node:path"
import { benchCache } from "./support.js"

/**
 * An earlier commit of this project, built apart (its own dependencies, its own `dist/`), for benchmarks that compare
 * today's code with the code an issue measured. Made from this clone's history with `git archive` (nothing is written
 * into the clone) under the cache directory, once per commit.
 */

const projectRoot = path.resolve(import.meta.dirname, "../..")

const cacheRoot = benchCache("checkouts")

/** Why an earlier commit cannot be built here (a shallow clone lacks it, say). */
export class CheckoutUnavailable extends Data.TaggedError("CheckoutUnavailable")<{ readonly message: string }> {}

const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  execFileSync(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" })

/** The built CLI (`dist/bin.js`) of commit `revision`, building it the first time. */
export const builtCheckout = (revision: string): string => {
  let commit: string
  try {
    commit = run("git", ["rev-parse", "--verify", `${revision}^{commit}`], projectRoot).trim()
  } catch {
    throw new CheckoutUnavailable({ message: `commit ${revision} is not in this clone's history (a shallow clone?)` })
  }
  const directory = path.join(cacheRoot, commit)
  const bin = path.join(directory, "dist", "bin.js")
  if (fs.existsSync(bin)) return bin
  const building = `${directory}.building-${process.pid}`
  try {
    fs.rmSync(building, { recursive: true, force: true })
    fs.mkdirSync(building, { recursive: true })
    execFileSync("bash", [
      "-c",
      `git -C "$0" archive --format=tar "$1" | tar -x -C "$2"`,
      projectRoot,
      commit,
      building
    ])
    run("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], building)
    run("npm", ["run", "build"], building)
  } catch (error) {
    fs.rmSync(building, { recursive: true, force: true })
    const stderr = (error as { stderr?: unknown }).stderr
    throw new CheckoutUnavailable({
      message: `building ${revision} failed: ${typeof stderr === "string" ? stderr.slice(-2_000) : String(error)}`
    })
  }
  fs.rmSync(directory, { recursive: true, force: true })
  fs.renameSync(building, directory)
  return bin
}
