-- A customer who gave no email (a booking staff took by phone) has NULL there, not a made-up
-- address, so every reader of the column, the GDPR export included, sees that there is none.
-- Addresses stay unique among those given: UNIQUE lets any number of rows be NULL.
--
-- SQLite cannot drop a NOT NULL in place, so the table is rebuilt as its documented procedure
-- says (https://sqlite.org/lang_altertable.html#otheralter): the runner turns foreign key
-- enforcement off around the step and checks every key before it commits. Ids are copied, so
-- bookings.customer_id still points at the same customers. customers has no index of its own
-- (only UNIQUE's), no trigger and no view to recreate.
CREATE TABLE customers_new (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT UNIQUE CHECK (email <> ''), -- lowercased; NULL when the customer gave none
    phone      TEXT NOT NULL DEFAULT '',
    notes      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
-- Until now a customer without email was stored with a random 'noemail:<hex>' placeholder.
INSERT INTO customers_new (id, name, email, phone, notes, created_at)
    SELECT id, name, CASE WHEN email GLOB 'noemail:*' OR email = '' THEN NULL ELSE email END, phone, notes, created_at
    FROM customers;
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;
