import { operationKind } from "./UndoState.js"

// jj commands with subcommands; their operation type names both words ("bookmark set").
const commandGroups = new Set([
  "bookmark",
  "b",
  "branch",
  "config",
  "file",
  "git",
  "op",
  "operation",
  "sparse",
  "tag",
  "util",
  "workspace"
])

// Global options that take a separate value, which is not a command word.
const optionsWithValue = new Set([
  "-R",
  "--repository",
  "--at-op",
  "--at-operation",
  "--config",
  "--config-file",
  "--color"
])

const commandWords = (args: string): Array<string> => {
  const words: Array<string> = []
  const tokens = args.split(/\s+/).filter((token) => token !== "").slice(1)
  for (let i = 0; i < tokens.length && words.length < 2; i++) {
    const token = tokens[i]!
    if (optionsWithValue.has(token)) i++
    else if (!token.startsWith("-")) words.push(token)
  }
  return words
}

/**
 * A short type for an operation: "snapshot", "undo", "redo", "restore", "revert", or the jj command that made it
 * ("new", "describe", "bookmark set", ...), from the `args` tag jj records; "root" for the root operation.
 */
export const operationType = (operation: {
  readonly parentOperationIds: ReadonlyArray<string>
  readonly description: string
  readonly isSnapshot: boolean
  readonly tags: Readonly<Record<string, string>>
}): string => {
  if (operation.parentOperationIds.length === 0) return "root"
  if (operation.isSnapshot) return "snapshot"
  const kind = operationKind(operation.description)
  if (kind._tag === "Revert") return "revert"
  if (kind._tag === "Restore") {
    return operation.description.startsWith("undo: ")
      ? "undo"
      : operation.description.startsWith("redo: ")
      ? "redo"
      : "restore"
  }
  const [command, subcommand] = commandWords(operation.tags["args"] ?? "")
  if (command === undefined) return operation.description.split(" ")[0] ?? "unknown"
  return commandGroups.has(command) && subcommand !== undefined ? `${command} ${subcommand}` : command
}
