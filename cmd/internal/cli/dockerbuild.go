package cli

import (
	"fmt"
	"os"

	"github.com/buildstats/buildstats/collect/buildrecord"
	"github.com/buildstats/buildstats/collect/dockerbuild"
	"github.com/buildstats/buildstats/collect/logfile"
	"github.com/buildstats/buildstats/parse/model"
)

// ReadLogs reads the builds in the file at path ("-" for standard input):
// one for a build log, every build of a .dockerbuild file (docker buildx
// history export). A .dockerbuild build's hash is its history ref's, as
// for a build imported from the daemon, so either way it is stored once.
func (f *Factory) ReadLogs(path, format string) ([]*logfile.Log, error) {
	return f.readLogs(path, format, true)
}

// readLogs is ReadLogs; without hash, a build log's Hash is empty (a
// .dockerbuild build's is its ref's, which costs nothing).
func (f *Factory) readLogs(path, format string, hash bool) ([]*logfile.Log, error) {
	if path == logfile.Stdin || format != "" || !dockerbuild.Detect(path) {
		l, err := f.readLog(path, format, hash)
		if err != nil {
			return nil, err
		}
		return []*logfile.Log{l}, nil
	}
	bs, err := dockerbuild.ReadFile(path)
	if err != nil {
		return nil, UsageError(fmt.Errorf("%s: %w", path, err))
	}
	var mod os.FileInfo
	mod, _ = os.Stat(path)
	var out []*logfile.Log
	for _, b := range bs {
		// Masked as logs are before anything shows, publishes or stores it.
		f.Redactor().Build(b.Build)
		l := &logfile.Log{Build: b.Build, Builds: []*model.Build{b.Build}, Name: path, Hash: buildrecord.ContentHash(b.Ref)}
		if len(bs) > 1 {
			l.Name = path + "#" + b.Ref
		}
		if mod != nil {
			l.ModTime = mod.ModTime()
		}
		out = append(out, l)
	}
	return out, nil
}
