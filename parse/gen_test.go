package parse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The generators below write deterministic synthetic logs that follow the
// real formats closely enough to exercise every path a real log takes: tty
// redraw frames with cursor movement and CRLF, rawjson SolveStatus lines with
// vertex re-sends, statuses and base64 log chunks, legacy steps with
// intermediate containers. They stream, so tests can feed the parser more
// bytes than they hold. Sizes are approximate: a generator stops after the
// vertex that crosses the target size.

// srcFile names the source file of the i-th compile line: one in fifty is
// an error_N.c, whose name the error-line scan takes for an error, as it
// takes real compile logs' error.c and -Werror.
func srcFile(i int) string {
	if i%50 == 0 {
		return "error"
	}
	return "file"
}

// genReader turns a fill function (which appends the next chunk to buf and
// reports whether more follows) into an io.Reader.
type genReader struct {
	buf  bytes.Buffer
	fill func(buf *bytes.Buffer) bool
	done bool
}

func (g *genReader) Read(p []byte) (int, error) {
	for g.buf.Len() == 0 {
		if g.done {
			return 0, io.EOF
		}
		g.done = !g.fill(&g.buf)
	}
	return g.buf.Read(p)
}

func readAllGen(r io.Reader, size int64) []byte {
	var out bytes.Buffer
	out.Grow(int(size + size/20))
	if _, err := io.Copy(&out, r); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// ttyLogGen writes a BuildKit tty capture: every frame restates the header
// and the last few vertices, with an output window under the running one,
// and the next frame moves the cursor up over it, as `script` records a
// terminal. Lines end in CRLF.
func ttyLogGen(size int64, vertices int) io.Reader {
	perVertex := max(size/int64(vertices), 1)
	var written int64
	vertex, frame := 0, 0
	const window = 6
	return &genReader{fill: func(buf *bytes.Buffer) bool {
		start := buf.Len()
		frame++
		elapsed := float64(frame) / 10
		status := ""
		if vertex >= vertices {
			status = " FINISHED"
		}
		fmt.Fprintf(buf, "\x1b[?25l[+] Building %.1fs (%d/%d)%s                                   docker:default\r\n", elapsed, min(vertex, vertices), vertices, status)
		lines := 1
		first := max(0, vertex-window)
		for i := first; i <= vertex && i < vertices; i++ {
			n := i + 1
			timer := fmt.Sprintf("%.1fs", float64(n%97)/10)
			name := fmt.Sprintf("[builder %d/%d] RUN make -C src/module_%d all CFLAGS=-O2", n, vertices, n)
			if n%7 == 0 {
				name = fmt.Sprintf("[internal] load metadata for registry.example.com/team/base-image-%d:latest", n)
			}
			prefix := ""
			if n%5 == 0 && i < vertex {
				prefix = "CACHED "
			}
			if i < vertex {
				// Finished vertices are blue; the colour is reset at the
				// start of the next line, as BuildKit writes it.
				fmt.Fprintf(buf, "\x1b[34m => %s%-90.90s %6s\r\n\x1b[0m", prefix, name, timer)
				lines++
				continue
			}
			fmt.Fprintf(buf, " => %-90.90s %6s\r\n", name, timer)
			fmt.Fprintf(buf, " => => sha256:%064x 12.34MB / 29.13MB  1.2s\r\n", n)
			lines += 2
			// The output window scrolls: two new lines at the bottom
			// each frame, the rest redrawn.
			for k := range window {
				m := frame*2 + k
				fmt.Fprintf(buf, " => => # gcc -O2 -c src/module_%d/%s_%d.c -o build/module_%d/%s_%d.o -Wall\r\n", n, srcFile(m), m, n, srcFile(m), m)
				lines++
			}
		}
		if vertex >= vertices {
			return false
		}
		// BuildKit moves up one line at a time ("\x1b[1A" per line drawn),
		// then to the first column, before it redraws.
		buf.WriteString("\x1b[?25h")
		for range lines {
			buf.WriteString("\x1b[1A")
		}
		buf.WriteString("\x1b[0G")
		written += int64(buf.Len() - start)
		if written >= int64(vertex+1)*perVertex {
			vertex++
		}
		return true
	}}
}

// rawjsonLogGen writes --progress=rawjson as buildx does, each line a
// SolveStatus encoded by encoding/json (so names carry its escapes: \" and
// \u003e): each vertex is sent when it starts and re-sent with every
// status change, its output comes as base64 log chunks split mid-line,
// transfers as statuses, and it is re-sent once more when it completes.
// Timestamps have nanoseconds, as BuildKit's do.
func rawjsonLogGen(size int64, vertices int) io.Reader {
	perVertex := max(size/int64(vertices), 1)
	var written int64
	base := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	vertex, line := 0, 0
	var chunk []byte
	return &genReader{fill: func(buf *bytes.Buffer) bool {
		if vertex >= vertices {
			return false
		}
		enc := json.NewEncoder(buf)
		start := buf.Len()
		n := vertex + 1
		digest := fmt.Sprintf("sha256:%064x", n)
		started := base.Add(time.Duration(n)*time.Second + time.Duration(n*7919)%time.Millisecond)
		name := fmt.Sprintf("[builder %d/%d] RUN make -C src/module_%d all", n, vertices, n)
		if n%3 == 0 {
			name = fmt.Sprintf(`[builder %d/%d] RUN ["/bin/sh","-c","make -C src/module_%d all > build.log 2>&1 && echo ok"]`, n, vertices, n)
		}
		now := started.Add(time.Duration(line)*time.Millisecond + time.Duration(line*104729)%time.Millisecond)
		vtx := &StatusVertex{Digest: digest, Inputs: []string{fmt.Sprintf("sha256:%064x", max(n-1, 1))}, Name: name, Started: &started}
		var st SolveStatus
		switch {
		case line == 0:
			st.Vertexes = []*StatusVertex{vtx}
		case line%50 == 0:
			st.Statuses = []*VertexStatus{{ID: fmt.Sprintf("sha256:%064x", n), Vertex: digest, Name: "downloading", Total: 29130000, Current: int64(min(line*1000, 29130000)), Timestamp: now, Started: &started}}
		case line%97 == 0:
			// BuildKit re-sends the whole vertex when anything about it changes.
			st.Vertexes = []*StatusVertex{vtx}
		default:
			chunk = chunk[:0]
			for k := range 3 {
				m := line*3 + k
				chunk = fmt.Appendf(chunk, "gcc -O2 -c src/module_%d/%s_%d.c -o build/module_%d/%s_%d.o -Wall\n", n, srcFile(m), m, n, srcFile(m), m)
			}
			chunk = append(chunk, "partial line "...) // finished by the next chunk
			st.Logs = []*VertexLog{{Vertex: digest, Stream: 1, Data: chunk, Timestamp: now}}
		}
		if err := enc.Encode(&st); err != nil {
			panic(err)
		}
		line++
		written += int64(buf.Len() - start)
		if written >= int64(vertex+1)*perVertex {
			end := now.Add(time.Millisecond)
			vtx.Completed = &end
			if err := enc.Encode(&SolveStatus{Vertexes: []*StatusVertex{vtx}}); err != nil {
				panic(err)
			}
			vertex++
			line = 0
		}
		return true
	}}
}

// legacyLogGen writes the legacy builder's output: steps with intermediate
// containers, cached steps and raw output lines.
func legacyLogGen(size int64, steps int) io.Reader {
	perStep := max(size/int64(steps), 1)
	var written int64
	step, line := 0, 0
	first := true
	return &genReader{fill: func(buf *bytes.Buffer) bool {
		start := buf.Len()
		if first {
			buf.WriteString("Sending build context to Docker daemon  1.985MB\r\r\n")
			first = false
		}
		if step >= steps {
			fmt.Fprintf(buf, "Successfully built %012x\nSuccessfully tagged app:latest\n", steps)
			return false
		}
		n := step + 1
		if line == 0 {
			fmt.Fprintf(buf, "Step %d/%d : RUN make -C src/module_%d all\n", n, steps, n)
			if n%5 == 0 {
				fmt.Fprintf(buf, " ---> Using cache\n ---> %012x\n", n)
				step++
				return true
			}
			fmt.Fprintf(buf, " ---> Running in %012x\n", n*7919)
		}
		line++
		fmt.Fprintf(buf, "gcc -O2 -c src/module_%d/%s_%d.c -o build/module_%d/%s_%d.o -Wall -Wextra\n", n, srcFile(line), line, n, srcFile(line), line)
		written += int64(buf.Len() - start)
		if written >= int64(step+1)*perStep {
			fmt.Fprintf(buf, "Removing intermediate container %012x\n ---> %012x\n", n*7919, n)
			step++
			line = 0
		}
		return true
	}}
}

// genLog streams the generated log of one format, size bytes with the given
// number of vertices.
func genLog(format string, size int64, vertices int) io.Reader {
	switch format {
	case "plain":
		return newPlainLogGen(size, vertices)
	case "tty":
		return ttyLogGen(size, vertices)
	case "rawjson":
		return rawjsonLogGen(size, vertices)
	case "legacy":
		return legacyLogGen(size, vertices)
	}
	panic("no generator for " + format)
}

// TestWriteGeneratedLogs writes each format's generated log to files, for
// measuring the whole program on them:
//
//	BUILDSTATS_GEN_DIR=/tmp/logs BUILDSTATS_GEN_MB=200 go test ./parse -run TestWriteGeneratedLogs
//
// writes /tmp/logs/{plain,tty,rawjson,legacy}-200mb.log (500 vertices each).
func TestWriteGeneratedLogs(t *testing.T) {
	dir := os.Getenv("BUILDSTATS_GEN_DIR")
	if dir == "" {
		t.Skip("set BUILDSTATS_GEN_DIR (and BUILDSTATS_GEN_MB, default 200) to write the generated logs")
	}
	mb := 200
	if s := os.Getenv("BUILDSTATS_GEN_MB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("BUILDSTATS_GEN_MB=%q: want a positive number", s)
		}
		mb = n
	}
	for _, format := range []string{"plain", "tty", "rawjson", "legacy"} {
		path := filepath.Join(dir, fmt.Sprintf("%s-%dmb.log", format, mb))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		n, err := io.Copy(w, genLog(format, int64(mb)<<20, 500))
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d MB", path, n>>20)
	}
}
