import {
  HttpApiBuilder,
  HttpApiScalar,
  HttpIncomingMessage,
  HttpServer,
  HttpServerError,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Config, Effect, Layer, Option } from "effect"
import { createServer } from "node:http"
import { WatcherApi } from "./Api.js"
import { AuthLive } from "./Auth/Http.js"
import { ChangeFeed } from "./Feed.js"
import { FeedHttpLive } from "./Feed/Http.js"
import { HealthHttpLive } from "./Health/Http.js"
import { PageHttpLive } from "./Page/Http.js"
import { WatcherHttpLive } from "./Watcher/Http.js"

// No endpoint takes a body; anything sent is refused past this size rather than buffered.
const MaxBodyLive = HttpApiBuilder.middleware(HttpIncomingMessage.withMaxBodySize(Option.some(64 * 1024)))

// Unknown paths answer with a JSON error like every other failure.
const NotFoundLive = HttpApiBuilder.middleware((app) =>
  Effect.catchAll(app, (error: unknown) =>
    error instanceof HttpServerError.RouteNotFound
      ? HttpServerResponse.json({ _tag: "RouteNotFound", message: "no such endpoint" }, { status: 404 }).pipe(
        Effect.orDie
      )
      // Any other failure is the server's default 500, as before.
      : Effect.die(error))
)

/** The HttpApi with its handlers, auth and middleware; needs the watcher's services. */
export const ApiLive = HttpApiBuilder.api(WatcherApi).pipe(
  Layer.provide([WatcherHttpLive, FeedHttpLive.pipe(Layer.provide(ChangeFeed.Default)), HealthHttpLive, PageHttpLive]),
  Layer.provide(AuthLive),
  Layer.provide([MaxBodyLive, NotFoundLive])
)

/** The HTTP server on `PORT`: the API, `/openapi.json` and a docs page at `/docs`. */
export const HttpLive = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
  Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
  Layer.provide(ApiLive),
  HttpServer.withLogAddress,
  Layer.provide(
    NodeHttpServer.layerConfig(createServer, {
      port: Config.integer("PORT").pipe(Config.withDefault(4000)),
      host: Config.string("HOST").pipe(Config.withDefault("0.0.0.0"))
    })
  )
)
