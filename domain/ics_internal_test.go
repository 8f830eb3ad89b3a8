package domain

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// icsMaxLine is the longest content line RFC 5545 (3.1) allows, in octets, without its CRLF.
const icsMaxLine = 75

// Whatever a service and business are called, the calendar's SUMMARY is folded content lines
// of at most 75 octets, each valid UTF-8 (for valid input) and free of line breaks, that unfold and
// unescape to the name with line breaks as LF and other control characters dropped; so does the
// entry once its placeholders are filled in on delivery.
func FuzzCalendarText(f *testing.F) {
	for _, s := range []string{"Cut", "Cut\rX-Injected:1", "a;b,c\\d\r\ne\nf", strings.Repeat("ñ", 80), strings.Repeat("x", 74) + "€", "\x00\x7f\t", `Bob "the" Barber`} {
		f.Add(s)
	}
	unescape := strings.NewReplacer(`\\`, `\`, `\;`, ";", `\,`, ",", `\n`, "\n", `\N`, "\n")
	f.Fuzz(func(t *testing.T, name string) {
		b := Booking{CalendarUID: "uid", Start: time.Unix(0, 0), End: time.Unix(3600, 0)}
		ev := CalendarEvent{Summary: name + " at " + BusinessPlaceholder, Description: LinkPlaceholder, Organizer: BusinessPlaceholder,
			OrganizerEmail: "desk@example.com", Attendee: name, AttendeeEmail: "ana@example.com", Alarm: name}
		filled, err := Message{ICS: calendar(b, ev, false, 0, time.Unix(0, 0))}.Fill("https://x.example/b/tok", name)
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
		valid := utf8.ValidString(name)
		for _, line := range strings.Split(strings.TrimSuffix(filled.ICS, "\r\n"), "\r\n") {
			if len(line) > icsMaxLine || strings.ContainsAny(line, "\r\n") || (valid && !utf8.ValidString(line)) {
				t.Fatalf("content line %q", line)
			}
		}
		var summary string
		for _, line := range strings.Split(strings.ReplaceAll(filled.ICS, "\r\n ", ""), "\r\n") {
			if v, ok := strings.CutPrefix(line, "SUMMARY:"); ok {
				summary = v
			}
		}
		clean := strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
				return -1
			}
			return r
		}, strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(name))
		if want := clean + " at " + clean; valid && unescape.Replace(summary) != want {
			t.Fatalf("SUMMARY %q reads back as %q, want %q", summary, unescape.Replace(summary), want)
		}
	})
}
