import { Schema } from "effect"

/** Hex commit id, as jj prints `commit_id`. */
export const CommitId = Schema.String.pipe(Schema.pattern(/^[0-9a-f]+$/), Schema.brand("CommitId"))
export type CommitId = typeof CommitId.Type

/** Change id in jj's canonical "reverse hex" alphabet (z..k). */
export const ChangeId = Schema.String.pipe(Schema.pattern(/^[k-z]+$/), Schema.brand("ChangeId"))
export type ChangeId = typeof ChangeId.Type

/** Hex operation id, as stored in `.jj/repo/op_heads/heads/`. */
export const OperationId = Schema.String.pipe(Schema.pattern(/^[0-9a-f]+$/), Schema.brand("OperationId"))
export type OperationId = typeof OperationId.Type

/** A `repositories.id` (bigint); read as a number, or from the string a pg client without int8 parsing gives. */
export const RepositoryId = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(
  Schema.int(),
  Schema.brand("RepositoryId")
)
export type RepositoryId = typeof RepositoryId.Type
