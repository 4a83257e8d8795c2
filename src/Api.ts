import { HttpApi, OpenApi } from "@effect/platform"
import { HealthApiGroup } from "./Health/Api.js"
import { version } from "./Version.js"
import { WatcherApiGroup } from "./Watcher/Api.js"

export class WatcherApi extends HttpApi.make("jj-watcher")
  .add(WatcherApiGroup)
  .add(HealthApiGroup)
  .annotate(OpenApi.Title, "jj-watcher")
  .annotate(OpenApi.Version, version)
  .annotate(OpenApi.Description, "Live mirror of jj repositories in PostgreSQL: status, watch list, sync, health")
{}
