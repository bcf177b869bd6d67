package parse

import (
	"os"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse/model"
)

func TestLogInputs(t *testing.T) {
	node := "sha256:674181320f4f94582c6182eaa151bf92c6744d478be0f1d12db804b7d59b2d11"
	base := "sha256:5d983d19026451e772a66f7434a1cd5fd660b024faaa7f5fa4764ae88e782d28"
	cases := []struct {
		name, log string
		bases     []string // stage|context|ref|digest
		caches    []string // ref|error
	}{
		{
			name: "FROM with its digest",
			log: "#1 [internal] load metadata for docker.io/library/node:20-alpine\n#1 DONE 0.4s\n" +
				"#2 [build 1/3] FROM docker.io/library/node:20-alpine@" + node + "\n#2 resolve docker.io/library/node:20-alpine@" + node + " 0.0s done\n#2 DONE 0.0s\n" +
				"#3 [build 2/3] RUN npm ci\n#3 DONE 3.0s\n",
			bases: []string{"build||node:20-alpine|" + node},
		},
		{
			// Real buildkitd v0.34.2 output of FROM base with
			// --opt context:base=oci-layout://base@sha256:...
			name: "named context from an OCI layout",
			log: "#2 [context base] load metadata for docker.io/library/base@" + base + "\n#2 DONE 0.2s\n" +
				"#4 [context base] OCI load from client\n#4 resolve docker.io/library/base@" + base + " 0.1s done\n#4 DONE 0.3s\n" +
				"#5 [1/2] RUN [\"/bin/busybox\",\"sh\",\"-c\",\"/bin/busybox cat /marker\"]\n#5 DONE 1.2s\n",
			bases: []string{"|base|base|" + base},
		},
		{
			name:  "metadata without a FROM digest",
			log:   "#1 [internal] load metadata for docker.io/library/alpine:3.20\n#1 DONE 0.4s\n#2 [1/2] FROM docker.io/library/alpine:3.20\n#2 DONE 0.0s\n#3 [2/2] RUN x\n#3 DONE 1.0s\n",
			bases: []string{"||alpine:3.20|"},
		},
		{
			name: "scratch, stages and build args are not images",
			log: "#1 [base 1/1] FROM docker.io/library/alpine:3.20@" + node + "\n#1 DONE 0.0s\n" +
				"#2 [app 1/2] FROM ${BASE}\n#2 DONE 0.0s\n#3 [app 2/2] RUN x\n#3 DONE 1.0s\n",
			bases: []string{"base||alpine:3.20|" + node},
		},
		{
			name:   "a failed cache import",
			log:    "#1 importing cache manifest from ghcr.io/x/y:cache\n#1 ERROR: failed to fetch manifest: not found\n#2 [1/1] FROM docker.io/library/alpine@" + node + "\n#2 DONE 1.0s\n#3 exporting to image\n#3 DONE 0.1s\n",
			bases:  []string{"||alpine|" + node},
			caches: []string{"ghcr.io/x/y:cache|failed to fetch manifest: not found"},
		},
		{
			name: "nothing to say",
			log:  "#1 [1/2] COPY a /a\n#1 DONE 0.1s\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Parse(strings.NewReader(c.log), Options{})
			if err != nil {
				t.Fatal(err)
			}
			in := LogInputs(b)
			if len(c.bases) == 0 && len(c.caches) == 0 {
				if in != nil {
					t.Fatalf("LogInputs = %+v, want nil", in)
				}
				return
			}
			var bases, caches []string
			for _, bi := range in.BaseImages {
				if bi.Source != model.FromLog {
					t.Errorf("source %q", bi.Source)
				}
				bases = append(bases, bi.Stage+"|"+bi.Context+"|"+bi.Ref+"|"+bi.Digest)
			}
			for _, cs := range in.CacheSources {
				caches = append(caches, cs.Ref+"|"+cs.Error)
			}
			if strings.Join(bases, "\n") != strings.Join(c.bases, "\n") {
				t.Errorf("base images:\n%s\nwant\n%s", strings.Join(bases, "\n"), strings.Join(c.bases, "\n"))
			}
			if strings.Join(caches, "\n") != strings.Join(c.caches, "\n") {
				t.Errorf("cache sources: %q, want %q", caches, c.caches)
			}
		})
	}
}

// A real CI log: the FROM digest and the local cache import.
func TestLogInputsRealLog(t *testing.T) {
	f, err := os.Open("../fixtures/real/ci-render-10.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := Parse(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := LogInputs(b)
	if in == nil || len(in.BaseImages) == 0 || in.BaseImages[0].Ref != "node:20-alpine" ||
		in.BaseImages[0].Digest != "sha256:674181320f4f94582c6182eaa151bf92c6744d478be0f1d12db804b7d59b2d11" {
		t.Fatalf("base images: %+v", in)
	}
	if len(in.CacheSources) != 1 || !strings.HasPrefix(in.CacheSources[0].Ref, "local:") || in.CacheSources[0].Error != "" {
		t.Fatalf("cache sources: %+v", in.CacheSources)
	}
}
