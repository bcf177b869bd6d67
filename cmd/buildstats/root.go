package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // bad arguments or unusable input: not a build log, missing file
)

// IOStreams are the standard streams a command uses. Commands never touch
// os.Stdin/Stdout/Stderr directly, so tests can run them on buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutIsTerminal reports whether Out is a terminal.
	OutIsTerminal bool
}

// App is what commands need from the outside world: streams, environment
// and clock.
type App struct {
	IO     IOStreams
	Getenv func(string) string
	Now    func() time.Time
}

// SystemApp is the App of a real process: the process's streams,
// environment and clock.
func SystemApp() *App {
	return &App{
		IO: IOStreams{
			In:            os.Stdin,
			Out:           os.Stdout,
			ErrOut:        os.Stderr,
			OutIsTerminal: term.IsTerminal(int(os.Stdout.Fd())),
		},
		Getenv: os.Getenv,
		Now:    time.Now,
	}
}

// ColorEnabled reports whether output to Out may use ANSI colour: only on
// a terminal, and never when NO_COLOR is set (https://no-color.org) or the
// terminal is "dumb".
func (a *App) ColorEnabled() bool {
	if !a.IO.OutIsTerminal || a.Getenv == nil {
		return false
	}
	return a.Getenv("NO_COLOR") == "" && a.Getenv("TERM") != "dumb"
}

// subcommands are the constructors of buildstats' commands. A new command
// lives in its own file and adds its constructor here.
var subcommands = []func(*App) *cobra.Command{
	// one log
	newExplainCommand,
	newReportCommand,
	// CI
	newAnnotateCommand,
	newCheckCommand,
	// history
	newIngestCommand,
	newHistoryCommand,
	newShowCommand,
	newCompareCommand,
	newSlowCommand,
	newMissesCommand,
	newTrendsCommand,
	// live daemons
	newBuildCommand,
	newImportCommand,
	newLayersCommand,
}

func newRootCommand(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:           "buildstats",
		Short:         "Tell why Docker builds are slow",
		Long:          "buildstats reads Docker and BuildKit build logs and explains where the time went:\nslow steps, cache breaks and what to change.",
		SilenceErrors: true, // Execute prints errors in one format
		SilenceUsage:  true, // a usage dump hides the actual error
		Args:          usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.CompletionOptions.DisableDefaultCmd = true
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd(app))
	}
	return root
}

// Execute runs buildstats with args and returns the process exit status.
// Errors are printed to app.IO.ErrOut as one "buildstats: ..." line.
func Execute(ctx context.Context, app *App, args []string) int {
	root := newRootCommand(app)
	root.SetArgs(args)
	root.SetIn(app.IO.In)
	root.SetOut(app.IO.Out)
	root.SetErr(app.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(app.IO.ErrOut, "buildstats: %v\n", err)
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return exitError
}

// statusError is an error with the exit status it should cause.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// usageError marks err as the user's to fix (exit status 2).
func usageError(err error) error { return &statusError{status: exitUsage, err: err} }

// usageArgs makes an argument validator's errors usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}
