import { Schema } from "effect"

/** What every sync needs besides its repository. */
export const Dependency = Schema.Literal("database", "jj")
export type Dependency = typeof Dependency.Type

/** A dependency that does not answer: syncing pauses until it does (see `Watcher/Dependencies`). */
export class DependencyDown extends Schema.Class<DependencyDown>("DependencyDown")({
  dependency: Dependency,
  /** Why its probe failed. */
  reason: Schema.String,
  since: Schema.Date
}) {}
