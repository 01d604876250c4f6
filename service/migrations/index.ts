/**
 * The service's schema, as versioned migrations applied at start (hotpath/db `migrate`).
 * Never edit an applied migration: add the next version.
 */
import type { Migration } from 'hotpath/db';

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'create_payments',
    sql: `
      CREATE TABLE payments (
        -- UUIDv7: time-ordered, so (user_id, id) is the keyset order of a user's payments.
        id uuid PRIMARY KEY,
        user_id bigint NOT NULL CHECK (user_id > 0),
        amount bigint NOT NULL CHECK (amount > 0),
        currency char(3) NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'authorized', 'declined', 'failed')),
        idempotency_key text UNIQUE,
        request_hash text,
        gateway_ref text,
        failure_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- A user's payments newest first (keyset pagination) and the user's summary.
      CREATE INDEX payments_user_id_id ON payments (user_id, id DESC) INCLUDE (amount, currency, status);
      -- The recovery sweep finds payments left pending by a crash.
      CREATE INDEX payments_pending_created ON payments (created_at) WHERE status = 'pending';
    `,
  },
  {
    version: 2,
    name: 'pending_payments_schedule',
    sql: `
      -- A pending payment is re-driven by the reconciler once next_attempt_at has passed: the
      -- request that created it holds it until its own charge ends; an unknown outcome or a
      -- reconciler's claim moves it on (a lease, so instances never work one payment at once).
      ALTER TABLE payments ADD COLUMN attempts integer NOT NULL DEFAULT 0;
      ALTER TABLE payments ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();
      ALTER TABLE payments ADD COLUMN last_error text;
      UPDATE payments SET next_attempt_at = created_at WHERE status = 'pending';
      DROP INDEX payments_pending_created;
      CREATE INDEX payments_pending_due ON payments (next_attempt_at) WHERE status = 'pending';
    `,
  },
  {
    version: 3,
    name: 'idempotency_keys',
    sql: `
      -- A sharded service (DATABASE_SHARD_URLS) keeps each Idempotency-Key here, on the shard
      -- the key hashes to, before the payment goes on its user's shard: the one place that
      -- decides a key, whichever users its requests name (docs/sharding.md). With one database
      -- the payments row's unique idempotency_key does that and this table stays empty.
      CREATE TABLE idempotency_keys (
        key text PRIMARY KEY,
        request_hash text NOT NULL,
        payment_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];
