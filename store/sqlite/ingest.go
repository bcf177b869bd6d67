package sqlite

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/internal/analysis"
)

// testHookVertex, when set by tests, runs after each vertex is written.
var testHookVertex func(n int)

// Ingest SQL. Inserts are issued as queries: go-sqlite3 binds and steps a
// query in one cgo crossing, several times cheaper than Exec's per-argument
// binding, and vertices are the bulk of every ingest.
const (
	sqlBuildByHash = `SELECT id FROM builds WHERE content_hash = ?`
	sqlInsertBuild = `INSERT INTO builds (content_hash, project_id, branch_id, commit_sha, ci_provider, run_url, runner,
	dockerfile, tags, source, started_at, started_source, ingested_at, format, status, log_duration_ns, log_started_ns,
	log_completed_ns, builder, error, error_context, error_file, error_line, warnings, image_id, image_names, truncated,
	logs_kept, duration_ns, duration_source, steps_total, steps_cached, steps_ran, steps_failed, ran_ns, context_bytes,
	base_image_bytes, build_source, log_index, log_builds, duration_from_timestamps, duration_is_lower_bound,
	began_mid_build, id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,
	CASE WHEN ? > 0 THEN max(?, (SELECT COALESCE(MAX(id), 0) FROM builds)) + 1 END) RETURNING id`
	sqlInsertVertex = `INSERT INTO vertices (build_id, seq, step_id, vertex_id, digest, inputs, name, name_truncated,
	platform, stage, step_index, step_total, instruction, args, cached, canceled, completed, error, exit_code,
	duration_ns, has_duration, started_ns, ended_ns, warnings, output_lines, run_ms, image_digest, layer_bytes,
	duration_is_lower_bound, error_lines) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`
	// What prunes have changed since this process cached ids.
	sqlPruneState     = `SELECT pruned, build_id_floor FROM buildstats_schema`
	sqlInsertTransfer = `INSERT INTO transfers (build_id, seq, pos, name, bytes, total, duration_ns, done) VALUES (?,?,?,?,?,?,?,?)`
	sqlInsertOutput   = `INSERT INTO vertex_output (build_id, seq, lines) VALUES (?,?,?)`
	sqlStepByKey      = `SELECT id, args FROM steps WHERE project_id = ? AND key = ?`
	// The identities a step whose name tty output cut may abbreviate
	// (model.ResolveTruncated picks).
	sqlStepsLike = `SELECT kind, platform, stage, instruction, text, occurrence FROM steps
	WHERE project_id = ? AND instruction = ? AND stage = ? AND platform = ?`
	sqlInsertStep = `INSERT INTO steps (project_id, key, kind, platform, stage, instruction, text, occurrence, args)
	VALUES (?,?,?,?,?,?,?,?,?) RETURNING id, args`
	sqlNameByName = `SELECT id FROM %s WHERE name = ?`
	sqlInsertName = `INSERT INTO %s (name) VALUES (?) ON CONFLICT (name) DO NOTHING`
)

// stmt is a driver-level prepared statement with a reusable argument list.
type stmt struct {
	st   driver.Stmt
	args []driver.NamedValue
}

// query binds args and runs the statement; the caller closes the rows.
func (s *stmt) query(args ...any) (driver.Rows, error) {
	if cap(s.args) < len(args) {
		s.args = make([]driver.NamedValue, len(args))
	}
	s.args = s.args[:len(args)]
	for i, a := range args {
		if n, ok := a.(int); ok {
			a = int64(n) // driver values are int64
		}
		s.args[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	// Cancellation is checked between vertices by the caller: a context
	// per statement would cost a goroutine hand-off each.
	return s.st.(driver.StmtQueryContext).QueryContext(context.Background(), s.args)
}

// exec runs a statement that returns nothing.
func (s *stmt) exec(args ...any) error {
	rows, err := s.query(args...)
	if err != nil {
		return err
	}
	return rows.Close()
}

// id runs a statement that returns at most one row, an integer first.
// It returns the row's second column as text, if there is one.
func (s *stmt) id(args ...any) (n int64, found bool, text string, err error) {
	rows, err := s.query(args...)
	if err != nil {
		return 0, false, "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err == io.EOF {
		return 0, false, "", nil
	} else if err != nil {
		return 0, false, "", err
	}
	n, ok := dest[0].(int64)
	if !ok {
		return 0, false, "", fmt.Errorf("unexpected id %T", dest[0])
	}
	if len(dest) > 1 {
		switch t := dest[1].(type) {
		case string:
			text = t
		case []byte:
			text = string(t)
		}
	}
	return n, true, text, nil
}

// text is a driver value as text.
func text(v driver.Value) string {
	switch t := v.(type) {
	case string:
		return t
	case []byte:
		return string(t)
	}
	return ""
}

// stepKey caches step ids by identity, so a known step costs a map lookup
// rather than a hash and a query.
type stepKey struct {
	project int64
	model.Identity
}

// stepVal is a cached step: its id and the raw args stored with it.
type stepVal struct {
	id   int64
	args string
}

// The rollups' upserts: more executions, hits and run times.
var (
	sqlStepDay        = rollupUpsert("step_days", "day", false)
	sqlStepBranchDay  = rollupUpsert("step_branch_days", "day", true)
	sqlStepWeek       = rollupUpsert("step_weeks", "week", false)
	sqlStepBranchWeek = rollupUpsert("step_branch_weeks", "week", true)
)

// rollupUpsert adds a row's executions, hits and run times to a rollup.
func rollupUpsert(table, period string, branch bool) string {
	cols, vals, key := "step_id, "+period, "?,?", "step_id, "+period
	if branch {
		cols, vals, key = "branch_id, "+cols, "?,"+vals, "branch_id, "+key
	}
	return `INSERT INTO ` + table + ` (` + cols + `, builds, hits, runs) VALUES (` + vals + `,?,?,?)
	ON CONFLICT (` + key + `) DO UPDATE SET builds = builds + excluded.builds, hits = hits + excluded.hits,
	runs = CASE WHEN excluded.runs = '' THEN runs WHEN runs = '' THEN excluded.runs ELSE runs || ',' || excluded.runs END`
}

// dayKey and dayDelta are a pending change to one rollup row: of
// step_days or step_weeks (branch 0), step_branch_days or
// step_branch_weeks.
type dayKey struct {
	grain                   analysis.Grain
	branch, step, dayOrWeek int64
}

type dayDelta struct {
	builds, hits int
	runs         []byte // comma-separated ms
}

// ingester writes builds inside one transaction on the writer connection,
// with statements prepared once for all of them.
type ingester struct {
	s      *Store
	conn   *sqlite3.SQLiteConn
	stmts  map[string]*stmt
	names  map[nameKey]int64 // ids created in this transaction
	steps  map[stepKey]stepVal
	days   map[dayKey]*dayDelta // rollup changes, written before commit
	now    int64
	nverts int
	floor  int64 // build ids start above it (see schema v5)
	// whole holds, by project, the identities of the steps a batch prints
	// whole, for the steps whose names another build of it cut.
	whole map[string][]model.Identity
}

// maxPendingDays bounds the rollup changes held in memory by a long batch.
const maxPendingDays = 1 << 16

// addDay records a vertex in its step's daily and weekly rollups, with
// and without its branch. Changes are merged in memory and written once per
// step and period: a batch of builds from the same days then costs one
// upsert per step rather than one per vertex.
func (in *ingester) addDay(branch, step, day int64, cached bool, run any) {
	week := analysis.WeekOf(day)
	in.addDayRow(dayKey{analysis.Day, 0, step, day}, cached, run)
	in.addDayRow(dayKey{analysis.Day, branch, step, day}, cached, run)
	in.addDayRow(dayKey{analysis.Week, 0, step, week}, cached, run)
	in.addDayRow(dayKey{analysis.Week, branch, step, week}, cached, run)
}

func (in *ingester) addDayRow(k dayKey, cached bool, run any) {
	d := in.days[k]
	if d == nil {
		d = &dayDelta{}
		in.days[k] = d
	}
	d.builds++
	if cached {
		d.hits++
	}
	if ms, ok := run.(int64); ok {
		if len(d.runs) > 0 {
			d.runs = append(d.runs, ',')
		}
		d.runs = strconv.AppendInt(d.runs, ms, 10)
	}
}

// flushDays writes the pending rollup changes.
func (in *ingester) flushDays() error {
	if len(in.days) == 0 {
		return nil
	}
	var ups [2][2]*stmt // [week?][branch?]
	for i, q := range [4]string{sqlStepDay, sqlStepBranchDay, sqlStepWeek, sqlStepBranchWeek} {
		st, err := in.stmt(q)
		if err != nil {
			return err
		}
		ups[i/2][i%2] = st
	}
	for k, d := range in.days {
		w := 0
		if k.grain == analysis.Week {
			w = 1
		}
		var err error
		if k.branch == 0 { // branch ids start at 1
			err = ups[w][0].exec(k.step, k.dayOrWeek, d.builds, d.hits, string(d.runs))
		} else {
			err = ups[w][1].exec(k.branch, k.step, k.dayOrWeek, d.builds, d.hits, string(d.runs))
		}
		if err != nil {
			return err
		}
	}
	clear(in.days)
	return nil
}

// withIngester runs f inside one write transaction (BEGIN IMMEDIATE, so it
// queues behind other writers for up to the busy timeout) and commits if f
// succeeds. Ingests use driver-level statements for speed; database/sql
// keeps the connection for the duration of f only.
func (s *Store) withIngester(ctx context.Context, f func(in *ingester) error) error {
	if s.readOnly {
		return errReadOnly
	}
	s.wmu.Lock() // one writer per process; others wait in Store
	defer s.wmu.Unlock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return s.wrap("ingest", err)
	}
	defer conn.Close()
	var ferr error
	rerr := conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		in := &ingester{s: s, conn: c, stmts: map[string]*stmt{}, names: map[nameKey]int64{},
			steps: map[stepKey]stepVal{}, days: map[dayKey]*dayDelta{}, now: time.Now().UnixMilli()}
		defer in.close()
		if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`, nil); err != nil {
			ferr = err
			return nil
		}
		if ferr = in.checkPruned(); ferr == nil {
			ferr = f(in)
		}
		if ferr == nil {
			ferr = in.flushDays()
		}
		if ferr == nil {
			if _, ferr = c.ExecContext(context.Background(), `COMMIT`, nil); ferr == nil {
				in.publish()
				return nil
			}
		}
		if _, err := c.ExecContext(context.Background(), `ROLLBACK`, nil); err != nil && !c.AutoCommit() {
			// Never hand a connection stuck in a transaction back to the pool.
			return driver.ErrBadConn
		}
		return nil
	})
	if ferr != nil {
		return ferr
	}
	return rerr
}

// checkPruned reads, inside the write transaction, what prunes changed:
// the ids this process cached are dropped if a prune ran since, and new
// build ids start above the highest one a prune deleted.
func (in *ingester) checkPruned() error {
	st, err := in.stmt(sqlPruneState)
	if err != nil {
		return err
	}
	rows, err := st.query()
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]driver.Value, 2)
	if err := rows.Next(dest); err != nil {
		return fmt.Errorf("read prune state: %w", err)
	}
	pruned, _ := dest[0].(int64)
	in.floor, _ = dest[1].(int64)
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	if pruned != in.s.pruned {
		clear(in.s.names)
		clear(in.s.steps)
		in.s.pruned = pruned
	}
	return nil
}

func (in *ingester) stmt(query string) (*stmt, error) {
	if st := in.stmts[query]; st != nil {
		return st, nil
	}
	st, err := in.conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	in.stmts[query] = &stmt{st: st}
	return in.stmts[query], nil
}

func (in *ingester) close() {
	for _, st := range in.stmts {
		st.st.Close()
	}
}

// publish shares the ids a committed transaction created; a rolled-back
// transaction's ids are simply dropped with the ingester.
func (in *ingester) publish() {
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	for k, id := range in.names {
		in.s.names[k] = id
	}
	for k, id := range in.steps {
		in.s.steps[k] = id
	}
}

// nameID returns the id of a project or branch name, creating it.
func (in *ingester) nameID(table, name string) (int64, error) {
	k := nameKey{table: table, name: name}
	if id, ok := in.names[k]; ok {
		return id, nil
	}
	in.s.mu.Lock()
	id, ok := in.s.names[k]
	in.s.mu.Unlock()
	if ok {
		return id, nil
	}
	// Table names are constants of this file, never user input.
	ins, err := in.stmt(fmt.Sprintf(sqlInsertName, table))
	if err != nil {
		return 0, err
	}
	if err := ins.exec(name); err != nil {
		return 0, err
	}
	sel, err := in.stmt(fmt.Sprintf(sqlNameByName, table))
	if err != nil {
		return 0, err
	}
	id, _, _, err = sel.id(name)
	if err != nil {
		return 0, err
	}
	in.names[k] = id
	return id, nil
}

// step returns the id of a step identity in a project, creating it with
// args as its stored raw arguments, and the raw arguments it has.
func (in *ingester) step(project int64, id model.Identity, args string) (stepVal, error) {
	k := stepKey{project: project, Identity: id}
	if v, ok := in.steps[k]; ok {
		return v, nil
	}
	in.s.mu.Lock()
	v, ok := in.s.steps[k]
	in.s.mu.Unlock()
	if ok {
		return v, nil
	}
	key := id.Key()
	sel, err := in.stmt(sqlStepByKey)
	if err != nil {
		return v, err
	}
	n, found, stored, err := sel.id(project, key)
	if err != nil {
		return v, err
	}
	if !found {
		ins, err := in.stmt(sqlInsertStep)
		if err != nil {
			return v, err
		}
		if n, _, stored, err = ins.id(project, key, string(id.Kind), id.Platform, id.Stage, id.Instruction, id.Text, id.Occurrence, args); err != nil {
			return v, err
		}
	}
	v = stepVal{id: n, args: stored}
	in.steps[k] = v
	return v, nil
}

// resolveTruncated gives each step of b whose name tty output cut the
// identity of the one stored step it abbreviates, so history does not
// split a step in two when one log printed it whole and another cut.
func (in *ingester) resolveTruncated(project int64, projectName string, b *model.Build, ids []model.Identity) error {
	for i, v := range b.Vertices {
		if !v.NameTruncated || !v.IsStep() || len(ids[i].Text) < model.MinAbbreviation {
			continue
		}
		id := ids[i]
		sel, err := in.stmt(sqlStepsLike)
		if err != nil {
			return err
		}
		rows, err := sel.query(project, id.Instruction, id.Stage, id.Platform)
		if err != nil {
			return err
		}
		known := slices.Clip(in.whole[projectName])
		dest := make([]driver.Value, 6)
		for {
			if err := rows.Next(dest); err == io.EOF {
				break
			} else if err != nil {
				rows.Close()
				return err
			}
			occ, _ := dest[5].(int64)
			known = append(known, model.Identity{Kind: model.Kind(text(dest[0])), Platform: text(dest[1]), Stage: text(dest[2]),
				Instruction: text(dest[3]), Text: text(dest[4]), Occurrence: int(occ)})
		}
		if err := rows.Close(); err != nil {
			return err
		}
		model.ResolveTruncated(b.Vertices[i:i+1], ids[i:i+1], known)
	}
	return nil
}

// ingest writes one build unless its content hash is already stored.
func (in *ingester) ingest(ctx context.Context, b *model.Build, m store.Meta, opts store.IngestOptions) (int64, bool, error) {
	if b == nil {
		return 0, false, errors.New("ingest: nil build")
	}
	if m.ContentHash == "" {
		m.ContentHash = store.BuildHash(b)
	}
	if m.Project == "" {
		return 0, false, errors.New("ingest: the build has no project name (set store.Meta.Project, see buildenv.DetectProject)")
	}
	if m.Started.IsZero() {
		m.Started, m.StartedSource = store.StartTime(b, time.Time{}, time.Time{})
		if m.Started.IsZero() {
			m.Started, m.StartedSource = time.UnixMilli(in.now), "ingest"
		}
	}
	if len(m.Tags) == 0 {
		m.Tags = b.ImageNames
	}

	sel, err := in.stmt(sqlBuildByHash)
	if err != nil {
		return 0, false, err
	}
	if id, found, _, err := sel.id(m.ContentHash); err != nil || found {
		return id, false, err
	}

	project, err := in.nameID("projects", m.Project)
	if err != nil {
		return 0, false, err
	}
	branch, err := in.nameID("branches", m.Branch)
	if err != nil {
		return 0, false, err
	}
	a := store.Summarize(b)
	started := m.Started.UnixMilli()
	var errorContext any
	if opts.KeepLogs {
		errorContext = jsonList(b.ErrorContext)
	}
	insBuild, err := in.stmt(sqlInsertBuild)
	if err != nil {
		return 0, false, err
	}
	id, _, _, err := insBuild.id(m.ContentHash, project, branch, m.Commit, m.CIProvider, m.RunURL, m.Runner,
		m.Dockerfile, jsonList(m.Tags), m.Source, started, m.StartedSource, in.now, string(b.Format), string(b.Status),
		nullDuration(b.Duration, b.HasDuration), nullTime(b.Started), nullTime(b.Completed), b.Builder, b.Error,
		errorContext, b.ErrorFile, b.ErrorLine, jsonList(b.Warnings), b.ImageID, jsonList(b.ImageNames),
		boolInt(b.Truncated), boolInt(opts.KeepLogs), int64(a.Duration), a.DurationSource, a.StepsTotal,
		a.StepsCached, a.StepsRan, a.StepsFailed, int64(a.RanTime), a.ContextBytes, a.BaseImageBytes, nullString(b.Source),
		b.LogIndex, b.LogBuilds, boolInt(b.DurationFromTimestamps), boolInt(b.DurationIsLowerBound), boolInt(b.BeganMidBuild),
		in.floor, in.floor)
	if err != nil {
		return 0, false, err
	}

	insVertex, err := in.stmt(sqlInsertVertex)
	if err != nil {
		return 0, false, err
	}
	day := started / analysis.MsPerDay
	ids := b.Identities()
	if err := in.resolveTruncated(project, m.Project, b, ids); err != nil {
		return 0, false, err
	}
	for seq, v := range b.Vertices {
		if in.nverts++; in.nverts%256 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, false, err
			}
		}
		step, err := in.step(project, ids[seq], v.Args)
		if err != nil {
			return 0, false, err
		}
		// Text the step identity already holds is stored as NULL.
		var name, args any = v.Name, v.Args
		if v.Name == analysis.CanonicalName(v) {
			name = nil
		}
		if v.Args == step.args {
			args = nil
		}
		var errorLines any
		if opts.KeepLogs {
			errorLines = jsonList(v.ErrorLines)
		}
		if err := insVertex.exec(id, seq, step.id, v.ID, v.Digest, jsonList(v.Inputs), name,
			boolInt(v.NameTruncated), v.Platform, v.Stage, v.Index, v.Total, v.Instruction, args,
			boolInt(v.Cached), boolInt(v.Canceled), boolInt(v.Completed), v.Error, v.ExitCode, int64(v.Duration),
			boolInt(v.HasDuration), nullTime(v.Started), nullTime(v.Ended), jsonList(v.Warnings), v.OutputLines,
			runMs(v), v.ImageDigest(), nullLayer(v), boolInt(v.DurationIsLowerBound), errorLines); err != nil {
			return 0, false, err
		}
		in.addDay(branch, step.id, day, v.Cached, runMs(v))
		for pos, t := range v.Transfers {
			st, err := in.stmt(sqlInsertTransfer)
			if err != nil {
				return 0, false, err
			}
			if err := st.exec(id, seq, pos, t.Name, t.Bytes, t.Total, int64(t.Duration), boolInt(t.Done)); err != nil {
				return 0, false, err
			}
		}
		if opts.KeepLogs && len(v.Output) > 0 {
			st, err := in.stmt(sqlInsertOutput)
			if err != nil {
				return 0, false, err
			}
			if err := st.exec(id, seq, jsonList(v.Output)); err != nil {
				return 0, false, err
			}
		}
		if testHookVertex != nil {
			testHookVertex(seq)
		}
	}
	if b.Inputs != nil {
		if err := in.inputs(id, b.Inputs); err != nil {
			return 0, false, err
		}
	}
	if err := in.causes(id, opts.Causes); err != nil {
		return 0, false, err
	}
	if err := in.live(id, m, opts.Log); err != nil {
		return 0, false, err
	}
	if len(in.days) > maxPendingDays {
		if err := in.flushDays(); err != nil {
			return 0, false, err
		}
	}
	return id, true, nil
}

// runMs is analysis.RunMs as a column value: NULL when v did not run.
func runMs(v *model.Vertex) any {
	if ms, ok := analysis.RunMs(v); ok {
		return ms
	}
	return nil
}

// Ingest stores b in one transaction: a crash or kill part way leaves no
// trace of it. See Store.Ingest.
func (s *Store) Ingest(ctx context.Context, b *model.Build, m store.Meta, opts store.IngestOptions) (id int64, created bool, err error) {
	err = s.withIngester(ctx, func(in *ingester) error {
		id, created, err = in.ingest(ctx, b, m, opts)
		return err
	})
	if err != nil {
		return 0, false, s.wrap("ingest", err)
	}
	return id, created, nil
}

// IngestBatch stores many builds in a single transaction: all or none.
// It is much faster than one Ingest per build when backfilling history.
func (s *Store) IngestBatch(ctx context.Context, items []store.BatchItem) ([]store.BatchResult, error) {
	out := make([]store.BatchResult, len(items))
	err := s.withIngester(ctx, func(in *ingester) error {
		in.whole = wholeSteps(items)
		defer func() { in.whole = nil }()
		for i, it := range items {
			id, created, err := in.ingest(ctx, it.Build, it.Meta, it.Options)
			if err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = store.BatchResult{ID: id, Created: created}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("ingest batch", err)
	}
	return out, nil
}

// wholeSteps returns, by project, the identities of the steps the items
// print whole, when one of them cut a step's name; nil otherwise.
func wholeSteps(items []store.BatchItem) map[string][]model.Identity {
	cut := false
	for _, it := range items {
		for _, v := range it.Build.Vertices {
			cut = cut || v.NameTruncated
		}
	}
	if !cut {
		return nil
	}
	out := map[string][]model.Identity{}
	for _, it := range items {
		for i, id := range it.Build.Identities() {
			if v := it.Build.Vertices[i]; v.IsStep() && !v.NameTruncated {
				out[it.Meta.Project] = append(out[it.Meta.Project], id)
			}
		}
	}
	return out
}

// jsonList encodes a non-empty slice as JSON text, and an empty one as NULL.
func jsonList[T any](xs []T) any {
	if len(xs) == 0 {
		return nil
	}
	data, err := json.Marshal(xs)
	if err != nil {
		return nil
	}
	return string(data)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// nullString stores "" as NULL: the column is absent rather than empty
// for builds that predate it or do not have it (logs have no Source).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullLayer is the size of the layer v produced, or NULL when unknown. A
// known 0 (a step that changed no files) is stored as 0.
func nullLayer(v *model.Vertex) any {
	if !v.HasLayerBytes {
		return nil
	}
	return v.LayerBytes
}

func nullDuration(d time.Duration, ok bool) any {
	if !ok {
		return nil
	}
	return int64(d)
}
