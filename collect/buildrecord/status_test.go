package buildrecord_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/pb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/buildstats/buildstats/collect/buildkit"
	"github.com/buildstats/buildstats/collect/buildrecord"
	"github.com/buildstats/buildstats/parse"
)

// frames writes status responses as BuildKit's history stores them.
func frames(t testing.TB, msgs ...*controlapi.StatusResponse) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, m := range msgs {
		data, err := m.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		var hdr [4]byte
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(data)))
		out.Write(hdr[:])
		out.Write(data)
	}
	return out.Bytes()
}

// The hand-written decoder gives what BuildKit's own client and Convert
// give for the same stream: a .dockerbuild file and a history import of
// one build make the same record.
func TestDecodeStatusMatchesClient(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 18, 29, 3, 550586368, time.UTC)
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	msgs := []*controlapi.StatusResponse{
		{Vertexes: []*controlapi.Vertex{
			{Digest: "sha256:aa", Name: "[1/2] COPY busybox /bin/busybox", Started: ts(0), Completed: ts(time.Millisecond), Cached: true},
			{Digest: "sha256:bb", Inputs: []string{"sha256:aa"}, Name: "[2/2] RUN make \xff bad utf8", Started: ts(time.Second),
				ProgressGroup: &pb.ProgressGroup{Id: "g", Name: "group", Weak: true}},
		}},
		{Statuses: []*controlapi.VertexStatus{{ID: "transferring context", Vertex: "sha256:aa", Current: 1234, Total: 5678,
			Timestamp: ts(2 * time.Second), Started: ts(time.Second)}}},
		{Logs: []*controlapi.VertexLog{{Vertex: "sha256:bb", Timestamp: ts(3 * time.Second), Stream: 2, Msg: []byte("hello\n")}},
			Warnings: []*controlapi.VertexWarning{{Vertex: "sha256:bb", Level: 1, Short: []byte("lint"), Detail: [][]byte{[]byte("d1")}, Url: "https://x"}}},
		{Vertexes: []*controlapi.Vertex{{Digest: "sha256:bb", Name: "[2/2] RUN make", Started: ts(time.Second), Completed: ts(4 * time.Second), Error: "exit code: 1"}}},
	}
	var got []*parse.SolveStatus
	if err := buildrecord.DecodeStatus(bytes.NewReader(frames(t, msgs...)), func(st *parse.SolveStatus) { got = append(got, st) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d updates, want %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		want := buildkit.Convert(client.NewSolveStatus(m))
		a, _ := json.Marshal(got[i])
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("update %d:\n got %s\nwant %s", i, a, b)
		}
	}
	// And the record the recorder makes is the same.
	r1, r2 := parse.NewRecorder(), parse.NewRecorder()
	for i, m := range msgs {
		r1.Add(got[i])
		r2.Add(buildkit.Convert(client.NewSolveStatus(m)))
	}
	a, _ := json.Marshal(r1.Build())
	b, _ := json.Marshal(r2.Build())
	if string(a) != string(b) {
		t.Errorf("records differ:\n%s\n%s", a, b)
	}
}

func TestDecodeStatusDamage(t *testing.T) {
	good := frames(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{{Digest: "sha256:aa", Name: "x"}}})
	huge := make([]byte, 4)
	binary.LittleEndian.PutUint32(huge, buildrecord.MaxStatusFrame+1)
	for name, data := range map[string][]byte{
		"truncated header":   good[:2],
		"truncated frame":    good[:len(good)-1],
		"huge frame":         huge,
		"bad varint":         append([]byte{11, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 11)...),
		"field past its end": {3, 0, 0, 0, 0x0a, 0x7f, 0x01},
		"bad wire type":      {1, 0, 0, 0, 0x0f},
	} {
		err := buildrecord.DecodeStatus(bytes.NewReader(data), func(*parse.SolveStatus) {})
		if !errors.Is(err, buildrecord.ErrBadStatus) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := buildrecord.DecodeStatus(bytes.NewReader(nil), func(*parse.SolveStatus) {}); err != nil {
		t.Errorf("an empty stream: %v", err)
	}
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(frames(f, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{{Digest: "sha256:aa", Name: "x"}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = buildrecord.DecodeStatus(bytes.NewReader(data), func(*parse.SolveStatus) {})
	})
}
