//go:build !linux

package tenancy

// atLowPriority runs fn. (Only Linux lowers a single thread's priority.)
func atLowPriority(fn func() error) error { return fn() }
