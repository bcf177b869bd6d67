package dockerfile

import (
	"strings"
	"testing"
)

func TestInstructions(t *testing.T) {
	src := "ARG BASE=alpine\nFROM ${BASE} AS build\nARG VERSION=1 TOKEN\nENV A=1 B=\"two words\"\nUSER app\nRUN echo $VERSION \\\n  ${A:-x}\nCOPY src/ /src/\n\nfrom scratch\ncopy --from=build /out /out\n"
	f, err := Parse(strings.NewReader(src), "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	got := f.Instructions()
	type want struct {
		stage, line int
		kw, text    string
		decl, refs  string
	}
	wants := []want{
		{-1, 1, "ARG", "ARG BASE=alpine", "BASE=alpine", ""},
		{0, 2, "FROM", "FROM ${BASE} AS build", "", "BASE"},
		{0, 3, "ARG", "ARG VERSION=1 TOKEN", "VERSION=1 TOKEN", ""},
		{0, 4, "ENV", `ENV A=1 B="two words"`, `A:1 B:"two words"`, ""},
		{0, 5, "USER", "USER app", "", ""},
		{0, 6, "RUN", "RUN echo $VERSION ${A:-x}", "", "VERSION A"},
		{0, 8, "COPY", "COPY src/ /src/", "", ""},
		{1, 10, "FROM", "FROM scratch", "", ""},
		{1, 11, "COPY", "COPY --from=build /out /out", "", ""},
	}
	if len(got) != len(wants) {
		t.Fatalf("%d instructions: %+v", len(got), got)
	}
	for i, w := range wants {
		g := got[i]
		var decl []string
		for _, a := range g.Args {
			if a.Default != nil {
				decl = append(decl, a.Name+"="+*a.Default)
			} else {
				decl = append(decl, a.Name)
			}
		}
		for _, e := range g.Env {
			decl = append(decl, e.Name+":"+e.Value)
		}
		if g.Stage != w.stage || g.Line != w.line || g.Keyword != w.kw || g.Text != w.text ||
			strings.Join(decl, " ") != w.decl || strings.Join(g.Refs, " ") != w.refs {
			t.Errorf("%d: %+v (decl %q), want %+v", i, g, decl, w)
		}
	}
	for name, want := range map[string]int{"build": 0, "BUILD": 0, "stage-1": 1, "": 1} {
		if got, ok := f.StageIndex(name); !ok || got != want {
			t.Errorf("StageIndex(%q) = %d, %v", name, got, ok)
		}
	}
	if _, ok := f.StageIndex("nope"); ok {
		t.Error("StageIndex of an unknown stage")
	}
	if got, _ := f.WithTarget("build").StageIndex(""); got != 0 {
		t.Errorf("with target build, the unlabelled stage is %d", got)
	}
}
