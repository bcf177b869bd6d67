package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/buildstats/buildstats/cmd/internal/cli"
)

func TestMain(m *testing.M) {
	// Pin tablewriter's width rules so output does not depend on locale.
	os.Setenv("RUNEWIDTH_EASTASIAN", "0")
	os.Exit(m.Run())
}

type result struct {
	code     int
	out, err string
}

// run executes buildstats-live with args on buffers, as main does on the
// process streams.
func run(t *testing.T, stdin io.Reader, env map[string]string, terminal bool, args ...string) result {
	t.Helper()
	return runWith(context.Background(), t, stdin, env, terminal, args...)
}

// runContext is run with a context that stops the command when done, as
// an interrupt would (import --follow).
func runContext(ctx context.Context, t *testing.T, env map[string]string, args ...string) result {
	return runWith(ctx, t, nil, env, false, args...)
}

func runWith(ctx context.Context, t *testing.T, stdin io.Reader, env map[string]string, terminal bool, args ...string) result {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	wd, _ := os.Getwd()
	f := &cli.Factory{
		IO:      cli.IOStreams{In: stdin, Out: &out, ErrOut: &errOut, OutIsTerminal: terminal},
		WorkDir: wd,
		Getenv:  func(k string) string { return env[k] },
		Now:     func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
	}
	code := Execute(ctx, f, args)
	return result{code, out.String(), errOut.String()}
}
