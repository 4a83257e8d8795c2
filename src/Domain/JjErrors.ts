import { Schema } from "effect"

/** jj is not installed where we look (`JJ_BIN` or PATH), or is older than the supported minimum. */
export class JjUnavailable extends Schema.TaggedError<JjUnavailable>()("JjUnavailable", {
  message: Schema.String
}) {}

export class RepositoryPathNotFound extends Schema.TaggedError<RepositoryPathNotFound>()("RepositoryPathNotFound", {
  path: Schema.String
}) {
  get message() {
    return `no such directory: ${this.path}`
  }
}

/** The directory exists but holds no usable jj repository (no `.jj`, or a `.jj` that is corrupt). */
export class NotAJjRepository extends Schema.TaggedError<NotAJjRepository>()("NotAJjRepository", {
  path: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `not a jj repository: ${this.path} (${this.reason})`
  }
}

export class JjCommandFailed extends Schema.TaggedError<JjCommandFailed>()("JjCommandFailed", {
  args: Schema.Array(Schema.String),
  exitCode: Schema.Number,
  stderr: Schema.String
}) {
  get message() {
    return `jj ${this.args.join(" ")} exited with ${this.exitCode}: ${this.stderr.trim()}`
  }
}

export class JjOutputInvalid extends Schema.TaggedError<JjOutputInvalid>()("JjOutputInvalid", {
  args: Schema.Array(Schema.String),
  line: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `could not understand the output of jj ${this.args.join(" ")}: ${this.reason}`
  }
}

/** jj wrote nothing for `JJ_TIMEOUT` (it stalled); a call that keeps writing is never cut off. */
export class JjTimeout extends Schema.TaggedError<JjTimeout>()("JjTimeout", {
  args: Schema.Array(Schema.String),
  timeoutMs: Schema.Number
}) {
  get message() {
    return `jj ${this.args.join(" ")} produced no output for ${this.timeoutMs} ms`
  }
}

/** An incremental read names an operation jj no longer has (`jj op abandon`, garbage collection). */
export class PreviousOperationMissing
  extends Schema.TaggedError<PreviousOperationMissing>()("PreviousOperationMissing", {
    operationId: Schema.String
  })
{
  get message() {
    return `operation ${this.operationId.slice(0, 12)} is no longer in the operation log`
  }
}

/**
 * An incremental read from an operation that is not an ancestor of the pinned one (concurrent operations): commits
 * of its state are not in the pinned operation's index, so the difference cannot be computed from there.
 */
export class PreviousOperationUnrelated extends Schema.TaggedError<PreviousOperationUnrelated>()(
  "PreviousOperationUnrelated",
  { operationId: Schema.String }
) {
  get message() {
    return `operation ${this.operationId.slice(0, 12)} is not an ancestor of the operation being read`
  }
}

/**
 * What reading a repository through jj can fail with; `NotAJjRepository` when the repository's store could not be
 * read to make the view jj reads through (it vanished since it was located).
 */
export type JjError = JjUnavailable | JjCommandFailed | JjOutputInvalid | JjTimeout | NotAJjRepository
export type RepositoryError = RepositoryPathNotFound | NotAJjRepository
