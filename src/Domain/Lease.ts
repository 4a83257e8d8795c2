import { Schema } from "effect"
import { RepositoryId } from "./Ids.js"

/**
 * A watcher instance's hold on a repository: the instance (`WATCHER_INSTANCE_ID`) and the epoch its claim set. Every
 * claim bumps the epoch, so a sync that checks both at commit never writes over a newer owner's work.
 */
export interface Lease {
  readonly owner: string
  readonly epoch: number
}

/** The repository was claimed by another instance (or released) since this one's claim: nothing was written. */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  repositoryId: RepositoryId,
  owner: Schema.String,
  epoch: Schema.Number
}) {
  get message() {
    return `repository ${this.repositoryId} is no longer leased to ${this.owner} at epoch ${this.epoch}: ` +
      `another instance owns it now, so this sync was rolled back`
  }
}

/** A manual sync forwarded to the repository's owner failed there; its error's tag and message. */
export class ForwardedSyncFailed extends Schema.TaggedError<ForwardedSyncFailed>()("ForwardedSyncFailed", {
  instance: Schema.String,
  tag: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `${this.reason} (${this.tag}, on instance ${this.instance})`
  }
}
