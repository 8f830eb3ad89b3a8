package tenancy

// SetFaultHook makes m call at at its named fault points (see faultHooks); at's error is
// returned there, and a panic in at stops the operation as a crash would.
func SetFaultHook(m *Manager, at func(point string) error) { m.hooks.at = at }
