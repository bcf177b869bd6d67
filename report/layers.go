package report

import (
	"io"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter/tw"
)

// LayersSchemaVersion is the version of the layers JSON contract
// (LayerList).
const LayersSchemaVersion = 1

// LayerList is what `buildstats layers IMAGE` prints: an image's layers,
// oldest first. Its JSON is the command's contract.
type LayerList struct {
	SchemaVersion int     `json:"schema_version"`
	Image         string  `json:"image"`
	TotalBytes    int64   `json:"total_bytes"`
	Layers        []Layer `json:"layers"`
}

// Layer is one entry of an image's history. Entries that only change the
// image config (ENV, LABEL, CMD...) are 0 bytes.
type Layer struct {
	// ID is the image ID of the entry, "<missing>" for most entries of
	// images BuildKit built or pulled.
	ID        string    `json:"id"`
	CreatedBy string    `json:"created_by"`
	Comment   *string   `json:"comment"`
	Created   time.Time `json:"created"`
	Bytes     int64     `json:"bytes"`
	// Step is the build step that made the layer, when a live build
	// matched it; null otherwise.
	Step *string `json:"step"`
}

// NewLayerList totals layers.
func NewLayerList(image string, layers []Layer) *LayerList {
	l := &LayerList{SchemaVersion: LayersSchemaVersion, Image: image, Layers: append([]Layer{}, layers...)}
	for _, x := range layers {
		l.TotalBytes += x.Bytes
	}
	return l
}

// RenderLayers writes the layers as a table or JSON; with steps, the table
// has a column for the step that made each layer.
func RenderLayers(w io.Writer, format string, l *LayerList, steps bool, opts RenderOptions) error {
	if format == FormatJSON {
		return WriteJSON(w, l)
	}
	ew := &errWriter{w: w}
	header := []string{"Size", "Created", "Created by"}
	aligns := []tw.Align{tw.AlignRight, tw.AlignLeft, tw.AlignLeft}
	name := 2
	if steps {
		header = []string{"Size", "Step", "Created by"}
		name = 1
	}
	var rows [][]string
	for _, x := range l.Layers {
		mid := x.Created.UTC().Format("2006-01-02 15:04")
		if steps {
			mid = deref(x.Step)
			if mid == "" {
				mid = "-"
			}
		}
		rows = append(rows, []string{FormatBytes(x.Bytes), mid, x.CreatedBy})
	}
	rows = append(rows, []string{FormatBytes(l.TotalBytes), "", "total of " + itoa(len(l.Layers)) + " entries"})
	writeGrid(ew, false, header, rows, aligns, nameColumn(opts, name))
	return ew.err
}

func itoa(n int) string { return strconv.Itoa(n) }
