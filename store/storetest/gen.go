package storetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// GenConfig shapes a synthetic build history: several projects building
// often, Dockerfiles that gain lines over time, partial cache hits, a few
// failures, and a couple of steps that slow down near the end.
type GenConfig struct {
	Builds   int
	Steps    int // Dockerfile steps per build (plus 3 internal vertices and 1 export)
	Projects int
	Start    time.Time
	Span     time.Duration
	Seed     uint64
}

type genStep struct {
	stage, instr, args string
	base               time.Duration // typical run time
	regress            bool          // slows down over the last month
}

type genProject struct {
	name   string
	steps  []genStep
	digest int // FROM digest generation: bumps now and then
}

// Clone copies a build GenHistory hands over, which it reuses for the
// next: its vertices, not what they share (slices of text, transfers).
func Clone(b *model.Build) *model.Build {
	c := *b
	c.Vertices = make([]*model.Vertex, len(b.Vertices))
	for i, v := range b.Vertices {
		vc := *v
		c.Vertices[i] = &vc
	}
	return &c
}

// GenHistory produces cfg.Builds builds in start-time order and hands each
// to emit. It reuses one Build value, so emit must not keep it.
func GenHistory(cfg GenConfig, emit func(b *model.Build, m store.Meta) error) error {
	r := rand.New(rand.NewPCG(cfg.Seed, 42))
	projects := make([]*genProject, cfg.Projects)
	for i := range projects {
		p := &genProject{name: fmt.Sprintf("service-%02d", i)}
		stages := []string{"deps", "build", "stage-2"}
		per := cfg.Steps / len(stages)
		for si, st := range stages {
			n := per
			if si == len(stages)-1 {
				n = cfg.Steps - per*(len(stages)-1)
			}
			for k := 0; k < n; k++ {
				gs := genStep{stage: st, instr: "RUN"}
				switch {
				case k == 0:
					gs.instr, gs.args = "FROM", fmt.Sprintf("docker.io/library/golang:1.%d-alpine", 20+i%5)
				case k%5 == 1:
					gs.instr, gs.args = "COPY", fmt.Sprintf("--from=deps src/part%d /app/part%d", k, k)
				case k%7 == 3:
					gs.instr, gs.args = "ENV", fmt.Sprintf("PART_%d=%d", k, k)
				default:
					gs.args = fmt.Sprintf("--mount=type=cache,target=/root/.cache make -C /src/%s target-%d  &&  \\\n\t echo done", p.name, k)
				}
				// Log-normal run times: most steps are quick, a few take minutes.
				gs.base = time.Duration(math.Exp(r.NormFloat64()*1.5+0.5) * float64(time.Second))
				if gs.instr == "ENV" {
					gs.base = 10 * time.Millisecond
				}
				p.steps = append(p.steps, gs)
			}
		}
		projects[i] = p
	}
	// Two steps of project 0 regress in the last month.
	projects[0].steps[5].regress = true
	projects[0].steps[cfg.Steps-2].regress = true

	times := make([]time.Time, cfg.Builds)
	for i := range times {
		times[i] = cfg.Start.Add(time.Duration(r.Int64N(int64(cfg.Span))))
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })

	total := cfg.Steps + 4
	b := &model.Build{Format: model.FormatPlain}
	verts := make([]model.Vertex, total)
	b.Vertices = make([]*model.Vertex, total)
	for i := range verts {
		b.Vertices[i] = &verts[i]
	}
	regressFrom := cfg.Start.Add(cfg.Span - 5*24*time.Hour)
	for n, at := range times {
		p := projects[r.IntN(len(projects))]
		// Every ~500 builds a project's Dockerfile gains a line somewhere,
		// shifting the [n/m] positions of everything after it.
		if r.IntN(500) == 0 {
			at := 1 + r.IntN(len(p.steps)-1)
			ns := genStep{stage: p.steps[at].stage, instr: "RUN", args: fmt.Sprintf("apt-get install -y pkg-%d", n),
				base: time.Duration(1+r.IntN(20)) * time.Second}
			p.steps = append(p.steps[:at], append([]genStep{ns}, p.steps[at:]...)...)
		}
		if r.IntN(200) == 0 {
			p.digest++
		}
		branch := "main"
		if r.IntN(10) < 4 {
			branch = fmt.Sprintf("feature-%d", r.IntN(40))
		}
		// Where the cache breaks: nowhere half the time, else at a step
		// biased towards the end of the Dockerfile; 1% of builds are cold.
		steps := p.steps[:cfg.Steps]
		miss := len(steps)
		switch x := r.Float64(); {
		case x < 0.01:
			miss = 0
		case x < 0.5:
			miss = len(steps) - 1 - int(float64(len(steps)-1)*math.Pow(r.Float64(), 2))
		}
		fail := -1
		if r.IntN(100) < 5 {
			fail = max(miss, len(steps)-1-r.IntN(5))
		}

		*b = model.Build{Format: model.FormatPlain, Status: model.StatusSucceeded, Vertices: b.Vertices[:total]}
		var wall time.Duration
		for i := range verts {
			verts[i] = model.Vertex{}
		}
		setInternal := func(v *model.Vertex, id int, name string, d time.Duration) {
			v.ID, v.Name, v.Stage, v.Completed, v.HasDuration, v.Duration = strconv.Itoa(id), name, "internal", true, true, d
		}
		setInternal(&verts[0], 1, "[internal] load build definition from Dockerfile", 30*time.Millisecond)
		setInternal(&verts[1], 2, "[internal] load .dockerignore", 20*time.Millisecond)
		setInternal(&verts[2], 3, "[internal] load build context", time.Duration(50+r.IntN(500))*time.Millisecond)
		verts[2].Transfers = []model.Transfer{{Name: "transferring context", Bytes: int64(1000 + r.IntN(5_000_000)), Done: true}}
		stageTotal := map[string]int{}
		for _, s := range steps {
			stageTotal[s.stage]++
		}
		stageIdx := map[string]int{}
		for i, s := range steps {
			v := &verts[3+i]
			stageIdx[s.stage]++
			v.ID = strconv.Itoa(4 + i)
			v.Stage, v.Index, v.Total = s.stage, stageIdx[s.stage], stageTotal[s.stage]
			v.Instruction, v.Args = s.instr, s.args
			if s.instr == "FROM" {
				v.Args = fmt.Sprintf("%s@sha256:%064x", s.args, p.digest+1)
			}
			// BuildKit pads the index to the width of the total.
			v.Name = fmt.Sprintf("[%s %*d/%d] %s %s", v.Stage, len(strconv.Itoa(v.Total)), v.Index, v.Total, v.Instruction, v.Args)
			switch {
			case fail >= 0 && i > fail:
				// Never started: the build stopped at the failure.
			case i < miss && i != fail:
				v.Cached, v.Completed = true, true
			default:
				d := time.Duration(float64(s.base) * (0.8 + 0.5*r.Float64()))
				if s.regress && at.After(regressFrom) {
					d *= 3
				}
				v.Duration, v.HasDuration, v.Completed = d, true, true
				wall += d
				if i == fail {
					v.Error, v.ExitCode = "process did not complete successfully: exit code: 2", 2
					b.Status, b.Error = model.StatusFailed, "failed to solve: "+v.Error
				}
			}
		}
		exp := &verts[total-1]
		exp.ID, exp.Name, exp.Completed, exp.HasDuration = strconv.Itoa(total), "exporting to image", true, true
		exp.Duration = time.Duration(200+r.IntN(2000)) * time.Millisecond
		if b.Status == model.StatusFailed {
			exp.Completed, exp.HasDuration, exp.Duration = false, false, 0
		}
		b.Duration, b.HasDuration = wall+exp.Duration+600*time.Millisecond, true
		m := store.Meta{Project: p.name, Branch: branch, Commit: fmt.Sprintf("%040x", n), Started: at, StartedSource: "log",
			ContentHash: fmt.Sprintf("gen:%d:%d", cfg.Seed, n), CIProvider: "github-actions", Runner: "runner-" + strconv.Itoa(n%8)}
		if err := emit(b, m); err != nil {
			return err
		}
	}
	return nil
}
