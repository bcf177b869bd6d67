package model

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
)

// Identity names a vertex across builds: the same Dockerfile step in
// yesterday's and today's build of a project. It is the platform, the stage
// (lower-cased: Dockerfile stage names are case-insensitive), the
// normalised instruction text and an occurrence number that tells identical
// instructions of one stage apart. It leaves out the [n/m] position, which
// shifts whenever a line is added to the Dockerfile.
type Identity struct {
	Kind     Kind   `json:"kind"`
	Platform string `json:"platform,omitempty"`
	Stage    string `json:"stage,omitempty"`
	// Instruction is the upper-case Dockerfile instruction of a step, ""
	// for other vertices.
	Instruction string `json:"instruction,omitempty"`
	// Text is the normalised instruction ("RUN npm ci", "FROM node:20") of
	// a step, or the normalised name of any other vertex.
	Text string `json:"text"`
	// Occurrence is 0 for the first vertex with this identity in a build,
	// 1 for the second, and so on.
	Occurrence int `json:"occurrence,omitempty"`
}

// Key is a fixed-size digest of the identity, for indexes: RUN lines can be
// kilobytes long.
func (id Identity) Key() string {
	h := sha256.New()
	for _, s := range []string{string(id.Kind), id.Platform, id.Stage, id.Instruction, id.Text, strconv.Itoa(id.Occurrence)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Label renders the identity as "[platform stage] TEXT (#2)".
func (id Identity) Label() string {
	var parts []string
	if id.Platform != "" {
		parts = append(parts, id.Platform)
	}
	if id.Stage != "" && id.Kind == KindStep {
		parts = append(parts, id.Stage)
	}
	s := id.Text
	if len(parts) > 0 {
		s = "[" + strings.Join(parts, " ") + "] " + s
	}
	if id.Occurrence > 0 {
		s += " (#" + strconv.Itoa(id.Occurrence+1) + ")"
	}
	return s
}

// Identities returns the identity of every vertex of vs, in order.
// Identical vertices get increasing occurrence numbers.
func Identities(vs []*Vertex) []Identity {
	out := make([]Identity, len(vs))
	seen := make(map[Identity]int, len(vs))
	for i, v := range vs {
		id := v.baseIdentity()
		n := seen[id]
		seen[id] = n + 1
		id.Occurrence = n
		out[i] = id
	}
	return out
}

// Identities returns the identity of every vertex of the build, in order.
func (b *Build) Identities() []Identity { return Identities(b.Vertices) }

// baseIdentity is the vertex's identity with occurrence 0.
func (v *Vertex) baseIdentity() Identity {
	id := Identity{Kind: v.Kind(), Platform: v.Platform, Stage: strings.ToLower(v.Stage)}
	if v.IsStep() && v.Instruction != "" {
		id.Instruction = v.Instruction
		id.Text = NormaliseInstruction(v.Instruction, v.Args)
		return id
	}
	id.Text = normaliseName(v.Name)
	return id
}

// NormaliseInstruction is the text a Dockerfile step is recognised by
// across builds: the instruction and its arguments with whitespace
// collapsed and, for FROM, the image reference in its familiar form without
// digest or ":latest" (see NormaliseImage): a new base image digest is the
// same step with a changed input. Flags such as --mount and --from are kept:
// they change what the step is.
func NormaliseInstruction(instr, args string) string {
	if instr != "FROM" && singleSpaced(args) {
		if args == "" {
			return instr
		}
		return instr + " " + args
	}
	fields := strings.Fields(args)
	if instr == "FROM" {
		for i, f := range fields {
			if strings.HasPrefix(f, "--") {
				continue
			}
			fields[i] = NormaliseImage(f)
			break
		}
	}
	if len(fields) == 0 {
		return instr
	}
	return instr + " " + strings.Join(fields, " ")
}

// singleSpaced reports whether strings.Fields and a join with single
// spaces would give s back: ASCII, words separated by one space. Most
// arguments are, and skipping the split is most of the cost of an identity.
func singleSpaced(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80, c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
			return false // non-ASCII may hold Unicode spaces
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' '):
			return false
		}
	}
	return true
}

var (
	// anyDigest is an "@sha256:..." suffix; tty output may cut it short,
	// so any length matches.
	anyDigest  = regexp.MustCompile(`@sha256:[0-9a-fA-F]*`)
	fullDigest = regexp.MustCompile(`@(sha256:[0-9a-fA-F]{64})\b`)
	bareDigest = regexp.MustCompile(`sha256:[0-9a-fA-F]{12,}`)
)

// NormaliseImage reduces an image reference to the form people write:
// "docker.io/library/python:3.8@sha256:…" and "python:3.8" both become
// "python:3.8", and "python:latest" becomes "python". References that are
// not valid (build arguments like ${BASE}, text the tty display cut short)
// keep their text with the digest removed.
func NormaliseImage(ref string) string {
	ref = anyDigest.ReplaceAllString(ref, "")
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	out := reference.FamiliarName(named)
	if t, ok := named.(reference.Tagged); ok && t.Tag() != "latest" {
		out += ":" + t.Tag()
	}
	return out
}

// ImageDigest returns the full pinned digest ("sha256:<64 hex>") of a FROM
// step, or "" when the step is not a FROM or its name does not show all of
// the digest.
func (v *Vertex) ImageDigest() string {
	if v.Instruction != "FROM" {
		return ""
	}
	m := fullDigest.FindStringSubmatch(v.Args)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// normaliseName is NormaliseInstruction for vertices that are not
// Dockerfile steps: whitespace collapsed, digests elided.
func normaliseName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	name = anyDigest.ReplaceAllString(name, "")
	return bareDigest.ReplaceAllString(name, "sha256:…")
}

// Abbreviates reports whether id, the identity of a step whose name the
// tty display cut short (Vertex.NameTruncated), can stand for full: the
// same kind, platform, stage, instruction and occurrence, and a text that
// full's text starts with.
func (id Identity) Abbreviates(full Identity) bool {
	return id.Instruction != "" && id.Kind == full.Kind && id.Platform == full.Platform && id.Stage == full.Stage &&
		id.Instruction == full.Instruction && id.Occurrence == full.Occurrence &&
		len(full.Text) > len(id.Text) && strings.HasPrefix(full.Text, id.Text)
}

// MinAbbreviation is the shortest cut text ResolveTruncated matches: a
// few characters after the instruction say too little to tell steps apart.
const MinAbbreviation = 12

// ResolveTruncated replaces, in ids (the identities of vs), the identity of
// each step whose name the tty display cut short by the one identity in
// known that it abbreviates, so a step keeps one identity whether a log
// printed its name whole or cut. Where none or several of known fit, the
// cut identity stays. It returns how many it replaced.
func ResolveTruncated(vs []*Vertex, ids []Identity, known []Identity) int {
	n := 0
	for i, v := range vs {
		if !v.NameTruncated || !v.IsStep() || len(ids[i].Text) < MinAbbreviation {
			continue
		}
		if full, ok := UniqueAbbreviated(ids[i], known); ok {
			ids[i] = full
			n++
		}
	}
	return n
}

// UniqueAbbreviated returns the one identity of known that cut
// abbreviates; ok is false when none or several do.
func UniqueAbbreviated(cut Identity, known []Identity) (full Identity, ok bool) {
	for _, k := range known {
		if !cut.Abbreviates(k) {
			continue
		}
		if ok && k != full {
			return Identity{}, false
		}
		full, ok = k, true
	}
	return full, ok
}
