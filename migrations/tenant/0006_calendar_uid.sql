-- Each booking's calendar event id (the local part of its iCalendar UID). Booking ids start at 1
-- in every business's database, so "booking-<id>" was shared by bookings of different
-- businesses: a customer's calendar kept one event of the two, and a cancellation from one
-- business could remove the other's. New bookings get a random id; bookings made before keep the
-- one their customers' calendars already hold, so that later changes still update that event.
ALTER TABLE bookings ADD COLUMN calendar_uid TEXT NOT NULL DEFAULT '';
UPDATE bookings SET calendar_uid = 'booking-' || id;
