package web

import (
	"runtime"
	"testing"
)

// Each business gets its own session manager; none of them may leave a goroutine behind, or a
// platform that has served 10,000 businesses keeps 10,000 idle goroutines and their stacks.
func TestSessionManagersStartNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	sms := make([]any, 0, 200)
	for range 200 {
		sms = append(sms, newSessions(false))
	}
	if after := runtime.NumGoroutine(); after-before >= 100 {
		t.Errorf("200 session managers left %d more goroutines, want none", after-before)
	}
	runtime.KeepAlive(sms)
}
