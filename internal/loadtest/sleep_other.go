//go:build !linux

package main

import "time"

// sleeper waits until due times (Linux does it more precisely: see sleep_linux.go).
type sleeper struct{}

func newSleeper() *sleeper             { return &sleeper{} }
func (s *sleeper) until(due time.Time) { time.Sleep(time.Until(due)) }
func (s *sleeper) close()              {}
