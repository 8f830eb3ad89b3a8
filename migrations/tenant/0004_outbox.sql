-- Notifications to send: written in the same transaction as the change they announce, delivered
-- (and retried) by the mail job. A row is sent at most once: sent_at is set when the mail server
-- accepted it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL, -- booking_created, booking_confirmed, booking_rescheduled, booking_cancelled, booking_reminder
    booking_id      INTEGER REFERENCES bookings (id) ON DELETE CASCADE,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    ics             TEXT NOT NULL DEFAULT '', -- calendar attachment
    link_path       TEXT NOT NULL DEFAULT '', -- the manage link, below the business's site
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    sent_at         INTEGER,
    failed_at       INTEGER -- gave up after too many attempts
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

ALTER TABLE bookings ADD COLUMN reminded_at INTEGER;
