package domain

import (
	"database/sql"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"
)

// The SQL fragments say what the Go rules beside them say, for every status.
func TestStatusFragments(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	for _, st := range []Status{StatusPending, StatusConfirmed, StatusCancelled, StatusCompleted, StatusNoShow} {
		var open, holds bool
		err := db.QueryRow(`SELECT `+openBooking+`, `+holdsTime+` FROM (SELECT ? AS status)`, st).Scan(&open, &holds)
		if err != nil {
			t.Fatal(err)
		}
		if open != st.Open() {
			t.Errorf("%s: openBooking says %v, Status.Open %v", st, open, st.Open())
		}
		if holds != st.HoldsTime() {
			t.Errorf("%s: holdsTime says %v, Status.HoldsTime %v", st, holds, st.HoldsTime())
		}
	}
}
