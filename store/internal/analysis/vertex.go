package analysis

import (
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
)

// RunMs is a vertex's run time in milliseconds as the stores keep it for
// the rollups, and false when it did not run (a cache hit, never started):
// the model's Vertex.Ran decides.
func RunMs(v *model.Vertex) (int64, bool) {
	if !v.Ran() {
		return 0, false
	}
	if !v.HasDuration || v.DurationIsLowerBound {
		return UnknownRun, true
	}
	return v.Duration.Round(time.Millisecond).Milliseconds(), true
}

// CanonicalName is the name BuildKit prints for a Dockerfile step, rebuilt
// from its parts: "[platform stage  i/n] INSTR args", the index padded to
// the width of the total. Names that differ are stored as they are; stores keep
// NULL for a name equal to it.
func CanonicalName(v *model.Vertex) string {
	if v.Total <= 0 || v.Instruction == "" {
		return ""
	}
	var sb strings.Builder
	sb.WriteByte('[')
	if v.Platform != "" {
		sb.WriteString(v.Platform)
		sb.WriteByte(' ')
	}
	if v.Stage != "" {
		sb.WriteString(v.Stage)
		sb.WriteByte(' ')
	}
	total := strconv.Itoa(v.Total)
	idx := strconv.Itoa(v.Index)
	for i := len(idx); i < len(total); i++ {
		sb.WriteByte(' ')
	}
	sb.WriteString(idx)
	sb.WriteByte('/')
	sb.WriteString(total)
	sb.WriteString("] ")
	sb.WriteString(v.Instruction)
	if v.Args != "" {
		sb.WriteByte(' ')
		sb.WriteString(v.Args)
	}
	return sb.String()
}
