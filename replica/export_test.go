package replica

// SetHooks sets h's test hooks: beforeSync runs before each shared sync (in the goroutine that
// runs them), queued after a caller joins the sync queued behind a running one.
func SetHooks(h *Handle, beforeSync, queued func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beforeSync, h.queued = beforeSync, queued
}

// SetShippedHook sets the hook that runs after a shared sync has written its LTX file, before
// its upload.
func SetShippedHook(h *Handle, shipped func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shipped = shipped
}
