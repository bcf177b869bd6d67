package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/buildstats/buildstats/store"
)

// ClaimTTL is how long a claim lasts without being renewed: a process
// that dies holding one blocks nobody for longer.
const ClaimTTL = 2 * time.Minute

// ClaimKey is the claim key of the build with BuildKit history ref.
func ClaimKey(ref string) string { return "buildkit:" + ref }

// ClaimOwner names this process in claims: what it is, the host, the
// process id and a random part, so owners never collide across hosts or
// pid reuse.
func ClaimOwner(kind string) string {
	host, _ := os.Hostname()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s:%s:%d:%s", kind, host, os.Getpid(), hex.EncodeToString(r[:]))
}

// Claim is a held claim, renewed in the background until Release.
type Claim struct {
	s          store.Store
	key, owner string
	stop       chan struct{}
	once       sync.Once
	done       chan struct{}
}

// HoldClaim claims key for owner and keeps renewing it every third of
// ClaimTTL until Release. It reports false (and holds nothing) when
// another owner holds key.
func HoldClaim(ctx context.Context, s store.Store, key, owner string) (*Claim, bool, error) {
	ok, err := s.Claim(ctx, key, owner, ClaimTTL)
	if err != nil || !ok {
		return nil, ok, err
	}
	c := &Claim{s: s, key: key, owner: owner, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(ClaimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				// A failed renewal is retried at the next tick; the claim
				// lasts ClaimTTL from the last good one.
				_, _ = s.Claim(context.Background(), key, owner, ClaimTTL)
			}
		}
	}()
	return c, true, nil
}

// Release stops renewing and drops the claim. Safe on nil and twice.
func (c *Claim) Release() {
	if c == nil {
		return
	}
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		_ = c.s.Release(context.Background(), c.key, c.owner)
	})
}
