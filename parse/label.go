package parse

import (
	"strconv"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
)

// dockerfileInstructions are the instructions a vertex name can start with.
var dockerfileInstructions = map[string]bool{
	"FROM": true, "RUN": true, "COPY": true, "ADD": true, "WORKDIR": true, "ENV": true,
	"ARG": true, "LABEL": true, "USER": true, "EXPOSE": true, "VOLUME": true, "CMD": true,
	"ENTRYPOINT": true, "SHELL": true, "STOPSIGNAL": true, "HEALTHCHECK": true,
	"ONBUILD": true, "MAINTAINER": true,
}

// ApplyName sets v.Name and derives platform, stage, [n/m] position,
// instruction and arguments from it. Names look like
// "[linux/arm64 builder 2/5] RUN go build", "[stage-0  1/24] FROM x",
// "[ 1/10] COPY . .", "[internal] load build context" or
// "exporting to image".
func ApplyName(v *model.Vertex, name string) {
	v.Name = name
	v.Platform, v.Stage, v.Index, v.Total = "", "", 0, 0
	v.Instruction, v.Args = "", ""
	if !strings.HasPrefix(name, "[") {
		return
	}
	end := strings.IndexByte(name, ']')
	if end < 0 {
		return
	}
	label, rest := name[1:end], strings.TrimSpace(name[end+1:])
	fields := strings.Fields(label)
	if n := len(fields); n > 0 {
		if idx, total, ok := parsePosition(fields[n-1]); ok {
			v.Index, v.Total = idx, total
			fields = fields[:n-1]
		}
	}
	if len(fields) > 0 && isPlatform(fields[0]) {
		v.Platform = fields[0]
		fields = fields[1:]
	}
	if len(fields) > 0 {
		v.Stage = strings.Join(fields, " ")
	}
	if v.Total == 0 {
		return
	}
	instr, args, _ := strings.Cut(rest, " ")
	if instr == "LINK" {
		// COPY --link / ADD --link vertices are printed as "LINK COPY ...".
		instr, args, _ = strings.Cut(strings.TrimSpace(args), " ")
	}
	if up := strings.ToUpper(instr); dockerfileInstructions[up] {
		v.Instruction, v.Args = up, strings.TrimSpace(args)
	}
}

func parsePosition(s string) (int, int, bool) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || i < 0 || n <= 0 {
		return 0, 0, false
	}
	return i, n, true
}

// isPlatform reports whether s looks like os/arch[/variant].
func isPlatform(s string) bool {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	switch parts[0] {
	case "linux", "windows", "darwin", "freebsd", "openbsd", "netbsd", "solaris", "illumos", "plan9", "wasip1", "js", "aix", "android", "ios", "dragonfly":
	default:
		return false
	}
	return parts[1] != ""
}
