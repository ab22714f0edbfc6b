package cifer

import (
	"sync"
	"time"
)

// breaker is a consecutive-failure circuit breaker. Closed: every attempt goes. After
// `threshold` failures in a row (no answer, or a 5xx) it opens: attempts are refused for
// `cooldown`. Then it lets one trial attempt through (half-open); the trial's success closes
// it, its failure opens it for another cooldown. A 4xx or 429 is an answer from a healthy
// server, so it counts as a success here.
type breaker struct {
	threshold int // 0: off
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	failures int
	openedAt time.Time
	open     bool
	trial    bool // the half-open trial is in flight
}

// allow says whether an attempt may go; if not, how long until a trial may.
func (b *breaker) allow() (time.Duration, bool) {
	if b.threshold == 0 {
		return 0, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return 0, true
	}
	if wait := b.cooldown - b.now().Sub(b.openedAt); wait > 0 {
		return wait, false
	}
	if b.trial {
		return b.cooldown, false
	}
	b.trial = true
	return 0, true
}

// record counts an attempt's outcome.
func (b *breaker) record(success bool) {
	if b.threshold == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	wasTrial := b.trial
	b.trial = false
	if success {
		b.failures, b.open = 0, false
		return
	}
	b.failures++
	if wasTrial || b.failures >= b.threshold {
		b.open, b.openedAt = true, b.now()
	}
}

// release forgets an attempt that ended without an outcome (the caller's context ended).
func (b *breaker) release() {
	if b.threshold == 0 {
		return
	}
	b.mu.Lock()
	b.trial = false
	b.mu.Unlock()
}
