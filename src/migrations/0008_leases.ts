import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Several watcher processes over one database: each repository is leased to one live instance at a time.
// `watcher_instances` lists the instances and their heartbeats; `watcher_instance_repositories` says which
// repositories each can see on its own disk (the fair share of each instance is computed from it); the lease is on
// the repository row, with an epoch bumped by every claim, which a sync's commit checks (fencing).
// `sync_requests` carries a manual sync asked of an instance that does not own the repository to the one that does.
// `sync_events.written_by` names the instance whose sync wrote the event.
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE watcher_instances (
      id text PRIMARY KEY,
      host text NOT NULL,
      base_path text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`
    CREATE TABLE watcher_instance_repositories (
      instance_id text NOT NULL REFERENCES watcher_instances (id) ON DELETE CASCADE,
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      PRIMARY KEY (instance_id, repository_id)
    )
  `
  yield* sql`CREATE INDEX watcher_instance_repositories_repository_idx ON watcher_instance_repositories (repository_id)`
  yield* sql`
    ALTER TABLE repositories
      ADD COLUMN lease_owner text,
      ADD COLUMN lease_expires_at timestamptz,
      ADD COLUMN lease_epoch bigint NOT NULL DEFAULT 0
  `
  yield* sql`CREATE INDEX repositories_lease_owner_idx ON repositories (lease_owner) WHERE lease_owner IS NOT NULL`
  yield* sql`
    CREATE TABLE sync_requests (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
      full_sync boolean NOT NULL,
      requested_by text NOT NULL,
      requested_at timestamptz NOT NULL DEFAULT now(),
      started_by text,
      finished_at timestamptz,
      result jsonb,
      error jsonb
    )
  `
  yield* sql`CREATE INDEX sync_requests_open_idx ON sync_requests (repository_id) WHERE finished_at IS NULL`
  yield* sql`ALTER TABLE sync_events ADD COLUMN written_by text`
})
