import { Schema } from "effect"

/** What a details fill did: commits read, rows written. */
export const DetailsFilled = Schema.Struct({
  commits: Schema.Int,
  files: Schema.Int,
  predecessors: Schema.Int,
  durationMs: Schema.Number
})
export type DetailsFilled = typeof DetailsFilled.Type

/** How far a details fill got: commits read so far, of those waiting when it started. */
export interface DetailsProgress {
  readonly commits: number
  readonly pending: number
}

/** jj answered a read of commit details without some of the commits asked for. */
export class CommitDetailsIncomplete extends Schema.TaggedError<CommitDetailsIncomplete>()("CommitDetailsIncomplete", {
  path: Schema.String,
  operationId: Schema.String,
  missing: Schema.Array(Schema.String)
}) {
  get message() {
    return `jj gave no details for commit(s) ${
      this.missing.join(", ")
    } of ${this.path} at operation ${this.operationId}`
  }
}
