/**
 * jj-watcher as a library: the services, the HttpApi groups and their handlers, so that another Effect application
 * can embed the watcher, mount its endpoints in its own HttpApi and provide its own SqlClient.
 */
import { Layer } from "effect"
import { JjClient } from "./JjClient.js"
import { Repositories } from "./Repositories.js"
import { SyncService } from "./Sync.js"
import { SyncRepo } from "./Sync/Repo.js"
import { Watcher } from "./Watcher.js"

export { WatcherApi } from "./Api.js"
export { AdminAccess, CurrentUser, Forbidden, MetricsAccess, OwnerAccess, Unauthorized, User } from "./Auth/Api.js"
export { AuthConfig, Authenticator } from "./Auth.js"
export { AuthLive } from "./Auth/Http.js"
export { DatabaseConfig, DatabaseLive, DatabaseUnavailable, migrations, MigrationsLive } from "./Database.js"
export * from "./Domain/Ids.js"
export * from "./Domain/Jj.js"
export * from "./Domain/Repository.js"
export { HealthApiGroup, NotReady, Readiness } from "./Health/Api.js"
export { healthHandlers, HealthHttpLive } from "./Health/Http.js"
export { ApiLive, HttpLive } from "./Http.js"
export { JjClient, JjConfig } from "./JjClient.js"
export * from "./JjClient/Errors.js"
export { Repositories } from "./Repositories.js"
export { SyncConfig, SyncResult, SyncService, SyncTimeout, type SyncTarget } from "./Sync.js"
export { SyncRepo } from "./Sync/Repo.js"
export { PathOutsideBase, Watcher, WatcherConfig, WatcherStatus } from "./Watcher.js"
export * from "./Watcher/Api.js"
export { watcherHandlers, WatcherHttpLive } from "./Watcher/Http.js"

/**
 * The watcher and the services behind it, without a database: provide a SqlClient (with PgClient for
 * `MigrationsLive`) and NodeContext. jj-watcher's own `serve` provides `DatabaseLive`.
 */
export const WatcherLive = Watcher.DefaultWithoutDependencies.pipe(
  Layer.provideMerge(SyncService.DefaultWithoutDependencies),
  Layer.provideMerge(
    Layer.mergeAll(JjClient.Default, Repositories.DefaultWithoutDependencies, SyncRepo.DefaultWithoutDependencies)
  )
)
