package collect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/buildstats/buildstats/collect/buildcontext"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
)

// LiveInputs records the inputs of a build buildstats runs itself: what it
// was given (the Dockerfile's text, build args, target, --no-cache), the
// context as BuildKit sees it, read while the build runs, and the base
// image digests its status stream resolves. All are model.FromLive: exact.
type LiveInputs struct {
	dockerfile string
	args       map[string]string
	target     string
	noCache    bool

	done     chan struct{}
	manifest *model.ContextManifest
	err      error
	data     []byte
	dfErr    error
}

// StartLiveInputs starts reading the inputs of a build of contextDir with
// dockerfile (empty: contextDir/Dockerfile). The context is read in the
// background, alongside the build; Apply waits for it.
func StartLiveInputs(ctx context.Context, contextDir, dockerfile string, args map[string]string, target string, noCache bool) *LiveInputs {
	if dockerfile == "" {
		dockerfile = filepath.Join(contextDir, "Dockerfile")
	}
	l := &LiveInputs{dockerfile: dockerfile, args: args, target: target, noCache: noCache, done: make(chan struct{})}
	// The Dockerfile is read now: the build reads it at once.
	l.data, l.dfErr = os.ReadFile(dockerfile)
	go func() {
		defer close(l.done)
		l.manifest, l.err = buildcontext.Read(ctx, contextDir, buildcontext.Options{Dockerfile: dockerfile, Source: model.FromLive})
	}()
	return l
}

// Apply waits for the context to be read and sets b's inputs. A context or
// Dockerfile that could not be read is left out and reported in the error;
// the rest is still recorded.
func (l *LiveInputs) Apply(b *model.Build) error {
	<-l.done
	in := &model.Inputs{
		Args:    model.NewBuildArgs(l.args, model.FromLive),
		Target:  &model.Recorded{Value: l.target, Source: model.FromLive},
		NoCache: &model.NoCache{All: l.noCache, Source: model.FromLive},
	}
	var err error
	if l.dfErr == nil {
		in.Dockerfile = model.NewDockerfileInput(l.dockerfile, l.data, model.FromLive)
	} else {
		err = fmt.Errorf("the Dockerfile's text was not recorded: %w", l.dfErr)
	}
	if l.err == nil {
		in.Context = l.manifest
	} else if err == nil {
		err = fmt.Errorf("the build context was not recorded: %w", l.err)
	}
	if seen := parse.LogInputs(b); seen != nil {
		// The stream is the daemon's own account of what it resolved.
		for i := range seen.BaseImages {
			seen.BaseImages[i].Source = model.FromLive
		}
		for i := range seen.CacheSources {
			seen.CacheSources[i].Source = model.FromLive
		}
		in.Merge(seen)
	}
	b.Inputs = in
	return err
}
