/**
 * jj-watcher as a library: the services, the HttpApi groups and their handlers, so that another Effect application
 * can embed the watcher, mount its endpoints in its own HttpApi and provide its own SqlClient.
 */

export { WatcherApi } from "./Api.js"
export { AuthConfig, Authenticator } from "./Auth.js"
export { AdminAccess, CurrentUser, Forbidden, MetricsAccess, OwnerAccess, Unauthorized, User } from "./Auth/Api.js"
export { AuthLive } from "./Auth/Http.js"
export { DatabaseConfig, DatabaseLive, DatabaseUnavailable, migrations, MigrationsLive } from "./Database.js"
export * from "./Domain/Ids.js"
export * from "./Domain/Jj.js"
export * from "./Domain/JjErrors.js"
export * from "./Domain/Repository.js"
export * from "./Domain/Sync.js"
export { HealthApiGroup, NotReady, Readiness } from "./Health/Api.js"
export { healthHandlers, HealthHttpLive } from "./Health/Http.js"
export { ApiLive, HttpLive } from "./Http.js"
export { JjClient, JjConfig } from "./JjClient.js"
export { SyncLive, WatcherLive } from "./Layers.js"
export { Repositories } from "./Repositories.js"
export { SyncService } from "./Sync.js"
export { mirrorFormat, SyncConfig } from "./Sync/Config.js"
export { MirrorWriter } from "./Sync/MirrorWriter.js"
export * as SyncPlan from "./Sync/Plan.js"
export { Watcher, WatcherStatus } from "./Watcher.js"
export * from "./Watcher/Api.js"
export { WatcherConfig } from "./Watcher/Config.js"
export { watcherHandlers, WatcherHttpLive } from "./Watcher/Http.js"
