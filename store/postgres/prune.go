package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

// Prune deletes the builds that started before olderThan. See
// store.Store.Prune.
func (s *Store) Prune(ctx context.Context, olderThan time.Time, dryRun bool) (store.PruneResult, error) {
	empty := store.PruneResult{OlderThan: olderThan.UTC(), DryRun: dryRun, Projects: []store.ProjectPrune{}}
	res := empty
	cutoff := olderThan.UnixMilli()
	if dryRun {
		err := pruneCount(ctx, s.pool, cutoff, &res)
		if err != nil {
			return empty, s.wrap("prune (dry run)", err)
		}
		return res, nil
	}
	if s.readOnly {
		return empty, s.wrap("prune", errReadOnly)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Exclusive: no ingest is between learning an identity's id and
		// committing a vertex that uses it.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pruneLock); err != nil {
			return err
		}
		res = empty
		if err := pruneCount(ctx, tx, cutoff, &res); err != nil || res.Builds == 0 {
			return err
		}
		var err error
		res.ContextNodes, err = pruneDelete(ctx, tx, cutoff)
		return err
	})
	if err != nil {
		return empty, s.wrap("prune", err)
	}
	return res, nil
}

// pruneCount fills res with what deleting the builds that started before
// cutoff removes.
func pruneCount(ctx context.Context, q querier, cutoff int64, res *store.PruneResult) error {
	rows, err := q.Query(ctx, `SELECT p.name, count(*) FILTER (WHERE b.started_at < $1),
		COALESCE(sum(v.n) FILTER (WHERE b.started_at < $1), 0), count(*) FILTER (WHERE b.started_at >= $1)
		FROM builds b JOIN projects p ON p.id = b.project_id
		LEFT JOIN LATERAL (SELECT count(*) AS n FROM vertices v WHERE v.build_id = b.id AND b.started_at < $1) v ON true
		GROUP BY p.name HAVING count(*) FILTER (WHERE b.started_at < $1) > 0`, cutoff)
	if err != nil {
		return err
	}
	var pp store.ProjectPrune
	_, err = pgx.ForEachRow(rows, []any{&pp.Project, &pp.Builds, &pp.Vertices, &pp.Kept}, func() error {
		res.Projects = append(res.Projects, pp)
		res.Builds += pp.Builds
		res.Vertices += pp.Vertices
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(res.Projects, func(a, b store.ProjectPrune) int { return strings.Compare(a.Project, b.Project) })
	if res.Builds == 0 {
		return nil
	}
	// A step identity stays if a remaining build has it: the rollup of
	// the days after the cutoff's says which do, and the vertices of the
	// cutoff's own day after the cutoff.
	day := cutoff / analysis.MsPerDay
	return q.QueryRow(ctx, `SELECT count(*) FROM steps s
		WHERE NOT EXISTS (SELECT 1 FROM step_days d WHERE d.step_id = s.id AND d.day > $1)
		AND NOT EXISTS (SELECT 1 FROM builds b JOIN vertices v ON v.build_id = b.id
			WHERE v.step_id = s.id AND b.started_at >= $2 AND b.started_at < $3)`,
		day, cutoff, (day+1)*analysis.MsPerDay).Scan(&res.Steps)
}

// pruneDelete deletes the builds that started before cutoff and what hangs
// off them. The rollup rows of the days (weeks) before the cutoff's go
// whole (all their builds go); the cutoff's own day (week) is recomputed
// from the builds that stay. It returns how many context nodes no
// remaining build has were swept.
func pruneDelete(ctx context.Context, tx pgx.Tx, cutoff int64) (int, error) {
	day := cutoff / analysis.MsPerDay
	dayLo, dayHi := day*analysis.MsPerDay, (day+1)*analysis.MsPerDay
	week := analysis.WeekOf(day)
	weekLo, weekHi := week*analysis.MsPerDay, (week+7)*analysis.MsPerDay
	stmts := []struct {
		sql  string
		args []any
	}{
		// Every process drops the ids it cached. Identity columns never
		// hand out a deleted id again.
		{`UPDATE buildstats_schema SET pruned = pruned + 1`, nil},
		{`CREATE TEMP TABLE pruned_builds ON COMMIT DROP AS SELECT id FROM builds WHERE started_at < $1`, []any{cutoff}},
		{`DELETE FROM vertices WHERE build_id IN (SELECT id FROM pruned_builds)`, nil},
		{`DELETE FROM transfers WHERE build_id IN (SELECT id FROM pruned_builds)`, nil},
		{`DELETE FROM vertex_output WHERE build_id IN (SELECT id FROM pruned_builds)`, nil},
		{`DELETE FROM builds WHERE id IN (SELECT id FROM pruned_builds)`, nil},
		{`DELETE FROM rollup_days WHERE day <= $1`, []any{day}},
		{`DELETE FROM rollup_branch_days WHERE day <= $1`, []any{day}},
		{rollupRecompute("rollup_days", "day", false), []any{day, dayLo, dayHi}},
		{rollupRecompute("rollup_branch_days", "day", true), []any{day, dayLo, dayHi}},
		// The same for weeks: the cutoff's week is recomputed.
		{`DELETE FROM rollup_weeks WHERE week <= $1`, []any{week}},
		{`DELETE FROM rollup_branch_weeks WHERE week <= $1`, []any{week}},
		{rollupRecompute("rollup_weeks", "week", false), []any{week, weekLo, weekHi}},
		{rollupRecompute("rollup_branch_weeks", "week", true), []any{week, weekLo, weekHi}},
		// Every vertex is in step_days, so a step without rows there has
		// no vertices left.
		{`DELETE FROM steps s WHERE NOT EXISTS (SELECT 1 FROM step_days d WHERE d.step_id = s.id)`, nil},
		{`DELETE FROM projects p WHERE NOT EXISTS (SELECT 1 FROM builds b WHERE b.project_id = p.id)
			AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.project_id = p.id)`, nil},
		{`DELETE FROM branches br WHERE NOT EXISTS (SELECT 1 FROM builds b WHERE b.branch_id = br.id)`, nil},
	}
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return 0, fmt.Errorf("%.40s…: %w", strings.Join(strings.Fields(st.sql), " "), err)
		}
	}
	return sweepInputs(ctx, tx)
}

// CheckIntegrity checks what the database does not enforce: that every
// vertex, transfer, output and rollup row belongs to a build and a step
// identity that exist, and that the daily rollups hold exactly what the
// vertices say. It reads every vertex: a tool for tests and maintenance.
func (s *Store) CheckIntegrity(ctx context.Context) error {
	for _, c := range []struct{ what, sql string }{
		{"vertices without a build", `SELECT count(*) FROM vertices v WHERE NOT EXISTS (SELECT 1 FROM builds b WHERE b.id = v.build_id)`},
		{"vertices without a step identity", `SELECT count(*) FROM vertices v WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.id = v.step_id)`},
		{"transfers without a vertex", `SELECT count(*) FROM transfers t WHERE NOT EXISTS (SELECT 1 FROM vertices v WHERE v.build_id = t.build_id AND v.seq = t.seq)`},
		{"outputs without a vertex", `SELECT count(*) FROM vertex_output o WHERE NOT EXISTS (SELECT 1 FROM vertices v WHERE v.build_id = o.build_id AND v.seq = o.seq)`},
		{"rollup rows without a step identity", `SELECT count(*) FROM step_days d WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.id = d.step_id)`},
		{"branch rollup rows without a branch", `SELECT count(*) FROM step_branch_days d WHERE NOT EXISTS (SELECT 1 FROM branches b WHERE b.id = d.branch_id)`},
		{"weekly rollup rows without a step identity", `SELECT count(*) FROM step_weeks d WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.id = d.step_id)`},
		{"vertices of another project's step identity", `SELECT count(*) FROM vertices v JOIN builds b ON b.id = v.build_id
			JOIN steps s ON s.id = v.step_id WHERE s.project_id <> b.project_id`},
	} {
		var n int
		if err := s.pool.QueryRow(ctx, c.sql).Scan(&n); err != nil {
			return s.wrap("integrity check", err)
		}
		if n > 0 {
			return fmt.Errorf("integrity check of %s: %d %s", s.target, n, c.what)
		}
	}
	if err := s.checkRollups(ctx); err != nil {
		return s.scrubbed(fmt.Errorf("rollup check of %s: %w", s.target, err))
	}
	return nil
}

// checkRollups recomputes the four rollups from the vertices.
func (s *Store) checkRollups(ctx context.Context) error {
	c := analysis.NewRollupCheck()
	rows, err := s.pool.Query(ctx, `SELECT b.branch_id, v.step_id, b.started_at / 86400000, v.cached, v.run_ms
		FROM vertices v JOIN builds b ON b.id = v.build_id`)
	if err != nil {
		return err
	}
	var branch, step, day int64
	var cached bool
	var run *int64
	if _, err := pgx.ForEachRow(rows, []any{&branch, &step, &day, &cached, &run}, func() error {
		c.Vertex(branch, step, day, cached, run)
		return nil
	}); err != nil {
		return err
	}
	rows, err = s.pool.Query(ctx, `SELECT 1, 0::bigint, step_id, day, builds, hits, runs FROM step_days
		UNION ALL SELECT 1, branch_id, step_id, day, builds, hits, runs FROM step_branch_days
		UNION ALL SELECT 7, 0::bigint, step_id, week, builds, hits, runs FROM step_weeks
		UNION ALL SELECT 7, branch_id, step_id, week, builds, hits, runs FROM step_branch_weeks`)
	if err != nil {
		return err
	}
	var grain int64
	var builds, hits int
	var runs string
	if _, err := pgx.ForEachRow(rows, []any{&grain, &branch, &step, &day, &builds, &hits, &runs}, func() error {
		c.Row(analysis.Grain(grain), branch, step, day, builds, hits, []byte(runs))
		return nil
	}); err != nil {
		return err
	}
	if err := c.Err(); err != nil {
		return err
	}
	return s.checkRunTotals(ctx)
}

// checkRunTotals verifies each packed row's run counts and totals against
// its run lists, which checkRollups verified against the vertices.
func (s *Store) checkRunTotals(ctx context.Context) error {
	for w := range rollupTables {
		for _, t := range rollupTables[w] {
			rows, err := s.pool.Query(ctx, `SELECT r.`+t.period+`, r.project_id, u.step_id, u.runs, u.ran, u.timed, u.run_ms
				FROM `+t.name+` r, unnest(r.step_ids, r.runs, r.ran, r.timed, r.run_ms) AS u(step_id, runs, ran, timed, run_ms)`)
			if err != nil {
				return err
			}
			var period, project int64
			var step, ran, timed, ms *int64 // NULL: arrays of different lengths
			var runs *string
			if _, err := pgx.ForEachRow(rows, []any{&period, &project, &step, &runs, &ran, &timed, &ms}, func() error {
				if step == nil || runs == nil || ran == nil || timed == nil || ms == nil {
					return fmt.Errorf("%s row of period %d, project %d: its arrays differ in length", t.name, period, project)
				}
				n, tm, sum := analysis.RunTotals([]byte(*runs))
				if int64(n) != *ran || int64(tm) != *timed || sum != *ms {
					return fmt.Errorf("%s row of period %d, step %d: %d runs, %d timed, %d ms; its run list says %d, %d, %d",
						t.name, period, *step, *ran, *timed, *ms, n, tm, sum)
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// rollupRecompute fills a packed rollup's rows of one period ($1) from the
// vertices of the builds that started in [$2, $3).
func rollupRecompute(table, period string, branch bool) string {
	cols, group := period+", project_id", "b.project_id"
	if branch {
		cols, group = "branch_id, "+cols, "b.branch_id, "+group
	}
	outer := strings.ReplaceAll(group, "b.", "")
	return `INSERT INTO ` + table + ` (` + cols + `, step_ids, builds, hits, runs, ran, timed, run_ms)
		SELECT ` + strings.Replace(outer, "project_id", "$1, project_id", 1) + `, array_agg(step_id ORDER BY step_id), array_agg(n ORDER BY step_id),
			array_agg(h ORDER BY step_id), array_agg(r ORDER BY step_id),
			array_agg(ran ORDER BY step_id), array_agg(timed ORDER BY step_id), array_agg(ms ORDER BY step_id)
		FROM (SELECT ` + group + `, v.step_id, count(*)::integer AS n, (count(*) FILTER (WHERE v.cached))::integer AS h,
			COALESCE(string_agg(v.run_ms::text, ','), '') AS r, count(v.run_ms)::integer AS ran,
			(count(*) FILTER (WHERE v.run_ms >= 0))::integer AS timed, COALESCE(sum(v.run_ms) FILTER (WHERE v.run_ms >= 0), 0)::bigint AS ms
			FROM builds b JOIN vertices v ON v.build_id = b.id WHERE b.started_at >= $2 AND b.started_at < $3
			GROUP BY ` + group + `, v.step_id) x
		GROUP BY ` + outer
}
