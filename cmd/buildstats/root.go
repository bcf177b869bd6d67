package main

import (
	"context"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/cmd/internal/root"
)

// commands are buildstats' commands: every command that needs no daemon
// client, and the live ones, which run in buildstats-live.
var commands = append(append([]root.Constructor{}, root.Local...), root.Delegates()...)

// Execute runs buildstats with args and returns the process exit status.
func Execute(ctx context.Context, f *cli.Factory, args []string) int {
	return root.Execute(ctx, f, commands, args)
}
