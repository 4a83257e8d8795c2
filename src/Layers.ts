import { Layer } from "effect"
import { DetailsFill } from "./DetailsFill.js"
import { JjClient } from "./JjClient.js"
import { Repositories } from "./Repositories.js"
import { SyncService } from "./Sync.js"
import { MirrorWriter } from "./Sync/MirrorWriter.js"
import { Watcher } from "./Watcher.js"

/**
 * The layer graph, built in this one place. Both layers need a `SqlClient` (jj-watcher's own `DatabaseLive`, or an
 * embedding application's) and read their settings from the `ConfigProvider`.
 */

/** What a sync needs, and everything it is made of: `jj-watcher sync` and the library's one-shot syncs. */
export const SyncLive = Layer.mergeAll(
  SyncService.Default,
  DetailsFill.Default,
  JjClient.Default,
  Repositories.Default,
  MirrorWriter.Default
)

/** The watcher over the sync services (all of them provided too); also needs `FileSystem` and `Path`. */
export const WatcherLive = Watcher.Default.pipe(Layer.provideMerge(SyncLive))
