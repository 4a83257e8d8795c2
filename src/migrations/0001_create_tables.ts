import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Table and column names are a public contract: users query them directly.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE repositories (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      owner text NOT NULL,
      name text NOT NULL,
      path text NOT NULL,
      last_synced_operation_id text,
      last_synced_at timestamptz,
      last_error text,
      consecutive_failures integer NOT NULL DEFAULT 0,
      -- Op heads seen at the last sync; more than one means jj has concurrent operations it has not merged yet.
      operation_heads text[] NOT NULL DEFAULT '{}',
      -- True when the last sync stopped at the configured maxChanges limit, so \`changes\` is incomplete.
      changes_truncated boolean NOT NULL DEFAULT false,
      sync_changes boolean NOT NULL DEFAULT true,
      sync_bookmarks boolean NOT NULL DEFAULT true,
      sync_operations boolean NOT NULL DEFAULT true,
      sync_conflicts boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (owner, name)
    )
  `
  yield* sql`
    CREATE TABLE changes (
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      commit_id text NOT NULL,
      change_id text NOT NULL,
      parent_commit_ids text[] NOT NULL,
      description text NOT NULL,
      author_name text NOT NULL,
      author_email text NOT NULL,
      timestamp timestamptz NOT NULL,
      committer_name text NOT NULL,
      committer_email text NOT NULL,
      committer_timestamp timestamptz NOT NULL,
      is_empty boolean NOT NULL,
      has_conflicts boolean NOT NULL,
      is_divergent boolean NOT NULL,
      PRIMARY KEY (repository_id, commit_id)
    )
  `
  yield* sql`CREATE INDEX changes_repository_id_change_id_idx ON changes (repository_id, change_id)`
  yield* sql`
    CREATE TABLE bookmarks (
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      name text NOT NULL,
      remote text NOT NULL DEFAULT '',
      target_commit_ids text[] NOT NULL,
      target_change_id text,
      is_conflicted boolean NOT NULL,
      is_tracked boolean NOT NULL,
      is_default boolean NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (repository_id, name, remote)
    )
  `
  yield* sql`
    CREATE TABLE jj_operations (
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      operation_id text NOT NULL,
      parent_operation_ids text[] NOT NULL,
      operation_type text NOT NULL,
      description text NOT NULL,
      username text NOT NULL,
      hostname text NOT NULL,
      start_time timestamptz NOT NULL,
      timestamp timestamptz NOT NULL,
      is_snapshot boolean NOT NULL,
      is_undone boolean NOT NULL,
      workspace_name text NOT NULL,
      tags jsonb NOT NULL,
      PRIMARY KEY (repository_id, operation_id)
    )
  `
  yield* sql`
    CREATE TABLE conflicts (
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      change_id text NOT NULL,
      commit_id text NOT NULL,
      file_path text NOT NULL,
      sides integer NOT NULL,
      resolved boolean NOT NULL DEFAULT false,
      resolved_at timestamptz,
      detected_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (repository_id, change_id, file_path)
    )
  `
})
