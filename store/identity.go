package store

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
)

// identity is a vertex's step identity before it has a database id.
type identity struct {
	kind, platform, stage, instruction, text string
	occurrence                               int
}

// key hashes the identity into the fixed-size text the steps table is keyed
// by, so arbitrarily long RUN lines never end up in an index.
func (id identity) key() string {
	h := sha256.New()
	for _, s := range []string{id.kind, id.platform, id.stage, id.instruction, id.text, strconv.Itoa(id.occurrence)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

var (
	// pinnedDigest is the "@sha256:..." of a pinned image reference; tty
	// output may cut it short, so any length matches.
	pinnedDigest = regexp.MustCompile(`@sha256:[0-9a-fA-F]*`)
	fullDigest   = regexp.MustCompile(`@sha256:([0-9a-fA-F]{64})`)
	bareDigest   = regexp.MustCompile(`sha256:[0-9a-fA-F]{12,}`)
)

// identify derives the identities of a build's vertices. Identical
// instructions in one stage get increasing occurrence numbers so they stay
// apart without depending on their position.
func identify(vs []*model.Vertex) []identity {
	out := make([]identity, len(vs))
	seen := make(map[identity]int, len(vs))
	for i, v := range vs {
		id := vertexIdentity(v)
		n := seen[id]
		seen[id] = n + 1
		id.occurrence = n
		out[i] = id
	}
	return out
}

// vertexIdentity is the identity of one vertex with occurrence 0.
func vertexIdentity(v *model.Vertex) identity {
	id := identity{platform: v.Platform, stage: v.Stage}
	switch {
	case v.IsStep() && v.Instruction != "":
		id.kind = KindStep
		id.instruction = v.Instruction
		id.text = normaliseInstruction(v.Instruction, v.Args)
		return id
	case v.IsStep():
		// An [n/m] vertex whose instruction the parser did not recognise.
		id.kind = KindStep
	case v.IsInternal():
		id.kind = KindInternal
	case isExport(v.Name):
		id.kind = KindExport
	default:
		id.kind = KindOther
	}
	id.text = normaliseName(v.Name)
	return id
}

func isExport(name string) bool {
	for _, p := range []string{"exporting ", "writing image", "naming to", "sending tarball", "unpacking to", "pushing "} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// normaliseInstruction is the text a step is recognised by across builds:
// the instruction and its arguments with whitespace collapsed, and for FROM
// the pinned digest and the implicit docker.io registry removed (a new base
// image digest is the same step with a changed input, reported by Compare).
// Flags such as --mount and --from are kept: they change what the step is.
func normaliseInstruction(instr, args string) string {
	args = strings.Join(strings.Fields(args), " ")
	if instr == "FROM" {
		args = pinnedDigest.ReplaceAllString(args, "")
		args = strings.TrimPrefix(args, "docker.io/library/")
		args = strings.TrimPrefix(args, "docker.io/")
	}
	if args == "" {
		return instr
	}
	return instr + " " + args
}

// normaliseName is normaliseInstruction for vertices that are not
// Dockerfile steps: whitespace collapsed, digests elided.
func normaliseName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	name = pinnedDigest.ReplaceAllString(name, "")
	return bareDigest.ReplaceAllString(name, "sha256:…")
}

// imageDigest returns the full pinned digest of a FROM step
// ("sha256:<64 hex>"), or "" when the log does not show all of it.
func imageDigest(v *model.Vertex) string {
	if v.Instruction != "FROM" {
		return ""
	}
	m := fullDigest.FindStringSubmatch(v.Args)
	if m == nil {
		return ""
	}
	return "sha256:" + strings.ToLower(m[1])
}

func itoa(n int) string { return strconv.Itoa(n) }
