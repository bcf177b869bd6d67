package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/store/internal/analysis"
)

// The rollups are stored packed: one row per project and day (or week),
// with and without the branch, holding every step of that project as
// parallel arrays. An ingest of 100 builds then rewrites a few hundred rows
// instead of one per step and period (about 6,000 for 100 builds of 44
// vertices, more than the vertices themselves), and a single build four.
// The views step_days, step_branch_days, step_weeks and step_branch_weeks
// unnest them into one row per step and period, which is what every
// reader queries.
var packedRollupSchema = packedRollupSQL()

// packedRollupSQL creates each packed table, moves version 4's rows of
// its step table into it, drops that table and puts a view of its name in
// its place.
func packedRollupSQL() string {
	var b strings.Builder
	for w := range rollupTables {
		for br, t := range rollupTables[w] {
			key, view, group := t.period+", project_id", "r."+t.period+", r.project_id", "d."+t.period+", s.project_id"
			if br == 1 {
				key, view, group = "branch_id, "+key, "r.branch_id, "+view, "d.branch_id, "+group
			}
			old := strings.Replace(t.name, "rollup_", "step_", 1)
			branchCol := ""
			if br == 1 {
				branchCol = "\n\tbranch_id  bigint NOT NULL,"
			}
			fmt.Fprintf(&b, `
CREATE TABLE %[1]s (%[2]s
	%-10[3]s integer NOT NULL,
	project_id bigint NOT NULL,
	step_ids   bigint[] NOT NULL,
	builds     integer[] NOT NULL,
	hits       integer[] NOT NULL,
	runs       text[] NOT NULL,
	PRIMARY KEY (%[4]s)
) WITH (fillfactor = 70);
INSERT INTO %[1]s SELECT %[5]s, array_agg(d.step_id ORDER BY d.step_id), array_agg(d.builds ORDER BY d.step_id),
	array_agg(d.hits ORDER BY d.step_id), array_agg(d.runs ORDER BY d.step_id)
	FROM %[6]s d JOIN steps s ON s.id = d.step_id GROUP BY %[5]s;
DROP TABLE %[6]s;
CREATE VIEW %[6]s AS SELECT %[7]s, u.step_id, u.builds, u.hits, u.runs
	FROM %[1]s r, unnest(r.step_ids, r.builds, r.hits, r.runs) AS u(step_id, builds, hits, runs);
`, t.name, branchCol, t.period, key, group, old, view)
		}
	}
	return b.String()
}

// runTotalsSchema (version 6) adds to each packed row, per step, the
// number of runs, how many of them have a time, and the sum of those times
// in ms: what the runs lists say, as numbers a query can add up. The time
// lost to cache misses over a year of days summed every run time of the
// year as text (190-266 ms of server time on the year's 50,000 builds);
// it now sums 193,000 elements. The views do not show the new arrays: a
// view's unnest reads every array it lists, whether the query wants it or
// not.
var runTotalsSchema = runTotalsSQL()

func runTotalsSQL() string {
	var b strings.Builder
	for w := range rollupTables {
		for _, t := range rollupTables[w] {
			fmt.Fprintf(&b, `
ALTER TABLE %[1]s ADD COLUMN ran integer[] NOT NULL DEFAULT '{}', ADD COLUMN timed integer[] NOT NULL DEFAULT '{}',
	ADD COLUMN run_ms bigint[] NOT NULL DEFAULT '{}';
UPDATE %[1]s r SET (ran, timed, run_ms) = (SELECT COALESCE(array_agg(c.ran ORDER BY u.i), '{}'),
		COALESCE(array_agg(c.timed ORDER BY u.i), '{}'), COALESCE(array_agg(c.ms ORDER BY u.i), '{}')
	FROM unnest(r.runs) WITH ORDINALITY AS u(list, i), LATERAL (SELECT count(x)::integer AS ran,
		(count(x) FILTER (WHERE x::bigint >= 0))::integer AS timed,
		COALESCE(sum(x::bigint) FILTER (WHERE x::bigint >= 0), 0)::bigint AS ms
		FROM unnest(string_to_array(NULLIF(u.list, ''), ',')) AS x) c);
ALTER TABLE %[1]s ALTER COLUMN ran DROP DEFAULT, ALTER COLUMN timed DROP DEFAULT, ALTER COLUMN run_ms DROP DEFAULT;
`, t.name)
		}
	}
	return b.String()
}

// rollupTables are the packed tables, indexed [week?][branch?], with the
// name of their period column.
var rollupTables = [2][2]struct{ name, period string }{
	{{"rollup_days", "day"}, {"rollup_branch_days", "day"}},
	{{"rollup_weeks", "week"}, {"rollup_branch_weeks", "week"}},
}

// rollupKey is one packed row: of rollup_days or rollup_weeks (branch 0),
// or of their per-branch tables.
type rollupKey struct {
	grain                   analysis.Grain
	branch, period, project int64
}

// stepDelta is what a transaction adds to one step of a packed row.
type stepDelta struct {
	builds, hits int32
	runs         []byte // comma-separated ms
	ran, timed   int32  // runs, and runs with a time
	ms           int64  // the sum of the timed runs
}

// add adds o's counts to d's (not the run lists).
func (d *stepDelta) add(o *stepDelta) {
	d.builds, d.hits, d.ran, d.timed, d.ms = d.builds+o.builds, d.hits+o.hits, d.ran+o.ran, d.timed+o.timed, d.ms+o.ms
}

// addDay records a vertex in its step's daily and weekly rollups, with
// and without its branch, merged in memory so a batch writes each row once.
func (in *ingester) addDay(project, branch, step, day int64, cached bool, runMs int64, ran bool) {
	week := analysis.WeekOf(day)
	for _, k := range [4]rollupKey{{analysis.Day, 0, day, project}, {analysis.Day, branch, day, project},
		{analysis.Week, 0, week, project}, {analysis.Week, branch, week, project}} {
		row := in.days[k]
		if row == nil {
			row = map[int64]*stepDelta{}
			in.days[k] = row
		}
		d := row[step]
		if d == nil {
			d = &stepDelta{}
			row[step] = d
		}
		d.builds++
		if cached {
			d.hits++
		}
		if ran {
			if len(d.runs) > 0 {
				d.runs = append(d.runs, ',')
			}
			d.runs = strconv.AppendInt(d.runs, runMs, 10)
			d.ran++
			if runMs >= 0 { // not UnknownRun
				d.timed++
				d.ms += runMs
			}
		}
	}
}

// writeDays adds the transaction's deltas to the packed rows. First it
// locks every row it changes, table by table and each table's rows in key
// order (the order every ingest takes them in, so two never wait for each
// other in a cycle), creating the missing ones empty; then it reads them,
// merges the deltas in and writes them back.
func (in *ingester) writeDays(ctx context.Context) error {
	var keys [2][2][]rollupKey // [week?][branch?]
	for k := range in.days {
		w, b := 0, 0
		if k.grain == analysis.Week {
			w = 1
		}
		if k.branch != 0 { // branch ids start at 1
			b = 1
		}
		keys[w][b] = append(keys[w][b], k)
	}
	lock, read := &pgx.Batch{}, &pgx.Batch{}
	for w := range keys {
		for b, ks := range keys[w] {
			if len(ks) == 0 {
				continue
			}
			slices.SortFunc(ks, func(x, y rollupKey) int {
				return cmp.Or(cmp.Compare(x.branch, y.branch), cmp.Compare(x.period, y.period), cmp.Compare(x.project, y.project))
			})
			branches, periods, projects := keyColumns(ks)
			t := rollupTables[w][b]
			if b == 1 {
				lock.Queue(`INSERT INTO `+t.name+` AS r (branch_id, `+t.period+`, project_id, step_ids, builds, hits, runs, ran, timed, run_ms)
					SELECT k.b, k.p, k.pr, '{}', '{}', '{}', '{}', '{}', '{}', '{}' FROM unnest($1::bigint[], $2::integer[], $3::bigint[]) AS k(b, p, pr)
					ON CONFLICT (branch_id, `+t.period+`, project_id) DO UPDATE SET runs = r.runs WHERE false`, branches, periods, projects)
				read.Queue(`SELECT r.branch_id, r.`+t.period+`, r.project_id, r.step_ids, r.builds, r.hits, r.runs, r.ran, r.timed, r.run_ms FROM `+t.name+` r
					JOIN unnest($1::bigint[], $2::integer[], $3::bigint[]) AS k(b, p, pr)
					ON r.branch_id = k.b AND r.`+t.period+` = k.p AND r.project_id = k.pr`, branches, periods, projects)
			} else {
				lock.Queue(`INSERT INTO `+t.name+` AS r (`+t.period+`, project_id, step_ids, builds, hits, runs, ran, timed, run_ms)
					SELECT k.p, k.pr, '{}', '{}', '{}', '{}', '{}', '{}', '{}' FROM unnest($1::integer[], $2::bigint[]) AS k(p, pr)
					ON CONFLICT (`+t.period+`, project_id) DO UPDATE SET runs = r.runs WHERE false`, periods, projects)
				read.Queue(`SELECT 0::bigint, r.`+t.period+`, r.project_id, r.step_ids, r.builds, r.hits, r.runs, r.ran, r.timed, r.run_ms FROM `+t.name+` r
					JOIN unnest($1::integer[], $2::bigint[]) AS k(p, pr) ON r.`+t.period+` = k.p AND r.project_id = k.pr`, periods, projects)
			}
		}
	}
	if lock.Len() == 0 {
		return nil
	}
	// The reads are separate statements after the locks: each sees the
	// rows as the last transaction to hold their lock left them.
	if err := in.tx.SendBatch(ctx, lock).Close(); err != nil {
		return err
	}
	br := in.tx.SendBatch(ctx, read)
	write := &pgx.Batch{}
	for w := range keys {
		for b, ks := range keys[w] {
			if len(ks) == 0 {
				continue
			}
			rows, err := br.Query()
			if err != nil {
				br.Close()
				return err
			}
			grain := analysis.Day
			if w == 1 {
				grain = analysis.Week
			}
			merged, err := in.merge(rows, grain, len(ks))
			if err != nil {
				br.Close()
				return err
			}
			t := rollupTables[w][b]
			if b == 1 {
				write.Queue(`UPDATE `+t.name+` r SET step_ids = u.s::bigint[], builds = u.n::integer[], hits = u.h::integer[], runs = u.r::text[],
						ran = u.ra::integer[], timed = u.t::integer[], run_ms = u.ms::bigint[]
					FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
						AS u(b, p, pr, s, n, h, r, ra, t, ms)
					WHERE r.branch_id = u.b AND r.`+t.period+` = u.p AND r.project_id = u.pr`,
					merged.branches, merged.periods, merged.projects, merged.steps, merged.builds, merged.hits, merged.runs,
					merged.ran, merged.timed, merged.ms)
			} else {
				write.Queue(`UPDATE `+t.name+` r SET step_ids = u.s::bigint[], builds = u.n::integer[], hits = u.h::integer[], runs = u.r::text[],
						ran = u.ra::integer[], timed = u.t::integer[], run_ms = u.ms::bigint[]
					FROM unnest($1::integer[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
						AS u(p, pr, s, n, h, r, ra, t, ms)
					WHERE r.`+t.period+` = u.p AND r.project_id = u.pr`,
					merged.periods, merged.projects, merged.steps, merged.builds, merged.hits, merged.runs,
					merged.ran, merged.timed, merged.ms)
			}
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	return in.tx.SendBatch(ctx, write).Close()
}

func keyColumns(ks []rollupKey) (branches []int64, periods []int32, projects []int64) {
	branches, periods, projects = make([]int64, len(ks)), make([]int32, len(ks)), make([]int64, len(ks))
	for i, k := range ks {
		branches[i], periods[i], projects[i] = k.branch, int32(k.period), k.project
	}
	return
}

// mergedRows are packed rows to write back, their arrays in PostgreSQL's
// text form (one array per row; unnest cannot take arrays of arrays of
// different lengths).
type mergedRows struct {
	branches, projects []int64
	periods            []int32
	steps, builds      []string
	hits, runs         []string
	ran, timed, ms     []string
}

// merge reads packed rows and adds the transaction's deltas to them, steps
// kept in id order.
func (in *ingester) merge(rows pgx.Rows, grain analysis.Grain, n int) (*mergedRows, error) {
	out := &mergedRows{}
	var k rollupKey
	var stepIDs, runMs []int64
	var builds, hits, ran, timed []int32
	var runs []string
	var buf []byte
	_, err := pgx.ForEachRow(rows, []any{&k.branch, &k.period, &k.project, &stepIDs, &builds, &hits, &runs, &ran, &timed, &runMs}, func() error {
		k.grain = grain
		deltas := in.days[k]
		ids := make([]int64, 0, len(stepIDs)+len(deltas))
		ids = append(ids, stepIDs...)
		for step := range deltas {
			if _, found := slices.BinarySearch(stepIDs, step); !found {
				ids = append(ids, step)
			}
		}
		slices.Sort(ids)
		// One array literal per column, elements appended in step order.
		var cols [7][]byte // step_ids, builds, hits, runs, ran, timed, run_ms
		for c := range cols {
			cols[c] = append(cols[c], '{')
		}
		// Old values by step: stepIDs is sorted, so walk both in order.
		old := 0
		for i, step := range ids {
			if i > 0 {
				for c := range cols {
					cols[c] = append(cols[c], ',')
				}
			}
			var cur stepDelta
			var r string
			if old < len(stepIDs) && stepIDs[old] == step {
				cur = stepDelta{builds: builds[old], hits: hits[old], ran: ran[old], timed: timed[old], ms: runMs[old]}
				r = runs[old]
				old++
			}
			buf = append(buf[:0], r...)
			if d := deltas[step]; d != nil {
				cur.add(d)
				if len(d.runs) > 0 {
					if len(buf) > 0 {
						buf = append(buf, ',')
					}
					buf = append(buf, d.runs...)
				}
			}
			cols[0] = strconv.AppendInt(cols[0], step, 10)
			cols[1] = strconv.AppendInt(cols[1], int64(cur.builds), 10)
			cols[2] = strconv.AppendInt(cols[2], int64(cur.hits), 10)
			// Run lists hold digits and commas only: quoted, they need no
			// escapes.
			cols[3] = append(append(append(cols[3], '"'), buf...), '"')
			cols[4] = strconv.AppendInt(cols[4], int64(cur.ran), 10)
			cols[5] = strconv.AppendInt(cols[5], int64(cur.timed), 10)
			cols[6] = strconv.AppendInt(cols[6], cur.ms, 10)
		}
		for c := range cols {
			cols[c] = append(cols[c], '}')
		}
		out.branches, out.periods, out.projects = append(out.branches, k.branch), append(out.periods, int32(k.period)), append(out.projects, k.project)
		out.steps, out.builds, out.hits = append(out.steps, string(cols[0])), append(out.builds, string(cols[1])), append(out.hits, string(cols[2]))
		out.runs, out.ran, out.timed, out.ms = append(out.runs, string(cols[3])), append(out.ran, string(cols[4])), append(out.timed, string(cols[5])), append(out.ms, string(cols[6]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out.periods) != n {
		// Every row was locked (and created) before: none can be missing.
		return nil, fmt.Errorf("rollups: %d of %d locked rows read back", len(out.periods), n)
	}
	return out, nil
}
