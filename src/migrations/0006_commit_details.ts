import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// What a forge reads per commit besides its fields: the files it changed (with line counts) and the commits it was
// rewritten from. Both never change for a commit id, so they are read once per commit, after the sync that brought
// it, by the details fill: `commit_details_pending` lists the visible commits not read yet, and
// `repositories.files_complete` says when it is empty. Rows of a commit go with it (foreign keys on `changes`).
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE change_files (
      repository_id bigint NOT NULL,
      commit_id text NOT NULL,
      path text NOT NULL,
      status text NOT NULL,
      source_path text,
      lines_added integer NOT NULL,
      lines_removed integer NOT NULL,
      PRIMARY KEY (repository_id, commit_id, path),
      FOREIGN KEY (repository_id, commit_id) REFERENCES changes (repository_id, commit_id) ON DELETE CASCADE
    )
  `
  yield* sql`
    CREATE TABLE commit_predecessors (
      repository_id bigint NOT NULL,
      commit_id text NOT NULL,
      predecessor_commit_id text NOT NULL,
      operation_id text,
      PRIMARY KEY (repository_id, commit_id, predecessor_commit_id),
      FOREIGN KEY (repository_id, commit_id) REFERENCES changes (repository_id, commit_id) ON DELETE CASCADE
    )
  `
  yield* sql`
    CREATE INDEX commit_predecessors_predecessor_idx ON commit_predecessors (repository_id, predecessor_commit_id)
  `
  yield* sql`
    CREATE TABLE commit_details_pending (
      repository_id bigint NOT NULL,
      commit_id text NOT NULL,
      PRIMARY KEY (repository_id, commit_id),
      FOREIGN KEY (repository_id, commit_id) REFERENCES changes (repository_id, commit_id) ON DELETE CASCADE
    )
  `
  yield* sql`
    ALTER TABLE repositories
      ADD COLUMN sync_files boolean NOT NULL DEFAULT true,
      ADD COLUMN sync_predecessors boolean NOT NULL DEFAULT true,
      ADD COLUMN files_complete boolean NOT NULL DEFAULT false
  `
  // Mirrors made before this migration: every commit they hold is still to be read.
  yield* sql`INSERT INTO commit_details_pending (repository_id, commit_id) SELECT repository_id, commit_id FROM changes`
  yield* sql`
    UPDATE repositories r SET files_complete = NOT EXISTS (
      SELECT 1 FROM commit_details_pending p WHERE p.repository_id = r.id
    )
  `
})
