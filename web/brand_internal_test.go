package web

import (
	"strconv"
	"testing"
)

// A brand colour too light for white text (or for text on white) is darkened until both read
// at 4.5:1; a dark one is kept as it is.
func TestReadableBrand(t *testing.T) {
	for _, c := range []string{"#ffff00", "#ffffff", "#7fdbff", "#1f6feb", "#000000", "#ff4136"} {
		got := readableBrand(c)
		n, err := strconv.ParseUint(got[1:], 16, 32)
		if err != nil {
			t.Fatalf("%s: %q", c, got)
		}
		rgb := [3]float64{float64(n >> 16 & 0xff), float64(n >> 8 & 0xff), float64(n & 0xff)}
		if r := contrastWithWhite(rgb); r < 4.5 {
			t.Errorf("%s became %s: contrast %.2f with white", c, got, r)
		}
	}
	if got := readableBrand("#1f2328"); got != "#1f2328" {
		t.Errorf("a dark colour changed: %s", got)
	}
	if got := readableBrand("red"); got != "" {
		t.Errorf("a malformed colour: %q", got)
	}
}
