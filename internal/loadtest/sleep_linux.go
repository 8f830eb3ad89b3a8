package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleeper waits until due times more precisely than time.Sleep, which can be a millisecond
// late when the process is otherwise idle: Go's timers wake through epoll_wait, whose timeout
// is in whole milliseconds, and that lateness went into every open-loop latency (measured from
// the request's due time) as the load generator's dispatch lag. A timerfd set to the due time
// wakes the same epoll_wait as an event instead, within the kernel's timer slack, without
// holding a thread.
type sleeper struct {
	f         *os.File // the timerfd, in Go's poller
	fd        int
	start     time.Time // paired with startMono, the kernel's monotonic clock then
	startMono int64
}

func newSleeper() *sleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &sleeper{fd: -1}
	}
	// Go's clock first: the kernel's, read after it, is at least as late, so a due time is
	// never reached early (at worst a few microseconds late).
	start := time.Now()
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail with this clock
	return &sleeper{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd, start: start, startMono: ts.Nano()}
}

// until returns at due.
func (s *sleeper) until(due time.Time) {
	if time.Until(due) <= 0 {
		return
	}
	if s.f != nil {
		at := unix.NsecToTimespec(s.startMono + int64(due.Sub(s.start)))
		if unix.TimerfdSettime(s.fd, unix.TFD_TIMER_ABSTIME, &unix.ItimerSpec{Value: at}, nil) == nil {
			var expirations [8]byte
			if _, err := s.f.Read(expirations[:]); err == nil {
				return
			}
		}
	}
	time.Sleep(time.Until(due))
}

func (s *sleeper) close() {
	if s.f != nil {
		_ = s.f.Close()
	}
}
