package html

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report"
)

// Waterfall geometry, in SVG user units (the SVG scales to the page width).
const (
	wfWidth    = 1200.0
	wfChartX0  = 440.0 // time 0
	wfChartX1  = 1110.0
	wfAxisH    = 30.0 // the time axis above the rows
	wfGroupH   = 24.0 // a group heading row
	wfRowH     = 18.0
	wfBarH     = 12.0
	wfBottom   = 8.0
	wfLabelLen = 56 // runes of a step name shown beside its bar
	wfTitleLen = 600
	wfMinBarW  = 2.0 // zero-length vertices (cache hits) stay visible
)

// waterfall is the geometry of the timeline SVG.
type waterfall struct {
	Width, Height string
	ChartX0       string
	ChartX1       string
	AxisY         string
	// EndX is where the last vertex ends.
	EndX   string
	Ticks  []tick
	Groups []wfGroup
}

type tick struct {
	X, Label string
}

type wfGroup struct {
	Label    string
	Y, TextY string
	Rows     []wfRow
}

// wfRow is one vertex: its name, its bar and a note after the bar.
type wfRow struct {
	Index                  int // position in the build's vertex list
	Title                  string
	Label                  string
	LabelClass             string
	TextY                  string
	BarX, BarY, BarW, BarH string
	BarClass               string
	Note                   string
	NoteX                  string
	NoteEnd                bool // anchor the note at its end (left of the bar)
}

// group keys and labels for vertices that are not Dockerfile steps.
const (
	groupInternal = "\x00internal"
	groupOther    = "\x00other"
	groupExport   = "\x00export"
)

// layoutWaterfall places every vertex of the timeline in rows grouped by
// stage and platform: BuildKit's own loading first, then the stages in the
// order they appear, then exports.
// kinds are the Explanation's Step.Kind of each vertex; legacy says the
// build is the legacy builder's, which has no BuildKit vertices. A timeline
// without times draws each vertex in a slot of its own, in order, and no
// time axis: bars of no width would show nothing.
func layoutWaterfall(tl *report.Timeline, kinds []string, legacy bool) *waterfall {
	type grp struct {
		key, label string
		rows       []int
	}
	var groups []*grp
	byKey := map[string]*grp{}
	for i, sp := range tl.Spans {
		v := sp.Vertex
		key, label := groupOf(v, kinds[i], legacy)
		g := byKey[key]
		if g == nil {
			g = &grp{key: key, label: label}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, i)
	}
	rank := func(g *grp) int {
		switch g.key {
		case groupInternal:
			return 0
		case groupOther:
			return 2
		case groupExport:
			return 3
		}
		return 1
	}
	slices.SortStableFunc(groups, func(a, b *grp) int { return cmp.Compare(rank(a), rank(b)) })

	end := tl.End
	scale := 0.0
	if end > 0 {
		scale = (wfChartX1 - wfChartX0) / end.Seconds()
	}
	x := func(d time.Duration) float64 { return wfChartX0 + d.Seconds()*scale }

	w := &waterfall{
		Width:   num(wfWidth),
		ChartX0: num(wfChartX0),
		ChartX1: num(wfChartX1),
		AxisY:   num(wfAxisH),
		EndX:    num(x(end)),
	}
	slots := end == 0 && len(tl.Spans) > 0
	if !slots {
		for _, t := range timeTicks(end) {
			w.Ticks = append(w.Ticks, tick{X: num(x(t)), Label: formatTick(t)})
		}
	}
	if slots {
		w.EndX = num(wfChartX1)
	}
	slotW := (wfChartX1 - wfChartX0) / float64(max(len(tl.Spans), 1))
	slot := 0
	y := wfAxisH
	for _, g := range groups {
		if rank(g) == 1 {
			// Steps of a stage in their [n/m] order; everything else in
			// the order it started.
			slices.SortStableFunc(g.rows, func(a, b int) int { return cmp.Compare(tl.Spans[a].Vertex.Index, tl.Spans[b].Vertex.Index) })
		} else {
			slices.SortStableFunc(g.rows, func(a, b int) int { return cmp.Compare(tl.Spans[a].Start, tl.Spans[b].Start) })
		}
		wg := wfGroup{Label: g.label, Y: num(y), TextY: num(y + wfGroupH - 7)}
		y += wfGroupH
		for _, i := range g.rows {
			r := row(tl, i, y, x)
			if slots {
				x0 := wfChartX0 + float64(slot)*slotW
				r.BarX, r.BarW, r.NoteX, r.NoteEnd = num(x0), num(math.Max(slotW-1, wfMinBarW)), num(x0+slotW+4), false
				if x0+slotW+8+float64(len(r.Note))*6.5 > wfWidth {
					r.NoteX, r.NoteEnd = num(x0-4), true
				}
				slot++
			}
			wg.Rows = append(wg.Rows, r)
			y += wfRowH
		}
		w.Groups = append(w.Groups, wg)
	}
	w.Height = num(y + wfBottom)
	return w
}

func row(tl *report.Timeline, i int, y float64, x func(time.Duration) float64) wfRow {
	sp := tl.Spans[i]
	v := sp.Vertex
	x0, x1 := x(sp.Start), x(sp.End)
	bw := math.Max(x1-x0, wfMinBarW)
	r := wfRow{
		Index: i,
		Label: short(v.Name, wfLabelLen),
		TextY: num(y + wfRowH - 5),
		BarX:  num(x0),
		BarY:  num(y + (wfRowH-wfBarH)/2),
		BarW:  num(bw),
		BarH:  num(wfBarH),
	}
	kind, state := barKind(v), barState(v)
	r.BarClass = "bar " + kind
	if state != "" {
		r.BarClass += " " + state
	}
	if sp.Critical {
		r.BarClass += " crit"
		r.LabelClass = "crit"
	}
	r.Note = noteText(v, sp, tl.Measured)
	if x0+bw+8+float64(len(r.Note))*6.5 > wfWidth {
		r.NoteEnd = true
		r.NoteX = num(x0 - 4)
	} else {
		r.NoteX = num(x0 + bw + 4)
	}
	r.Title = rowTitle(v, sp, tl.Measured)
	return r
}

// groupOf names the waterfall group of a vertex.
func groupOf(v *model.Vertex, kind string, legacy bool) (key, label string) {
	if v.IsStep() {
		stage := v.Stage
		label := "stage " + stage
		if stage == "" {
			label = "build steps"
		}
		if v.Platform != "" {
			label += " · " + v.Platform
		}
		return v.Platform + "\x00" + strings.ToLower(stage), line(label)
	}
	switch kind {
	case "internal":
		if legacy {
			return groupInternal, "Docker daemon: build context"
		}
		return groupInternal, "BuildKit: build definition, context and base image metadata"
	case "export", "cache":
		return groupExport, "export and cache"
	}
	return groupOther, "other"
}

// barKind is the bar's class for what the vertex is.
func barKind(v *model.Vertex) string {
	if v.IsStep() {
		return "step"
	}
	return "aux" // internal work, exports: visible but muted
}

// barState is the bar's class for how the vertex ended.
func barState(v *model.Vertex) string {
	switch {
	case v.Canceled:
		return "canceled"
	case v.Error != "":
		return "error"
	case v.Cached:
		return "cached"
	case !v.Completed && !v.HasDuration:
		return "incomplete"
	}
	return ""
}

func noteText(v *model.Vertex, sp report.Span, measured bool) string {
	switch {
	case v.Canceled:
		return "canceled"
	case v.Error != "":
		return "error"
	case v.Cached:
		return "cached"
	case v.HasDuration || measured && !v.Started.IsZero():
		return report.FormatSeconds(secs(sp.End - sp.Start))
	case !v.Completed:
		return "incomplete"
	}
	return ""
}

func rowTitle(v *model.Vertex, sp report.Span, measured bool) string {
	var b strings.Builder
	b.WriteString(short(v.Name, wfTitleLen))
	b.WriteString("\n")
	if measured || v.HasDuration {
		b.WriteString(report.FormatSeconds(secs(sp.Start)) + " → " + report.FormatSeconds(secs(sp.End)))
		b.WriteString(" (" + report.FormatSeconds(secs(sp.End-sp.Start)) + ")")
	}
	if st := barState(v); st != "" {
		b.WriteString(" · " + st)
	}
	if sp.Critical {
		b.WriteString(" · on the critical path")
	}
	return b.String()
}

// secs is d in seconds rounded to milliseconds, as the explain output.
func secs(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// tickSteps are the axis intervals to choose from, in seconds.
var tickSteps = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

// timeTicks returns about six to ten round times from 0 to end.
func timeTicks(end time.Duration) []time.Duration {
	if end <= 0 {
		return []time.Duration{0}
	}
	total := end.Seconds()
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if total/s <= 10 {
			step = s
			break
		}
	}
	var out []time.Duration
	for i := 0; float64(i)*step <= total+1e-9; i++ {
		out = append(out, time.Duration(float64(i)*step*float64(time.Second)).Round(time.Millisecond))
	}
	return out
}

// formatTick labels an axis time: "0s", "0.5s", "30s", "1m30s", "2m", "1h30m".
func formatTick(d time.Duration) string {
	if d < time.Minute {
		return strconv.FormatFloat(math.Round(d.Seconds()*1000)/1000, 'f', -1, 64) + "s"
	}
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}
