package model

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
)

// InputSource says where a recorded input came from, so that a cause built
// on it can say how sure it is: what a daemon or its record reports is
// exact, what a log shows is as exact as the log, and what a flag of
// buildstats says is what the user told it.
type InputSource string

// Input sources.
const (
	// FromLog: read from the build's own output (vertex names).
	FromLog InputSource = "log"
	// FromLive: known because buildstats ran the build (buildstats build).
	FromLive InputSource = "live"
	// FromHistory: BuildKit's history record of the build (buildstats import).
	FromHistory InputSource = "buildkit-history"
	// FromDockerbuild: a .dockerbuild file (docker buildx history export).
	FromDockerbuild InputSource = "dockerbuild"
	// FromFlag: given on buildstats' command line (--build-arg, --target,
	// --no-cache, --dockerfile, --context) when the build was stored or
	// explained.
	FromFlag InputSource = "flag"
)

// Inputs is what went into a build, as far as it can be known: what the
// layer cache keys of its steps depend on. A nil field (or an empty list of
// base images) means "not recorded", never "none": only a recorded input
// can be compared with another build's.
type Inputs struct {
	// Dockerfile is the file that was built.
	Dockerfile *DockerfileInput `json:"dockerfile,omitempty"`
	// BaseImages are the images the stages were built FROM, with the
	// digests they resolved to.
	BaseImages []BaseImage `json:"base_images,omitempty"`
	// Args are the build arguments given to the build; nil when not
	// recorded (a log does not show them).
	Args *BuildArgs `json:"args,omitempty"`
	// Target is the --target stage ("" for the last stage).
	Target *Recorded `json:"target,omitempty"`
	// NoCache says whether the build ran with --no-cache (or
	// --no-cache-filter).
	NoCache *NoCache `json:"no_cache,omitempty"`
	// Context is the build context as BuildKit saw it.
	Context *ContextManifest `json:"context,omitempty"`
	// Commit is the source revision the build was made from.
	Commit *Recorded `json:"commit,omitempty"`
	// CacheSources are the caches the build imported or tried to
	// (--cache-from, "importing cache manifest from ...").
	CacheSources []CacheSource `json:"cache_sources,omitempty"`
}

// Recorded is a text input and where it came from.
type Recorded struct {
	Value  string      `json:"value"`
	Source InputSource `json:"source"`
}

// DockerfileInput is the Dockerfile of a build. Its text holds every
// instruction, including those that make no vertex (ARG, ENV, USER, SHELL)
// but change the cache keys of the steps after them.
type DockerfileInput struct {
	// Name is the file's path as given.
	Name string `json:"name,omitempty"`
	// Hash is the SHA-256 of the file's bytes.
	Hash Hash `json:"hash"`
	// Content is the file's text; empty when only the hash is known (a
	// file over MaxDockerfileBytes).
	Content string      `json:"content,omitempty"`
	Source  InputSource `json:"source"`
}

// MaxDockerfileBytes bounds the Dockerfile text kept with a build; a larger
// file is recorded by its hash alone.
const MaxDockerfileBytes = 1 << 20

// NewDockerfileInput records a Dockerfile's bytes.
func NewDockerfileInput(name string, data []byte, src InputSource) *DockerfileInput {
	d := &DockerfileInput{Name: name, Hash: sha256.Sum256(data), Source: src}
	if len(data) <= MaxDockerfileBytes {
		d.Content = string(data)
	}
	return d
}

// BaseImage is an image a stage was built from.
type BaseImage struct {
	// Stage is the stage built FROM it, lower-cased; "" when not known.
	Stage string `json:"stage,omitempty"`
	// Context is the named build context that stood for the image
	// (--build-context base=..., FROM base), "" for a plain image.
	Context  string `json:"context,omitempty"`
	Platform string `json:"platform,omitempty"`
	// Ref is the image reference in its familiar form, without digest
	// (see NormaliseImage).
	Ref string `json:"ref"`
	// Digest is the manifest digest it resolved to, "sha256:<64 hex>";
	// "" when not known.
	Digest string      `json:"digest,omitempty"`
	Source InputSource `json:"source"`
}

// Key is what identifies a base image across builds: the named context or
// the reference, and the platform.
func (bi BaseImage) Key() string {
	name := bi.Ref
	if bi.Context != "" {
		name = "context " + bi.Context
	}
	return bi.Platform + " " + name
}

// BuildArgs are the build arguments given to a build.
type BuildArgs struct {
	// Values are sorted by name.
	Values []BuildArg  `json:"values"`
	Source InputSource `json:"source"`
}

// BuildArg is one build argument. The value of an argument whose name looks
// secret (see LooksSecret) is kept only as a hash.
type BuildArg struct {
	Name string `json:"name"`
	// Value is the value as given, or "sha256:<hex>" of it when Hashed.
	Value  string `json:"value"`
	Hashed bool   `json:"hashed,omitempty"`
}

// NewBuildArgs records the given arguments, hashing the values of those
// whose names look secret.
func NewBuildArgs(args map[string]string, src InputSource) *BuildArgs {
	out := &BuildArgs{Values: []BuildArg{}, Source: src}
	for k, v := range args {
		out.Values = append(out.Values, NewBuildArg(k, v))
	}
	slices.SortFunc(out.Values, func(a, b BuildArg) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// NewBuildArg records one argument, hashing its value if its name looks
// secret.
func NewBuildArg(name, value string) BuildArg {
	if !LooksSecret(name) {
		return BuildArg{Name: name, Value: value}
	}
	return BuildArg{Name: name, Value: HashSecret(name, value), Hashed: true}
}

// Get returns the value of the named argument (hashed if it was) and
// whether it was given.
func (a *BuildArgs) Get(name string) (BuildArg, bool) {
	if a == nil {
		return BuildArg{}, false
	}
	for _, v := range a.Values {
		if v.Name == name {
			return v, true
		}
	}
	return BuildArg{}, false
}

// secretName matches argument names whose values must not be stored.
var secretName = regexp.MustCompile(`(?i)TOKEN|SECRET|PASSW|PWD|KEY|AUTH|CREDENTIAL|PRIVATE|CERT|COOKIE|SESSION|SIGNATURE|SALT|PASSPHRASE|CONN(ECTION)?_?STR|DSN|WEBHOOK|API`)

// LooksSecret reports whether a build argument's name suggests a secret
// value: TOKEN, SECRET, PASSWORD, KEY, AUTH, CREDENTIAL and the like, in any
// case and anywhere in the name. It errs towards hashing.
func LooksSecret(name string) bool { return secretName.MatchString(name) }

// HashSecret is how a secret argument's value is kept: a SHA-256 over the
// name and the value, so two builds' values can be compared but not read.
func HashSecret(name, value string) string {
	h := sha256.New()
	h.Write([]byte("buildstats build-arg\x00"))
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// NoCache is whether and how a build disabled the cache.
type NoCache struct {
	// All is --no-cache: no step used the cache.
	All bool `json:"all"`
	// Stages are --no-cache-filter stages (lower-cased); empty with All.
	Stages []string    `json:"stages,omitempty"`
	Source InputSource `json:"source"`
}

// Applies reports whether the cache was disabled for stage.
func (n *NoCache) Applies(stage string) bool {
	if n == nil {
		return false
	}
	return n.All || slices.Contains(n.Stages, strings.ToLower(stage))
}

// CacheSource is a cache the build imported or tried to import.
type CacheSource struct {
	// Ref is what was imported: "type=registry,ref=..." for --cache-from,
	// or the reference the log names.
	Ref string `json:"ref"`
	// Error is why the import failed; "" when it worked or is not known.
	Error  string      `json:"error,omitempty"`
	Source InputSource `json:"source"`
}

// Merge fills the inputs in that are not recorded with those of o, so
// several sources (the log, flags, a context directory) make one record.
// What in already has wins.
func (in *Inputs) Merge(o *Inputs) {
	if o == nil {
		return
	}
	if in.Dockerfile == nil {
		in.Dockerfile = o.Dockerfile
	}
	if len(in.BaseImages) == 0 {
		in.BaseImages = o.BaseImages
	} else {
		// Another source may know digests this one lacks.
		for _, ob := range o.BaseImages {
			found := false
			for i := range in.BaseImages {
				if in.BaseImages[i].Key() == ob.Key() {
					found = true
					if in.BaseImages[i].Digest == "" {
						in.BaseImages[i].Digest, in.BaseImages[i].Source = ob.Digest, ob.Source
					}
					if in.BaseImages[i].Stage == "" {
						in.BaseImages[i].Stage = ob.Stage
					}
				}
			}
			if !found {
				in.BaseImages = append(in.BaseImages, ob)
			}
		}
	}
	if in.Args == nil {
		in.Args = o.Args
	}
	if in.Target == nil {
		in.Target = o.Target
	}
	if in.NoCache == nil {
		in.NoCache = o.NoCache
	}
	if in.Context == nil {
		in.Context = o.Context
	}
	if in.Commit == nil {
		in.Commit = o.Commit
	}
	for _, c := range o.CacheSources {
		if !slices.ContainsFunc(in.CacheSources, func(x CacheSource) bool { return x.Ref == c.Ref }) {
			in.CacheSources = append(in.CacheSources, c)
		}
	}
}

// IsEmpty reports whether nothing is recorded.
func (in *Inputs) IsEmpty() bool {
	return in == nil || in.Dockerfile == nil && len(in.BaseImages) == 0 && in.Args == nil && in.Target == nil &&
		in.NoCache == nil && in.Context == nil && in.Commit == nil && len(in.CacheSources) == 0
}

// BaseImageFor returns the recorded base image of a stage (lower-cased
// name) or named context, and whether there is one.
func (in *Inputs) BaseImageFor(platform, stage string) (BaseImage, bool) {
	if in == nil {
		return BaseImage{}, false
	}
	stage = strings.ToLower(stage)
	for _, bi := range in.BaseImages {
		if bi.Platform == platform && bi.Stage == stage {
			return bi, true
		}
	}
	return BaseImage{}, false
}
