import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { MetricsAccess } from "../Auth/Api.js"

export class Readiness extends Schema.Class<Readiness>("Readiness")({
  database: Schema.Boolean,
  watcher: Schema.Boolean
}) {}

export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { database: Schema.Boolean, watcher: Schema.Boolean },
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
