package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/buildstats/buildstats/collect/buildenv"
	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse"
	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/report/dockerfile"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/backend"
)

// ReadLog reads and parses the build log at path ("-" for standard input)
// in format ("" detects it), and masks secrets in it (see Redactor); of a
// .dockerbuild file, its last build. A missing file or input that is not a
// build log is a usage error.
func (f *Factory) ReadLog(path, format string) (*logfile.Log, error) {
	return f.readLast(path, format, true)
}

// ReadLogUnhashed is ReadLog without the log's hash (Log.Hash is empty),
// for a command that will not look the log up in the history.
func (f *Factory) ReadLogUnhashed(path, format string) (*logfile.Log, error) {
	return f.readLast(path, format, false)
}

func (f *Factory) readLast(path, format string, hash bool) (*logfile.Log, error) {
	logs, err := f.readLogs(path, format, hash)
	if err != nil {
		return nil, err
	}
	return logs[len(logs)-1], nil
}

func (f *Factory) readLog(path, format string, hash bool) (*logfile.Log, error) {
	read := logfile.Read
	if !hash {
		read = logfile.ReadUnhashed
	}
	l, err := read(path, f.IO.In, model.Format(format))
	if err != nil {
		if errors.Is(err, logfile.ErrUnreadable) || errors.Is(err, parse.ErrNotBuildLog) {
			return nil, UsageError(err)
		}
		return nil, err
	}
	// Masked before anything shows, publishes or stores it; the hash is
	// of the bytes as they were, so the log is still recognised.
	for _, b := range l.Builds {
		f.Redactor().Build(b)
	}
	return l, nil
}

// BuildEnv is what buildenv reads: the process environment and, as the
// build's directory, dir (the working directory when "").
func (f *Factory) BuildEnv(dir string) buildenv.Env {
	if dir == "" {
		dir = f.WorkDir
	}
	return buildenv.Env{Getenv: f.Env, Dir: dir}
}

// DetectMeta fills the empty fields of given (the command's flags) from the
// CI's environment, then the git checkout of dir ("" for the working
// directory), then the directory's name for the project. Every command
// files and finds builds this way, so the two agree.
func (f *Factory) DetectMeta(dir string, given store.Meta) store.Meta {
	i := buildenv.Detect(f.BuildEnv(dir), buildenv.Info{Project: given.Project, Branch: given.Branch,
		Commit: given.Commit, CIProvider: given.CIProvider, RunURL: given.RunURL, Runner: given.Runner})
	given.Project, given.Branch, given.Commit = i.Project, i.Branch, i.Commit
	given.CIProvider, given.RunURL, given.Runner = i.CIProvider, i.RunURL, i.Runner
	return given
}

// HistoryTarget is the history a command uses: --db, else $BUILDSTATS_DB,
// else the default place.
func (f *Factory) HistoryTarget(db string) (string, error) {
	if db != "" {
		return db, nil
	}
	p, err := buildenv.DefaultPath(f.Env)
	return p, UsageError(err)
}

// HistoryMayExist reports whether OpenHistory(db) might find a history:
// false only when neither --db nor $BUILDSTATS_DB names one and the
// default file does not exist.
func (f *Factory) HistoryMayExist(db string) bool {
	if db != "" || f.Env("BUILDSTATS_DB") != "" {
		return true
	}
	target, err := f.HistoryTarget("")
	if err != nil {
		return true // OpenHistory reports it
	}
	_, err = os.Stat(target)
	return !errors.Is(err, fs.ErrNotExist)
}

// OpenHistory opens the history --db names (see HistoryTarget) in mode.
// What is wrong with the database itself (missing for a reader, not a
// database, newer, locked, unwritable) is a usage error.
func (f *Factory) OpenHistory(ctx context.Context, db string, mode backend.Mode) (store.Store, error) {
	target, err := f.HistoryTarget(db)
	if err != nil {
		return nil, err
	}
	s, err := backend.Open(ctx, target, mode)
	if err != nil {
		return nil, HistoryError(err)
	}
	return s, nil
}

// HistoryError makes the store's errors about the database as a whole
// usage errors (exit status 2): the command cannot do anything about them.
func HistoryError(err error) error {
	if store.IsDatabaseError(err) {
		return UsageError(err)
	}
	return err
}

// ProjectScope is the project a read command looks at: --project, else
// the current one; "" (every project) with --all-projects. It also says
// whether the project was detected rather than named.
func (f *Factory) ProjectScope(project string, all bool) (string, bool, error) {
	switch {
	case all && project != "":
		return "", false, UsageError(errors.New("--project and --all-projects exclude each other"))
	case all:
		return "", false, nil
	case project != "":
		return project, false, nil
	}
	return f.DetectMeta("", store.Meta{}).Project, true, nil
}

// ScopeHint explains an empty answer for a detected project, which is
// often not the one the builds were stored under.
func ScopeHint(project string, detected bool) string {
	if !detected {
		return ""
	}
	return fmt.Sprintf(" (project %q is the working directory's; use --project NAME or --all-projects)", project)
}

// ResolveBuild turns a build reference ("latest", "previous", an id...)
// into an id, latest and previous being the project's, with a message that
// says where it looked when there is no such build.
func ResolveBuild(ctx context.Context, s store.Reader, ref, project string, detected bool) (int64, error) {
	id, err := s.Resolve(ctx, ref, project)
	if errors.Is(err, store.ErrNotFound) {
		return 0, UsageError(fmt.Errorf("%w%s", err, ScopeHint(project, detected)))
	}
	if err != nil {
		return 0, UsageError(err)
	}
	return id, nil
}

// WriteFile writes a result file whole, or appends to it (a GitHub step
// summary holds every step's). The content is rendered first, so an error
// cannot leave half a report.
func WriteFile(path string, appendTo bool, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	if !appendTo {
		return writeAtomically(path, buf.Bytes())
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := out.Write(buf.Bytes()); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeAtomically replaces path with data: readers see the old file or the
// new one, never half of it.
func writeAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CheckPageOutput refuses to write a page to a terminal unless asked to:
// nobody reads HTML there, and -o is easy to forget.
func (f *Factory) CheckPageOutput(output string) error {
	if output == "" && f.IO.OutIsTerminal {
		return UsageError(errors.New(`write the HTML to a file with -o FILE (or -o - for standard output)`))
	}
	return nil
}

// WritePage writes a page to path, or to standard output for "" or "-",
// and says where it went.
func (f *Factory) WritePage(path string, page []byte, size func(int64) string) error {
	if path == "" || path == "-" {
		_, err := f.IO.Out.Write(page)
		return err
	}
	if err := writeAtomically(path, page); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.Out, "Wrote %s (%s)\n", path, size(int64(len(page))))
	return nil
}

// OneLine keeps text on one line for a stderr message, with control
// characters made visible: log text must not move the terminal's cursor.
func OneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			return '?'
		}
		return r
	}, s)), " ")
}

// ReadDockerfile parses the --dockerfile, restricted to --target, and
// returns its lines. A file that does not parse is not an error here: the
// build may have failed on that very line, and the log's own location of
// it can still be checked against the lines. It is reported on stderr and
// the result has no parsed file.
func (f *Factory) ReadDockerfile(path, target string) (*dockerfile.File, []string, error) {
	if path == "" {
		if target != "" {
			return nil, nil, UsageError(errors.New("--target needs --dockerfile"))
		}
		return nil, nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, UsageError(fmt.Errorf("reading Dockerfile: %s: no such file", path))
		}
		return nil, nil, UsageError(fmt.Errorf("reading Dockerfile: %w", err))
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(data), "\ufeff"), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	df, err := dockerfile.Parse(bytes.NewReader(data), path)
	if err != nil {
		f.Warn("%v; steps get no Dockerfile lines", err)
		return nil, lines, nil
	}
	if target != "" {
		var names []string
		for _, s := range df.Stages() {
			if s.Name != "" {
				names = append(names, s.Name)
			}
		}
		if !slices.Contains(names, strings.ToLower(target)) {
			return nil, nil, UsageError(fmt.Errorf("--target %q: %s has no such stage (stages: %s)", target, path, strings.Join(names, ", ")))
		}
		df = df.WithTarget(target)
	}
	return df, lines, nil
}

// Shorten cuts s to at most n runes, keeping its start and its end: the
// middle of a long name ("[builder 2/5] RUN npm ci … --omit=dev") is what
// a reader can do without.
func Shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 5 {
		return s
	}
	head := (n - 1) * 2 / 3
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// NamesLog reports whether a command's LOG|BUILD argument is a log: "-"
// or an existing file; anything else is a build reference (StoredBuild).
func NamesLog(input string) bool {
	st, err := os.Stat(input)
	return input == logfile.Stdin || err == nil && !st.IsDir()
}

// StoredBuild loads the build input names from the history, for a command
// that takes a LOG or a BUILD (input names no file): masked, with the open
// history, which the caller closes. A reference that matches nothing says
// that input is neither a file nor a stored build.
func (f *Factory) StoredBuild(ctx context.Context, db, input, projectFlag string, allProjects bool) (*model.Build, store.Meta, int64, store.Reader, error) {
	project, detected, err := f.ProjectScope(projectFlag, allProjects)
	if err != nil {
		return nil, store.Meta{}, 0, nil, err
	}
	s, err := f.OpenHistory(ctx, db, backend.Read)
	if errors.Is(err, store.ErrNoHistory) {
		return nil, store.Meta{}, 0, nil, UsageError(fmt.Errorf("%s: no such file, and %w", input, err))
	}
	if err != nil {
		return nil, store.Meta{}, 0, nil, err
	}
	id, err := s.Resolve(ctx, input, project)
	if err != nil {
		s.Close()
		target, _ := f.HistoryTarget(db)
		hint := ""
		if errors.Is(err, store.ErrNotFound) {
			hint = ScopeHint(project, detected)
		}
		return nil, store.Meta{}, 0, nil, UsageError(fmt.Errorf("%s: no such file, and no build in %s matches it (%v)%s",
			input, backend.Describe(target), err, hint))
	}
	b, meta, err := s.Build(ctx, id)
	if err != nil {
		s.Close()
		return nil, store.Meta{}, 0, nil, HistoryError(err)
	}
	f.Redactor().Build(b) // stored before masking, or with --no-mask
	return b, meta, id, s, nil
}
