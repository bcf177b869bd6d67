// Package dockerfile maps build steps recovered from a log (model.Vertex) to
// the Dockerfile lines that produced them.
//
// Parsing is done by BuildKit's own Dockerfile parser
// (github.com/moby/buildkit/frontend/dockerfile/parser and .../instructions),
// so comments, blank lines, line continuations, the escape directive,
// heredocs, lowercase instructions and ONBUILD are read exactly as BuildKit
// reads them.
//
// # How BuildKit numbers steps
//
// BuildKit (dockerfile2llb, v0.34) labels a vertex "[stage n/m] INSTR args".
// Per stage, m counts: the FROM unless its base is "scratch" or an earlier
// stage of the same file, and every RUN, COPY, ADD and WORKDIR. ENV, ARG,
// LABEL, EXPOSE, CMD, ENTRYPOINT, USER, ONBUILD and the rest never get a
// position. n is the running count of vertices actually created, which can
// fall behind m: a WORKDIR that resolves to "/" is counted in m but makes no
// vertex. The stage part is the FROM ... AS name (lowercased), or "stage-N"
// for unnamed stage N counting every FROM in file order, and is left out
// when the Dockerfile has a single stage and nothing else to tell apart
// (a RUN --mount or a COPY --from=<image> adds a hidden state and brings
// "stage-0" back).
//
// The legacy builder instead prints "Step n/m" where m counts every
// instruction of the file, ARGs before the first FROM included.
//
// # Matching
//
// Line prefers no answer to a wrong one: it answers when the vertex's stage,
// instruction and [n/m] position agree with the file (and no other
// instruction fits the printed arguments better), or, when the position
// cannot be used (the totals differ, for example because an external base
// image ran ONBUILD triggers), when exactly one instruction of the stage has
// the vertex's instruction and compatible arguments. See File.Line.
package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// File is a parsed Dockerfile. It is immutable; WithTarget returns a copy.
type File struct {
	name   string
	lines  []string       // source lines, without line terminators
	nodes  []*parser.Node // top-level instructions in file order (legacy "Step n")
	insts  []*step        // nodes as steps, same order (legacy matching)
	stages []*stage

	// target is the --target stage index, -1 when no target is set and
	// -2 when the target name is not a stage of this file.
	target int
	// needed marks the stages the target depends on; nil without target.
	needed []bool
}

// Stage is one FROM section of the Dockerfile.
type Stage struct {
	// Name is the stage name as BuildKit uses it: the FROM ... AS alias,
	// lowercased (BuildKit lowercases stage names), or "" when unnamed.
	Name string
	// Base is the base image or stage as written after FROM (variables
	// not expanded).
	Base string
	// Line is the 1-based line of the FROM instruction.
	Line int
	// Index is the 0-based position of the stage among all FROMs; an
	// unnamed stage appears in BuildKit logs as "stage-<Index>".
	Index int
}

// tri is a three-valued answer for facts that depend on build-time values
// (build args, the base image's working directory).
type tri int8

const (
	no tri = iota
	yes
	maybe
)

type stage struct {
	Stage
	steps []*step // FROM first, then RUN/COPY/ADD/WORKDIR in order
	deps  []int   // stages this one reads from: base, COPY --from, RUN --mount from
	// baseKind tells how the FROM's base resolves: image, scratch, an
	// earlier stage, or unknown (contains a variable).
	baseKind baseKind
}

type baseKind int8

const (
	baseImage baseKind = iota
	baseScratch
	baseStage
	baseUnknown
)

// step is one instruction with what matching needs to know about it.
type step struct {
	keyword string // upper case: "RUN"
	line    int    // 1-based start line
	heredoc bool   // BuildKit may append " (<first heredoc line>)" to the name
	// image is the base name of a stage's FROM: BuildKit prints the
	// resolved reference, so such steps are compared by repository.
	image string
	// counts says whether BuildKit counts the step in the stage's m;
	// makes whether it creates a vertex and so takes an n.
	counts, makes tri
	re            *regexp.Regexp // full match of loose(vertex args)
	lits          []string       // loose(args) split at variable references
}

// Parse parses a Dockerfile with BuildKit's parser. name is used in error
// messages and returned by Name.
func Parse(r io.Reader, name string) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, locErr(name, err)
	}
	// A nil linter panics on a "# check=..." comment above an instruction;
	// one without a Warn func reports nothing.
	stages, _, err := instructions.Parse(res.AST, linter.New(&linter.Config{}))
	if err != nil {
		return nil, locErr(name, err)
	}
	f := &File{
		name:   name,
		lines:  splitLines(data),
		nodes:  res.AST.Children,
		target: -1,
	}
	for _, n := range f.nodes {
		kw, args := splitOriginal(n.Original)
		st := newStep(kw, args, n.StartLine, len(n.Heredocs) > 0)
		st.counts, st.makes = yes, yes // the legacy builder numbers every instruction
		f.insts = append(f.insts, st)
	}
	f.buildStages(stages)
	return f, nil
}

// ParseFile parses the Dockerfile at path; Name returns path.
func ParseFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Parse(fh, path)
}

// Name returns the name given to Parse, or the path given to ParseFile.
func (f *File) Name() string { return f.name }

// Stages returns the stages in file order.
func (f *File) Stages() []Stage {
	out := make([]Stage, len(f.stages))
	for i, s := range f.stages {
		out[i] = s.Stage
	}
	return out
}

// WithTarget returns a copy of f that matches as a build with
// --target=name would: vertices of stages the target does not need are
// not matched, and a vertex without a stage label belongs to the target
// stage rather than to the last one. The name is looked up like BuildKit
// does (case-insensitively, stage aliases only). If no stage has that name,
// the copy matches nothing, since such a build cannot have run. An empty
// name removes the target.
func (f *File) WithTarget(name string) *File {
	g := *f
	g.target, g.needed = -1, nil
	if name == "" {
		return &g
	}
	g.target = -2
	for i, s := range f.stages {
		if s.Name != "" && s.Name == strings.ToLower(name) {
			g.target = i
			break
		}
	}
	if g.target < 0 {
		return &g
	}
	g.needed = make([]bool, len(f.stages))
	var visit func(int)
	visit = func(i int) {
		if g.needed[i] {
			return
		}
		g.needed[i] = true
		for _, d := range f.stages[i].deps {
			visit(d)
		}
	}
	visit(g.target)
	return &g
}

// Target returns the --target stage name set by WithTarget, or "".
func (f *File) Target() string {
	if f.target < 0 {
		return ""
	}
	return f.stages[f.target].Name
}

func (f *File) buildStages(parsed []instructions.Stage) {
	byName := map[string]int{}
	for i, st := range parsed {
		s := &stage{Stage: Stage{Name: st.Name, Base: st.BaseName, Line: startLine(st.Location), Index: i}}
		_, fromArgs := splitOriginal(st.SourceCode)
		from := newStep("FROM", fromArgs, s.Line, false)
		from.image = st.BaseName
		// Mirrors dockerfile2llb: the FROM is counted unless the base is
		// scratch or an earlier stage (looked up by the expanded base name,
		// case-sensitively, against lowercased stage names).
		switch j, isStage := byName[st.BaseName]; {
		case st.BaseName == "scratch":
			s.baseKind, from.counts = baseScratch, no
		case strings.Contains(st.BaseName, "$"):
			s.baseKind, from.counts = baseUnknown, maybe
		case isStage:
			s.baseKind, from.counts = baseStage, no
			s.deps = append(s.deps, j)
		default:
			s.baseKind, from.counts = baseImage, yes
		}
		from.makes = from.counts
		s.steps = append(s.steps, from)
		f.stages = append(f.stages, s)
		if st.Name != "" {
			byName[st.Name] = i
		}
	}
	// Dependencies may name later stages (BuildKit resolves COPY --from
	// after all stages are known), so resolve them in a second pass.
	for i, st := range parsed {
		s := f.stages[i]
		for _, c := range st.Commands {
			loc := c.Location()
			kw, args := splitOriginal(fmt.Sprint(c)) // commands print their source text
			var sp *step
			switch c := c.(type) {
			case *instructions.RunCommand:
				sp = newStep(kw, args, startLine(loc), len(c.Files) > 0)
				sp.counts, sp.makes = yes, yes
				for _, m := range instructions.GetMounts(c) {
					if j, ok := byName[strings.ToLower(m.From)]; ok {
						s.deps = append(s.deps, j)
					}
				}
			case *instructions.CopyCommand:
				sp = newStep(kw, args, startLine(loc), len(c.SourceContents) > 0)
				sp.counts, sp.makes = yes, yes
				if j, ok := byName[strings.ToLower(c.From)]; ok {
					s.deps = append(s.deps, j)
				} else if n, err := strconv.Atoi(c.From); err == nil && n >= 0 && n < len(parsed) {
					s.deps = append(s.deps, n)
				}
			case *instructions.AddCommand:
				sp = newStep(kw, args, startLine(loc), len(c.SourceContents) > 0)
				sp.counts, sp.makes = yes, yes
			case *instructions.WorkdirCommand:
				sp = newStep(kw, args, startLine(loc), false)
				sp.counts, sp.makes = yes, workdirMakes(c.Path)
			default:
				continue // ENV, ARG, LABEL, CMD, ONBUILD, ...: no vertex
			}
			s.steps = append(s.steps, sp)
		}
	}
}

// workdirMakes tells whether WORKDIR p creates a vertex: BuildKit skips the
// mkdir (and the [n/m] increment) when the directory resolves to "/".
func workdirMakes(p string) tri {
	p = strings.Trim(p, `"'`)
	if strings.Contains(p, "$") {
		return maybe
	}
	if path.IsAbs(p) {
		if path.Clean(p) == "/" {
			return no
		}
		return yes
	}
	// A relative path resolves against the base image's directory, which
	// we do not know; only "." and ".." components can lead back to "/".
	if c := path.Clean(p); c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return maybe
	}
	return yes
}

// Line returns the 1-based line where the instruction that produced v
// starts, and false when v cannot be matched with confidence.
//
// Legacy builder steps (v.Name starts with "Step ") map to the n-th
// instruction of the file (ARGs before the first FROM and ONBUILD count)
// when m equals the file's instruction count (up to the end of the target
// stage with WithTarget) and the keyword agrees; the arguments are then
// checked like BuildKit's below. When m differs, only a unique compatible
// instruction is accepted.
//
// BuildKit steps are first placed in a stage: by name (the alias, or
// "stage-N" for unnamed stage N); without a stage label, the --target stage
// or else the last stage. Then, when m equals the stage's count, the
// instruction at position n (same keyword) is the answer if its arguments
// are compatible with v.Args. Compatible means equal after whitespace
// normalisation, with quotes and escape characters ignored (BuildKit's
// variable expansion strips them from COPY/ADD/WORKDIR), each $VAR/${VAR}
// of the source matching any text (BuildKit prints expanded values), a
// heredoc summary " (...)" allowed after RUN <<EOF, and a prefix match when
// v.NameTruncated. If the arguments are not compatible, the position match
// is still accepted, unless another instruction of the stage is compatible
// (then the file and the log disagree and false is returned). FROM is matched
// by position only (BuildKit prints the resolved reference, e.g.
// docker.io/library/python:3.8-slim@sha256:...), but is rejected if the
// repository clearly differs. When m does not equal the stage's count, v is
// matched only to the single compatible instruction of the stage, if exactly
// one exists.
//
// An "ONBUILD ..." vertex (a trigger inherited from an external base image)
// maps to its stage's FROM line, which is where BuildKit itself locates it.
func (f *File) Line(v *model.Vertex) (int, bool) {
	if v == nil || !v.IsStep() || f.target == -2 {
		return 0, false
	}
	kw, args := instruction(v)
	if kw == "" {
		return 0, false
	}
	if strings.HasPrefix(v.Name, "Step ") {
		return f.legacyLine(v, kw, args)
	}
	si, ok := f.stageOf(v)
	if !ok {
		return 0, false
	}
	s := f.stages[si]
	if kw == "ONBUILD" {
		// Triggers come only from external images: BuildKit drops a
		// stage base's triggers.
		if s.baseKind == baseImage || s.baseKind == baseUnknown {
			return s.Line, true
		}
		return 0, false
	}

	lo, hi, ok := s.positions(v.Total)
	if !ok {
		return uniqueCompatible(s.steps, kw, args, v.NameTruncated)
	}
	var atPos []*step
	for i, st := range s.steps {
		if st.keyword == kw && lo[i] <= v.Index && v.Index <= hi[i] {
			atPos = append(atPos, st)
		}
	}
	switch {
	case len(atPos) == 0:
		// The stage's count agrees but nothing of this kind sits at n:
		// the file is not the one that was built.
		return 0, false
	case kw == "FROM":
		if len(atPos) == 1 && atPos[0].matches(kw, args, v.NameTruncated) {
			return atPos[0].line, true
		}
		return 0, false
	case len(atPos) == 1:
		return positionMatch(atPos[0], s.steps, kw, args, v.NameTruncated)
	default:
		// Several candidates because a WORKDIR may or may not have
		// taken a position: let the arguments decide.
		return uniqueCompatible(atPos, kw, args, v.NameTruncated)
	}
}

// positionMatch accepts st, found at the vertex's [n/m] position, unless
// its arguments disagree with the vertex and another step agrees: then the
// log and the file disagree and no answer is safe.
func positionMatch(st *step, others []*step, kw, args string, trunc bool) (int, bool) {
	if st.matches(kw, args, trunc) {
		return st.line, true
	}
	for _, o := range others {
		if o != st && o.makes != no && o.matches(kw, args, trunc) {
			return 0, false
		}
	}
	return st.line, true
}

// legacyLine matches a legacy "Step n/m" vertex: step n is the n-th
// instruction of the file. With --target the legacy builder drops the
// stages after the target, so m counts instructions up to the target's end.
func (f *File) legacyLine(v *model.Vertex, kw, args string) (int, bool) {
	insts := f.insts
	if f.target >= 0 && f.target+1 < len(f.stages) {
		next := f.stages[f.target+1].Line
		n := 0
		for n < len(insts) && insts[n].line < next {
			n++
		}
		insts = insts[:n]
	}
	if v.Total != len(insts) {
		return uniqueCompatible(insts, kw, args, v.NameTruncated)
	}
	if v.Index < 1 || v.Index > len(insts) {
		return 0, false
	}
	st := insts[v.Index-1]
	if st.keyword != kw {
		return 0, false
	}
	return positionMatch(st, insts, kw, args, v.NameTruncated)
}

// stageOf finds the stage v belongs to, honouring the target.
func (f *File) stageOf(v *model.Vertex) (int, bool) {
	i := -1
	name := strings.ToLower(v.Stage)
	switch {
	case name == "":
		i = len(f.stages) - 1
		if f.target >= 0 {
			i = f.target
		}
	default:
		for j, s := range f.stages {
			if s.Name == name {
				i = j
				break
			}
		}
		if n, ok := strings.CutPrefix(name, "stage-"); ok && i < 0 {
			// "stage-N" names unnamed stage N only; a named stage N would
			// have been printed with its name.
			if j, err := strconv.Atoi(n); err == nil && j >= 0 && j < len(f.stages) && f.stages[j].Name == "" {
				i = j
			}
		}
	}
	if i < 0 || (f.needed != nil && !f.needed[i]) {
		return 0, false
	}
	return i, true
}

// positions returns, for each step, the lowest and highest n BuildKit can
// have given it in a build where the stage's m was total (lo[i] > hi[i] for
// steps that make no vertex). ok is false when total is impossible for this
// stage.
func (s *stage) positions(total int) (lo, hi []int, ok bool) {
	sure, from := 0, s.steps[0]
	for _, st := range s.steps {
		if st.counts == yes {
			sure++
		}
	}
	fromCounts := from.counts == yes
	switch {
	case total == sure:
	case total == sure+1 && from.counts == maybe:
		// The base is a variable; m tells whether it expanded to an
		// image (counted) or to scratch/a stage (not counted).
		fromCounts = true
	default:
		return nil, nil, false
	}
	lo, hi = make([]int, len(s.steps)), make([]int, len(s.steps))
	a, b := 1, 1
	for i, st := range s.steps {
		makes := st.makes
		if i == 0 {
			makes = no
			if fromCounts {
				makes = yes
			}
		}
		if makes == no {
			lo[i], hi[i] = 1, 0
			continue
		}
		lo[i], hi[i] = a, b
		b++
		if makes == yes {
			a++
		}
	}
	return lo, hi, true
}

// uniqueCompatible returns the line of the only step of kind kw whose
// arguments are compatible with args.
func uniqueCompatible(steps []*step, kw, args string, trunc bool) (int, bool) {
	var found *step
	for _, st := range steps {
		if st.makes == no || !st.matches(kw, args, trunc) {
			continue
		}
		if found != nil {
			return 0, false
		}
		found = st
	}
	if found == nil {
		return 0, false
	}
	return found.line, true
}

// instruction returns the upper-case instruction and arguments of v. The
// log parser leaves Instruction empty for "LINK COPY ..." (the merge vertex
// of COPY --link, which shares the COPY's [n/m]), so those are read from
// the name.
func instruction(v *model.Vertex) (string, string) {
	if v.Instruction != "" {
		return strings.ToUpper(v.Instruction), v.Args
	}
	_, rest, ok := strings.Cut(v.Name, "] ")
	if !ok {
		return "", ""
	}
	rest, ok = strings.CutPrefix(strings.TrimSpace(rest), "LINK ")
	if !ok {
		return "", ""
	}
	kw, args := splitOriginal(rest)
	if kw != "COPY" && kw != "ADD" {
		return "", ""
	}
	return kw, args
}

// varRef matches the variable references BuildKit expands in names.
var varRef = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)

func newStep(kw, args string, line int, heredoc bool) *step {
	st := &step{keyword: kw, line: line, heredoc: heredoc}
	l := loose(args)
	st.lits = varRef.Split(l, -1)
	var re strings.Builder
	re.WriteString(`^`)
	for i, lit := range st.lits {
		if i > 0 {
			re.WriteString(`(?s:.*)`)
		}
		re.WriteString(regexp.QuoteMeta(lit))
	}
	if heredoc {
		re.WriteString(`(?s: \(.*\))?`)
	}
	re.WriteString(`$`)
	st.re = regexp.MustCompile(re.String())
	return st
}

// matches reports whether a vertex printed as "kw args" can come from st.
func (st *step) matches(kw, args string, trunc bool) bool {
	if st.keyword != kw {
		return false
	}
	if st.image != "" {
		return sameImage(args, st.image, trunc)
	}
	return st.compatible(args, trunc)
}

// compatible reports whether vertex arguments args can have been printed
// by BuildKit (or the legacy builder) for this step.
func (st *step) compatible(args string, trunc bool) bool {
	v := loose(args)
	if !trunc {
		return st.re.MatchString(v)
	}
	head := st.lits[0]
	if len(st.lits) > 1 {
		// After the first variable anything may follow.
		return strings.HasPrefix(head, v) || strings.HasPrefix(v, head)
	}
	if st.heredoc && strings.HasPrefix(v, head+" (") {
		return true
	}
	return strings.HasPrefix(head, v) || (st.heredoc && strings.HasPrefix(head+" (", v))
}

// loose normalises text for comparison: quotes and both possible escape
// characters are dropped (BuildKit's word expansion removes them from COPY,
// ADD and WORKDIR names) and whitespace runs become one space (continuation
// lines keep their indentation inside the instruction).
func loose(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\'' || r == '\\' || r == '`' {
			return -1
		}
		return r
	}, s)
	return normSpace(s)
}

func normSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// sameImage reports whether the FROM reference printed by BuildKit (often
// resolved: docker.io/library/x:tag@sha256:...) may come from the source
// base src. Only a clearly different repository is rejected.
func sameImage(printed, src string, trunc bool) bool {
	if printed == "" || strings.Contains(src, "$") {
		return true
	}
	p, s := repository(strings.Fields(printed)[0]), repository(src)
	if p == s {
		return true
	}
	return trunc && strings.HasPrefix(s, p)
}

// sameTag reports whether a printed FROM reference and the source base
// name the same tag when both name one (a digest alone, a variable or a
// truncated name cannot disagree).
func sameTag(printed, src string, trunc bool) bool {
	if printed == "" || trunc || strings.Contains(src, "$") {
		return true
	}
	p, s := tag(strings.Fields(printed)[0]), tag(src)
	return p == "" || s == "" || p == s
}

// tag returns an image reference's tag, or "".
func tag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[i+1:]
	}
	return ""
}

// repository reduces an image reference to its familiar repository name.
func repository(ref string) string {
	ref, _, _ = strings.Cut(strings.ToLower(ref), "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	for _, p := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		ref = strings.TrimPrefix(ref, p)
	}
	return strings.TrimPrefix(ref, "library/")
}

// splitOriginal splits an instruction's source text into its upper-case
// keyword and whitespace-normalised arguments.
func splitOriginal(s string) (string, string) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return "", ""
	}
	return strings.ToUpper(fields[0]), strings.Join(fields[1:], " ")
}

func startLine(r []parser.Range) int {
	if len(r) == 0 {
		return 0
	}
	return r[0].Start.Line
}

func splitLines(data []byte) []string {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// locErr prefixes err with name and, when BuildKit attached one, the line.
func locErr(name string, err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("%s:%d: %w", name, le.Locations[0][0].Start.Line, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// Excerpt returns the source lines around line, formatted the way BuildKit
// prints Dockerfile excerpts under an error: " %3d | >>> text" for the
// instruction's lines and " %3d |     text" for context (for lines below
// 1000 that is "%4d | "). When line lies inside a multi-line instruction,
// all of that instruction's lines are marked, as BuildKit does, and context
// lines are added before its first and after its last line. It returns nil
// when line is outside the file.
func (f *File) Excerpt(line, context int) []string {
	if line < 1 || line > len(f.lines) {
		return nil
	}
	if context < 0 {
		context = 0
	}
	first, last := line, line
	for _, n := range f.nodes {
		if n.StartLine <= line && line <= n.EndLine {
			first, last = n.StartLine, min(n.EndLine, len(f.lines))
			break
		}
	}
	from, to := max(1, first-context), min(len(f.lines), last+context)
	out := make([]string, 0, to-from+1)
	for i := from; i <= to; i++ {
		mark := "   "
		if first <= i && i <= last {
			mark = ">>>"
		}
		out = append(out, fmt.Sprintf(" %3d | %s %s", i, mark, f.lines[i-1]))
	}
	return out
}

// Agrees reports whether the instruction at line, which Line gave for v,
// is written as v shows it (arguments compatible, the same repository for
// FROM), rather than only standing where v stands: a Dockerfile whose
// instructions mostly do not agree with the log is not the one it built.
func (f *File) Agrees(v *model.Vertex, line int) bool {
	kw, args := instruction(v)
	for _, st := range f.insts {
		if st.line == line {
			if strings.Contains(args, "***") {
				// Masked secrets: the text cannot be compared, the
				// keyword can.
				return st.keyword == kw
			}
			if kw == "FROM" && st.keyword == kw {
				// The node's text holds the flags and the stage name;
				// the stage holds the base as it was resolved.
				for _, s := range f.stages {
					if s.Line == line {
						return sameImage(args, s.Base, v.NameTruncated) && sameTag(args, s.Base, v.NameTruncated)
					}
				}
			}
			return st.matches(kw, args, v.NameTruncated)
		}
	}
	return false
}
