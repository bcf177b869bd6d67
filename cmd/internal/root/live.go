package root

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
)

// LiveBinary is the program that runs the commands that talk to a daemon.
const LiveBinary = "buildstats-live"

// LiveCommands name the commands buildstats-live runs, with their short
// help, for buildstats to list and pass on.
var LiveCommands = []struct{ Name, Short string }{
	{"build", "Run a build on BuildKit or Docker, record it live and explain it"},
	{"import", "Import completed builds from a BuildKit daemon's history"},
	{"layers", "Show the layers of a local Docker image and what made each"},
	{"trace", "Send a build to OpenTelemetry as a trace (OTLP)"},
}

// Delegates returns, for each live command, a command that runs it in
// buildstats-live with the same arguments, streams and exit status.
func Delegates() []Constructor {
	var out []Constructor
	for _, lc := range LiveCommands {
		out = append(out, func(f *cli.Factory) *cobra.Command {
			return &cobra.Command{
				Use:                lc.Name,
				Short:              lc.Short,
				DisableFlagParsing: true, // buildstats-live parses them, --help included
				RunE: func(cmd *cobra.Command, args []string) error {
					return delegate(f, append([]string{lc.Name}, args...))
				},
			}
		})
	}
	return out
}

// delegate runs buildstats-live with args. It is found next to this
// program (go install ./cmd/... puts both in one directory), else on PATH.
func delegate(f *cli.Factory, args []string) error {
	bin, err := findLive()
	if err != nil {
		return cli.UsageError(err)
	}
	c := exec.Command(bin, args...)
	c.Stdin, c.Stdout, c.Stderr = f.IO.In, f.IO.Out, f.IO.ErrOut
	c.Dir = f.WorkDir
	// ^C reaches both processes from the terminal; a SIGTERM sent to this
	// one is passed on, so the build is cancelled and recorded.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				c.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = c.Wait()
	close(done)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		// buildstats-live has said what went wrong on stderr.
		return &cli.StatusError{Status: exit.ExitCode(), Err: errSilent}
	}
	return err
}

// errSilent is an error whose message was already printed.
var errSilent = errors.New("")

// IsSilent reports whether err's message was printed by another process.
func IsSilent(err error) bool { return errors.Is(err, errSilent) }

func findLive() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), LiveBinary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(LiveBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the commands that talk to a daemon run in %s, which is not next to this program or on PATH: "+
		"install both with go install ./cmd/... from the buildstats repository", LiveBinary)
}
