-- The booking domain of one business. Instants are unix seconds (UTC); weekly hours and date
-- overrides are wall-clock minutes in the business's time zone, kept as JSON interval lists.

CREATE TABLE settings (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    currency             TEXT NOT NULL DEFAULT 'EUR',
    locale               TEXT NOT NULL DEFAULT 'en',
    slot_step_min        INTEGER NOT NULL DEFAULT 15,
    min_notice_min       INTEGER NOT NULL DEFAULT 120,
    horizon_days         INTEGER NOT NULL DEFAULT 60,
    cancel_cutoff_min    INTEGER NOT NULL DEFAULT 1440,
    require_confirmation INTEGER NOT NULL DEFAULT 0,
    contact_email        TEXT NOT NULL DEFAULT '',
    contact_phone        TEXT NOT NULL DEFAULT '',
    address              TEXT NOT NULL DEFAULT '',
    updated_at           INTEGER NOT NULL DEFAULT 0
);
INSERT INTO settings (id) VALUES (1);

CREATE TABLE staff (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    active     INTEGER NOT NULL DEFAULT 1,
    hours      TEXT NOT NULL DEFAULT '[[],[],[],[],[],[],[]]', -- Sunday..Saturday: [{"start":540,"end":780}, ...]
    created_at INTEGER NOT NULL
);

CREATE TABLE staff_date_overrides (
    staff_id  INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    date      TEXT NOT NULL, -- YYYY-MM-DD in the business's zone
    intervals TEXT NOT NULL, -- [] = closed that day
    PRIMARY KEY (staff_id, date)
);

CREATE TABLE staff_time_off (
    id       INTEGER PRIMARY KEY,
    staff_id INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    start_at INTEGER NOT NULL,
    end_at   INTEGER NOT NULL,
    reason   TEXT NOT NULL DEFAULT '',
    CHECK (end_at > start_at)
);
CREATE INDEX staff_time_off_idx ON staff_time_off (staff_id, end_at);

CREATE TABLE resources (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE services (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    duration_min      INTEGER NOT NULL,
    price_amount      INTEGER NOT NULL DEFAULT 0,
    price_currency    TEXT NOT NULL,
    buffer_before_min INTEGER NOT NULL DEFAULT 0,
    buffer_after_min  INTEGER NOT NULL DEFAULT 0,
    capacity          INTEGER NOT NULL DEFAULT 1,
    active            INTEGER NOT NULL DEFAULT 1,
    min_notice_min    INTEGER, -- NULL: the business's setting
    horizon_days      INTEGER,
    slot_step_min     INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE service_staff (
    service_id INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    staff_id   INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    PRIMARY KEY (service_id, staff_id)
);

CREATE TABLE service_resources (
    service_id  INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    resource_id INTEGER NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    PRIMARY KEY (service_id, resource_id)
);

CREATE TABLE customers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE, -- lowercased
    phone      TEXT NOT NULL DEFAULT '',
    notes      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- block_start/block_end are start/end widened by the service's buffers: the time the staff
-- member (and resources) are taken. Two bookings conflict when their blocks overlap.
CREATE TABLE bookings (
    id              INTEGER PRIMARY KEY,
    service_id      INTEGER NOT NULL REFERENCES services (id),
    staff_id        INTEGER NOT NULL REFERENCES staff (id),
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    start_at        INTEGER NOT NULL,
    end_at          INTEGER NOT NULL,
    block_start     INTEGER NOT NULL,
    block_end       INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'completed', 'no_show')),
    seats           INTEGER NOT NULL DEFAULT 1 CHECK (seats >= 1),
    notes           TEXT NOT NULL DEFAULT '',
    -- The contact details as given with this booking (the customer record keeps the first ones:
    -- a booking never changes, nor reveals, what another booking said).
    customer_name   TEXT NOT NULL DEFAULT '',
    customer_email  TEXT NOT NULL DEFAULT '',
    customer_phone  TEXT NOT NULL DEFAULT '',
    cancel_reason   TEXT NOT NULL DEFAULT '',
    cancelled_by    TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (end_at > start_at AND block_start <= start_at AND block_end >= end_at)
);
CREATE INDEX bookings_staff_idx ON bookings (staff_id, block_end, block_start, start_at, service_id, seats, status)
    WHERE status <> 'cancelled'; -- covers the availability query
CREATE INDEX bookings_start_idx ON bookings (start_at);
CREATE INDEX bookings_customer_idx ON bookings (customer_id, start_at);

CREATE TABLE booking_resources (
    booking_id  INTEGER NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    resource_id INTEGER NOT NULL REFERENCES resources (id),
    PRIMARY KEY (booking_id, resource_id)
);
CREATE INDEX booking_resources_idx ON booking_resources (resource_id);

-- Manage tokens are stored as SHA-256 hashes; a booking can have several (an idempotent retry
-- of its creation issues a new one, since the first answer may never have arrived).
CREATE TABLE booking_tokens (
    token_hash BLOB PRIMARY KEY,
    booking_id INTEGER NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

-- The audit trail of every booking change: the source for notifications and live updates.
CREATE TABLE booking_events (
    id         INTEGER PRIMARY KEY,
    booking_id INTEGER NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    type       TEXT NOT NULL, -- created, confirmed, cancelled, rescheduled, completed, no_show
    actor      TEXT NOT NULL, -- customer, staff:<name>, system
    data       TEXT NOT NULL DEFAULT '{}',
    at         INTEGER NOT NULL
);
CREATE INDEX booking_events_booking_idx ON booking_events (booking_id);
