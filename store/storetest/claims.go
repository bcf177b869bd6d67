package storetest

import (
	"testing"
	"time"
)

// testClaims: one owner at a time holds a key; the holder may extend it;
// a release or expiry frees it for another; keys are independent.
func testClaims(t *testing.T, open Opener) {
	s := open(t)
	claim := func(key, owner string, ttl time.Duration, want bool) {
		t.Helper()
		got, err := s.Claim(Ctx, key, owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("Claim(%s, %s) = %v, want %v", key, owner, got, want)
		}
	}
	claim("buildkit:a", "build-1", time.Minute, true)
	claim("buildkit:a", "import-2", time.Minute, false)
	claim("buildkit:a", "build-1", time.Minute, true) // extended
	claim("buildkit:b", "import-2", time.Minute, true)
	// Releasing someone else's claim leaves it.
	if err := s.Release(Ctx, "buildkit:a", "import-2"); err != nil {
		t.Fatal(err)
	}
	claim("buildkit:a", "import-2", time.Minute, false)
	if err := s.Release(Ctx, "buildkit:a", "build-1"); err != nil {
		t.Fatal(err)
	}
	claim("buildkit:a", "import-2", time.Minute, true)
	// An expired claim is anyone's.
	claim("buildkit:c", "build-3", time.Millisecond, true)
	time.Sleep(20 * time.Millisecond)
	claim("buildkit:c", "import-2", time.Minute, true)
	claim("buildkit:c", "build-3", time.Minute, false)
	checkIntegrity(t, s)
}
