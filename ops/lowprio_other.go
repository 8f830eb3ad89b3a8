//go:build !linux

package ops

// atLowPriority runs fn. (Only Linux lowers a single thread's priority.)
func atLowPriority(fn func() error) error { return fn() }
