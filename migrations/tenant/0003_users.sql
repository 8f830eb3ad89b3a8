-- Dashboard users of the business and API tokens for its integrations.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE, -- lowercased
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'staff')),
    staff_id      INTEGER REFERENCES staff (id) ON DELETE SET NULL, -- the staff member a staff user is
    password_hash TEXT NOT NULL, -- argon2id, PHC string format
    created_at    INTEGER NOT NULL
);

-- API tokens: shown once at creation, stored as SHA-256 hashes. A token acts with the role it
-- was given, and never more than its creator could.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'staff')),
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
