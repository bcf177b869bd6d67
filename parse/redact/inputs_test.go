package redact

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/buildstats/buildstats/parse/model"
)

func TestBuildMasksInputs(t *testing.T) {
	const token = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"
	df := "FROM alpine\nENV API_TOKEN " + token + "\nRUN make\n"
	shared := model.NewDockerfileInput("Dockerfile", []byte(df), model.FromFlag)
	b := &model.Build{Inputs: &model.Inputs{
		Dockerfile:   shared,
		Args:         model.NewBuildArgs(map[string]string{"URL": "https://user:" + token + "@example.com/x", "NPM_TOKEN": "s3cr3t"}, model.FromFlag),
		CacheSources: []model.CacheSource{{Ref: "https://user:" + token + "@registry/cache", Error: "denied for " + token}},
	}}
	New(Options{}).Build(b)
	data, _ := json.Marshal(b.Inputs)
	if strings.Contains(string(data), token) {
		t.Fatalf("a token survived masking: %s", data)
	}
	if !strings.Contains(b.Inputs.Dockerfile.Content, "RUN make") || b.Inputs.Dockerfile.Hash != shared.Hash {
		t.Errorf("the Dockerfile: %+v", b.Inputs.Dockerfile)
	}
	if strings.Contains(shared.Content, Mask) {
		t.Error("masking changed an input another build may share")
	}
	if v, _ := b.Inputs.Args.Get("NPM_TOKEN"); !v.Hashed || !strings.HasPrefix(v.Value, "sha256:") {
		t.Errorf("a hashed arg changed: %+v", v)
	}
	// Off means off.
	b2 := &model.Build{Inputs: &model.Inputs{Dockerfile: shared}}
	None().Build(b2)
	if b2.Inputs.Dockerfile.Content != df {
		t.Error("None masked")
	}
}
