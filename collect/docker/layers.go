package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/moby/moby/client"
)

// Layer is one entry of an image's history, oldest first. Entries that only
// change the image config (ENV, LABEL, CMD, ...) have Size 0.
type Layer struct {
	// ID is the image ID of the entry, "<missing>" for all but the top
	// entries of images built or pulled by BuildKit.
	ID        string
	CreatedBy string
	Comment   string
	Created   time.Time
	Size      int64
}

// LayerSize is a layer of a built image with the step of the build that
// made it.
type LayerSize struct {
	// VertexID is the model.Vertex.ID of the step that made the layer, ""
	// for layers no step of this build made (the base image's).
	VertexID string
	// Step is that vertex's name, for display.
	Step  string
	Layer Layer
}

// ImageLayers reads the history of a local image, oldest entry first.
func ImageLayers(ctx context.Context, c *client.Client, image string) ([]Layer, error) {
	res, err := c.ImageHistory(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("history of image %s: %w", image, err)
	}
	layers := make([]Layer, len(res.Items))
	// The API lists newest first; builds are read oldest first.
	for i, it := range res.Items {
		layers[len(layers)-1-i] = Layer{
			ID:        it.ID,
			CreatedBy: it.CreatedBy,
			Comment:   it.Comment,
			Created:   time.Unix(it.Created, 0).UTC(),
			Size:      it.Size,
		}
	}
	return layers, nil
}

// Layers connects to the daemon at host (empty: the environment) and reads
// an image's layers; `buildstats layers IMAGE` shows them.
func Layers(ctx context.Context, host, image string) ([]Layer, error) {
	c, err := Connect(ctx, host)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return ImageLayers(ctx, c, image)
}

// MatchLayers pairs each layer of the built image with the build step that
// made it. History entries name their step by instruction and arguments
// ("RUN |1 V=2 /bin/sh -c make # buildkit", "COPY src /dst # buildkit"),
// which is matched against the step vertices in order, so a layer goes to
// the first unclaimed step with the same instruction and arguments. Flags
// (--mount, --from, --chown) and build-arg prefixes are ignored on both
// sides, since history leaves some of them out.
func MatchLayers(b *model.Build, layers []Layer) []LayerSize {
	out := make([]LayerSize, len(layers))
	claimed := map[*model.Vertex]bool{}
	for i, l := range layers {
		out[i].Layer = l
		instr, args := historyStep(l.CreatedBy)
		if instr == "" {
			continue
		}
		for _, v := range b.Vertices {
			if claimed[v] || !v.IsStep() || v.Instruction != instr {
				continue
			}
			if stepMatches(instr, v.Args, args) {
				claimed[v] = true
				out[i].VertexID, out[i].Step = v.ID, v.Name
				break
			}
		}
	}
	return out
}

// AttachLayerSizes records on each step the size of the layer it made,
// so the size is stored and reported with the build.
func AttachLayerSizes(b *model.Build, layers []LayerSize) {
	byID := map[string]*model.Vertex{}
	for _, v := range b.Vertices {
		byID[v.ID] = v
	}
	for _, l := range layers {
		if v := byID[l.VertexID]; v != nil && l.VertexID != "" {
			v.LayerBytes += l.Layer.Size
			v.HasLayerBytes = true
		}
	}
}

// layerInstructions are the instructions whose history entry can carry a
// filesystem change; the others only edit the image config.
var layerInstructions = map[string]bool{"RUN": true, "COPY": true, "ADD": true, "WORKDIR": true}

// historyStep splits a BuildKit history entry into instruction and
// arguments, without the " # buildkit" marker and RUN's "|N k=v" build-arg
// prefix; "" when the entry is not one a step makes.
func historyStep(createdBy string) (string, string) {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(createdBy), "# buildkit"))
	instr, args, _ := strings.Cut(s, " ")
	if !layerInstructions[instr] {
		return "", ""
	}
	args = strings.TrimSpace(args)
	if instr == "RUN" && strings.HasPrefix(args, "|") {
		// "|2 A=1 B=2 cmd": skip the count and that many assignments.
		fields := strings.Fields(args)
		if n, err := strconv.Atoi(strings.TrimPrefix(fields[0], "|")); err == nil && n+1 <= len(fields) {
			args = strings.Join(fields[n+1:], " ")
		}
	}
	return instr, args
}

// stepMatches compares a step's Dockerfile arguments with its history
// entry's.
func stepMatches(instr, stepArgs, histArgs string) bool {
	step := strings.Join(dropFlags(strings.Fields(stepArgs)), " ")
	hist := strings.Join(dropFlags(strings.Fields(histArgs)), " ")
	if instr != "RUN" {
		return step == hist
	}
	// Exec form is recorded joined with spaces; shell form with the shell
	// ("/bin/sh -c make") in front.
	if strings.HasPrefix(step, "[") {
		var argv []string
		if json.Unmarshal([]byte(step), &argv) == nil {
			step = strings.Join(argv, " ")
		}
	}
	return step != "" && (hist == step || strings.HasSuffix(hist, " "+step))
}

// dropFlags removes leading --flag tokens.
func dropFlags(fields []string) []string {
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		fields = fields[1:]
	}
	return fields
}
