package report

import (
	"cmp"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// stepState is how a Dockerfile step relates to the layer cache.
type stepState int8

const (
	// stateUnknown: the step never finished in the log.
	stateUnknown stepState = iota
	// stateHit: served from the cache, or a FROM whose image was present.
	stateHit
	// stateMiss: the step executed (or downloaded its base image).
	stateMiss
)

func stateOf(v *model.Vertex) stepState {
	switch {
	case v.CacheHit():
		return stateHit
	case v.Ran():
		return stateMiss
	}
	return stateUnknown
}

// chain is a sequence of steps whose layers build on each other: one stage
// of one platform. Steps are ordered by their [n/m] position.
type chain struct {
	platform string
	// name is how other stages refer to this one (FROM name, COPY
	// --from=name): the stage label, or for legacy logs the FROM alias or
	// "stage-N". Empty for a single-stage BuildKit build.
	name string
	// base is the FROM argument, lowercased, when known: from the FROM
	// step in legacy logs, else from the Dockerfile.
	base   string
	steps  []*model.Vertex
	states []stepState
}

// lastKnown is the chain's last step with a known state, the one whose
// result other stages consume.
func (c *chain) lastKnown() *model.Vertex {
	for i := len(c.steps) - 1; i >= 0; i-- {
		if c.states[i] != stateUnknown {
			return c.steps[i]
		}
	}
	return nil
}

// buildChains groups the Dockerfile steps into chains.
func (a *analysis) buildChains() {
	type key struct{ platform, stage string }
	groups := map[key][]*model.Vertex{}
	var order []key
	for _, v := range a.b.Vertices {
		if !v.IsStep() {
			continue
		}
		k := key{v.Platform, strings.ToLower(v.Stage)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], v)
	}
	stageBase := map[string]string{}
	if a.file != nil {
		for _, s := range a.file.Stages() {
			name := s.Name
			if name == "" {
				name = "stage-" + strconv.Itoa(s.Index)
			}
			stageBase[strings.ToLower(name)] = strings.ToLower(s.Base)
		}
	}
	legacy := a.b.Format == model.FormatLegacy
	for _, k := range order {
		steps := groups[k]
		slices.SortStableFunc(steps, func(x, y *model.Vertex) int { return cmp.Compare(x.Index, y.Index) })
		if !legacy {
			a.chains = append(a.chains, &chain{platform: k.platform, name: k.stage, base: stageBase[k.stage], steps: steps})
			continue
		}
		// The legacy builder numbers every instruction of the file in one
		// sequence: each FROM starts a new stage, and ARGs before the first
		// FROM belong to no stage.
		var c *chain
		n := 0
		for _, v := range steps {
			if v.Instruction == "FROM" {
				base, alias := fromArgs(v.Args)
				name := alias
				if name == "" {
					name = "stage-" + strconv.Itoa(n)
				}
				n++
				c = &chain{platform: k.platform, name: name, base: base}
				a.chains = append(a.chains, c)
			}
			if c != nil {
				c.steps = append(c.steps, v)
			}
		}
	}
	for _, c := range a.chains {
		c.states = make([]stepState, len(c.steps))
		for i, v := range c.steps {
			c.states[i] = stateOf(v)
			a.chainOf[v] = c
		}
		// A legacy FROM of an earlier stage downloads nothing, however
		// long the step took.
		if legacy && len(c.steps) > 0 && c.steps[0].Instruction == "FROM" && a.lookup(c.platform, c.base) != nil {
			c.states[0] = stateHit
		}
	}
}

// lookup finds the chain another stage of the same platform calls name
// (a stage name or a stage number, as in COPY --from=0).
func (a *analysis) lookup(platform, name string) *chain {
	name = strings.ToLower(name)
	if name == "" {
		return nil
	}
	if _, err := strconv.Atoi(name); err == nil {
		name = "stage-" + name
	}
	for _, c := range a.chains {
		if c.platform == platform && c.name == name {
			return c
		}
	}
	return nil
}

// fromArgs splits FROM arguments into the base (lowercased) and the alias.
func fromArgs(args string) (base, alias string) {
	var words []string
	for _, w := range strings.Fields(args) {
		if !strings.HasPrefix(w, "--") {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return "", ""
	}
	base = strings.ToLower(words[0])
	if len(words) >= 3 && strings.EqualFold(words[1], "as") {
		alias = strings.ToLower(words[2])
	}
	return base, alias
}

var (
	fromFlagRE  = regexp.MustCompile(`(?:^|\s)--from=("[^"]*"|\S+)`)
	mountFromRE = regexp.MustCompile(`--mount=\S*\bfrom=([^,\s"]+)`)
)

// stageRefs returns the stages a step reads from besides its own chain:
// COPY/ADD --from=name and RUN --mount=...,from=name.
func stageRefs(v *model.Vertex) []string {
	var out []string
	for _, m := range fromFlagRE.FindAllStringSubmatch(v.Args, -1) {
		out = append(out, strings.Trim(m[1], `"`))
	}
	for _, m := range mountFromRE.FindAllStringSubmatch(v.Args, -1) {
		out = append(out, m[1])
	}
	return out
}

// brk is a cache break during analysis.
type brk struct {
	c      *chain
	at     int // position in c.steps
	v      *model.Vertex
	reason string
	prev   *model.Vertex
	own    time.Duration // rebuilt time in its own chain
	timed  bool          // some rebuilt step of its own chain has a duration
	n      int           // rebuilt steps in its own chain
	into   *brk          // the break this one only follows, if any
	first  bool
}

func (k *brk) root() *brk {
	for r := k; ; r = r.into {
		if r.into == nil {
			return r
		}
	}
}

// cacheBreaks walks each chain for steps that ran after a cached step,
// folds breaks that only follow a break in a stage they build on into that
// break, and returns the remaining ones in log order. It also fills
// a.firstMiss and a.missed.
func (a *analysis) cacheBreaks() []CacheBreak {
	a.buildChains()
	owner := map[*model.Vertex]*brk{}
	var breaks []*brk
	for _, c := range a.chains {
		var cur *brk
		var prev *model.Vertex
		sawMiss := false
		for i, v := range c.steps {
			switch c.states[i] {
			case stateHit:
				cur, prev = nil, v
			case stateMiss:
				a.missed[v] = true
				if cur == nil {
					cur = &brk{c: c, at: i, v: v, first: !sawMiss}
					switch {
					case v.Instruction == "FROM":
						cur.reason = ReasonBaseImagePulled
					case prev == nil:
						// Nothing of the stage before it is in the log: a
						// stage built on another stage (FROM base).
						cur.reason = ReasonFirstStep
					default:
						cur.reason, cur.prev = ReasonPreviousCached, prev
					}
					breaks = append(breaks, cur)
					a.breakAt[v] = cur
				}
				if !sawMiss {
					a.firstMiss[v], sawMiss = true, true
				}
				if v.HasDuration {
					cur.own, cur.timed = cur.own+v.Duration, true
				}
				cur.n++
				owner[v] = cur
				prev = v
			}
		}
	}

	byDigest := map[string]*model.Vertex{}
	pos := map[*model.Vertex]int{}
	for i, v := range a.b.Vertices {
		pos[v] = i
		if v.Digest != "" {
			byDigest[v.Digest] = v
		}
	}
	slices.SortStableFunc(breaks, func(x, y *brk) int { return cmp.Compare(pos[x.v], pos[y.v]) })

	for _, k := range breaks {
		if up := a.upstreamBreak(k, owner, byDigest); up != nil && up.root() != k {
			k.into = up
		}
	}

	out := []CacheBreak{}
	causes := newCauser(a, a.base)
	for _, k := range breaks {
		if k.into != nil {
			continue
		}
		cb := CacheBreak{
			Name:         k.v.Name,
			Stage:        optString(k.v.Stage),
			Platform:     optString(k.v.Platform),
			Index:        ptr(k.v.Index),
			Instruction:  optString(k.v.Instruction),
			Line:         a.line(k.v),
			Reason:       k.reason,
			FirstInStage: k.first,
			RebuiltSteps: k.n,
			FollowOn:     []string{},
		}
		if k.prev != nil {
			cb.Previous = ptr(k.prev.Name)
		}
		total, timed := k.own, k.timed
		for _, f := range breaks {
			if f != k && f.root() == k {
				total, timed = total+f.own, timed || f.timed
				cb.RebuiltSteps += f.n
				cb.FollowOn = append(cb.FollowOn, f.v.Name)
			}
		}
		if timed {
			cb.RebuiltSeconds = ptr(seconds(total))
		}
		cb.Cause, cb.seq = causes.cause(k), pos[k.v]
		out = append(out, cb)
	}
	return out
}

// upstreamBreak returns the break in another stage that k only follows:
// the stage k's chain is built FROM, a stage a step reads with --from, or,
// in rawjson logs, any input vertex of another stage. nil when k is a cause
// of its own.
func (a *analysis) upstreamBreak(k *brk, owner map[*model.Vertex]*brk, byDigest map[string]*model.Vertex) *brk {
	// The parent stage matters only while nothing of k's own stage has
	// been built yet: later misses have causes of their own.
	atStart := true
	for _, v := range k.c.steps[:k.at] {
		if v.Instruction != "FROM" {
			atStart = false
		}
	}
	if atStart && k.v.Instruction != "FROM" {
		if p := a.lookup(k.c.platform, k.c.base); p != nil && p != k.c {
			if up := owner[p.lastKnown()]; up != nil {
				return up
			}
		}
	}
	for _, d := range k.v.Inputs {
		if u := byDigest[d]; u != nil && a.chainOf[u] != nil && a.chainOf[u] != k.c {
			if up := owner[u]; up != nil {
				return up
			}
		}
	}
	for _, name := range stageRefs(k.v) {
		if p := a.lookup(k.c.platform, name); p != nil && p != k.c {
			if up := owner[p.lastKnown()]; up != nil {
				return up
			}
		}
	}
	return nil
}

// copySources returns the source arguments of a COPY or ADD step (flags
// and the destination removed), and whether the step copies from another
// stage or image.
func copySources(args string) (srcs []string, fromOther bool) {
	rest := strings.TrimSpace(args)
	for strings.HasPrefix(rest, "--") {
		flag, after, _ := strings.Cut(rest, " ")
		if strings.HasPrefix(flag, "--from=") {
			fromOther = true
		}
		rest = strings.TrimSpace(after)
	}
	var words []string
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &words); err != nil {
			return nil, fromOther
		}
	} else {
		words = strings.Fields(rest)
	}
	if len(words) < 2 {
		return nil, fromOther
	}
	return words[:len(words)-1], fromOther
}
