import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import { DatabaseLive } from "./Database.js"
import { HttpLive } from "./Http.js"
import { WatcherLive } from "./Layers.js"

/** `jj-watcher serve`: the watcher and the HTTP API over one database pool. */
export const ServeLive = HttpLive.pipe(
  Layer.provide(WatcherLive),
  Layer.provide(Layer.merge(DatabaseLive, NodeContext.layer))
)
