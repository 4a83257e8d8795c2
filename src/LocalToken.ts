import { Effect, Option, Redacted, Schema } from "effect"
import { randomBytes } from "node:crypto"
import fs from "node:fs"
import path from "node:path"
import { makeDirectories } from "./DataDirectory.js"

/**
 * Local access without configured secrets: when neither an admin token nor a JWT key is configured, `serve` makes an
 * admin token of its own at each start and keeps it in `<data dir>/admin-token` (mode 0600), where the CLI reads it.
 * Whoever can read that file already has this user's rights.
 */

export class LocalTokenFailed extends Schema.TaggedError<LocalTokenFailed>()("LocalTokenFailed", {
  message: Schema.String
}) {}

export const localTokenFile = (dataDirectory: string) => path.join(dataDirectory, "admin-token")

/** A new token, written atomically with mode 0600; returns it with the file's path. */
export const writeLocalToken = (dataDirectory: string) =>
  Effect.try({
    try: () => {
      const token = randomBytes(32).toString("base64url")
      const file = localTokenFile(dataDirectory)
      makeDirectories(dataDirectory, 0o700)
      const temporary = `${file}.${process.pid}`
      fs.writeFileSync(temporary, `${token}\n`, { mode: 0o600 })
      fs.renameSync(temporary, file)
      return { token: Redacted.make(token), file }
    },
    catch: (error) =>
      new LocalTokenFailed({
        message: `cannot write the local admin token in ${dataDirectory} (${
          error instanceof Error ? error.message : String(error)
        }); set JJ_WATCHER_DATA_DIR to a directory this user can write, or configure WATCHER_ADMIN_TOKEN`
      })
  })

/** The token a running `serve` wrote, if any this user can read. */
export const readLocalToken = (dataDirectory: string): Effect.Effect<Option.Option<Redacted.Redacted>> =>
  Effect.sync(() => {
    try {
      const token = fs.readFileSync(localTokenFile(dataDirectory), "utf8").trim()
      return token === "" ? Option.none() : Option.some(Redacted.make(token))
    } catch {
      return Option.none()
    }
  })
