package domain

import "testing"

// The kept days stay within their bound, the least recently used going first, and a newer
// version drops them all.
func TestAvailabilityCacheBound(t *testing.T) {
	version := uint64(1)
	ac := newAvailabilityCache(func() uint64 { return version }, 3)
	key := dayKey{service: 1, seats: 1, zone: "UTC"}
	from, _ := ParseDate("2026-06-01")
	days := make([]Day, 5)
	lives := make([]int64, 5)
	for i := range days {
		days[i] = Day{Date: from.AddDays(i), Status: DayClosed}
		lives[i] = 1 << 40
	}
	ac.keep(1, key, days[:3], lives[:3], 0)
	// Day 0 is used again, so days 1 and 2 are the ones to go when two more come.
	if first, _ := ac.lookup(1, key, from, 0, make([]Day, 1)); first != -1 {
		t.Fatalf("day 0 was not kept")
	}
	ac.keep(1, key, days[3:], lives[3:], 0)
	if n := ac.lru.Len(); n != 3 || len(ac.days) != 3 {
		t.Fatalf("%d days in the list, %d in the map; the bound is 3", n, len(ac.days))
	}
	out := make([]Day, 5)
	if first, last := ac.lookup(1, key, from, 0, out); first != 1 || last != 2 {
		t.Fatalf("missing days %d to %d, want 1 to 2 (the least recently used)", first, last)
	}
	version = 2
	if first, last := ac.lookup(2, key, from, 0, out); first != 0 || last != 4 || len(ac.days) != 0 {
		t.Fatalf("at a newer version: missing days %d to %d and %d kept, want all missing and none kept", first, last, len(ac.days))
	}
	// An answer computed at the older version is not kept.
	ac.keep(1, key, days, lives, 0)
	if len(ac.days) != 0 {
		t.Fatalf("%d days of an older version kept", len(ac.days))
	}
}
