package ops

// AtLowPriority runs fn on a thread of its own at the lowest CPU priority and waits for it:
// for background work nobody waits on by the millisecond (the mail job's conversations with
// the mail server), so that requests take the cores first. fn must not hold a business's
// writer: a starved thread holding it would keep that business's bookings waiting.
func AtLowPriority(fn func() error) error { return atLowPriority(fn) }
