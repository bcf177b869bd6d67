package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/buildstats/buildstats/store"
)

func TestHistoryErrorStatus(t *testing.T) {
	for _, err := range []error{store.ErrLocked, store.ErrNotDatabase, store.ErrSchemaTooNew} {
		var se *StatusError
		if !errors.As(HistoryError(fmt.Errorf("history: %w", err)), &se) || se.Status != ExitUsage {
			t.Errorf("%v: not a usage error", err)
		}
	}
	if e := HistoryError(context.Canceled); !errors.Is(e, context.Canceled) {
		t.Errorf("other errors changed: %v", e)
	}
	var se *StatusError
	if errors.As(HistoryError(context.Canceled), &se) {
		t.Error("a cancelled query became a usage error")
	}
}
