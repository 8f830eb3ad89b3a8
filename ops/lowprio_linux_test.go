package ops

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// threadNice reads the calling thread's nice value from /proc (field 19 of its stat).
func threadNice(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Skip(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	return fields[19-3]
}

// Bulk work runs at nice 19 on a thread that no other goroutine gets afterwards.
func TestAtLowPriority(t *testing.T) {
	var inside string
	if err := atLowPriority(func() error {
		inside = threadNice(t)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if inside != "19" {
		t.Errorf("bulk work ran at nice %s, want 19", inside)
	}
	for range 200 {
		done := make(chan string)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			done <- threadNice(t)
		}()
		if n := <-done; n != "0" {
			t.Fatalf("a goroutine ran at nice %s after the bulk work: its thread was reused", n)
		}
	}
}
