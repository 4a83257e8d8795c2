import { HttpApi, OpenApi } from "@effect/platform"
import { FeedApiGroup } from "./Feed/Api.js"
import { HealthApiGroup } from "./Health/Api.js"
import { PageApiGroup } from "./Page/Api.js"
import { version } from "./Version.js"
import { WatcherApiGroup } from "./Watcher/Api.js"

export class WatcherApi extends HttpApi.make("jj-watcher")
  .add(WatcherApiGroup)
  .add(FeedApiGroup)
  .add(HealthApiGroup)
  .add(PageApiGroup)
  .annotate(OpenApi.Title, "jj-watcher")
  .annotate(OpenApi.Version, version)
  .annotate(
    OpenApi.Description,
    "Live mirror of jj repositories in PostgreSQL: status, watch list, sync, change feed, health"
  )
{}
