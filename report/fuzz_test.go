package report

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildstats/buildstats/parse"
)

// FuzzExplain checks that any input the parser accepts can be explained
// and rendered in every format without panicking.
func FuzzExplain(f *testing.F) {
	for _, name := range []string{
		"seed/tty-seed-python-docker-demo.log",
		"buildkit-probe/multistage-rawjson-nocache.jsonl",
		"buildkit-probe/run-fail-plain.log",
		"real/legacy-goxis-cached-timestamped-01.log",
	} {
		data, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	df := []byte("FROM python AS base\nCOPY . .\nRUN pip install -r requirements.txt\nFROM base\nCOPY --from=base /a /b\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parse.Parse(bytes.NewReader(data), parse.Options{})
		if err != nil {
			return
		}
		file, err := parseDockerfile(df)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []Options{{}, {Dockerfile: file}} {
			e := Explain(b, opts)
			for _, format := range Formats {
				r, _ := NewRenderer(format, RenderOptions{Color: true})
				if err := r.Render(io.Discard, e); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
