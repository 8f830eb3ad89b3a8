package tenancy

// faultHooks let tests fail, or stop as a crash would, at named points of multi-step file
// operations (restore, provisioning): the points between steps are where a crash or a failing
// disk leaves a state that the code must report truthfully or repair at start-up. Nil in
// production.
type faultHooks struct {
	at func(point string) error
}

// fault returns the error the test injected at point, or nil.
func (h faultHooks) fault(point string) error {
	if h.at == nil {
		return nil
	}
	return h.at(point)
}
