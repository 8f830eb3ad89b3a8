-- The language a customer booked in ('en', 'es', 'de', 'fr'; '' for bookings made before, by
-- staff or through the API without one): the mail about that booking speaks it, and falls back
-- to the business's locale setting when it is ''.
ALTER TABLE bookings ADD COLUMN locale TEXT NOT NULL DEFAULT '';
