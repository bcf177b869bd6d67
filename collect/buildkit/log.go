package buildkit

import (
	"context"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
)

// MaxLogBytes caps a kept log (`build` and `import --keep-logs`): the
// plain text past it is dropped and the log marked truncated. 16 MiB of
// text is far more than a build's usual output and gzips to a few MiB.
const MaxLogBytes = 16 << 20

// Log is a build's whole log as BuildKit's plain display writes it, which
// is what `docker buildx history logs` prints.
type Log struct {
	Text      []byte
	Truncated bool
}

// cappedBuffer keeps the first MaxLogBytes written to it.
type cappedBuffer struct{ log *Log }

func (w cappedBuffer) Write(p []byte) (int, error) {
	room := MaxLogBytes - len(w.log.Text)
	if len(p) > room {
		w.log.Text = append(w.log.Text, p[:max(room, 0)]...)
		w.log.Truncated = true
		return len(p), nil
	}
	w.log.Text = append(w.log.Text, p...)
	return len(p), nil
}

// logDisplay renders the statuses sent on the returned channel as plain
// progress into l until the channel is closed; wait returns once all is
// written.
func logDisplay(l *Log) (chan<- *client.SolveStatus, func()) {
	ch := make(chan *client.SolveStatus, 64)
	done := make(chan struct{})
	d, err := progressui.NewDisplay(cappedBuffer{l}, progressui.PlainMode)
	go func() {
		defer close(done)
		if err != nil {
			for range ch {
			}
			return
		}
		_, _ = d.UpdateFrom(context.Background(), ch)
	}()
	return ch, func() { <-done }
}

// tee forwards every status from in to each out, then closes them.
func tee(in <-chan *client.SolveStatus, outs ...chan<- *client.SolveStatus) {
	for st := range in {
		for _, o := range outs {
			o <- st
		}
	}
	for _, o := range outs {
		close(o)
	}
}
