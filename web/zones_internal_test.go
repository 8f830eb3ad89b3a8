package web

import (
	"slices"
	"testing"
	"time"
)

// Every zone offered loads with Go's embedded tzdata, and the list is sorted and unique.
func TestZoneList(t *testing.T) {
	if len(zoneNames) < 400 || !slices.IsSorted(zoneNames) || len(slices.Compact(slices.Clone(zoneNames))) != len(zoneNames) {
		t.Fatalf("%d zones, sorted and unique?", len(zoneNames))
	}
	for _, z := range zoneNames {
		if _, err := time.LoadLocation(z); err != nil {
			t.Errorf("%s: %v", z, err)
		}
	}
	if got := zoneChoices("Etc/GMT+3"); got[0] != "Etc/GMT+3" || len(got) != len(zoneNames)+1 {
		t.Errorf("a current zone outside the list is not offered first")
	}
}
