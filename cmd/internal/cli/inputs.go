package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildstats/buildstats/collect/buildcontext"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
	logingest "github.com/buildstats/buildstats/report/ingest"
	"github.com/buildstats/buildstats/store"
)

// InputFlags record what went into a build that its log does not show:
// the context directory, the build args, --no-cache. They are the user's
// word for it (model.FromFlag); with them the causes of cache breaks can
// be named exactly.
type InputFlags struct {
	Context   string
	BuildArgs []string
	NoCache   bool
}

// Register adds --context, --build-arg and --no-cache to cmd.
func (o *InputFlags) Register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.Context, "context", "", "the build context directory, recorded (after .dockerignore) to name the files that broke the cache")
	fl.StringArrayVar(&o.BuildArgs, "build-arg", nil, "a build arg the build was given, KEY=VALUE (repeatable; values of secret-looking names are kept only as hashes)")
	fl.BoolVar(&o.NoCache, "no-cache", false, "the build ran with --no-cache")
}

// FlagInputs reads what the flags and the Dockerfile say of a build's
// inputs: the Dockerfile's text, the context's manifest, the build args and
// --no-cache. target is the --target stage, if the command has one. It
// returns nil when they say nothing.
func (f *Factory) FlagInputs(ctx context.Context, o InputFlags, dockerfile, target string) (*model.Inputs, error) {
	in := &model.Inputs{}
	if dockerfile != "" {
		// A Dockerfile that cannot be read leaves its text unrecorded:
		// ingest took --dockerfile as a name for the record before it
		// read the file, and a build is still worth storing without it.
		if data, err := readLimited(dockerfile, maxDockerfileRead); err != nil {
			f.Warn("the Dockerfile's text was not recorded: %v", err)
		} else {
			in.Dockerfile = model.NewDockerfileInput(dockerfile, data, model.FromFlag)
		}
	}
	if o.Context != "" {
		df := dockerfile
		if df == "" {
			df = filepath.Join(o.Context, "Dockerfile")
		}
		m, err := buildcontext.Read(ctx, o.Context, buildcontext.Options{Dockerfile: df, Source: model.FromFlag})
		if err != nil {
			return nil, UsageError(err)
		}
		in.Context = m
	}
	if len(o.BuildArgs) > 0 {
		args := map[string]string{}
		for _, a := range o.BuildArgs {
			k, v, ok := cutArg(a)
			if !ok {
				return nil, UsageError(fmt.Errorf("--build-arg %q: want KEY=VALUE", a))
			}
			args[k] = v
		}
		in.Args = model.NewBuildArgs(args, model.FromFlag)
	}
	if target != "" {
		in.Target = &model.Recorded{Value: target, Source: model.FromFlag}
	}
	if o.NoCache {
		in.NoCache = &model.NoCache{All: true, Source: model.FromFlag}
	}
	if in.IsEmpty() {
		return nil, nil
	}
	return in, nil
}

// maxDockerfileRead bounds the Dockerfile read to record it; one over
// model.MaxDockerfileBytes is recorded by its hash.
const maxDockerfileRead = 64 << 20

func cutArg(a string) (string, string, bool) {
	for i := 0; i < len(a); i++ {
		if a[i] == '=' {
			return a[:i], a[i+1:], i > 0
		}
	}
	return "", "", false
}

// readLimited reads a file of at most limit bytes; a larger one is read up
// to the limit and hashed as a whole elsewhere.
func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return os.ReadFile(path)
}

// WithInputs completes b's inputs with what its log shows, then with
// those given: what a collector recorded, then the log, win over flags, as
// they show what was built. What they hold as text is masked (see
// Redactor).
func (f *Factory) WithInputs(b *model.Build, given *model.Inputs) {
	logingest.WithInputs(b, given, f.Redactor())
}

// FindBaseline returns the build b is compared with in the history: the
// project's build before it when b is stored as id (id > 0), else the
// project's latest stored build that started before b (or before
// started, when b does not say); nil when there is none.
//
// The baseline is masked as every build the command shows is (see
// Redactor): its steps must read the same as b's to match them.
func (f *Factory) FindBaseline(ctx context.Context, s store.Reader, id int64, project string, b *model.Build, started time.Time) (*report.Baseline, error) {
	var base *report.Baseline
	var err error
	if id > 0 {
		base, err = report.BaselineOfStored(ctx, s, id)
	} else {
		if !b.Started.IsZero() {
			started = b.Started
		}
		base, err = report.BaselineOfLog(ctx, s, project, started)
	}
	if base != nil {
		f.Redactor().Build(base.Build)
	}
	return base, err
}

// FindBaselineOn is FindBaseline for a build not yet stored, among the
// builds of builder only (see report.BaselineOn).
func (f *Factory) FindBaselineOn(ctx context.Context, s store.Reader, project, builder string, b *model.Build, started time.Time) (*report.Baseline, error) {
	if !b.Started.IsZero() {
		started = b.Started
	}
	base, err := report.BaselineOn(ctx, s, project, builder, started)
	if base != nil {
		f.Redactor().Build(base.Build)
	}
	return base, err
}

// StoredInputs completes b's inputs with those stored with it as id (when
// b is a log that was ingested with --context, say, and is explained
// without): what the log and the command's flags gave win. The stored
// context's nodes are fetched from s as a comparison needs them.
func StoredInputs(ctx context.Context, s store.Reader, id int64, b *model.Build) error {
	sb, _, err := s.Build(ctx, id)
	if err != nil || sb.Inputs == nil {
		return err
	}
	if b.Inputs == nil {
		b.Inputs = &model.Inputs{}
	}
	b.Inputs.Merge(sb.Inputs)
	return nil
}
