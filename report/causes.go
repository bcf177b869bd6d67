package report

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/dockerfile"
)

// Cause kinds: why the cache broke at a step, checked in this order (the
// first that holds is the cause).
const (
	// CauseNoCache: the build ran with --no-cache (or --no-cache-filter
	// naming the step's stage).
	CauseNoCache = "no_cache"
	// CauseBaseImage: the stage's base image resolved to another digest.
	CauseBaseImage = "base_image"
	// CauseInstruction: the step's instruction changed, is new, or an
	// instruction before it that every later step depends on (USER,
	// SHELL) changed.
	CauseInstruction = "instruction"
	// CauseBuildArg: a build argument or ENV variable the step sees
	// changed.
	CauseBuildArg = "build_arg"
	// CauseUpstream: a stage the step builds on or copies from rebuilt.
	CauseUpstream = "upstream"
	// CauseContextFiles: files the COPY or ADD copies from the build
	// context changed.
	CauseContextFiles = "context_files"
	// CauseCacheUnavailable: the step's inputs did not change, but the
	// builder had no cache for it (a fresh runner, a cache not imported,
	// evicted or pruned, a step that failed last time).
	CauseCacheUnavailable = "cache_unavailable"
	// CauseUnknown: nothing recorded says why.
	CauseUnknown = "unknown"
)

// Cause confidences.
const (
	// ConfidenceExact: the inputs the cause rests on were recorded for
	// both builds (by the daemon, a build record, --context, --dockerfile,
	// --build-arg, or the digests the logs print).
	ConfidenceExact = "exact"
	// ConfidenceLikely: inferred from what the log shows.
	ConfidenceLikely = "likely"
	// ConfidenceUnknown: no cause could be named.
	ConfidenceUnknown = "unknown"
)

// MaxCauseFiles bounds Cause.Files; the message gives the full count.
const MaxCauseFiles = 100

// Cause is why the cache broke at a step (CacheBreak.Cause).
type Cause struct {
	// Kind is one of the Cause* constants.
	Kind string `json:"kind"`
	// Confidence is one of the Confidence* constants.
	Confidence string `json:"confidence"`
	// Message says it in a sentence: "COPY src/ /src/ missed: src/app.py
	// and 2 more files changed since build #41". It quotes log and file
	// names: escape it for the output.
	Message string `json:"message"`
	// Files are, for context_files, the changed paths relative to the
	// context (a directory added or removed whole ends in "/"), at most
	// MaxCauseFiles.
	Files []string `json:"files"`
	// Args are, for build_arg, the names of the arguments or ENV
	// variables that changed; never their values.
	Args []string `json:"args"`
	// PreviousBuild is the id of the build the inputs were compared with;
	// null when there was none.
	PreviousBuild *int64 `json:"previous_build"`

	detail string // Message without its "COPY src/ /src/ missed: " start
}

// Detail is the message without the step it starts with, for outputs that
// name the step their own way: "src/app.py changed since build #41".
func (c *Cause) Detail() string {
	if c.detail != "" {
		return c.detail
	}
	return c.Message
}

// Baseline is the earlier build a build's inputs are compared with: the
// previous build of its project in the history.
type Baseline struct {
	ID    int64
	Build *model.Build
	// Nodes fetches the context directory nodes the baseline's manifest
	// does not hold (a store's ContextNodes); nil when there is no store.
	Nodes model.NodeLoader
}

// causer names the cause of each cache break of an analysis.
type causer struct {
	a    *analysis
	base *Baseline
	cur  *model.Inputs // never nil
	prev *model.Inputs // never nil; empty without a baseline

	curDF, prevDF   *dockerfile.File
	curIns, prevIns []dockerfile.Instruction

	prevIDs  map[model.Identity]*model.Vertex // the baseline's vertices by identity
	identity map[*model.Vertex]model.Identity

	// Build-wide evidence.
	anyHit      bool  // some Dockerfile step (not a FROM) came from the cache
	sentBytes   int64 // "transferring context", -1 when the log does not say
	loadErr     error // reading the baseline's context failed
	importFails []model.CacheSource
}

func newCauser(a *analysis, base *Baseline) *causer {
	c := &causer{a: a, base: base, cur: a.b.Inputs, sentBytes: a.b.ContextBytes(), identity: map[*model.Vertex]model.Identity{}}
	if c.cur == nil {
		c.cur = &model.Inputs{}
	}
	c.prev = &model.Inputs{}
	if base != nil && base.Build != nil && base.Build.Inputs != nil {
		c.prev = base.Build.Inputs
	}
	for i, id := range a.b.Identities() {
		c.identity[a.b.Vertices[i]] = id
	}
	if base != nil && base.Build != nil {
		c.prevIDs = map[model.Identity]*model.Vertex{}
		for i, id := range base.Build.Identities() {
			c.prevIDs[id] = base.Build.Vertices[i]
		}
	}
	c.curDF = a.file
	if c.curDF == nil {
		c.curDF = parseRecordedDockerfile(c.cur)
	}
	c.prevDF = parseRecordedDockerfile(c.prev)
	if c.curDF != nil {
		c.curIns = c.curDF.Instructions()
	}
	if c.prevDF != nil {
		c.prevIns = c.prevDF.Instructions()
	}
	for _, v := range a.b.Vertices {
		if v.IsStep() && v.Instruction != "FROM" && v.CacheHit() {
			c.anyHit = true
		}
	}
	for _, cs := range c.cur.CacheSources {
		if cs.Error != "" {
			c.importFails = append(c.importFails, cs)
		}
	}
	return c
}

// parseRecordedDockerfile parses a recorded Dockerfile, at its recorded target.
func parseRecordedDockerfile(in *model.Inputs) *dockerfile.File {
	if in.Dockerfile == nil || in.Dockerfile.Content == "" {
		return nil
	}
	f, err := dockerfile.Parse(strings.NewReader(in.Dockerfile.Content), in.Dockerfile.Name)
	if err != nil {
		return nil
	}
	if in.Target != nil && in.Target.Value != "" {
		f = f.WithTarget(in.Target.Value)
	}
	return f
}

// stepContext is what the checks of one break share.
type stepContext struct {
	k    *brk
	v    *model.Vertex
	what string // "COPY src/ /src/", for messages
	// atStart: no step of the chain before v came from the cache, so
	// what the whole stage depends on (its base) may be the cause.
	atStart bool
	since   string // " since build #41", or ""

	curIn, prevIn   *dockerfile.Instruction // v's instruction in each Dockerfile
	curIdx, prevIdx int                     // their positions in curIns, prevIns
	prevStep        *model.Vertex           // the baseline's vertex with v's identity

	// Filled by the checks as they go, for cache_unavailable's verdict:
	// every input that was compared was recorded and equal.
	allKnown bool
	// Likely causes found on the way, used when no exact one holds.
	likely []*Cause
}

// cause names the cause of break k.
func (c *causer) cause(k *brk) (cs *Cause) {
	s := &stepContext{k: k, v: k.v, what: stepWhat(k.v), atStart: true, allKnown: true, curIdx: -1, prevIdx: -1}
	for i, v := range k.c.steps[:k.at] {
		if v.Instruction != "FROM" && k.c.states[i] == stateHit {
			s.atStart = false
		}
	}
	if c.base != nil {
		s.since = fmt.Sprintf(" since build #%d", c.base.ID)
		s.prevStep = c.prevIDs[c.identity[k.v]]
	}
	c.locate(s)
	if s.curIn != nil {
		// The Dockerfile's own text: BuildKit names steps with their
		// variables expanded, values of secret build args included.
		s.what = printable(shorten(s.curIn.Text, stepTextLen))
	}
	defer func() {
		if cs != nil {
			cs.detail, _ = strings.CutPrefix(cs.Message, s.what+" missed: ")
			if cs.detail == cs.Message {
				cs.detail = ""
			}
		}
	}()
	for _, check := range []func(*stepContext) *Cause{
		c.noCache, c.baseImage, c.instruction, c.buildArg, c.upstream, c.contextFiles,
	} {
		if cs := check(s); cs != nil {
			return c.finish(cs)
		}
	}
	// No input is known to have changed: was the cache there at all?
	if cs := c.noCacheSeen(s); cs != nil {
		return c.finish(cs)
	}
	if cs := c.unavailable(s); cs != nil {
		return c.finish(cs)
	}
	if len(s.likely) > 0 {
		return c.finish(s.likely[0])
	}
	msg := s.what + " missed, and nothing recorded says why"
	switch {
	case c.base == nil:
		msg += ": there is no earlier build of the project in the history to compare it with"
	default:
		msg += s.since + ": store builds with --dockerfile and --context (or run them with buildstats build) to name the input that changed"
	}
	return c.finish(&Cause{Kind: CauseUnknown, Confidence: ConfidenceUnknown, Message: msg})
}

func (c *causer) finish(cs *Cause) *Cause {
	if cs.Files == nil {
		cs.Files = []string{}
	}
	if cs.Args == nil {
		cs.Args = []string{}
	}
	if c.base != nil {
		cs.PreviousBuild = ptr(c.base.ID)
	}
	return cs
}

// locate finds v's instruction in this build's Dockerfile and the same
// instruction (same stage, same text) in the baseline's.
func (c *causer) locate(s *stepContext) {
	if c.curDF == nil {
		return
	}
	line, ok := c.a.lines[s.v]
	if !ok && c.a.file == nil {
		line, ok = c.curDF.Line(s.v)
	}
	if !ok {
		return
	}
	for i := range c.curIns {
		if c.curIns[i].Line == line {
			s.curIn, s.curIdx = &c.curIns[i], i
		}
	}
	if s.curIn == nil || c.prevDF == nil {
		return
	}
	// The same stage of the baseline's file: by name, else by position.
	name := ""
	if st := c.curDF.Stages(); s.curIn.Stage >= 0 && s.curIn.Stage < len(st) {
		name = st[s.curIn.Stage].Name
		if name == "" {
			name = fmt.Sprintf("stage-%d", s.curIn.Stage)
		}
	}
	ps, ok := c.prevDF.StageIndex(name)
	if !ok {
		return
	}
	// The n-th instruction of that stage with the same text.
	n := 0
	for _, in := range c.curIns[:s.curIdx] {
		if in.Stage == s.curIn.Stage && in.Text == s.curIn.Text {
			n++
		}
	}
	for i := range c.prevIns {
		in := &c.prevIns[i]
		if in.Stage == ps && in.Text == s.curIn.Text {
			if n == 0 {
				s.prevIn, s.prevIdx = in, i
				return
			}
			n--
		}
	}
}

// noCache: the build was told not to use the cache.
func (c *causer) noCache(s *stepContext) *Cause {
	nc := c.cur.NoCache
	if nc == nil || !nc.Applies(s.v.Stage) {
		return nil
	}
	how := "--no-cache"
	if !nc.All {
		how = "--no-cache-filter " + strings.Join(nc.Stages, ",")
	}
	return &Cause{Kind: CauseNoCache, Confidence: ConfidenceExact,
		Message: fmt.Sprintf("%s ran because the build ran with %s (%s)", s.what, how, sourceWords(nc.Source))}
}

// noCacheSeen: --no-cache was not recorded, but every step ran although
// the builder still held the project's files (the context went over
// incrementally, as it does only to a builder that kept the previous sync),
// so the cache was there and was not used. Checked once no input is known
// to have changed: a changed file sends little too.
func (c *causer) noCacheSeen(s *stepContext) *Cause {
	if c.cur.NoCache != nil {
		return nil // recorded, and it did not apply
	}
	if m := c.cur.Context; !c.anyHit && m != nil && c.sentBytes >= 0 && m.Bytes >= minIncrementalContext &&
		c.sentBytes < m.Bytes/2 {
		return &Cause{Kind: CauseNoCache, Confidence: ConfidenceLikely,
			Message: fmt.Sprintf("%s ran like every step of the build, although the builder kept this project's files "+
				"(it was sent %s of a %s context): the build likely ran with --no-cache", s.what,
				FormatBytes(c.sentBytes), FormatBytes(m.Bytes))}
	}
	return nil
}

// keptContext reports whether the context went over incrementally
// compared with the baseline's transfer: the builder kept the project's
// files from an earlier build, so it had not lost its cache.
func (c *causer) keptContext() bool {
	if c.base == nil || c.sentBytes < 0 {
		return false
	}
	prev := c.base.Build.ContextBytes()
	return prev >= minIncrementalContext && c.sentBytes < prev/2
}

// minIncrementalContext is the smallest context whose transfer size tells
// an incremental sync from a full one: below it, the file headers BuildKit
// sends weigh as much as the content.
const minIncrementalContext = 64 << 10

// baseImage: the stage's base image moved to another digest.
func (c *causer) baseImage(s *stepContext) *Cause {
	if !s.atStart {
		return nil // a step before it came from the cache: the base is the same
	}
	cur, ok := c.stageBase(c.cur, c.curDF, s.k.c)
	if !ok {
		return nil
	}
	prev, ok := findBase(c.prev, cur)
	if !ok {
		s.allKnown = false
		return nil
	}
	if cur.Digest == "" || prev.Digest == "" {
		s.allKnown = false
		return nil
	}
	if cur.Digest == prev.Digest {
		return nil
	}
	name := cur.Ref
	if cur.Context != "" {
		name = "of build context " + cur.Context
		if cur.Ref != cur.Context {
			name += " (" + cur.Ref + ")"
		}
	}
	return &Cause{Kind: CauseBaseImage, Confidence: ConfidenceExact,
		Message: fmt.Sprintf("%s missed: the base image %s moved%s (%s → %s)", s.what, printable(name), s.since,
			shortDigest(prev.Digest), shortDigest(cur.Digest))}
}

// stageBase returns the base image a chain's stage was built from.
func (c *causer) stageBase(in *model.Inputs, df *dockerfile.File, ch *chain) (model.BaseImage, bool) {
	if bi, ok := in.BaseImageFor(ch.platform, ch.name); ok {
		return bi, true
	}
	// The Dockerfile says what the stage is FROM: a named context or an
	// image of that name.
	if df != nil {
		if i, ok := df.StageIndex(ch.name); ok {
			base := df.Stages()[i].Base
			if base == "scratch" || c.a.lookup(ch.platform, base) != nil {
				return model.BaseImage{}, false
			}
			for _, bi := range in.BaseImages {
				if bi.Platform == ch.platform && (strings.EqualFold(bi.Context, base) || bi.Ref == model.NormaliseImage(base)) {
					return bi, true
				}
			}
			return model.BaseImage{}, false
		}
	}
	// A single-stage build with one base image.
	if ch.name == "" && len(in.BaseImages) == 1 && in.BaseImages[0].Stage == "" {
		return in.BaseImages[0], true
	}
	return model.BaseImage{}, false
}

// findBase finds the base image of the same key in other inputs.
func findBase(in *model.Inputs, bi model.BaseImage) (model.BaseImage, bool) {
	for _, o := range in.BaseImages {
		if o.Key() == bi.Key() {
			return o, true
		}
	}
	return model.BaseImage{}, false
}

// instruction: the step's own text changed or is new, or an instruction
// before it that shapes every later step (USER, SHELL) changed.
func (c *causer) instruction(s *stepContext) *Cause {
	if c.base == nil {
		s.allKnown = false
		return nil
	}
	if s.curIn != nil && c.prevDF != nil {
		if s.prevIn == nil {
			what := "changed"
			if !c.hasKeywordAt(s) {
				what = "is new"
			}
			return &Cause{Kind: CauseInstruction, Confidence: ConfidenceExact,
				Message: fmt.Sprintf("%s missed: its instruction %s%s (%s line %d)", s.what, what, s.since,
					printable(c.curDF.Name()), s.curIn.Line)}
		}
		// The text is the same: what shapes it from before?
		for _, kw := range []string{"USER", "SHELL"} {
			a, b := c.before(c.curIns, s.curIdx, kw), c.before(c.prevIns, s.prevIdx, kw)
			if a != b {
				return &Cause{Kind: CauseInstruction, Confidence: ConfidenceExact,
					Message: fmt.Sprintf("%s missed: the %s before it changed%s (%q, was %q)", s.what, kw, s.since,
						printable(orNone(a)), printable(orNone(b)))}
			}
		}
		return nil
	}
	if s.prevStep != nil {
		return nil // the log names the same step
	}
	if c.base.Build.Truncated || s.v.NameTruncated {
		s.allKnown = false
		return nil
	}
	// The log's text differs: an edit, or a variable BuildKit expanded in
	// the name. Without both Dockerfiles it cannot be told which.
	s.allKnown = false
	if names := c.changedArgs(s, nil); len(names) > 0 && c.cur.Args != nil && c.prev.Args != nil {
		s.likely = append(s.likely, &Cause{Kind: CauseBuildArg, Confidence: ConfidenceLikely, Args: names,
			Message: fmt.Sprintf("%s missed: build %s %s changed%s, and the step's text with it", s.what, pluralWord(len(names), "arg", "args"),
				joinNames(names), s.since)})
	}
	was := ""
	if p := c.samePosition(s.v); p != nil {
		was = fmt.Sprintf(" (it was %q)", printable(shorten(p.Instruction+" "+p.Args, stepTextLen)))
	}
	s.likely = append(s.likely, &Cause{Kind: CauseInstruction, Confidence: ConfidenceLikely,
		Message: fmt.Sprintf("%s missed: build #%d has no such step%s; its text changed, or a build arg in it did", s.what, c.base.ID, was)})
	return nil
}

// hasKeywordAt reports whether the baseline's stage had an instruction of
// the same keyword in the same position: then the step changed rather than
// appeared.
func (c *causer) hasKeywordAt(s *stepContext) bool {
	return c.samePosition(s.v) != nil
}

// samePosition returns the baseline's step at v's stage and [n/m]
// position with v's instruction, if any.
func (c *causer) samePosition(v *model.Vertex) *model.Vertex {
	if c.base == nil {
		return nil
	}
	for _, p := range c.base.Build.Vertices {
		if p.IsStep() && p.Platform == v.Platform && strings.EqualFold(p.Stage, v.Stage) && p.Index == v.Index &&
			p.Instruction == v.Instruction {
			return p
		}
	}
	return nil
}

// before returns the text of the last kw instruction before position i in
// i's stage, or "".
func (c *causer) before(ins []dockerfile.Instruction, i int, kw string) string {
	if i < 0 {
		return ""
	}
	last := ""
	for _, in := range ins[:i] {
		if in.Stage == ins[i].Stage && in.Keyword == kw {
			last = in.Text
		}
	}
	return last
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// buildArg: a build argument or ENV variable the step sees changed.
func (c *causer) buildArg(s *stepContext) *Cause {
	if c.base == nil {
		return nil
	}
	if s.curIn == nil || s.prevIn == nil {
		// Without both Dockerfiles the step's variables are not known.
		if c.cur.Args != nil && c.prev.Args != nil && s.v.Instruction == "RUN" {
			if names := c.changedArgs(s, nil); len(names) > 0 {
				s.likely = append(s.likely, &Cause{Kind: CauseBuildArg, Confidence: ConfidenceLikely, Args: names,
					Message: fmt.Sprintf("%s missed: build %s %s changed%s, which the step likely sees", s.what,
						pluralWord(len(names), "arg", "args"), joinNames(names), s.since)})
			}
		}
		s.allKnown = false
		return nil
	}
	curScope := scopeAt(c.curIns, s.curIdx, c.cur.Args)
	prevScope := scopeAt(c.prevIns, s.prevIdx, c.prev.Args)
	var names []string
	if s.curIn.Keyword == "RUN" {
		// A RUN's environment holds every ARG and ENV of its stage.
		for n := range curScope {
			names = append(names, n)
		}
		for n := range prevScope {
			if _, ok := curScope[n]; !ok {
				names = append(names, n)
			}
		}
	} else {
		names = append(names, s.curIn.Refs...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var changed, unknown []string
	for _, n := range names {
		a, aok := curScope[n]
		b, bok := prevScope[n]
		switch {
		case aok != bok:
			changed = append(changed, n) // declared in one build only
		case !aok:
		case !a.known || !b.known:
			unknown = append(unknown, n)
		case a.value != b.value:
			changed = append(changed, n)
		}
	}
	if len(changed) > 0 {
		return &Cause{Kind: CauseBuildArg, Confidence: ConfidenceExact, Args: changed,
			Message: fmt.Sprintf("%s missed: %s changed%s", s.what, describeVars(changed, curScope, prevScope), s.since)}
	}
	if len(unknown) > 0 && s.prevStep == nil && c.prevIDs != nil {
		// The Dockerfile line is the same, the step BuildKit named after
		// expanding it is not: a variable it refers to changed.
		var used []string
		for _, n := range unknown {
			if slices.Contains(s.curIn.Refs, n) {
				used = append(used, n)
			}
		}
		if len(used) > 0 {
			// Never quote the expanded texts: they hold the values.
			s.allKnown = false
			return &Cause{Kind: CauseBuildArg, Confidence: ConfidenceLikely, Args: used,
				Message: fmt.Sprintf("%s missed: its Dockerfile line is the same as in build #%d but BuildKit expanded it differently: %s %s changed",
					s.what, c.base.ID, pluralWord(len(used), "variable", "variables"), joinNames(used))}
		}
	}
	if len(unknown) > 0 {
		s.allKnown = false
		s.likely = append(s.likely, &Cause{Kind: CauseBuildArg, Confidence: ConfidenceLikely, Args: unknown,
			Message: fmt.Sprintf("%s missed: it sees build %s %s, whose values were not recorded%s; one likely changed", s.what,
				pluralWord(len(unknown), "arg", "args"), joinNames(unknown), sinceIn(s.since))})
	}
	return nil
}

func sinceIn(since string) string {
	if since == "" {
		return ""
	}
	return " here or in" + strings.TrimPrefix(since, " since")
}

// changedArgs lists the recorded build args that differ between the two
// builds (among only, when given).
func (c *causer) changedArgs(s *stepContext, only []string) []string {
	if c.cur.Args == nil || c.prev.Args == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, set := range [][]model.BuildArg{c.cur.Args.Values, c.prev.Args.Values} {
		for _, a := range set {
			if seen[a.Name] || only != nil && !slices.Contains(only, a.Name) {
				continue
			}
			seen[a.Name] = true
			x, xok := c.cur.Args.Get(a.Name)
			y, yok := c.prev.Args.Get(a.Name)
			if xok != yok || x.Value != y.Value {
				out = append(out, a.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// scopeVal is a variable's value at an instruction.
type scopeVal struct {
	value string
	known bool   // false: an ARG whose build arg was not recorded
	env   bool   // set by ENV rather than ARG
	given bool   // the value came from a build arg
	line  int    // where it was declared
	kind  string // "ARG" or "ENV"
}

// scopeAt is what the instruction at ins[i] sees: the ARGs and ENVs of its
// stage before it, with the build's args (nil: not recorded) applied as
// BuildKit applies them. Values of secret-looking names are hashed, as
// recorded args are.
func scopeAt(ins []dockerfile.Instruction, i int, args *model.BuildArgs) map[string]scopeVal {
	global := map[string]scopeVal{}
	scope := map[string]scopeVal{}
	stage := ins[i].Stage
	argValue := func(d dockerfile.ArgDecl, line int) (scopeVal, bool) {
		if args != nil {
			if a, ok := args.Get(d.Name); ok {
				return scopeVal{value: a.Value, known: true, given: true, line: line, kind: "ARG"}, true
			}
		}
		if d.Default != nil {
			v := *d.Default
			if model.LooksSecret(d.Name) {
				v = model.HashSecret(d.Name, v)
			}
			// With args unrecorded, a build arg may have overridden the
			// default.
			return scopeVal{value: v, known: args != nil, line: line, kind: "ARG"}, true
		}
		if g, ok := global[d.Name]; ok {
			g.line = line
			return g, true
		}
		if args == nil {
			return scopeVal{known: false, line: line, kind: "ARG"}, true
		}
		return scopeVal{}, false // declared without a value: not in the environment
	}
	for _, in := range ins[:i] {
		switch {
		case in.Stage == -1 && in.Keyword == "ARG":
			for _, d := range in.Args {
				if v, ok := argValue(d, in.Line); ok {
					global[d.Name] = v
				}
			}
		case in.Stage != stage:
		case in.Keyword == "ARG":
			for _, d := range in.Args {
				if v, ok := argValue(d, in.Line); ok {
					scope[d.Name] = v
				}
			}
		case in.Keyword == "ENV":
			for _, e := range in.Env {
				v := scopeVal{value: e.Value, known: true, env: true, line: in.Line, kind: "ENV"}
				// ENV X=$V: as known as the variables it uses.
				for _, m := range varRefs(e.Value) {
					if r, ok := scope[m]; ok && !r.known {
						v.known = false
					}
					if r, ok := scope[m]; ok {
						v.value += "\x00" + r.value
					}
				}
				scope[e.Name] = v
			}
		}
	}
	return scope
}

func varRefs(s string) []string {
	var out []string
	i := 0
	for i < len(s) {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			break
		}
		i += j + 1
		k := i
		if k < len(s) && s[k] == '{' {
			k++
		}
		start := k
		for k < len(s) && (s[k] == '_' || unicode.IsLetter(rune(s[k])) || k > start && unicode.IsDigit(rune(s[k]))) {
			k++
		}
		if k > start {
			out = append(out, s[start:k])
		}
		i = k
	}
	return out
}

// describeVars names changed variables: "build arg VERSION",
// "ENV PATH", "build args A and B and ENV C".
func describeVars(names []string, a, b map[string]scopeVal) string {
	var args, envs []string
	for _, n := range names {
		v, ok := a[n]
		if !ok {
			v = b[n]
		}
		if v.env {
			envs = append(envs, n)
		} else {
			args = append(args, n)
		}
	}
	var parts []string
	if len(args) > 0 {
		parts = append(parts, pluralWord(len(args), "build arg", "build args")+" "+joinNames(args))
	}
	if len(envs) > 0 {
		parts = append(parts, "ENV "+joinNames(envs))
	}
	return strings.Join(parts, " and ")
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// joinNames lists names: "A", "A and B", "A, B and C".
func joinNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = printable(n)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// upstream: a stage the step reads from rebuilt in this build.
func (c *causer) upstream(s *stepContext) *Cause {
	ch := s.k.c
	var refs []string
	if s.atStart && ch.base != "" {
		refs = append(refs, ch.base)
	}
	refs = append(refs, stageRefs(s.v)...)
	for _, name := range refs {
		p := c.a.lookup(ch.platform, name)
		if p == nil || p == ch {
			continue
		}
		for _, v := range p.steps {
			if c.a.missed[v] {
				return &Cause{Kind: CauseUpstream, Confidence: ConfidenceExact,
					Message: fmt.Sprintf("%s missed: stage %s, which it builds on, rebuilt first (%s)", s.what,
						printable(p.name), printable(shorten(v.Name, stepTextLen)))}
			}
		}
	}
	return nil
}

// contextFiles: files the COPY or ADD copies from the context changed.
func (c *causer) contextFiles(s *stepContext) *Cause {
	v := s.v
	var srcs []string
	switch v.Instruction {
	case "COPY", "ADD":
		var fromOther bool
		if srcs, fromOther = copySources(v.Args); fromOther {
			return nil
		}
	case "RUN":
		srcs = contextMounts(v.Args)
	}
	if len(srcs) == 0 {
		return nil
	}
	var local []string
	for _, src := range srcs {
		if v.Instruction == "ADD" && (strings.Contains(src, "://") || strings.HasPrefix(src, "git@")) {
			continue
		}
		if strings.Contains(src, "$") {
			src = "." // unexpanded: anything in the context may be it
		}
		src = strings.Trim(path.Clean("/"+src), "/")
		local = append(local, src)
	}
	if len(local) == 0 {
		return nil
	}
	if c.base == nil {
		return nil
	}
	verb := "copies"
	if v.Instruction == "RUN" {
		verb = "mounts"
	}
	cm, pm := c.cur.Context, c.prev.Context
	if cm == nil || pm == nil {
		s.allKnown = false
		switch {
		case s.prevStep == nil:
		case !s.atStart:
			s.likely = append(s.likely, &Cause{Kind: CauseContextFiles, Confidence: ConfidenceLikely,
				Message: fmt.Sprintf("%s missed with the same text while the steps before it came from the cache: files it %s likely changed%s "+
					"(store builds with --context to name them)", s.what, verb, s.since)})
		case c.keptContext():
			// Nothing before it to go by, but the builder still had the
			// project's files, so its cache was there too.
			also := ""
			if c.cur.NoCache == nil {
				also = ", or the build ran with --no-cache"
			}
			s.likely = append(s.likely, &Cause{Kind: CauseContextFiles, Confidence: ConfidenceLikely,
				Message: fmt.Sprintf("%s missed with the same text while the builder kept this project's files (it was sent %s, build #%d %s): "+
					"files it %s likely changed%s (store builds with --context to name them)", s.what, FormatBytes(c.sentBytes),
					c.base.ID, FormatBytes(c.base.Build.ContextBytes()), verb, also)})
		}
		return nil
	}
	within := func(p string, dir bool) bool {
		return slices.ContainsFunc(local, func(src string) bool { return underSource(p, dir, src) })
	}
	var files []string
	total := 0
	err := model.DiffContexts(pm, cm, c.base.Nodes, within, func(ch model.ContextChange) bool {
		total++
		if len(files) < MaxCauseFiles {
			p := ch.Path
			if ch.Dir && ch.Kind != model.ChangeMode {
				p += "/"
			}
			files = append(files, p)
		}
		return true
	})
	if err != nil {
		c.loadErr = err
		s.allKnown = false
		return nil
	}
	if total == 0 {
		return nil
	}
	msg := printable(files[0])
	if total > 1 {
		msg += fmt.Sprintf(" and %d more %s", total-1, pluralWord(total-1, "file", "files"))
	}
	return &Cause{Kind: CauseContextFiles, Confidence: ConfidenceExact, Files: files,
		Message: fmt.Sprintf("%s missed: %s changed%s", s.what, msg, s.since)}
}

var bindMount = regexp.MustCompile(`--mount=(\S+)`)

// contextMounts returns the context paths a RUN bind-mounts
// (--mount=type=bind without from=, source "." by default): their files
// are part of its cache key.
func contextMounts(args string) []string {
	var out []string
	for _, m := range bindMount.FindAllStringSubmatch(args, -1) {
		opts := map[string]string{}
		for _, kv := range strings.Split(strings.Trim(m[1], `"`), ",") {
			k, v, _ := strings.Cut(kv, "=")
			opts[strings.ToLower(k)] = v
		}
		typ, ok := opts["type"]
		if ok && typ != "bind" || opts["from"] != "" {
			continue // a cache, secret, ssh or tmpfs mount, or another stage's files
		}
		src := opts["source"]
		if src == "" {
			src = opts["src"]
		}
		if src == "" {
			src = "."
		}
		out = append(out, src)
	}
	return out
}

// underSource reports whether context path p (a directory when dir) is
// copied by source src (a cleaned path, "" for the whole context, possibly
// with wildcards), or, for a directory, may hold something that is.
func underSource(p string, dir bool, src string) bool {
	if src == "" {
		return true
	}
	pp, sp := strings.Split(p, "/"), strings.Split(src, "/")
	for i := 0; i < len(pp) && i < len(sp); i++ {
		if ok, err := path.Match(sp[i], pp[i]); err != nil || !ok {
			if sp[i] != pp[i] {
				return false
			}
		}
	}
	return len(pp) >= len(sp) || dir
}

// unavailable: the step's inputs did not change, so the cache for it was
// not there.
func (c *causer) unavailable(s *stepContext) *Cause {
	var evidence []string
	if s.v.Instruction == "FROM" && s.v.PulledImage() {
		e := "its image was downloaded"
		if n := (&model.Build{Vertices: []*model.Vertex{s.v}}).BaseImageBytes(); n > 0 {
			e += " (" + FormatBytes(n) + ")"
		}
		evidence = append(evidence, e+", so this builder did not have it")
	}
	if !c.anyHit {
		e := "no step of this build came from the cache"
		if m := c.cur.Context; m != nil && c.sentBytes >= 0 && m.Bytes >= minIncrementalContext && c.sentBytes >= m.Bytes/2 {
			e += fmt.Sprintf(" and the whole build context was sent (%s)", FormatBytes(c.sentBytes))
		}
		evidence = append(evidence, e+": a fresh runner, or its cache was pruned")
	}
	for _, f := range c.importFails {
		evidence = append(evidence, fmt.Sprintf("importing the cache from %s failed", printable(shorten(f.Ref, stepTextLen))))
	}
	if len(c.importFails) == 0 {
		for _, cs := range c.cur.CacheSources {
			evidence = append(evidence, fmt.Sprintf("the cache imported from %s did not have it", printable(shorten(cs.Ref, stepTextLen))))
		}
	}
	switch p := s.prevStep; {
	case p != nil:
		switch p.State() {
		case model.StateError, model.StateCanceled, model.StateIncomplete:
			evidence = append(evidence, fmt.Sprintf("it did not finish in build #%d, so no cache was saved for it", c.base.ID))
		}
	case c.base != nil && (c.base.Build.Status == model.StatusFailed || c.base.Build.Status == model.StatusCanceled || c.base.Build.Truncated) && (s.prevIn != nil || c.prevDF == nil):
		// The step is in the baseline's Dockerfile (or nothing says it is
		// not), but its log ends before it.
		evidence = append(evidence, fmt.Sprintf("build #%d stopped before it, so no cache was saved for it", c.base.ID))
	}
	exact := c.base != nil && s.allKnown && c.loadErr == nil && s.prevStep != nil
	if exact {
		evidence = append([]string{"its inputs are the same as in build #" + fmt.Sprint(c.base.ID)}, evidence...)
	}
	if len(evidence) == 0 {
		return nil
	}
	conf := ConfidenceLikely
	if exact {
		conf = ConfidenceExact
	}
	if len(s.likely) > 0 && !exact && (c.anyHit || c.keptContext()) {
		// Some of the cache was there: a likely input change explains it
		// better than a guess at the cache.
		return nil
	}
	return &Cause{Kind: CauseCacheUnavailable, Confidence: conf,
		Message: fmt.Sprintf("%s missed: no cache for this step on this builder: %s", s.what, strings.Join(evidence, "; "))}
}

// stepWhat is a step's instruction for messages: "COPY src/ /src/", "FROM
// python:3.8-slim".
func stepWhat(v *model.Vertex) string {
	if v.Instruction == "FROM" {
		return printable(shorten(model.NormaliseInstruction(v.Instruction, v.Args), stepTextLen))
	}
	return printable(shorten(strings.Join(strings.Fields(v.Instruction+" "+v.Args), " "), stepTextLen))
}

// printable escapes control characters, which log and file names may hold:
// a message is one line of plain text.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case isControl(r) && r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		case isControl(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// sourceWords says where an input was recorded, for messages.
func sourceWords(src model.InputSource) string {
	switch src {
	case model.FromLive:
		return "recorded live"
	case model.FromHistory:
		return "BuildKit's build record says so"
	case model.FromDockerbuild:
		return "the .dockerbuild record says so"
	case model.FromFlag:
		return "as given on the command line"
	case model.FromLog:
		return "as the log shows"
	}
	return "recorded"
}

// CauseLabel is a cause in a few words, for table cells: "files changed:
// src/app.py +2", "build arg VERSION", "no cache on this builder
// (likely)".
func CauseLabel(c *Cause) string {
	if c == nil {
		return "-"
	}
	var s string
	switch c.Kind {
	case CauseNoCache:
		s = "--no-cache"
	case CauseBaseImage:
		s = "base image moved"
	case CauseInstruction:
		s = "instruction changed"
	case CauseBuildArg:
		s = pluralWord(len(c.Args), "build arg", "build args")
		if len(c.Args) > 0 {
			s += " " + shorten(strings.Join(c.Args, ", "), 30)
		}
	case CauseUpstream:
		s = "upstream stage rebuilt"
	case CauseContextFiles:
		s = "files changed"
		if len(c.Files) > 0 {
			s += ": " + shorten(c.Files[0], 30)
			if len(c.Files) > 1 {
				s += fmt.Sprintf(" +%d", len(c.Files)-1)
			}
		}
	case CauseCacheUnavailable:
		s = "no cache on this builder"
	default:
		return "unknown"
	}
	if c.Confidence == ConfidenceLikely {
		s += " (likely)"
	}
	return printable(s)
}

// knownCause reports whether c names a cause; the human outputs show the
// break's reason instead of an unknown one.
func knownCause(c *Cause) bool { return c != nil && c.Kind != CauseUnknown }

// confidenceNote says how sure a cause is, after its message.
func confidenceNote(c *Cause) string {
	switch c.Confidence {
	case ConfidenceExact:
		return " (exact: recorded for both builds)"
	case ConfidenceLikely:
		return " (likely: inferred from the log)"
	}
	return ""
}
