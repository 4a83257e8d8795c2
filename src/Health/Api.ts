import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { MetricsAccess } from "../Auth/Api.js"
import { DependencyDown } from "../Domain/Dependency.js"

const readinessFields = {
  /** The database answers this request. */
  database: Schema.Boolean,
  /** The watcher runs (or is switched off). */
  watcher: Schema.Boolean,
  /** What the watcher found not answering, with why and since when; syncing is paused meanwhile. */
  dependenciesDown: Schema.Array(DependencyDown)
}

export class Readiness extends Schema.Class<Readiness>("Readiness")(readinessFields) {}

export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  readinessFields,
  HttpApiSchema.annotations({ status: 503 })
) {}

/** Probes and metrics; no token needed (unless `METRICS_REQUIRE_TOKEN` for `/metrics`). */
export class HealthApiGroup extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({ status: Schema.Literal("ok") })))
  .add(HttpApiEndpoint.get("ready", "/ready").addSuccess(Readiness).addError(NotReady))
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
      .middleware(MetricsAccess)
  )
{}
