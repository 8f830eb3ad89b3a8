package ops

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// atLowPriority runs fn on an OS thread of its own at the lowest CPU priority (nice 19) and
// waits for it. Bulk work (an export) then takes a core only while no request wants it: the
// kernel hands the core to a request thread the moment one wakes. Pacing and yielding inside
// Go could not do that, because the server runs more threads than cores and the kernel shared
// the cores among them equally. At nice 19 others' availability tail beside an export back to
// back stayed near its quiet value, with as many exports done (docs/perf.md).
func atLowPriority(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, and its priority with it.
		runtime.LockOSThread()
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19) // best effort: at worst, normal priority
		done <- fn()
	}()
	return <-done
}
