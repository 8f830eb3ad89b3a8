-- Each outbox message's own Message-ID (its local part), random so that it never repeats. The row
-- id does repeat: SQLite hands the highest id out again once that row is deleted (a withdrawn
-- reminder, an anonymised customer), and a restore brings back ids that were already used, so
-- "outbox-<id>" named two different messages and mail clients folded the second into the first.
-- Messages queued before keep the Message-ID built from their row id ('' here), in case one
-- of them was sent before a crash and is sent again.
ALTER TABLE outbox ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
