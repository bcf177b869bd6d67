package redact

import (
	"strings"

	"github.com/buildstats/buildstats/parse/model"
)

// Inputs masks secrets in what a build's inputs hold as text: the
// Dockerfile's text (an ENV NAME value, a token in a RUN), build arg values
// whose names did not look secret (those that did are already hashes),
// image references and cache sources (credentials in URLs). The
// Dockerfile's hash stays the hash of the file as it was, so a build is
// still compared by what it built.
func (r *Redactor) Inputs(in *model.Inputs) {
	if in == nil || r != nil && r.off {
		return
	}
	if r == nil {
		r = New(Options{})
	}
	if df := in.Dockerfile; df != nil && df.Content != "" {
		masked := strings.Join(r.Lines(strings.Split(df.Content, "\n")), "\n")
		if masked != df.Content {
			c := *df // the original may be shared with another build
			c.Content = masked
			in.Dockerfile = &c
		}
	}
	if in.Args != nil {
		args := *in.Args
		args.Values = append([]model.BuildArg(nil), in.Args.Values...)
		for i, a := range args.Values {
			if !a.Hashed {
				args.Values[i].Value = r.String(a.Value)
			}
		}
		in.Args = &args
	}
	for i := range in.BaseImages {
		in.BaseImages[i].Ref = r.String(in.BaseImages[i].Ref)
	}
	for i := range in.CacheSources {
		in.CacheSources[i].Ref = r.String(in.CacheSources[i].Ref)
		in.CacheSources[i].Error = r.String(in.CacheSources[i].Error)
	}
}
