-- Account features: owners hear of bookings made, moved and cancelled (each user may opt out),
-- and users are invited by email with a link to set their own password.

-- Whether the user is mailed about new, moved and cancelled bookings. Only owners are: staff
-- hear of their own bookings through their staff member's address.
ALTER TABLE users ADD COLUMN notify_bookings INTEGER NOT NULL DEFAULT 1;

-- Invitation links: the emailed secret is stored only as its SHA-256 hash, looked up by the
-- id the link also carries and compared in constant time; valid for a week, used at most once.
CREATE TABLE invitations (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX invitations_user_idx ON invitations (user_id);
