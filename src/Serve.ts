import { NodeContext } from "@effect/platform-node"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { AuthConfig } from "./Auth.js"
import { DatabaseLive } from "./Database.js"
import { DataDirectory } from "./DataDirectory.js"
import { HttpLive } from "./Http.js"
import { WatcherLive } from "./Layers.js"
import { writeLocalToken } from "./LocalToken.js"
import { withSettings } from "./Settings.js"

/** `jj-watcher serve`: the watcher and the HTTP API over one database pool. */
export const ServeLive = HttpLive.pipe(
  Layer.provide(WatcherLive),
  Layer.provide(Layer.merge(DatabaseLive, NodeContext.layer))
)

/**
 * With no admin token and no JWT key configured, the settings that give this machine's user access and nobody
 * else: a generated admin token (see `LocalToken.ts`), and the loopback interface unless `HOST` says otherwise.
 */
const localAccess = Effect.gen(function*() {
  const auth = yield* AuthConfig
  if (Option.isSome(auth.adminToken) || Option.isSome(auth.jwtSecret) || Option.isSome(auth.jwtPublicKey)) {
    return {}
  }
  const { file, token } = yield* writeLocalToken(yield* DataDirectory)
  const host = Option.getOrElse(yield* Config.option(Config.string("HOST")), () => "127.0.0.1")
  yield* Effect.logInfo(
    `no WATCHER_ADMIN_TOKEN or JWT key configured: the CLI's admin token is in ${file}; listening on ${host}`
  )
  return { WATCHER_ADMIN_TOKEN: Redacted.value(token), HOST: host }
})

/** Runs `serve` until interrupted (SIGINT, SIGTERM). */
export const serve = Effect.flatMap(localAccess, (settings) => Layer.launch(ServeLive).pipe(withSettings(settings)))
