-- The registry: which tenants exist, where their database is, and how far their schema has come.
-- A tenant's database file path derives from its id (never its slug): tenants/<id[:2]>/<id>.db.

CREATE TABLE tenants (
    id               TEXT PRIMARY KEY,
    slug             TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    schema_version   INTEGER NOT NULL DEFAULT 0,
    migration_status TEXT NOT NULL DEFAULT 'ok' CHECK (migration_status IN ('ok', 'failed')),
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    last_seen_at     DATETIME
);
CREATE INDEX tenants_schema_idx ON tenants (schema_version, migration_status);

-- Old slugs of renamed tenants: requests to them are redirected (301) to the current slug.
CREATE TABLE slug_redirects (
    slug       TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL
);
CREATE INDEX slug_redirects_tenant_idx ON slug_redirects (tenant_id);

-- Custom domains (book.example.com) that serve one tenant's site.
CREATE TABLE custom_hosts (
    host       TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL
);
CREATE INDEX custom_hosts_tenant_idx ON custom_hosts (tenant_id);

-- Spare tenant databases: pre-made, empty, migrated files already at their final path
-- (tenants/<id[:2]>/<id>.db). Sign-up claims one by registering it, in one transaction.
CREATE TABLE spares (
    id             TEXT PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    created_at     DATETIME NOT NULL
);

-- Slugs of deleted tenants (their last slug and any old ones that still redirected): each is
-- held back for a grace period so that a deleted business's customers do not land on a
-- stranger's site.
CREATE TABLE tombstones (
    slug       TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    deleted_at DATETIME NOT NULL
);

-- Backups of tenant databases (written by the backup job).
CREATE TABLE backups (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    blob_key       TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    created_at     DATETIME NOT NULL,
    verified_at    DATETIME
);
CREATE INDEX backups_tenant_idx ON backups (tenant_id, created_at);

-- Daily per-tenant counts, aggregated by a scheduled job (cross-tenant analytics).
CREATE TABLE tenant_stats (
    tenant_id          TEXT NOT NULL,
    day                TEXT NOT NULL, -- YYYY-MM-DD, UTC
    bookings_created   INTEGER NOT NULL DEFAULT 0,
    bookings_cancelled INTEGER NOT NULL DEFAULT 0,
    customers          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);
