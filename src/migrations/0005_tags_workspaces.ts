import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Tags (local and remote, as jj 0.45 has them) and each workspace's working-copy commit, mirrored like bookmarks;
// both kinds on by default. `git_export_pending`: the mirror's local bookmarks or tags and their `git` remote
// counterparts differ, so any operation may move the `git` refs alone (jj retries a failed export).
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE tags (
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      name text NOT NULL,
      remote text NOT NULL DEFAULT '',
      target_commit_ids text[] NOT NULL,
      target_change_id text,
      is_conflicted boolean NOT NULL,
      is_tracked boolean NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (repository_id, name, remote)
    )
  `
  yield* sql`
    CREATE TABLE workspaces (
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      name text NOT NULL,
      working_copy_commit_id text NOT NULL,
      working_copy_change_id text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (repository_id, name)
    )
  `
  yield* sql`
    ALTER TABLE repositories
      ADD COLUMN sync_tags boolean NOT NULL DEFAULT true,
      ADD COLUMN sync_workspaces boolean NOT NULL DEFAULT true,
      ADD COLUMN git_export_pending boolean NOT NULL DEFAULT false
  `
})
