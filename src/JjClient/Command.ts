import type { OperationId } from "../Domain/Ids.js"
import type { RepositoryLocation } from "../Domain/Jj.js"

/** A jj command pinned to an operation of a repository, run through the repository's read view (`ReadView`). */
export interface PinnedCommand {
  readonly location: RepositoryLocation
  readonly operationId: OperationId
  readonly rest: ReadonlyArray<string>
  /** Run in the read view's root, when the paths jj prints must be relative to the workspace. */
  readonly runInView: boolean
}

/** What jj is asked to run: a plain command line, or a pinned command. */
export type JjCommand = ReadonlyArray<string> | PinnedCommand

export const isPinned = (command: JjCommand): command is PinnedCommand => !Array.isArray(command)
