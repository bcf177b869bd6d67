package dockerfile

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Instruction is one instruction of the file as written, with what it
// declares: what a cache key can depend on besides the steps' own text.
type Instruction struct {
	// Stage is the index of the stage it belongs to; -1 for the ARGs
	// before the first FROM.
	Stage int
	// Line is the 1-based line it starts on.
	Line int
	// Keyword is the instruction in upper case ("RUN").
	Keyword string
	// Text is the instruction's source text, whitespace collapsed.
	Text string
	// Args are the build arguments an ARG declares.
	Args []ArgDecl
	// Env are the variables an ENV sets.
	Env []EnvDecl
	// Refs are the variables the text refers to ($NAME, ${NAME}, ${NAME:-x}).
	Refs []string
}

// ArgDecl is one name an ARG declares.
type ArgDecl struct {
	Name string
	// Default is the value after "=", nil when there is none.
	Default *string
}

// EnvDecl is one variable an ENV sets.
type EnvDecl struct {
	Name, Value string
}

var varRefName = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))`)

// Instructions returns every instruction of the file in order.
func (f *File) Instructions() []Instruction {
	out := make([]Instruction, 0, len(f.nodes))
	stage := -1
	for _, n := range f.nodes {
		kw, args := splitOriginal(n.Original)
		if kw == "FROM" {
			stage++
		}
		in := Instruction{Stage: stage, Line: n.StartLine, Keyword: kw, Text: strings.TrimSpace(kw + " " + args)}
		seen := map[string]bool{}
		for _, m := range varRefName.FindAllStringSubmatch(args, -1) {
			name := m[1] + m[2]
			if !seen[name] {
				seen[name] = true
				in.Refs = append(in.Refs, name)
			}
		}
		switch kw {
		case "ARG", "ENV":
			cmd, err := instructions.ParseInstruction(n)
			if err != nil {
				break
			}
			switch c := cmd.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					in.Args = append(in.Args, ArgDecl{Name: a.Key, Default: a.Value})
				}
			case *instructions.EnvCommand:
				for _, e := range c.Env {
					in.Env = append(in.Env, EnvDecl{Name: e.Key, Value: e.Value})
				}
			}
		}
		out = append(out, in)
	}
	return out
}

// StageIndex returns the index of the stage a step's label names: the
// stage's name, or "stage-N" for unnamed stage N; "" for the target stage
// (or the last one). It returns false when no stage has that name.
func (f *File) StageIndex(name string) (int, bool) {
	name = strings.ToLower(name)
	if name == "" {
		if f.target >= 0 {
			return f.target, true
		}
		return len(f.stages) - 1, len(f.stages) > 0
	}
	for i, s := range f.stages {
		if s.Name == name {
			return i, true
		}
	}
	if n, ok := strings.CutPrefix(name, "stage-"); ok {
		for i := range f.stages {
			if n == strconv.Itoa(i) {
				return i, true
			}
		}
	}
	return 0, false
}
