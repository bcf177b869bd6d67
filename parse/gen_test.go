package parse

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"time"
)

// The generators below write deterministic synthetic logs that follow the
// real formats closely enough to exercise every path a real log takes: tty
// redraw frames with cursor movement and CRLF, rawjson SolveStatus lines with
// vertex re-sends, statuses and base64 log chunks, legacy steps with
// intermediate containers. They stream, so tests can feed the parser more
// bytes than they hold. Sizes are approximate: a generator stops after the
// vertex that crosses the target size.

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
			fmt.Fprintf(buf, "\x1b[34m => %s%-90.90s %6s\r\n\x1b[0m", prefix, name, timer)
			lines++
			if i == vertex {
				fmt.Fprintf(buf, " => => sha256:%064x 12.34MB / 29.13MB  1.2s\r\n", n)
				lines++
				for k := range window {
					fmt.Fprintf(buf, " => => # gcc -O2 -c src/module_%d/file_%d.c -o build/module_%d/file_%d.o -Wall\r\n", n, frame*window+k, n, k)
					lines++
				}
			}
		}
		if vertex >= vertices {
			return false
		}
		fmt.Fprintf(buf, "\x1b[?25h\x1b[%dA\x1b[0G", lines)
		written += int64(buf.Len() - start)
		if written >= int64(vertex+1)*perVertex {
			vertex++
		}
		return true
	}}
}

// rawjsonLogGen writes --progress=rawjson: each vertex is sent when it
// starts and re-sent with every status change, its output comes as base64
// log chunks split mid-line, transfers as statuses, and it is re-sent once
// more when it completes.
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
		start := buf.Len()
		n := vertex + 1
		digest := fmt.Sprintf("sha256:%064x", n)
		started := base.Add(time.Duration(n) * time.Second)
		name := fmt.Sprintf("[builder %d/%d] RUN make -C src/module_%d all", n, vertices, n)
		now := started.Add(time.Duration(line) * time.Millisecond)
		switch {
		case line == 0:
			fmt.Fprintf(buf, `{"vertexes":[{"digest":%q,"inputs":["sha256:%064x"],"name":%q,"started":%q}]}`+"\n", digest, max(n-1, 1), name, started.Format(time.RFC3339Nano))
		case line%50 == 0:
			fmt.Fprintf(buf, `{"statuses":[{"id":"sha256:%064x","vertex":%q,"name":"downloading","total":29130000,"current":%d,"timestamp":%q,"started":%q}]}`+"\n", n, digest, min(line*1000, 29130000), now.Format(time.RFC3339Nano), started.Format(time.RFC3339Nano))
		case line%97 == 0:
			// BuildKit re-sends the whole vertex when anything about it changes.
			fmt.Fprintf(buf, `{"vertexes":[{"digest":%q,"inputs":["sha256:%064x"],"name":%q,"started":%q}]}`+"\n", digest, max(n-1, 1), name, started.Format(time.RFC3339Nano))
		default:
			chunk = chunk[:0]
			for k := range 3 {
				chunk = fmt.Appendf(chunk, "gcc -O2 -c src/module_%d/file_%d.c -o build/module_%d/file_%d.o -Wall\n", n, line*3+k, n, line*3+k)
			}
			chunk = append(chunk, "partial line "...) // finished by the next chunk
			fmt.Fprintf(buf, `{"logs":[{"vertex":%q,"stream":1,"data":%q,"timestamp":%q}]}`+"\n", digest, base64.StdEncoding.EncodeToString(chunk), now.Format(time.RFC3339Nano))
		}
		line++
		written += int64(buf.Len() - start)
		if written >= int64(vertex+1)*perVertex {
			end := started.Add(time.Duration(line) * time.Millisecond)
			fmt.Fprintf(buf, `{"vertexes":[{"digest":%q,"inputs":["sha256:%064x"],"name":%q,"started":%q,"completed":%q}]}`+"\n", digest, max(n-1, 1), name, started.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
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
		fmt.Fprintf(buf, "gcc -O2 -c src/module_%d/file_%d.c -o build/module_%d/file_%d.o -Wall -Wextra\n", n, line, n, line)
		written += int64(buf.Len() - start)
		if written >= int64(step+1)*perStep {
			fmt.Fprintf(buf, "Removing intermediate container %012x\n ---> %012x\n", n*7919, n)
			step++
			line = 0
		}
		return true
	}}
}
