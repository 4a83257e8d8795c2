import { Schema } from "effect"
import { OperationId, RepositoryId } from "./Ids.js"
import { KindCounts } from "./Repository.js"

/** At most this many items of each list in an event's `changed`; `count` says how many there were. */
export const maxChangedItems = 1_000

/** A list in `changed`: its first items (at most `maxChangedItems`), and how many there were in all. */
const Capped = <A, I>(item: Schema.Schema<A, I>) => Schema.Struct({ count: Schema.Int, items: Schema.Array(item) })

/** A bookmark or tag whose targets changed: `old` null when it appeared, `new` null when it went away. */
export const RefMoved = Schema.Struct({
  name: Schema.String,
  remote: Schema.String,
  old: Schema.NullOr(Schema.Array(Schema.String)),
  new: Schema.NullOr(Schema.Array(Schema.String))
})
export type RefMoved = typeof RefMoved.Type

export const ConflictKey = Schema.Struct({ changeId: Schema.String, filePath: Schema.String })
export type ConflictKey = typeof ConflictKey.Type

/** What a committed sync moved. */
export const Changed = Schema.Struct({
  /** Commits that became visible and that went away. */
  commits: Schema.Struct({ appeared: Capped(Schema.String), gone: Capped(Schema.String) }),
  bookmarks: Capped(RefMoved),
  tags: Capped(RefMoved),
  /** Operations new to the mirror. */
  operations: Capped(Schema.String),
  /** Conflicted paths opened (or changed) and resolved. */
  conflicts: Schema.Struct({ opened: Capped(ConflictKey), resolved: Capped(ConflictKey) })
})
export type Changed = typeof Changed.Type

/** A list with nothing in it. */
export const noItems = <A>(): { count: number; items: Array<A> } => ({ count: 0, items: [] })

/** Nothing moved. */
export const nothingChanged = (): Changed => ({
  commits: { appeared: noItems(), gone: noItems() },
  bookmarks: noItems(),
  tags: noItems(),
  operations: noItems(),
  conflicts: { opened: noItems(), resolved: noItems() }
})

/** Two lists of one event (a reconciliation merges twice), still capped. */
export const concatCapped = <A>(
  a: { readonly count: number; readonly items: ReadonlyArray<A> },
  b: { readonly count: number; readonly items: ReadonlyArray<A> }
) => ({ count: a.count + b.count, items: [...a.items, ...b.items].slice(0, maxChangedItems) })

/** Everything two passes of one sync moved. */
export const concatChanged = (a: Changed, b: Changed): Changed => ({
  commits: {
    appeared: concatCapped(a.commits.appeared, b.commits.appeared),
    gone: concatCapped(a.commits.gone, b.commits.gone)
  },
  bookmarks: concatCapped(a.bookmarks, b.bookmarks),
  tags: concatCapped(a.tags, b.tags),
  operations: concatCapped(a.operations, b.operations),
  conflicts: {
    opened: concatCapped(a.conflicts.opened, b.conflicts.opened),
    resolved: concatCapped(a.conflicts.resolved, b.conflicts.resolved)
  }
})

/** One entry of the change feed: a committed sync of one repository. */
export class SyncEvent extends Schema.Class<SyncEvent>("SyncEvent")({
  /** The cursor: events are numbered in the order their syncs committed. */
  id: Schema.Number,
  /** `owner/name`. */
  repository: Schema.String,
  repositoryId: RepositoryId,
  operationId: OperationId,
  previousOperationId: Schema.NullOr(OperationId),
  mode: Schema.Literal("incremental", "full"),
  fullReason: Schema.NullOr(Schema.String),
  written: KindCounts,
  changed: Changed,
  createdAt: Schema.Date
}) {}
