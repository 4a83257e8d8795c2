import { Layer } from "effect"
import { DatabaseLive } from "./Database.js"
import { HttpLive } from "./Http.js"
import { JjClient } from "./JjClient.js"
import { Repositories } from "./Repositories.js"
import { SyncService } from "./Sync.js"
import { SyncRepo } from "./Sync/Repo.js"
import { Watcher } from "./Watcher.js"

/** `jj-watcher serve`: the watcher and the HTTP API over one database pool. */
export const ServeLive = HttpLive.pipe(
  Layer.provide(Layer.mergeAll(Watcher.Default, Repositories.Default, SyncRepo.Default, SyncService.Default, JjClient.Default)),
  Layer.provide(DatabaseLive)
)
