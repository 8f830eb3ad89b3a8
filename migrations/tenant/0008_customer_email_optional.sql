-- A customer who gave no email (a booking staff took by phone) has NULL there, not a made-up
-- address, so every reader of the column, the GDPR export included, sees that there is none.
-- Addresses stay unique among those given: UNIQUE lets any number of rows be NULL.
-- Such a customer is found again by phone, however it was typed: phone_key is the phone's
-- digits, after a "+" that comes before them ("600 111 222" and "600-111-222" are one number),
-- '' when it has none; domain's phoneKey computes the same in Go.
--
-- SQLite cannot drop a NOT NULL in place, so the table is rebuilt as its documented procedure
-- says (https://sqlite.org/lang_altertable.html#otheralter): the runner turns foreign key
-- enforcement off around the step and checks every key before it commits. Ids are copied, so
-- bookings.customer_id still points at the same customers. customers had no index of its own
-- (only UNIQUE's), no trigger and no view to recreate.
CREATE TABLE customers_new (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT UNIQUE CHECK (email <> ''), -- lowercased; NULL when the customer gave none
    phone      TEXT NOT NULL DEFAULT '', -- as typed, for display
    phone_key  TEXT NOT NULL DEFAULT '', -- for matching: digits, after a leading "+"
    notes      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
-- Until now a customer without email was stored with a random 'noemail:<hex>' placeholder.
-- phone_key starts as the phone without the usual separators, which is all most phones need.
INSERT INTO customers_new (id, name, email, phone, phone_key, notes, created_at)
    SELECT id, name, CASE WHEN email GLOB 'noemail:*' OR email = '' THEN NULL ELSE email END, phone,
        replace(replace(replace(replace(replace(replace(phone, ' ', ''), '-', ''), '.', ''), '(', ''), ')', ''), '/', ''),
        notes, created_at
    FROM customers;
-- The others (letters, another "+"...) are read a character at a time, keeping digits and a "+"
-- met before any digit.
WITH RECURSIVE walk (id, rest, key) AS (
    SELECT id, phone, '' FROM customers_new
    WHERE phone_key GLOB '*[^0-9]*' AND NOT (phone_key GLOB '+*' AND substr(phone_key, 2) NOT GLOB '*[^0-9]*')
    UNION ALL
    SELECT id, substr(rest, 2), key || CASE
        WHEN substr(rest, 1, 1) GLOB '[0-9]' OR (substr(rest, 1, 1) = '+' AND key = '') THEN substr(rest, 1, 1)
        ELSE '' END
    FROM walk WHERE rest <> ''
)
UPDATE customers_new SET phone_key = walk.key FROM walk WHERE walk.id = customers_new.id AND walk.rest = '';
UPDATE customers_new SET phone_key = '' WHERE phone_key = '+';
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;
-- Finding a customer without email by phone (domain's upsertCustomer).
CREATE INDEX customers_phone_key_idx ON customers (phone_key) WHERE email IS NULL;
