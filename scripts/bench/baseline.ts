import { Command } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Schema } from "effect"
import fs from "node:fs"
import path from "node:path"
import { pinnedAt } from "./support.js"
import { output } from "./support.js"

/**
 * The earlier design's sync, kept only so `npm run bench:sync` can compare against it on the same repositories: every
 * sync re-lists the newest 1,000 changes, the newest 100 operations and all bookmarks, and writes each row with a
 * statement of its own (INSERT ... ON CONFLICT DO UPDATE). It only upserts, so hidden commits stay, and its first
 * sync (its import) gets at most 1,000 changes: it truncates larger repositories.
 *
 * Where the earlier design's details are unknown, this copy takes the faster choice, so the ratios it yields are
 * conservative: the three jj reads run concurrently, and all upserts of one sync share one transaction (one commit,
 * not one per row). Like jj-watcher it reads with `--ignore-working-copy` and `--at-operation`, so it never writes to
 * the repository, and it writes into a schema made by jj-watcher's own migrations (tables of the same shape).
 */

export const baselineLimits = { changes: 1_000, operations: 100 } as const

// Commit fields as jj-watcher reads them (the same `json(self)` plus flags), so jj does comparable work.
const changeTemplate =
  `"{\\"commit\\":" ++ json(self) ++ ",\\"empty\\":" ++ json(self.empty()) ++ ",\\"conflict\\":" ++ ` +
  `json(self.conflict()) ++ ",\\"divergent\\":" ++ json(self.divergent()) ++ "}\\n"`
const operationTemplate = `json(self) ++ "\\n"`
const bookmarkTemplate = `"{\\"name\\":" ++ json(self.name()) ++ ",\\"remote\\":" ++ ` +
  `if(self.remote(), json(self.remote()), "null") ++ ",\\"present\\":" ++ json(self.present()) ++ ` +
  `",\\"conflict\\":" ++ json(self.conflict()) ++ ",\\"tracked\\":" ++ json(self.tracked()) ++ ` +
  `",\\"targets\\":" ++ json(self.added_targets().map(|c| c.commit_id())) ++ "}\\n"`

const Signature = Schema.Struct({ name: Schema.String, email: Schema.String, timestamp: Schema.String })
const ChangeLine = Schema.parseJson(Schema.Struct({
  commit: Schema.Struct({
    commit_id: Schema.String,
    change_id: Schema.String,
    parents: Schema.Array(Schema.String),
    description: Schema.String,
    author: Signature,
    committer: Signature
  }),
  empty: Schema.Boolean,
  conflict: Schema.Boolean,
  divergent: Schema.Boolean
}))
const OperationLine = Schema.parseJson(Schema.Struct({
  id: Schema.String,
  parents: Schema.Array(Schema.String),
  time: Schema.Struct({ start: Schema.String, end: Schema.String }),
  description: Schema.String,
  hostname: Schema.String,
  username: Schema.String,
  is_snapshot: Schema.Boolean,
  workspace_name: Schema.NullOr(Schema.String),
  attributes: Schema.Record({ key: Schema.String, value: Schema.String })
}))
const BookmarkLine = Schema.parseJson(Schema.Struct({
  name: Schema.String,
  remote: Schema.NullOr(Schema.String),
  present: Schema.Boolean,
  conflict: Schema.Boolean,
  tracked: Schema.Boolean,
  targets: Schema.Array(Schema.String)
}))

/** What one baseline sync read and wrote, and where its time went. */
export interface BaselineResult {
  readonly operationId: string
  readonly changes: number
  readonly operations: number
  readonly bookmarks: number
  /** One per row, plus the repository row's update. */
  readonly statements: number
  readonly jjMs: number
  readonly databaseMs: number
  readonly durationMs: number
}

const decodeLines = <A>(schema: Schema.Schema<A, string>, text: string) =>
  Effect.forEach(text.split("\n").filter((line) => line !== ""), (line) => Schema.decode(schema)(line))

const asTextArray = (values: ReadonlyArray<string>) => JSON.stringify(values)

/** The baseline's row in `repositories` of the schema its SqlClient works in, created when missing. */
export const baselineRepository = (owner: string, name: string, repositoryPath: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly id: number }>`
      INSERT INTO repositories (owner, name, path) VALUES (${owner}, ${name}, ${repositoryPath})
      ON CONFLICT (owner, name) DO UPDATE SET path = excluded.path
      RETURNING id
    `
    return row!.id
  })

/**
 * One sync of the earlier design, at the repository's current op head. `jjConfigDir` should be an empty directory (an
 * empty user configuration, as jj-watcher uses), so user settings cannot change jj's output or cost.
 */
export const baselineSync = (options: {
  readonly jjBin: string
  readonly jjConfigDir: string
  readonly path: string
  readonly repositoryId: number
}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const started = performance.now()
    const heads = fs.readdirSync(path.join(options.path, ".jj", "repo", "op_heads", "heads"))
    const operationId = heads.sort().at(-1)!
    const jj = (...args: ReadonlyArray<string>) =>
      output(
        `jj ${args[0]}`,
        Command.make(options.jjBin, ...pinnedAt(options.path, operationId, args)).pipe(
          Command.env({ JJ_CONFIG: options.jjConfigDir, COLUMNS: "1000" })
        )
      )

    const [changeOutput, operationOutput, bookmarkOutput] = yield* Effect.all([
      jj(
        "log",
        "--revisions",
        "all() ~ root()",
        "--limit",
        String(baselineLimits.changes),
        "--no-graph",
        "-T",
        changeTemplate
      ),
      jj("op", "log", "--limit", String(baselineLimits.operations), "--no-graph", "-T", operationTemplate),
      jj("bookmark", "list", "--all-remotes", "-T", bookmarkTemplate)
    ], { concurrency: "unbounded" })
    const changes = yield* decodeLines(ChangeLine, changeOutput)
    const operations = yield* decodeLines(OperationLine, operationOutput)
    const bookmarks = (yield* decodeLines(BookmarkLine, bookmarkOutput)).filter((bookmark) => bookmark.present)
    const read = performance.now()

    const id = options.repositoryId
    yield* Effect.gen(function*() {
      for (const { commit, conflict, divergent, empty } of changes) {
        yield* sql`
          INSERT INTO changes (repository_id, commit_id, change_id, parent_commit_ids, description, author_name,
            author_email, timestamp, committer_name, committer_email, committer_timestamp, is_empty, has_conflicts,
            is_divergent)
          VALUES (${id}, ${commit.commit_id}, ${commit.change_id},
            ARRAY(SELECT json_array_elements_text(${asTextArray(commit.parents)}::json)), ${commit.description},
            ${commit.author.name}, ${commit.author.email}, ${commit.author.timestamp}::timestamptz,
            ${commit.committer.name}, ${commit.committer.email}, ${commit.committer.timestamp}::timestamptz,
            ${empty}, ${conflict}, ${divergent})
          ON CONFLICT (repository_id, commit_id) DO UPDATE SET
            change_id = excluded.change_id, parent_commit_ids = excluded.parent_commit_ids,
            description = excluded.description, author_name = excluded.author_name,
            author_email = excluded.author_email, timestamp = excluded.timestamp,
            committer_name = excluded.committer_name, committer_email = excluded.committer_email,
            committer_timestamp = excluded.committer_timestamp, is_empty = excluded.is_empty,
            has_conflicts = excluded.has_conflicts, is_divergent = excluded.is_divergent
        `
      }
      for (const operation of operations) {
        yield* sql`
          INSERT INTO jj_operations (repository_id, operation_id, parent_operation_ids, operation_type, description,
            username, hostname, start_time, timestamp, is_snapshot, is_undone, workspace_name, tags)
          VALUES (${id}, ${operation.id}, ARRAY(SELECT json_array_elements_text(${
          asTextArray(operation.parents)
        }::json)),
            ${operation.description.split(" ")[0] ?? ""} /* a rough type: the description's first word */,
            ${operation.description}, ${operation.username},
            ${operation.hostname}, ${operation.time.start}::timestamptz, ${operation.time.end}::timestamptz,
            ${operation.is_snapshot}, false, ${operation.workspace_name ?? ""}, ${
          JSON.stringify(operation.attributes)
        }::jsonb)
          ON CONFLICT (repository_id, operation_id) DO UPDATE SET
            parent_operation_ids = excluded.parent_operation_ids, operation_type = excluded.operation_type,
            description = excluded.description, username = excluded.username, hostname = excluded.hostname,
            start_time = excluded.start_time, timestamp = excluded.timestamp, is_snapshot = excluded.is_snapshot,
            workspace_name = excluded.workspace_name, tags = excluded.tags
        `
      }
      for (const bookmark of bookmarks) {
        yield* sql`
          INSERT INTO bookmarks (repository_id, name, remote, target_commit_ids, is_conflicted, is_tracked, is_default)
          VALUES (${id}, ${bookmark.name}, ${bookmark.remote ?? ""},
            ARRAY(SELECT json_array_elements_text(${asTextArray(bookmark.targets)}::json)), ${bookmark.conflict},
            ${bookmark.remote !== null && bookmark.tracked}, ${["main", "master", "trunk"].includes(bookmark.name)})
          ON CONFLICT (repository_id, name, remote) DO UPDATE SET
            target_commit_ids = excluded.target_commit_ids, is_conflicted = excluded.is_conflicted,
            is_tracked = excluded.is_tracked, is_default = excluded.is_default, updated_at = now()
        `
      }
      yield* sql`
        UPDATE repositories SET last_synced_operation_id = ${operationId}, last_synced_at = now() WHERE id = ${id}
      `
    }).pipe(sql.withTransaction)
    const finished = performance.now()

    return {
      operationId,
      changes: changes.length,
      operations: operations.length,
      bookmarks: bookmarks.length,
      statements: changes.length + operations.length + bookmarks.length + 1,
      jjMs: read - started,
      databaseMs: finished - read,
      durationMs: finished - started
    } satisfies BaselineResult
  })
