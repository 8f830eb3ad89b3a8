-- A counter of the changes a tenant lookup can see: tenants coming and going, their slugs, names,
-- time zones and status, old slugs and custom hosts. A server keeps the lookups it has made while
-- the counter stands still, so changes made by another process (the CLI) reach it. Last-seen
-- times (written every 30 seconds for every busy tenant), schema mirrors, spares, backups and
-- stats leave it alone: they would otherwise empty every server's lookups each time.
CREATE TABLE lookup_revision (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev INTEGER NOT NULL
);
INSERT INTO lookup_revision (id, rev) VALUES (1, 0);

CREATE TRIGGER tenants_added AFTER INSERT ON tenants
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;
CREATE TRIGGER tenants_changed AFTER UPDATE OF id, slug, name, timezone, status, created_at ON tenants
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;
CREATE TRIGGER tenants_removed AFTER DELETE ON tenants
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;

CREATE TRIGGER slug_redirects_added AFTER INSERT ON slug_redirects
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;
CREATE TRIGGER slug_redirects_changed AFTER UPDATE ON slug_redirects
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;
CREATE TRIGGER slug_redirects_removed AFTER DELETE ON slug_redirects
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;

CREATE TRIGGER custom_hosts_added AFTER INSERT ON custom_hosts
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;
CREATE TRIGGER custom_hosts_changed AFTER UPDATE ON custom_hosts
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;
CREATE TRIGGER custom_hosts_removed AFTER DELETE ON custom_hosts
BEGIN UPDATE lookup_revision SET rev = rev + 1; END;
