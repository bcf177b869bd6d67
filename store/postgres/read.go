package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

const sqlSummary = `SELECT b.id, p.name, br.name, b.commit_sha, b.started_at, b.status, b.duration_ns, b.duration_source,
	b.steps_total, b.steps_cached, b.steps_ran, b.steps_failed, COALESCE(b.context_bytes, -1), b.base_image_bytes,
	b.ci_provider, b.run_url, b.runner, b.dockerfile, b.tags, b.format, b.content_hash,
	b.builder, b.source, b.buildkit_ref
FROM builds b JOIN projects p ON p.id = b.project_id JOIN branches br ON br.id = b.branch_id`

func scanSummary(sc pgx.Row) (store.BuildSummary, error) {
	var r store.BuildSummary
	var started, dur int64
	var ref *string
	err := sc.Scan(&r.ID, &r.Project, &r.Branch, &r.Commit, &started, &r.Status, &dur, &r.DurationSource,
		&r.StepsTotal, &r.StepsCached, &r.StepsRan, &r.StepsFailed, &r.ContextBytes, &r.BaseImageBytes, &r.CIProvider,
		&r.RunURL, &r.Runner, &r.Dockerfile, &r.Tags, &r.Format, &r.ContentHash,
		&r.Builder, &r.Source, &ref)
	if err != nil {
		return r, err
	}
	if ref != nil {
		r.BuildKitRef = *ref
	}
	r.StartedAt = time.UnixMilli(started).UTC()
	r.DurationSeconds = analysis.Seconds(dur)
	return r, nil
}

// filter builds a WHERE clause from optional conditions with numbered
// parameters.
type filter struct {
	conds []string
	args  []any
}

// add appends a condition; each "?" in cond becomes the next $n.
func (f *filter) add(cond string, args ...any) {
	for _, a := range args {
		f.args = append(f.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(f.args)), 1)
	}
	f.conds = append(f.conds, cond)
}

func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// History lists builds newest first. See store.Reader.History.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) ([]store.BuildSummary, error) {
	f := historyFilter(q)
	query := sqlSummary + f.where() + " ORDER BY b.started_at DESC, b.id DESC"
	if q.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(q.Limit)
	}
	rows, err := s.pool.Query(ctx, query, f.args...)
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
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM builds b`+f.where(), f.args...).Scan(&n)
	return n, s.wrap("count builds", err)
}

// Summary returns one build's history row. See store.Reader.Summary.
func (s *Store) Summary(ctx context.Context, id int64) (store.BuildSummary, error) {
	r, err := scanSummary(s.pool.QueryRow(ctx, sqlSummary+" WHERE b.id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("build %d: %w", id, store.ErrNotFound)
	}
	return r, s.wrap(fmt.Sprintf("build %d", id), err)
}

// Build returns a stored build and its metadata. See store.Reader.Build.
func (s *Store) Build(ctx context.Context, id int64) (*model.Build, store.Meta, error) {
	b, m, err := s.loadBuild(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Meta{}, fmt.Errorf("build %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, store.Meta{}, s.wrap(fmt.Sprintf("build %d", id), err)
	}
	return b, m, nil
}

// loadBuild reads a build back into the model: its row, vertices,
// transfers and output, in one round trip.
func (s *Store) loadBuild(ctx context.Context, id int64) (*model.Build, store.Meta, error) {
	var (
		b                                model.Build
		m                                store.Meta
		buildSource                      *string
		started                          int64
		logDur, logStarted, logCompleted *int64
		format, status                   string
	)
	batch := &pgx.Batch{}
	batch.Queue(`SELECT p.name, br.name, b.commit_sha, b.ci_provider, b.run_url, b.runner,
		b.dockerfile, b.tags, b.source, b.started_at, b.started_source, b.content_hash, b.format, b.status,
		b.log_duration_ns, b.log_started_ns, b.log_completed_ns, b.builder, b.error, b.error_context, b.error_file,
		b.error_line, b.warnings, b.image_id, b.image_names, b.truncated, b.build_source, b.log_index, b.log_builds,
		b.duration_from_timestamps, b.duration_is_lower_bound, b.began_mid_build
		FROM builds b JOIN projects p ON p.id = b.project_id JOIN branches br ON br.id = b.branch_id
		WHERE b.id = $1`, id)
	batch.Queue(`SELECT v.vertex_id, v.digest, v.inputs, v.name, v.name_truncated, v.platform,
		v.stage, v.step_index, v.step_total, v.instruction, COALESCE(v.args, st.args), v.cached, v.canceled,
		v.completed, v.error, v.exit_code, v.duration_ns, v.has_duration, v.started_ns, v.ended_ns, v.warnings,
		v.output_lines, v.layer_bytes, v.duration_is_lower_bound, v.error_lines
		FROM vertices v JOIN steps st ON st.id = v.step_id WHERE v.build_id = $1 ORDER BY v.seq`, id)
	batch.Queue(`SELECT seq, name, bytes, total, duration_ns, done FROM transfers WHERE build_id = $1 ORDER BY seq, pos`, id)
	batch.Queue(`SELECT seq, lines FROM vertex_output WHERE build_id = $1`, id)
	br := s.pool.SendBatch(ctx, batch)
	defer br.Close()
	err := br.QueryRow().Scan(&m.Project, &m.Branch, &m.Commit, &m.CIProvider, &m.RunURL, &m.Runner,
		&m.Dockerfile, &m.Tags, &m.Source, &started, &m.StartedSource, &m.ContentHash, &format, &status,
		&logDur, &logStarted, &logCompleted, &b.Builder, &b.Error, &b.ErrorContext, &b.ErrorFile,
		&b.ErrorLine, &b.Warnings, &b.ImageID, &b.ImageNames, &b.Truncated, &buildSource, &b.LogIndex, &b.LogBuilds,
		&b.DurationFromTimestamps, &b.DurationIsLowerBound, &b.BeganMidBuild)
	if err != nil {
		return nil, m, err
	}
	if buildSource != nil {
		b.Source = *buildSource
	}
	m.Started = time.UnixMilli(started).UTC()
	b.Format, b.Status = model.Format(format), model.Status(status)
	if logDur != nil {
		b.Duration, b.HasDuration = time.Duration(*logDur), true
	}
	b.Started, b.Completed = nullUnix(logStarted), nullUnix(logCompleted)

	rows, err := br.Query()
	if err != nil {
		return nil, m, err
	}
	for rows.Next() {
		v := &model.Vertex{}
		var name *string
		var dur int64
		var vStarted, vEnded, layer *int64
		if err := rows.Scan(&v.ID, &v.Digest, &v.Inputs, &name, &v.NameTruncated, &v.Platform, &v.Stage, &v.Index,
			&v.Total, &v.Instruction, &v.Args, &v.Cached, &v.Canceled, &v.Completed, &v.Error, &v.ExitCode, &dur,
			&v.HasDuration, &vStarted, &vEnded, &v.Warnings, &v.OutputLines, &layer, &v.DurationIsLowerBound, &v.ErrorLines); err != nil {
			rows.Close()
			return nil, m, err
		}
		if name != nil {
			v.Name = *name
		} else {
			v.Name = analysis.CanonicalName(v)
		}
		v.Duration = time.Duration(dur)
		v.Started, v.Ended = nullUnix(vStarted), nullUnix(vEnded)
		if layer != nil {
			v.LayerBytes, v.HasLayerBytes = *layer, true
		}
		b.Vertices = append(b.Vertices, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, m, err
	}

	rows, err = br.Query()
	if err != nil {
		return nil, m, err
	}
	for rows.Next() {
		var seq int
		var t model.Transfer
		var dur int64
		if err := rows.Scan(&seq, &t.Name, &t.Bytes, &t.Total, &dur, &t.Done); err != nil {
			rows.Close()
			return nil, m, err
		}
		t.Duration = time.Duration(dur)
		if seq >= 0 && seq < len(b.Vertices) {
			b.Vertices[seq].Transfers = append(b.Vertices[seq].Transfers, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, m, err
	}

	rows, err = br.Query()
	if err != nil {
		return nil, m, err
	}
	for rows.Next() {
		var seq int
		var lines []string
		if err := rows.Scan(&seq, &lines); err != nil {
			rows.Close()
			return nil, m, err
		}
		if seq >= 0 && seq < len(b.Vertices) {
			b.Vertices[seq].Output = lines
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, m, err
	}
	// The batch's connection goes back to the pool before the inputs take
	// one: holding one while waiting for another deadlocks as many
	// concurrent reads as the pool has connections (a server's requests).
	if err := br.Close(); err != nil {
		return nil, m, err
	}
	if b.Inputs, err = loadInputs(ctx, s.pool, id); err != nil {
		return nil, m, err
	}
	if err := loadLive(ctx, s.pool, id, &m); err != nil {
		return nil, m, err
	}
	return &b, m, nil
}

func nullUnix(ns *int64) time.Time {
	if ns == nil {
		return time.Time{}
	}
	return time.Unix(0, *ns).UTC()
}

// Resolve turns a build reference into an id. See store.Reader.Resolve.
func (s *Store) Resolve(ctx context.Context, ref, project string) (int64, error) {
	ref = strings.TrimSpace(ref)
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil && n > 0 {
		var id int64
		err := s.pool.QueryRow(ctx, `SELECT id FROM builds WHERE id = $1`, n).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
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
		err := s.pool.QueryRow(ctx, `SELECT id FROM builds`+f.where()+
			` ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET `+strconv.Itoa(offset), f.args...).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
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
// (with or without the "sha256:" scheme). content_hash is COLLATE "C", so
// a LIKE prefix is a range scan of its unique index.
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
		rows, err := s.pool.Query(ctx, `SELECT id FROM builds WHERE content_hash LIKE $1 LIMIT 2`, likePrefix(p))
		if err != nil {
			return 0, s.wrap("resolve "+prefix, err)
		}
		var id int64
		if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { ids = append(ids, id); return nil }); err != nil {
			return 0, s.wrap("resolve "+prefix, err)
		}
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

// likePrefix is a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// Inventory lists every build's identity and row counts. See
// store.Reader.Inventory.
func (s *Store) Inventory(ctx context.Context) ([]store.InventoryItem, error) {
	rows, err := s.pool.Query(ctx, `SELECT b.id, b.content_hash, p.name, br.name, b.started_at, b.status, b.steps_total,
		COALESCE(v.n, 0), COALESCE(t.n, 0), COALESCE(o.n, 0), b.logs_kept, i.build_id IS NOT NULL, COALESCE(c.n, 0)
		FROM builds b JOIN projects p ON p.id = b.project_id JOIN branches br ON br.id = b.branch_id
		LEFT JOIN build_inputs i ON i.build_id = b.id
		LEFT JOIN (SELECT build_id, count(*) AS n FROM break_causes GROUP BY build_id) c ON c.build_id = b.id
		LEFT JOIN (SELECT build_id, count(*) AS n FROM vertices GROUP BY build_id) v ON v.build_id = b.id
		LEFT JOIN (SELECT build_id, count(*) AS n FROM transfers GROUP BY build_id) t ON t.build_id = b.id
		LEFT JOIN (SELECT build_id, count(*) AS n FROM vertex_output GROUP BY build_id) o ON o.build_id = b.id
		ORDER BY b.content_hash`)
	if err != nil {
		return nil, s.wrap("inventory", err)
	}
	out := []store.InventoryItem{}
	var it store.InventoryItem
	var started int64
	_, err = pgx.ForEachRow(rows, []any{&it.ID, &it.ContentHash, &it.Project, &it.Branch, &started, &it.Status,
		&it.StepsTotal, &it.Vertices, &it.Transfers, &it.Outputs, &it.LogsKept, &it.Inputs, &it.Causes}, func() error {
		it.StartedAt = time.UnixMilli(started).UTC()
		out = append(out, it)
		return nil
	})
	return out, s.wrap("inventory", err)
}
