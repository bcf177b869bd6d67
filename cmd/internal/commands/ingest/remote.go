package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/collect/dockerbuild"
	"github.com/buildstats/buildstats/collect/logfile"
	reportserve "github.com/buildstats/buildstats/report/serve"
	"github.com/buildstats/buildstats/store"
)

// runRemote sends the inputs to buildstats serve at opts.Server.
func runRemote(ctx context.Context, f *cli.Factory, opts Options, inputs []input, meta store.Meta, flagTime time.Time) error {
	if opts.Token == "" {
		opts.Token = f.Env("BUILDSTATS_TOKEN")
	}
	switch {
	case opts.Token == "":
		return cli.UsageError(errors.New("--server needs --token (or $BUILDSTATS_TOKEN): an ingest token of the project (buildstats token create)"))
	case opts.DB != "":
		return cli.UsageError(errors.New("--server and --db exclude each other: the server stores the builds in its history"))
	case opts.Given.Context != "" || len(opts.Given.BuildArgs) > 0 || opts.Given.NoCache || opts.Target != "":
		return cli.UsageError(errors.New("--context, --build-arg, --no-cache and --target are not sent to a server; store such builds with --db"))
	}
	// The token names the project; one detected from the directory or
	// the CI would only contradict it.
	m := meta
	m.Project = opts.Meta.Project
	q := reportserve.Query(m)
	if opts.KeepLogs {
		q.Set("keep_logs", "true")
	}
	if opts.InputFormat.Value != "" {
		q.Set("format", opts.InputFormat.Value)
	}
	c := &reportserve.Client{URL: opts.Server, Token: opts.Token, Mask: f.Redactor().String}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var sent, known int
	var failed []string
	for i, in := range inputs {
		if ctx.Err() != nil {
			return cli.Failed(fmt.Errorf("interrupted: %d of %d files not sent", len(inputs)-i, len(inputs)))
		}
		name := cli.OneLine(in.path)
		if in.argError != nil {
			failed = append(failed, in.path)
			fmt.Fprintf(f.IO.ErrOut, "buildstats: %s\n", cli.OneLine(in.argError.Error()))
			continue
		}
		if in.path != logfile.Stdin && dockerbuild.Detect(in.path) {
			failed = append(failed, in.path)
			fmt.Fprintf(f.IO.ErrOut, "buildstats: %s: a .dockerbuild file is not sent to a server; store it with --db\n", name)
			continue
		}
		q := q
		if in.path != logfile.Stdin {
			q = cloneValues(q)
			q.Set("source", in.path)
			// The log's own start time comes first on the server; then
			// --time, then the file's modification time, as for --db.
			when := flagTime
			if when.IsZero() {
				if st, err := os.Stat(in.path); err == nil {
					when = st.ModTime()
				}
			}
			if !when.IsZero() {
				q.Set("time", when.UTC().Format(time.RFC3339))
			}
		} else if !flagTime.IsZero() {
			q = cloneValues(q)
			q.Set("time", flagTime.UTC().Format(time.RFC3339))
		}
		r, _, err := logfile.Open(in.path, f.IO.In)
		if err != nil {
			failed = append(failed, in.path)
			fmt.Fprintf(f.IO.ErrOut, "buildstats: %s\n", cli.OneLine(err.Error()))
			continue
		}
		st, err := c.Send(ctx, r, q)
		r.Close()
		if err != nil {
			var se *reportserve.SendError
			if errors.As(err, &se) && !se.Fatal() {
				failed = append(failed, in.path)
				fmt.Fprintf(f.IO.ErrOut, "buildstats: %s: %s\n", name, cli.OneLine(se.Message))
				continue
			}
			refused := errors.As(err, &se) && se.Code < 500
			err = fmt.Errorf("%s: %s (%d sent before it)", name, cli.OneLine(err.Error()), sent+known)
			if refused {
				return cli.UsageError(err) // the token: the user's to fix
			}
			return cli.Failed(err)
		}
		ids := make([]string, len(st.IDs))
		for i, id := range st.IDs {
			ids[i] = "#" + strconv.FormatInt(id, 10)
		}
		if st.Created {
			sent++
			fmt.Fprintf(f.IO.Out, "%s: stored as %s: %s\n", name, strings.Join(ids, ", "), st.URL)
		} else {
			known++
			fmt.Fprintf(f.IO.Out, "%s: already stored as %s: %s\n", name, strings.Join(ids, ", "), st.URL)
		}
	}
	fmt.Fprintf(f.IO.Out, "%d file%s: %d stored, %d already stored, %d failed (server: %s)\n", len(inputs), plural(len(inputs)),
		sent, known, len(failed), cli.OneLine(opts.Server))
	if len(failed) > 0 {
		return cli.UsageError(fmt.Errorf("could not send %s", nameList(failed, 3)))
	}
	return nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
