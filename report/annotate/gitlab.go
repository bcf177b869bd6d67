package annotate

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/report/safe"
)

// CodeQualityIssue is one entry of a GitLab Code Quality report (a subset
// of the Code Climate issue format that GitLab reads).
type CodeQualityIssue struct {
	Type        string   `json:"type"`
	CheckName   string   `json:"check_name"`
	Description string   `json:"description"`
	Categories  []string `json:"categories"`
	// Severity is one of info, minor, major, critical, blocker.
	Severity string `json:"severity"`
	// Fingerprint identifies the issue across pipelines, so GitLab can
	// tell new findings in a merge request from ones the target branch
	// already had: it hashes the kind and the step's identity, not its
	// line or [n/m] position, which shift with unrelated edits.
	Fingerprint string              `json:"fingerprint"`
	Location    CodeQualityLocation `json:"location"`
}

// CodeQualityLocation is where a Code Quality issue is.
type CodeQualityLocation struct {
	Path  string `json:"path"`
	Lines struct {
		Begin int `json:"begin"`
	} `json:"lines"`
}

// CodeQualityIssues converts the findings that have a Dockerfile line.
// GitLab requires a path and line for every issue, and a finding without
// a confident line is left out rather than pinned to a wrong one (the
// Markdown summary still lists it).
func CodeQualityIssues(r *Report) []CodeQualityIssue {
	out := []CodeQualityIssue{}
	seen := map[string]int{}
	for _, f := range r.Findings {
		if f.File == "" || f.Line <= 0 {
			continue
		}
		is := CodeQualityIssue{
			Type:        "issue",
			CheckName:   "buildstats/" + f.Kind,
			Description: safe.Line(oneLine(f.Title + ": " + f.Message)),
			Categories:  []string{"Performance"},
			Severity:    codeQualitySeverity(f.Severity),
		}
		if f.Kind == KindFailed {
			is.Categories = []string{"Bug Risk"}
		}
		is.Location.Path = safe.Inline(f.File)
		is.Location.Lines.Begin = f.Line
		key := f.Key
		if key == "" {
			key = f.Kind + "\x00" + f.Step
		}
		sum := sha256.Sum256([]byte("buildstats\x00" + f.File + "\x00" + key))
		fp := hex.EncodeToString(sum[:16])
		// Fingerprints must be unique within a report.
		if n := seen[fp]; n > 0 {
			seen[fp]++
			sum = sha256.Sum256([]byte(fp + "\x00" + strconv.Itoa(n)))
			fp = hex.EncodeToString(sum[:16])
		} else {
			seen[fp] = 1
		}
		is.Fingerprint = fp
		out = append(out, is)
	}
	return out
}

// WriteCodeQuality writes the GitLab Code Quality report: a JSON array,
// "[]" when there is nothing to report. Descriptions are one safe.Line
// each; the JSON escapes markup (GitLab shows the descriptions in its web
// pages) and, through safe.JSONEncoder, C1 and bidi controls.
func WriteCodeQuality(w io.Writer, r *Report) error {
	enc := safe.NewJSONEncoder(w)
	enc.SetEscapeHTML(true)
	enc.SetIndent("", "  ")
	return enc.Encode(CodeQualityIssues(r))
}

func codeQualitySeverity(sev string) string {
	switch sev {
	case SeverityError:
		return "critical"
	case SeverityWarning:
		return "minor"
	}
	return "info"
}

// oneLine joins lines with spaces: GitLab shows descriptions as one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
