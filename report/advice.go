package report

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// Advice kinds.
const (
	// AdviceCopyBeforeInstall: a dependency install ran after a
	// whole-context COPY . . that missed the cache.
	AdviceCopyBeforeInstall = "copy-before-install"
	// AdviceNoCache: no Dockerfile step came from the cache.
	AdviceNoCache = "no-cache"
	// AdviceLargeContext: the build context is larger than LargeContextBytes.
	AdviceLargeContext = "large-context"
	// AdviceLargeBaseImage: a FROM downloaded more than LargeBaseImageBytes.
	AdviceLargeBaseImage = "large-base-image"
	// AdviceRemoteAdd: an ADD of a URL ran; such steps are re-checked on
	// every build.
	AdviceRemoteAdd = "remote-add"
	// AdviceVolatileArg: a cache break at a step that uses a build argument
	// that looks like it changes on every build (a date, a commit).
	AdviceVolatileArg = "volatile-build-arg"
	// AdviceAptUpdateAlone: apt-get update in a RUN without an install.
	AdviceAptUpdateAlone = "apt-get-update-alone"
)

// Advice thresholds. Sizes use decimal units, as Docker prints them.
const (
	// LargeContextBytes: a context bigger than this almost always holds
	// files the image never uses (.git, node_modules, build output).
	LargeContextBytes = 50 * 1000 * 1000
	// LargeBaseImageBytes: base images above this usually have a slim or
	// alpine variant several times smaller.
	LargeBaseImageBytes = 200 * 1000 * 1000
	// emptyDockerignoreBytes: BuildKit reports a missing or empty
	// .dockerignore as a transfer of a couple of bytes.
	emptyDockerignoreBytes = 2
	// stepTextLen is how much of a step's text advice messages quote.
	stepTextLen = 60
)

// installer recognises a dependency install command.
type installer struct {
	re *regexp.Regexp
	// manifest names the files to copy before the install; empty for OS
	// packages, which need nothing from the context.
	manifest string
}

var installers = []installer{
	{regexp.MustCompile(`\bpip3?\s+install\b|\bpython3?\s+-m\s+pip\s+install\b`), "requirements.txt (or pyproject.toml)"},
	{regexp.MustCompile(`\b(poetry\s+install|pipenv\s+(install|sync)|uv\s+(sync|pip\s+install))\b`), "pyproject.toml and its lock file"},
	{regexp.MustCompile(`\bnpm\s+(ci|install|i)\b`), "package.json and package-lock.json"},
	{regexp.MustCompile(`\byarn(\s+install)?(\s+--?[\w=.-]+)*\s*($|&&|;|\||")`), "package.json and yarn.lock"},
	{regexp.MustCompile(`\bpnpm\s+(install|i)\b`), "package.json and pnpm-lock.yaml"},
	{regexp.MustCompile(`\bgo\s+mod\s+download\b`), "go.mod and go.sum"},
	{regexp.MustCompile(`\bbundle\s+install\b`), "Gemfile and Gemfile.lock"},
	{regexp.MustCompile(`\bcomposer\s+install\b`), "composer.json and composer.lock"},
	{regexp.MustCompile(`\bcargo\s+(build|fetch)\b`), "Cargo.toml and Cargo.lock"},
	{regexp.MustCompile(`\bmvn\b`), "pom.xml"},
	{regexp.MustCompile(`\bdotnet\s+restore\b`), "the *.csproj files"},
	{regexp.MustCompile(`\bapt(-get)?\s+(-\S+\s+)*install\b|\bapk\s+add\b|\b(yum|dnf|microdnf)\s+(-\S+\s+)*install\b`), ""},
}

var (
	aptUpdateRE  = regexp.MustCompile(`\bapt(-get)?\s+(-\S+\s+)*update\b`)
	aptInstallRE = regexp.MustCompile(`\bapt(-get)?\s+(-\S+\s+)*(install|upgrade|dist-upgrade)\b`)
	remoteSrcRE  = regexp.MustCompile(`^(https?://|git@)|\.git(#.*)?$`)
	argRefRE     = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	volatileRE   = regexp.MustCompile(`(?i)^(.*_)?(date|time|timestamp|cache_?bust|commit|git_?sha|sha|revision|rev|build_?id|build_?number|run_?id|run_?number)$`)
	slimImageRE  = regexp.MustCompile(`(?i)slim|alpine|distroless|busybox|minimal|micro`)
)

// advice applies each rule to the analysed build, in a fixed order.
func (a *analysis) advice(e *Explanation) []Advice {
	out := []Advice{}
	out = append(out, a.copyBeforeInstall()...)
	if adv := a.noCache(e); adv != nil {
		out = append(out, *adv)
	}
	if adv := a.largeContext(e); adv != nil {
		out = append(out, *adv)
	}
	out = append(out, a.largeBaseImages()...)
	out = append(out, a.alwaysRuns()...)
	out = append(out, a.aptUpdateAlone()...)
	return out
}

func (a *analysis) newAdvice(kind string, v *model.Vertex, d *time.Duration, msg string) Advice {
	adv := Advice{Kind: kind, Message: msg}
	if v != nil {
		adv.Step, adv.Line = ptr(v.Name), a.line(v)
	}
	if d != nil {
		adv.Seconds = ptr(seconds(*d))
	}
	return adv
}

// quote is how advice refers to a step: its instruction, shortened, and
// its Dockerfile line when known.
func (a *analysis) quote(v *model.Vertex) string {
	text := v.Name
	if v.Instruction != "" {
		text = v.Instruction + " " + v.Args
	}
	q := "`" + shorten(strings.Join(strings.Fields(text), " "), stepTextLen) + "`"
	if n, ok := a.lines[v]; ok {
		q += fmt.Sprintf(" (line %d)", n)
	}
	return q
}

func duration(v *model.Vertex) *time.Duration {
	if !v.HasDuration {
		return nil
	}
	return &v.Duration
}

// tookText is " (12.3s)" for a vertex with a duration, "" otherwise.
func tookText(v *model.Vertex) string {
	if !v.HasDuration {
		return ""
	}
	return " (" + FormatSeconds(seconds(v.Duration)) + ")"
}

// wholeContextCopy reports whether v copies the entire build context.
func wholeContextCopy(v *model.Vertex) bool {
	if v.Instruction != "COPY" && v.Instruction != "ADD" {
		return false
	}
	srcs, fromOther := copySources(v.Args)
	if fromOther {
		return false
	}
	for _, s := range srcs {
		switch s {
		case ".", "./", "*", "./*":
			return true
		}
	}
	return false
}

func (a *analysis) copyBeforeInstall() []Advice {
	var out []Advice
	for _, c := range a.chains {
		var ctxCopy *model.Vertex
		for _, v := range c.steps {
			if wholeContextCopy(v) && a.missed[v] && ctxCopy == nil {
				ctxCopy = v
				continue
			}
			if ctxCopy == nil || v.Instruction != "RUN" || !a.missed[v] {
				continue
			}
			for _, in := range installers {
				if !in.re.MatchString(v.Args) {
					continue
				}
				var msg string
				if in.manifest == "" {
					msg = fmt.Sprintf("%s ran again%s because it comes after %s, which missed the cache: any change to any file in the build context re-runs it. Install system packages before COPY . .",
						a.quote(v), tookText(v), a.quote(ctxCopy))
				} else {
					msg = fmt.Sprintf("%s ran again%s because it comes after %s, which missed the cache: any change to any file in the build context re-installs every dependency. Copy only %s first, run the install, then COPY . . for the rest.",
						a.quote(v), tookText(v), a.quote(ctxCopy), in.manifest)
				}
				out = append(out, a.newAdvice(AdviceCopyBeforeInstall, v, duration(v), msg))
				break
			}
		}
	}
	return out
}

func (a *analysis) noCache(e *Explanation) *Advice {
	if e.StepsCached > 0 || e.StepsRun < 2 {
		return nil
	}
	var ran time.Duration
	for _, v := range a.b.Vertices {
		if v.IsStep() && v.Ran() && v.HasDuration {
			ran += v.Duration
		}
	}
	pulled := ""
	if e.BaseImageBytes > 0 {
		pulled = fmt.Sprintf(", and %s of base image layers were downloaded", FormatBytes(e.BaseImageBytes))
	}
	msg := fmt.Sprintf("No step came from the cache (%d steps ran%s): this builder had no cache for this Dockerfile, as on a fresh CI runner, after --no-cache or a prune. On CI, keep the cache between builds with docker buildx build --cache-to/--cache-from (type=registry, type=gha or type=local).",
		e.StepsRun, pulled)
	adv := a.newAdvice(AdviceNoCache, nil, &ran, msg)
	return &adv
}

func (a *analysis) largeContext(e *Explanation) *Advice {
	if e.ContextBytes == nil || *e.ContextBytes <= LargeContextBytes {
		return nil
	}
	var ctxV *model.Vertex
	ignore := int64(-1)
	for _, v := range a.b.Vertices {
		name := strings.ToLower(v.Name)
		switch {
		case strings.Contains(name, "build context") && ctxV == nil:
			ctxV = v
		case strings.Contains(name, ".dockerignore"):
			for _, t := range v.Transfers {
				ignore = t.Bytes
			}
		}
	}
	msg := fmt.Sprintf("The build context is %s", FormatBytes(*e.ContextBytes))
	if ctxV != nil && ctxV.HasDuration {
		msg += fmt.Sprintf(" (sent in %s)", FormatSeconds(seconds(ctxV.Duration)))
	}
	if ignore >= 0 && ignore <= emptyDockerignoreBytes {
		msg += fmt.Sprintf(" and the .dockerignore looks empty or missing (%s)", FormatBytes(ignore))
	}
	msg += ". Add a .dockerignore that excludes .git, node_modules, build output and anything else the Dockerfile does not need."
	var d *time.Duration
	if ctxV != nil {
		d = duration(ctxV)
	}
	adv := a.newAdvice(AdviceLargeContext, ctxV, d, msg)
	return &adv
}

func (a *analysis) largeBaseImages() []Advice {
	var out []Advice
	for _, v := range a.b.Vertices {
		if v.Instruction != "FROM" || v.Cached {
			continue
		}
		var n int64
		for _, t := range v.Transfers {
			if strings.HasPrefix(t.Name, "sha256:") {
				n += max(t.Total, t.Bytes)
			}
		}
		if n <= LargeBaseImageBytes {
			continue
		}
		image, _ := fromArgs(v.Args)
		msg := fmt.Sprintf("%s downloaded %s of base image layers%s.", a.quote(v), FormatBytes(n), tookText(v))
		if !slimImageRE.MatchString(image) {
			msg += " If the image has a -slim or -alpine variant, it is usually several times smaller."
		}
		msg += " A builder that keeps its cache between builds skips this download."
		out = append(out, a.newAdvice(AdviceLargeBaseImage, v, duration(v), msg))
	}
	return out
}

// alwaysRuns flags steps whose cache key changes on every build: ADD of a
// URL, and cache breaks at steps using a build argument that looks like a
// date or commit.
func (a *analysis) alwaysRuns() []Advice {
	var out []Advice
	for _, c := range a.chains {
		for _, v := range c.steps {
			if !a.missed[v] {
				continue
			}
			if v.Instruction == "ADD" {
				srcs, _ := copySources(v.Args)
				for _, s := range srcs {
					if remoteSrcRE.MatchString(s) {
						msg := fmt.Sprintf("%s ran%s: ADD of a URL is fetched again on every build to check for changes, and every later step rebuilds when the content differs. Pin it (ADD --checksum=sha256:...) or download a fixed version in a RUN.", a.quote(v), tookText(v))
						out = append(out, a.newAdvice(AdviceRemoteAdd, v, duration(v), msg))
						break
					}
				}
				continue
			}
			k := a.breakAt[v]
			if k == nil || k.reason != ReasonPreviousCached {
				continue
			}
			for _, m := range argRefRE.FindAllStringSubmatch(v.Args, -1) {
				if volatileRE.MatchString(m[1]) {
					msg := fmt.Sprintf("The cache broke at %s, which uses $%s. A build argument that changes on every build (a date, a commit) re-runs this step and every step after it each time: use it as late as possible, for example in a LABEL at the end.", a.quote(v), m[1])
					out = append(out, a.newAdvice(AdviceVolatileArg, v, duration(v), msg))
					break
				}
			}
		}
	}
	return out
}

func (a *analysis) aptUpdateAlone() []Advice {
	var out []Advice
	for _, v := range a.b.Vertices {
		// A cut-off name may have lost the install that follows.
		if v.Instruction != "RUN" || v.NameTruncated || !aptUpdateRE.MatchString(v.Args) || aptInstallRE.MatchString(v.Args) {
			continue
		}
		msg := fmt.Sprintf("%s updates the package index without installing in the same RUN: its cached layer keeps an old package index, so a later install can fetch outdated or missing packages. Combine them: RUN apt-get update && apt-get install -y ... && rm -rf /var/lib/apt/lists/*.", a.quote(v))
		out = append(out, a.newAdvice(AdviceAptUpdateAlone, v, duration(v), msg))
	}
	return out
}
