import { HttpApiBuilder } from "@effect/platform"
import type { HttpApi, HttpApiGroup } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Metric } from "effect"
import { WatcherApi } from "../Api.js"
import * as Metrics from "../Metrics.js"
import { Watcher } from "../Watcher.js"
import { NotReady, Readiness } from "./Api.js"
import type { HealthApiGroup } from "./Api.js"

/** Handlers of the health group for any HttpApi that includes `HealthApiGroup`. */
export const healthHandlers = <ApiId extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof HealthApiGroup, E, R>
) =>
  HttpApiBuilder.group(
    api as HttpApi.HttpApi<ApiId, typeof HealthApiGroup, E, R>,
    "health",
    (handlers) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const watcher = yield* Watcher
        const processMetrics = yield* Metrics.makeProcessMetrics
        return handlers
          .handle("health", () => Effect.succeed({ status: "ok" as const }))
          .handle("ready", () =>
            Effect.gen(function*() {
              const database = yield* sql`SELECT 1`.pipe(
                Effect.timeout("2 seconds"),
                Effect.as(true),
                Effect.orElseSucceed(() => false)
              )
              const status = yield* watcher.status
              // A server configured without the watcher is ready once its database is.
              const watching = status.running || !status.enabled
              const fields = { database, watcher: watching, dependenciesDown: status.dependenciesDown }
              return database && watching && status.dependenciesDown.length === 0
                ? new Readiness(fields)
                : yield* new NotReady(fields)
            }))
          .handle("metrics", () =>
            Effect.gen(function*() {
              const status = yield* watcher.status
              yield* Metric.set(Metrics.watchedRepositories, status.watchedRepos)
              yield* Metric.set(Metrics.syncsInFlight, status.inFlight)
              yield* Metric.set(Metrics.syncQueueDepth, status.queued)
              return (yield* Metrics.prometheusText) + (yield* processMetrics)
            }))
      })
  )

export const HealthHttpLive = healthHandlers(WatcherApi)
