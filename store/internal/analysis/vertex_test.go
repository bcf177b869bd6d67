package analysis

import (
	"testing"

	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
)

func TestCanonicalName(t *testing.T) {
	for _, tc := range []struct{ name string }{{"[base-builder  1/21] FROM docker.io/library/ubuntu:24.04"}, {"[ 1/10] COPY . ."}, {"[linux/arm64 builder 2/5] RUN go build"}} {
		v := &model.Vertex{}
		parse.ApplyName(v, tc.name)
		if got := CanonicalName(v); got != tc.name {
			t.Errorf("CanonicalName(%q) = %q", tc.name, got)
		}
	}
}
