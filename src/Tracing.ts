import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import { FetchHttpClient } from "@effect/platform"
import { Config, Effect, Layer, Option } from "effect"
import { version } from "./Version.js"

/**
 * Exports the spans (every `Effect.fn` and `withSpan`) over OTLP/HTTP (JSON) when an endpoint is configured, as the
 * OpenTelemetry variables say: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, or `OTEL_EXPORTER_OTLP_ENDPOINT` with
 * `/v1/traces`; the service is `OTEL_SERVICE_NAME` (default jj-watcher). Nothing is exported when neither is set.
 */
export const TracingLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const traces = yield* Config.option(Config.string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    const base = yield* Config.option(Config.string("OTEL_EXPORTER_OTLP_ENDPOINT"))
    const url = Option.orElse(traces, () => Option.map(base, (endpoint) => `${endpoint.replace(/\/+$/, "")}/v1/traces`))
    if (Option.isNone(url)) return Layer.empty
    const serviceName = yield* Config.string("OTEL_SERVICE_NAME").pipe(Config.withDefault("jj-watcher"))
    return OtlpTracer.layer({ url: url.value, resource: { serviceName, serviceVersion: version } }).pipe(
      Layer.provide(OtlpSerialization.layerJson),
      Layer.provide(FetchHttpClient.layer)
    )
  })
)
