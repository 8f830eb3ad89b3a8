-- What the dashboard needs: branding, password resets, and signing a user out everywhere.

ALTER TABLE settings ADD COLUMN brand_color TEXT NOT NULL DEFAULT '#1f6feb'; -- #rrggbb
ALTER TABLE settings ADD COLUMN logo_type TEXT NOT NULL DEFAULT '';          -- content type of the uploaded logo; '' = none
ALTER TABLE settings ADD COLUMN logo_version INTEGER NOT NULL DEFAULT 0;     -- bumped on each upload, busts caches

-- Sessions record the epoch their user had when they signed in; bumping it (sign out
-- everywhere, password reset) ends every older session.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;

-- Password reset links: the emailed secret is stored only as its SHA-256 hash, valid for an
-- hour, used at most once.
CREATE TABLE password_resets (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
