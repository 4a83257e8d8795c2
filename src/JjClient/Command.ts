import type { OperationId } from "../Domain/Ids.js"
import type { RepositoryLocation } from "../Domain/Jj.js"

/**
 * A jj command pinned to an operation of a repository, run in the repository's read view (`ReadView`): its root is the
 * working directory, so paths jj prints are relative to the workspace.
 */
export interface PinnedCommand {
  readonly location: RepositoryLocation
  readonly operationId: OperationId
  readonly rest: ReadonlyArray<string>
  /** Settings of the command's own (TOML), read by jj as a configuration file after the client's. */
  readonly settings?: string
}

/** What jj is asked to run: a plain command line, or a pinned command. */
export type JjCommand = ReadonlyArray<string> | PinnedCommand

export const isPinned = (command: JjCommand): command is PinnedCommand => !Array.isArray(command)
