// Package layers is the layers command: a local image's layers and what
// made each.
package layers

import (
	"context"
	"errors"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/cmd/internal/cli"
	"github.com/buildstats/buildstats/collect"
	dockercollect "github.com/buildstats/buildstats/collect/docker"
	"github.com/buildstats/buildstats/report"
)

// Options are layers' flags and argument.
type Options struct {
	Image  string
	Addr   string
	Format *cli.Enum
	Wide   bool
}

// New returns the layers command.
func New(f *cli.Factory) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   "layers IMAGE",
		Short: "Show the layers of a local Docker image and what made each",
		Long: `Layers reads a local image's history from the Docker Engine and lists its
layers oldest first: size and the Dockerfile instruction that made each.
Entries that only change the image config (ENV, LABEL, CMD...) show 0 B.`,
		Example: `  buildstats layers app:dev
  buildstats layers --format json --addr unix:///var/run/docker.sock app:dev`,
		Args: cli.UsageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Image = args[0]
			return Run(cmd.Context(), f, opts)
		},
	}
	opts.Format = cli.AddFormatFlag(cmd, cli.FormatTable, cli.FormatJSON)
	cmd.Flags().StringVar(&opts.Addr, "addr", "", "Docker host (default $DOCKER_HOST, else the default socket)")
	cmd.Flags().BoolVar(&opts.Wide, "wide", false, "do not cut instructions to the terminal's width")
	return cmd
}

// Run lists the image's layers.
func Run(ctx context.Context, f *cli.Factory, opts Options) error {
	layers, err := dockercollect.Layers(ctx, opts.Addr, opts.Image)
	if err != nil {
		// No such image is a bad argument, like a missing file (exit 2).
		if errors.Is(err, collect.ErrDaemonUnavailable) || cerrdefs.IsNotFound(err) {
			return cli.UsageError(err)
		}
		return err
	}
	return report.RenderLayers(f.IO.Out, opts.Format.Value, report.NewLayerList(opts.Image, ReportLayers(layers, nil)), false, f.RenderOptions(false, opts.Wide))
}

// ReportLayers turns an image history into the report's layers, each with
// the step that made it when sizes (from a live build) name one.
func ReportLayers(layers []dockercollect.Layer, sizes []dockercollect.LayerSize) []report.Layer {
	out := make([]report.Layer, 0, len(layers)+len(sizes))
	conv := func(l dockercollect.Layer, step string) report.Layer {
		r := report.Layer{ID: l.ID, CreatedBy: l.CreatedBy, Created: l.Created, Bytes: l.Size}
		if l.Comment != "" {
			r.Comment = &l.Comment
		}
		if step != "" {
			r.Step = &step
		}
		return r
	}
	for _, l := range layers {
		out = append(out, conv(l, ""))
	}
	for _, s := range sizes {
		out = append(out, conv(s.Layer, s.Step))
	}
	return out
}
