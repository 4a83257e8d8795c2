import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { ApiLive } from "../../src/Http.js"
import { Watcher } from "../../src/Watcher.js"
import { servicesLayer, testConfig } from "./database.js"

/**
 * jj-watcher's HttpApi served on a test server over `schema` (with the watcher and every sync service), configured
 * from `settings` and then the environment. `serve` adds server middleware (the OpenAPI document, say).
 */
export const httpAppLayer = (
  schema: string,
  settings: Record<string, string>,
  serve = HttpApiBuilder.serve()
) =>
  serve.pipe(
    Layer.provide(ApiLive),
    Layer.provideMerge(Watcher.Default),
    Layer.provideMerge(servicesLayer(schema)),
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provide(Layer.setConfigProvider(testConfig(schema, settings)))
  )

/** The port the test server listens on. */
export const serverPort = Effect.map(
  HttpServer.HttpServer,
  (server) => server.address._tag === "TcpAddress" ? server.address.port : 0
)
