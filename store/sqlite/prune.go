package sqlite

import (
	"context"
	"time"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

// Inventory lists every build's identity and row counts. See
// store.Reader.Inventory.
func (s *Store) Inventory(ctx context.Context) ([]store.InventoryItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, b.content_hash, p.name, br.name, b.started_at, b.status,
		b.steps_total, (SELECT COUNT(*) FROM vertices v WHERE v.build_id = b.id),
		(SELECT COUNT(*) FROM transfers t WHERE t.build_id = b.id),
		(SELECT COUNT(*) FROM vertex_output o WHERE o.build_id = b.id), b.logs_kept,
		EXISTS (SELECT 1 FROM build_inputs i WHERE i.build_id = b.id),
		(SELECT COUNT(*) FROM break_causes c WHERE c.build_id = b.id)
		FROM builds b JOIN projects p ON p.id = b.project_id JOIN branches br ON br.id = b.branch_id
		ORDER BY b.content_hash`)
	if err != nil {
		return nil, s.wrap("inventory", err)
	}
	defer rows.Close()
	out := []store.InventoryItem{}
	for rows.Next() {
		var it store.InventoryItem
		var started int64
		if err := rows.Scan(&it.ID, &it.ContentHash, &it.Project, &it.Branch, &started, &it.Status, &it.StepsTotal,
			&it.Vertices, &it.Transfers, &it.Outputs, &it.LogsKept, &it.Inputs, &it.Causes); err != nil {
			return nil, s.wrap("inventory", err)
		}
		it.StartedAt = time.UnixMilli(started).UTC()
		out = append(out, it)
	}
	return out, s.wrap("inventory", rows.Err())
}

// Prune deletes the builds that started before olderThan. See
// store.Store.Prune.
func (s *Store) Prune(ctx context.Context, olderThan time.Time, dryRun bool) (store.PruneResult, error) {
	res := store.PruneResult{OlderThan: olderThan.UTC(), DryRun: dryRun, Projects: []store.ProjectPrune{}}
	cutoff := olderThan.UnixMilli()
	if dryRun {
		// Counted outside a write transaction: a dry run needs no write
		// lock and works read-only. A real run counts again inside its own.
		err := pruneCount(ctx, s.db, cutoff, &res)
		return res, s.wrap("prune (dry run)", err)
	}
	if s.readOnly {
		return res, s.wrap("prune", errReadOnly)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the DSN): waits for other writers
	if err != nil {
		return res, s.wrap("prune", err)
	}
	defer tx.Rollback()
	err = pruneCount(ctx, tx, cutoff, &res)
	if err == nil && res.Builds > 0 {
		if res.ContextNodes, err = pruneDelete(ctx, tx, cutoff); err == nil {
			err = tx.Commit()
		}
	}
	if err != nil {
		res = store.PruneResult{OlderThan: olderThan.UTC(), Projects: []store.ProjectPrune{}}
	}
	return res, s.wrap("prune", err)
}

// pruneCount fills res with what deleting the builds that started before
// cutoff removes.
func pruneCount(ctx context.Context, q queryer, cutoff int64, res *store.PruneResult) error {
	rows, err := q.QueryContext(ctx, `SELECT p.name, SUM(b.started_at < ?1),
		SUM(CASE WHEN b.started_at < ?1 THEN (SELECT COUNT(*) FROM vertices v WHERE v.build_id = b.id) ELSE 0 END),
		SUM(b.started_at >= ?1)
		FROM builds b JOIN projects p ON p.id = b.project_id GROUP BY p.name HAVING SUM(b.started_at < ?1) > 0
		ORDER BY p.name`, cutoff)
	if err != nil {
		return err
	}
	for rows.Next() {
		var pp store.ProjectPrune
		if err := rows.Scan(&pp.Project, &pp.Builds, &pp.Vertices, &pp.Kept); err != nil {
			rows.Close()
			return err
		}
		res.Projects = append(res.Projects, pp)
		res.Builds += pp.Builds
		res.Vertices += pp.Vertices
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if res.Builds == 0 {
		return nil
	}
	// A step identity stays if a remaining build has it: the rollup of
	// the days after the cutoff's says which do, and the vertices of the
	// cutoff's own day after the cutoff.
	day := cutoff / analysis.MsPerDay
	return q.QueryRowContext(ctx, `SELECT COUNT(*) FROM steps WHERE id NOT IN (SELECT step_id FROM step_days WHERE day > ?)
		AND id NOT IN (SELECT v.step_id FROM builds b JOIN vertices v ON v.build_id = b.id
			WHERE b.started_at >= ? AND b.started_at < ?)`, day, cutoff, (day+1)*analysis.MsPerDay).Scan(&res.Steps)
}

// pruneDelete deletes the builds that started before cutoff and what hangs
// off them. The rollup rows of the days (weeks) before the cutoff's go
// whole (all their builds go); the cutoff's own day (week) is recomputed
// from the builds that stay.
//
// It returns how many context nodes no remaining build has were swept.
func pruneDelete(ctx context.Context, q queryer, cutoff int64) (int, error) {
	day := cutoff / analysis.MsPerDay
	dayLo, dayHi := day*analysis.MsPerDay, (day+1)*analysis.MsPerDay
	week := analysis.WeekOf(day)
	weekLo, weekHi := week*analysis.MsPerDay, (week+7)*analysis.MsPerDay
	stmts := []struct {
		sql  string
		args []any
	}{
		// New builds are numbered above every deleted one, and every
		// process drops the ids it cached.
		{`UPDATE buildstats_schema SET pruned = pruned + 1,
			build_id_floor = max(build_id_floor, (SELECT COALESCE(MAX(id), 0) FROM builds WHERE started_at < ?))`, []any{cutoff}},
		{`DELETE FROM vertices WHERE build_id IN (SELECT id FROM builds WHERE started_at < ?)`, []any{cutoff}},
		{`DELETE FROM transfers WHERE build_id IN (SELECT id FROM builds WHERE started_at < ?)`, []any{cutoff}},
		{`DELETE FROM vertex_output WHERE build_id IN (SELECT id FROM builds WHERE started_at < ?)`, []any{cutoff}},
		{`DELETE FROM build_inputs WHERE build_id IN (SELECT id FROM builds WHERE started_at < ?)`, []any{cutoff}},
		{`DELETE FROM break_causes WHERE build_id IN (SELECT id FROM builds WHERE started_at < ?)`, []any{cutoff}},
		{`DELETE FROM build_logs WHERE build_id IN (SELECT id FROM builds WHERE started_at < ?)`, []any{cutoff}},
		{`DELETE FROM builds WHERE started_at < ?`, []any{cutoff}},
		{`DELETE FROM step_days WHERE day <= ?`, []any{day}},
		{`DELETE FROM step_branch_days WHERE day <= ?`, []any{day}},
		{`INSERT INTO step_days (step_id, day, builds, hits, runs)
			SELECT v.step_id, ?, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
			FROM builds b JOIN vertices v ON v.build_id = b.id WHERE b.started_at >= ? AND b.started_at < ?
			GROUP BY v.step_id`, []any{day, dayLo, dayHi}},
		{`INSERT INTO step_branch_days (branch_id, step_id, day, builds, hits, runs)
			SELECT b.branch_id, v.step_id, ?, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
			FROM builds b JOIN vertices v ON v.build_id = b.id WHERE b.started_at >= ? AND b.started_at < ?
			GROUP BY b.branch_id, v.step_id`, []any{day, dayLo, dayHi}},
		// The same for weeks: the cutoff's week is recomputed.
		{`DELETE FROM step_weeks WHERE week <= ?`, []any{week}},
		{`DELETE FROM step_branch_weeks WHERE week <= ?`, []any{week}},
		{`INSERT INTO step_weeks (step_id, week, builds, hits, runs)
			SELECT v.step_id, ?, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
			FROM builds b JOIN vertices v ON v.build_id = b.id WHERE b.started_at >= ? AND b.started_at < ?
			GROUP BY v.step_id`, []any{week, weekLo, weekHi}},
		{`INSERT INTO step_branch_weeks (branch_id, step_id, week, builds, hits, runs)
			SELECT b.branch_id, v.step_id, ?, COUNT(*), SUM(v.cached), COALESCE(group_concat(v.run_ms, ','), '')
			FROM builds b JOIN vertices v ON v.build_id = b.id WHERE b.started_at >= ? AND b.started_at < ?
			GROUP BY b.branch_id, v.step_id`, []any{week, weekLo, weekHi}},
		// Every vertex is in step_days, so a step without rows there has
		// no vertices left.
		{`DELETE FROM steps WHERE id NOT IN (SELECT step_id FROM step_days)`, nil},
		{`DELETE FROM projects WHERE id NOT IN (SELECT project_id FROM builds) AND id NOT IN (SELECT project_id FROM steps)`, nil},
		{`DELETE FROM branches WHERE id NOT IN (SELECT branch_id FROM builds)`, nil},
	}
	for _, st := range stmts {
		if _, err := q.ExecContext(ctx, st.sql, st.args...); err != nil {
			return 0, err
		}
	}
	return sweepInputs(ctx, q)
}
