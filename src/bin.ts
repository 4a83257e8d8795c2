#!/usr/bin/env -S node --no-memory-reducer
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { cli } from "./Cli.js"

// The shebang turns off V8's memory reducer: it re-ran full GCs each time the idle daemon woke for a moment, which
// was most of its idle CPU (see `npm run bench:idle`).
cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain({ disableErrorReporting: true }))
