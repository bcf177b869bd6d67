package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/collect"
	dockercollect "github.com/buildstats/buildstats/collect/docker"
	"github.com/buildstats/buildstats/report"
)

type layersOptions struct {
	image  string
	addr   string
	format string
}

func newLayersCommand(app *App) *cobra.Command {
	var opts layersOptions
	cmd := &cobra.Command{
		Use:   "layers IMAGE",
		Short: "Show the layers of a local Docker image and what made each",
		Long: `Layers reads a local image's history from the Docker Engine and lists its
layers oldest first: size and the Dockerfile instruction that made each.
Entries that only change the image config (ENV, LABEL, CMD...) show 0 B.`,
		Example: `  buildstats layers app:dev
  buildstats layers --format json --addr unix:///var/run/docker.sock app:dev`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.image = args[0]
			return runLayers(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.addr, "addr", "", "Docker host (default $DOCKER_HOST, else the default socket)")
	f.StringVar(&opts.format, "format", report.FormatTable, "output format: table, json")
	return cmd
}

func runLayers(ctx context.Context, app *App, opts layersOptions) error {
	if opts.format != report.FormatTable && opts.format != report.FormatJSON {
		return usageError(fmt.Errorf("unknown format %q (want table or json)", opts.format))
	}
	layers, err := dockercollect.Layers(ctx, opts.addr, opts.image)
	if err != nil {
		// No such image is a bad argument, like a missing file (exit 2).
		if errors.Is(err, collect.ErrDaemonUnavailable) || cerrdefs.IsNotFound(err) {
			return usageError(err)
		}
		return err
	}
	if opts.format == report.FormatJSON {
		type layerJSON struct {
			ID        string `json:"id"`
			CreatedBy string `json:"created_by"`
			Comment   string `json:"comment,omitempty"`
			Created   string `json:"created"`
			Size      int64  `json:"size"`
		}
		out := make([]layerJSON, len(layers))
		for i, l := range layers {
			out[i] = layerJSON{l.ID, l.CreatedBy, l.Comment, l.Created.Format("2006-01-02T15:04:05Z07:00"), l.Size}
		}
		enc := json.NewEncoder(app.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIZE\tCREATED\tCREATED BY")
	var total int64
	for _, l := range layers {
		total += l.Size
		fmt.Fprintf(tw, "%s\t%s\t%s\n", report.FormatBytes(l.Size), l.Created.Format("2006-01-02 15:04"), truncate(l.CreatedBy, 90))
	}
	fmt.Fprintf(tw, "%s\t\ttotal of %d entries\n", report.FormatBytes(total), len(layers))
	return tw.Flush()
}
