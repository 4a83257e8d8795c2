#!/usr/bin/env -S node --no-memory-reducer --heap-growing-percent=50
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer, Logger } from "effect"
import { cli } from "./Cli.js"

// The shebang turns off V8's memory reducer: it re-ran full GCs each time the idle daemon woke for a moment, which
// was most of its idle CPU (see `npm run bench:idle`). It also lets the old generation grow by half of what was live
// after the last full GC before the next one, instead of up to several times that: a large import's batches
// are short-lived but outlive young-generation collections, and the default growth let them pile up into the peak
// RSS (see the merge-heavy import of `npm run bench:sync`).

// LOG_FORMAT=json writes one JSON object per log line (for log shippers); otherwise lines for people.
const json = process.env["LOG_FORMAT"] === "json"

// Loaded only when an OTLP endpoint is set, so that commands without tracing start no faster than before.
const tracing = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] !== undefined ||
    process.env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] !== undefined
  ? Layer.unwrapEffect(Effect.promise(() => import("./Tracing.js")).pipe(Effect.map((module) => module.TracingLive)))
  : Layer.empty

cli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, tracing, json ? Logger.json : Layer.empty)),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: json })
)
