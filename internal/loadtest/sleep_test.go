package main

import (
	"testing"
	"time"
)

// The open loop's sleeper never sends a request before its due time, whether the due time is
// ahead, now or past.
func TestSleeperNeverEarly(t *testing.T) {
	s := newSleeper()
	defer s.close()
	for i := range 60 {
		due := time.Now().Add(time.Duration(i%3-1) * 300 * time.Microsecond)
		s.until(due)
		if early := time.Until(due); early > 0 {
			t.Fatalf("returned %s before its due time", early)
		}
	}
}
