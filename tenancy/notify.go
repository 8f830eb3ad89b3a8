package tenancy

import "sync"

// commitSignal wakes whoever waits for a database's next commit (live subscriptions), so that
// they read what changed as it commits instead of polling. It costs a commit nothing while
// nobody waits.
type commitSignal struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next commit; nil while nobody waits
}

func (s *commitSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *commitSignal) broadcast() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// NextCommit returns a channel that is closed once the next commit through Write is visible to
// readers. Take it before reading, so that a commit made during the read is not missed.
func (db *DB) NextCommit() <-chan struct{} { return db.commits.wait() }
