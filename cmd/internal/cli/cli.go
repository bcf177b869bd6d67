// Package cli is the plumbing every buildstats command shares: the
// Factory that hands a command its streams, environment, clock and
// working directory; errors with exit statuses; flag types checked where
// they are declared; and the steps many commands take the same way
// (reading a log, opening the history, naming the project of a build).
//
// Commands live in their own packages and use only this one to talk to the
// outside world, so they can be tested on buffers and never borrow from
// each other.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/buildstats/buildstats/parse/redact"
	"github.com/buildstats/buildstats/report"
)

// Exit statuses.
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed: a gate failed, the build failed
	ExitUsage = 2 // the user's to fix: bad arguments, unusable input, no history
	// ExitInterrupted: the user interrupted the command (^C), 128+SIGINT
	// as shells report it.
	ExitInterrupted = 130
)

// IOStreams are the standard streams a command uses. Commands never touch
// os.Stdin/Stdout/Stderr directly.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutIsTerminal and ErrIsTerminal say whether Out and ErrOut are
	// terminals; OutWidth is Out's width in columns, 0 when it is not a
	// terminal or the width is unknown.
	OutIsTerminal bool
	ErrIsTerminal bool
	OutWidth      int
}

// Factory is what commands need from the outside world. Tests build one
// on buffers; System builds the real process's.
type Factory struct {
	IO     IOStreams
	Getenv func(string) string
	// Environ lists the environment as KEY=VALUE, for masking the values
	// of secret variables.
	Environ func() []string
	Now     func() time.Time
	// WorkDir is the directory the command runs in.
	WorkDir string
	// Version is the program's version, for --version.
	Version string
	// NoMask turns secret masking off (--no-mask).
	NoMask bool
	// The hooks of the commands that need buildstats-live (trace.go).
	liveHooks

	redactor *redact.Redactor
}

// Redactor masks secrets in what the command shows, publishes or stores:
// the token shapes CI systems and clouds issue, secret settings, and the
// values of the environment's secret variables (see redact.FromEnv). With
// --no-mask it masks nothing.
func (f *Factory) Redactor() *redact.Redactor {
	if f.redactor == nil {
		if f.NoMask {
			f.redactor = redact.None()
		} else {
			var environ []string
			if f.Environ != nil {
				environ = f.Environ()
			}
			f.redactor = redact.New(redact.Options{ExtraValues: redact.FromEnv(f.Env, environ)})
		}
	}
	return f.redactor
}

// System returns the Factory of a real process.
func System(version string) *Factory {
	wd, _ := os.Getwd()
	f := &Factory{
		IO: IOStreams{
			In:            os.Stdin,
			Out:           os.Stdout,
			ErrOut:        os.Stderr,
			OutIsTerminal: term.IsTerminal(int(os.Stdout.Fd())),
			ErrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		},
		Getenv:  os.Getenv,
		Environ: os.Environ,
		Now:     time.Now,
		WorkDir: wd,
		Version: version,
	}
	if f.IO.OutIsTerminal {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
			f.IO.OutWidth = w
		}
	}
	return f
}

// Env returns the environment variable k, "" when Getenv is unset.
func (f *Factory) Env(k string) string {
	if f.Getenv == nil {
		return ""
	}
	return f.Getenv(k)
}

// Clock is the Factory's time now.
func (f *Factory) Clock() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// ColorEnabled reports whether output to Out may use ANSI colour: only on
// a terminal, and never when NO_COLOR is set (https://no-color.org) or the
// terminal is "dumb".
func (f *Factory) ColorEnabled() bool {
	return f.IO.OutIsTerminal && f.Env("NO_COLOR") == "" && f.Env("TERM") != "dumb"
}

// Warn prints one "buildstats: warning: ..." line on ErrOut.
func (f *Factory) Warn(format string, args ...any) {
	fmt.Fprintf(f.IO.ErrOut, "buildstats: warning: %s\n", OneLine(fmt.Sprintf(format, args...)))
}

// StatusError is an error with the exit status it should cause.
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// UsageError marks err as the user's to fix (exit status 2).
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return &StatusError{Status: ExitUsage, Err: err}
}

// Failed marks err as a failure the command reports with exit status 1.
func Failed(err error) error { return &StatusError{Status: ExitError, Err: err} }

// ExitStatus is the process exit status err calls for.
func ExitStatus(err error) int {
	if err == nil {
		return ExitOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return ExitError
}

// UsageArgs makes an argument validator's errors usage errors.
func UsageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return UsageError(check(cmd, args))
	}
}

// RenderOptions are the table and Markdown renderers' options for Out:
// colour on a terminal, the terminal's width (else $COLUMNS, else the
// report's default) unless wide, every step when all.
func (f *Factory) RenderOptions(all, wide bool) report.RenderOptions {
	o := report.RenderOptions{Color: f.ColorEnabled(), Width: f.IO.OutWidth, AllSteps: all, Wide: wide, Mask: f.Redactor().String}
	if o.Width == 0 {
		o.Width, _ = strconv.Atoi(f.Env("COLUMNS"))
	}
	return o
}
