package report

import (
	"fmt"
	"io"
	"strings"
)

// Renderer writes an Explanation in one output format.
type Renderer interface {
	Render(w io.Writer, e *Explanation) error
}

// Output formats.
const (
	FormatTable    = "table"
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
)

// Formats lists the output formats NewRenderer accepts, default first.
var Formats = []string{FormatTable, FormatJSON, FormatMarkdown}

// RenderOptions control the human-readable renderers.
type RenderOptions struct {
	// Color enables ANSI colour in the table format. The caller decides:
	// only for a terminal, and never when NO_COLOR is set.
	Color bool
	// Width is the terminal's width in columns: tables cut names to fit
	// and long text wraps. 0 means DefaultWidth (not a terminal).
	Width int
	// Wide lifts the width: names are never cut (--wide).
	Wide bool
	// Mask masks secrets in text from the history (step names stored
	// before masking, labels); nil keeps text as it is.
	Mask func(string) string
	// AllSteps lists every step in the table format; otherwise a large
	// build lists the steps that matter. JSON always has every step.
	AllSteps bool
}

// DefaultWidth is the width tables fit when the output is not a terminal
// (a file, a pipe, a CI log) and $COLUMNS does not say.
const DefaultWidth = 120

// width is the width to fit, 0 for none.
func (o RenderOptions) width() int {
	switch {
	case o.Wide:
		return 0
	case o.Width > 0:
		return o.Width
	}
	return DefaultWidth
}

// NewRenderer returns the renderer for format (one of Formats).
func NewRenderer(format string, opts RenderOptions) (Renderer, error) {
	switch format {
	case FormatTable, "":
		return &tableRenderer{color: opts.Color, opts: opts}, nil
	case FormatJSON:
		return jsonRenderer{}, nil
	case FormatMarkdown:
		return markdownRenderer{opts: opts}, nil
	}
	return nil, fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// jsonRenderer writes the Explanation as indented JSON: the stable contract.
type jsonRenderer struct{}

func (jsonRenderer) Render(w io.Writer, e *Explanation) error { return WriteJSON(w, e) }
