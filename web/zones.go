package web

import (
	_ "embed"
	"slices"
	"strings"
)

// zonesText lists the IANA time zones a business can choose, one a line: the Area/Location
// names of Go's embedded tzdata (its lib/time/zoneinfo.zip) and UTC. Times are converted with
// Go's tzdata, so every name here loads (TestZoneList) on a bare machine too.
//
//go:embed zones.txt
var zonesText string

var zoneNames = strings.Fields(zonesText)

// zoneChoices are the options of a time zone picker, current among them even when the list does
// not hold it (a business created from the command line with Etc/GMT+3, say).
func zoneChoices(current string) []string {
	if current == "" || slices.Contains(zoneNames, current) {
		return zoneNames
	}
	return append([]string{current}, zoneNames...)
}
