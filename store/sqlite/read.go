package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

const sqlSummary = `SELECT b.id, p.name, br.name, b.commit_sha, b.started_at, b.status, b.duration_ns, b.duration_source,
	b.steps_total, b.steps_cached, b.steps_ran, b.steps_failed, b.context_bytes, b.base_image_bytes, b.ci_provider,
	b.run_url, b.runner, b.dockerfile, b.tags, b.format, b.content_hash,
	b.builder, b.source, b.buildkit_ref
FROM builds b JOIN projects p ON p.id = b.project_id JOIN branches br ON br.id = b.branch_id`

func scanSummary(sc interface{ Scan(...any) error }) (store.BuildSummary, error) {
	var r store.BuildSummary
	var started, dur int64
	var ref sql.NullString
	var tags sql.NullString
	err := sc.Scan(&r.ID, &r.Project, &r.Branch, &r.Commit, &started, &r.Status, &dur, &r.DurationSource,
		&r.StepsTotal, &r.StepsCached, &r.StepsRan, &r.StepsFailed, &r.ContextBytes, &r.BaseImageBytes, &r.CIProvider,
		&r.RunURL, &r.Runner, &r.Dockerfile, &tags, &r.Format, &r.ContentHash,
		&r.Builder, &r.Source, &ref)
	if err != nil {
		return r, err
	}
	r.BuildKitRef = ref.String
	r.StartedAt = time.UnixMilli(started).UTC()
	r.DurationSeconds = analysis.Seconds(dur)
	r.Tags = decodeList[string](tags)
	return r, nil
}

// filter builds a WHERE clause from optional conditions.
type filter struct {
	conds []string
	args  []any
}

func (f *filter) add(cond string, args ...any) {
	f.conds = append(f.conds, cond)
	f.args = append(f.args, args...)
}

func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// History lists builds newest first. See Store.History.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) ([]store.BuildSummary, error) {
	f := historyFilter(q)
	query := sqlSummary + f.where() + " ORDER BY b.started_at DESC, b.id DESC"
	if q.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, f.args...)
	if err != nil {
		return nil, s.wrap("history", err)
	}
	defer rows.Close()
	out := []store.BuildSummary{}
	for rows.Next() {
		r, err := scanSummary(rows)
		if err != nil {
			return nil, s.wrap("history", err)
		}
		out = append(out, r)
	}
	return out, s.wrap("history", rows.Err())
}

// historyFilter is the WHERE clause of History and Count.
func historyFilter(q store.HistoryQuery) filter {
	var f filter
	analysis.HistoryConds(q, f.add)
	return f
}

// Count counts the builds History would list, without its limit. See
// store.Counter.
func (s *Store) Count(ctx context.Context, q store.HistoryQuery) (int, error) {
	f := historyFilter(q)
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM builds b`+f.where(), f.args...).Scan(&n)
	return n, s.wrap("count builds", err)
}

// Summary returns one build's history row. See Store.Summary.
func (s *Store) Summary(ctx context.Context, id int64) (store.BuildSummary, error) {
	r, err := scanSummary(s.db.QueryRowContext(ctx, sqlSummary+" WHERE b.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("build %d: %w", id, store.ErrNotFound)
	}
	return r, s.wrap(fmt.Sprintf("build %d", id), err)
}

// Build returns a stored build and its metadata. See Store.Build.
func (s *Store) Build(ctx context.Context, id int64) (*model.Build, store.Meta, error) {
	b, m, err := loadBuild(ctx, s.db, id, SchemaVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Meta{}, fmt.Errorf("build %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, store.Meta{}, s.wrap(fmt.Sprintf("build %d", id), err)
	}
	return b, m, nil
}

// loadBuild reads a build back into the model from a database at schema
// version (at least 1). Migrations call it mid-upgrade, when the columns of
// later versions do not exist yet; the model fields those hold stay zero.
func loadBuild(ctx context.Context, q queryer, id int64, version int) (*model.Build, store.Meta, error) {
	var (
		b                                model.Build
		m                                store.Meta
		tags, errCtx, warns, names       sql.NullString
		buildSource                      sql.NullString
		started                          int64
		logDur, logStarted, logCompleted sql.NullInt64
		format, status                   string
		truncated                        int
		fromStamps, lowerBound, midBuild int
	)
	// Columns of later versions are selected only where they exist; a
	// constant stands in otherwise so the Scan is the same.
	sourceCol, layerCol := "NULL", "NULL"
	if version >= 3 {
		sourceCol, layerCol = "b.build_source", "v.layer_bytes"
	}
	logCols, vertexCols := "0, 0, 0, 0, 0", "0, NULL"
	if version >= 5 {
		logCols = "b.log_index, b.log_builds, b.duration_from_timestamps, b.duration_is_lower_bound, b.began_mid_build"
		vertexCols = "v.duration_is_lower_bound, v.error_lines"
	}
	err := q.QueryRowContext(ctx, `SELECT p.name, br.name, b.commit_sha, b.ci_provider, b.run_url, b.runner,
		b.dockerfile, b.tags, b.source, b.started_at, b.started_source, b.content_hash, b.format, b.status,
		b.log_duration_ns, b.log_started_ns, b.log_completed_ns, b.builder, b.error, b.error_context, b.error_file,
		b.error_line, b.warnings, b.image_id, b.image_names, b.truncated, `+sourceCol+`, `+logCols+`
		FROM builds b JOIN projects p ON p.id = b.project_id JOIN branches br ON br.id = b.branch_id
		WHERE b.id = ?`, id).Scan(&m.Project, &m.Branch, &m.Commit, &m.CIProvider, &m.RunURL, &m.Runner,
		&m.Dockerfile, &tags, &m.Source, &started, &m.StartedSource, &m.ContentHash, &format, &status,
		&logDur, &logStarted, &logCompleted, &b.Builder, &b.Error, &errCtx, &b.ErrorFile,
		&b.ErrorLine, &warns, &b.ImageID, &names, &truncated, &buildSource,
		&b.LogIndex, &b.LogBuilds, &fromStamps, &lowerBound, &midBuild)
	if err != nil {
		return nil, m, err
	}
	b.Source = buildSource.String
	m.Tags = decodeList[string](tags)
	m.Started = time.UnixMilli(started).UTC()
	b.Format, b.Status = model.Format(format), model.Status(status)
	if logDur.Valid {
		b.Duration, b.HasDuration = time.Duration(logDur.Int64), true
	}
	b.Started, b.Completed = nullUnix(logStarted), nullUnix(logCompleted)
	b.ErrorContext = decodeList[string](errCtx)
	b.Warnings = decodeList[model.Warning](warns)
	b.ImageNames = decodeList[string](names)
	b.Truncated = truncated != 0
	b.DurationFromTimestamps, b.DurationIsLowerBound, b.BeganMidBuild = fromStamps != 0, lowerBound != 0, midBuild != 0

	rows, err := q.QueryContext(ctx, `SELECT v.vertex_id, v.digest, v.inputs, v.name, v.name_truncated, v.platform,
		v.stage, v.step_index, v.step_total, v.instruction, COALESCE(v.args, st.args), v.cached, v.canceled,
		v.completed, v.error, v.exit_code, v.duration_ns, v.has_duration, v.started_ns, v.ended_ns, v.warnings,
		v.output_lines, `+layerCol+`, `+vertexCols+`
		FROM vertices v JOIN steps st ON st.id = v.step_id WHERE v.build_id = ? ORDER BY v.seq`, id)
	if err != nil {
		return nil, m, err
	}
	for rows.Next() {
		v := &model.Vertex{}
		var inputs, vwarns, name, errLines sql.NullString
		var nameTrunc, cached, canceled, completed, hasDur, vLowerBound int
		var dur int64
		var vStarted, vEnded, layer sql.NullInt64
		if err := rows.Scan(&v.ID, &v.Digest, &inputs, &name, &nameTrunc, &v.Platform, &v.Stage, &v.Index,
			&v.Total, &v.Instruction, &v.Args, &cached, &canceled, &completed, &v.Error, &v.ExitCode, &dur,
			&hasDur, &vStarted, &vEnded, &vwarns, &v.OutputLines, &layer, &vLowerBound, &errLines); err != nil {
			rows.Close()
			return nil, m, err
		}
		v.Inputs = decodeList[string](inputs)
		v.Name = name.String
		if !name.Valid {
			v.Name = analysis.CanonicalName(v)
		}
		v.NameTruncated, v.Cached, v.Canceled, v.Completed = nameTrunc != 0, cached != 0, canceled != 0, completed != 0
		v.Duration, v.HasDuration = time.Duration(dur), hasDur != 0
		v.Started, v.Ended = nullUnix(vStarted), nullUnix(vEnded)
		v.Warnings = decodeList[string](vwarns)
		v.LayerBytes, v.HasLayerBytes = layer.Int64, layer.Valid
		v.DurationIsLowerBound, v.ErrorLines = vLowerBound != 0, decodeList[string](errLines)
		b.Vertices = append(b.Vertices, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, m, err
	}

	rows, err = q.QueryContext(ctx, `SELECT seq, name, bytes, total, duration_ns, done FROM transfers
		WHERE build_id = ? ORDER BY seq, pos`, id)
	if err != nil {
		return nil, m, err
	}
	for rows.Next() {
		var seq, done int
		var t model.Transfer
		var dur int64
		if err := rows.Scan(&seq, &t.Name, &t.Bytes, &t.Total, &dur, &done); err != nil {
			rows.Close()
			return nil, m, err
		}
		t.Duration, t.Done = time.Duration(dur), done != 0
		if seq >= 0 && seq < len(b.Vertices) {
			b.Vertices[seq].Transfers = append(b.Vertices[seq].Transfers, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, m, err
	}

	rows, err = q.QueryContext(ctx, `SELECT seq, lines FROM vertex_output WHERE build_id = ?`, id)
	if err != nil {
		return nil, m, err
	}
	for rows.Next() {
		var seq int
		var lines sql.NullString
		if err := rows.Scan(&seq, &lines); err != nil {
			rows.Close()
			return nil, m, err
		}
		if seq >= 0 && seq < len(b.Vertices) {
			b.Vertices[seq].Output = decodeList[string](lines)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, m, err
	}
	if version >= 5 {
		if b.Inputs, err = loadInputs(ctx, q, id); err != nil {
			return nil, m, err
		}
	}
	if version >= 7 {
		if err := loadLive(ctx, q, id, &m); err != nil {
			return nil, m, err
		}
	}
	return &b, m, nil
}

// Resolve turns a build reference into an id. See Store.Resolve.
func (s *Store) Resolve(ctx context.Context, ref, project string) (int64, error) {
	ref = strings.TrimSpace(ref)
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil && n > 0 {
		var id int64
		err := s.db.QueryRowContext(ctx, `SELECT id FROM builds WHERE id = ?`, n).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			if len(ref) >= 6 {
				// All-digit hash prefixes exist; ids that long are rare.
				if id, err := s.resolveHash(ctx, ref); err == nil {
					return id, nil
				}
			}
			return 0, fmt.Errorf("build %d: %w", n, store.ErrNotFound)
		}
		return id, s.wrap("resolve "+ref, err)
	}
	offset := -1
	switch lower := strings.ToLower(ref); {
	case lower == "latest" || lower == "last" || lower == "":
		offset = 0
	case lower == "previous" || lower == "prev":
		offset = 1
	case strings.HasPrefix(lower, "latest~"):
		n, err := strconv.Atoi(lower[len("latest~"):])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("resolve %q: want latest~N with N a number", ref)
		}
		offset = n
	}
	if offset >= 0 {
		var f filter
		if project != "" {
			f.add("project_id = (SELECT id FROM projects WHERE name = ?)", project)
		}
		var id int64
		err := s.db.QueryRowContext(ctx, `SELECT id FROM builds`+f.where()+
			` ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET `+strconv.Itoa(offset), f.args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			scope := "the history"
			if project != "" {
				scope = "project " + project
			}
			return 0, fmt.Errorf("%s: %w: %s has %d build(s) or fewer", ref, store.ErrNotFound, scope, offset)
		}
		return id, s.wrap("resolve "+ref, err)
	}
	if id, ok, err := s.resolveBuildKitRef(ctx, ref); ok || err != nil {
		return id, err
	}
	return s.resolveHash(ctx, ref)
}

// resolveHash finds the one build whose content hash starts with prefix
// (with or without the "sha256:" scheme).
func (s *Store) resolveHash(ctx context.Context, prefix string) (int64, error) {
	hexPart := prefix
	if i := strings.LastIndexByte(prefix, ':'); i >= 0 {
		hexPart = prefix[i+1:]
	}
	if len(hexPart) < 4 || strings.Trim(strings.ToLower(hexPart), "0123456789abcdef") != "" {
		return 0, fmt.Errorf("%q is not a build reference: use an id, latest, previous, latest~N or a content hash prefix", prefix)
	}
	var ids []int64
	for _, p := range []string{prefix, "sha256:" + strings.ToLower(hexPart)} {
		// A range scan on the unique index; LIKE would not use it.
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM builds WHERE content_hash >= ? AND content_hash < ? LIMIT 2`,
			p, p+"\xff")
		if err != nil {
			return 0, s.wrap("resolve "+prefix, err)
		}
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) > 0 {
			break
		}
	}
	switch len(ids) {
	case 0:
		return 0, fmt.Errorf("%s: %w", prefix, store.ErrNotFound)
	case 1:
		return ids[0], nil
	}
	return 0, fmt.Errorf("%s: more than one build has a content hash starting with it; use more characters", prefix)
}

func decodeList[T any](s sql.NullString) []T {
	if !s.Valid || s.String == "" {
		return nil
	}
	var out []T
	if json.Unmarshal([]byte(s.String), &out) != nil {
		return nil
	}
	return out
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func nullUnix(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return unixTime(n.Int64)
}
