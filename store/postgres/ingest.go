package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// testHookVertex, when set by tests, runs before each vertex row is sent
// to COPY.
var testHookVertex func(n int)

// nameKey is a project or branch name.
type nameKey struct {
	table, name string
}

// stepKey caches step ids by identity, so a known step costs a map lookup
// rather than a query.
type stepKey struct {
	project int64
	model.Identity
}

// stepVal is a cached step: its id and the raw args stored with it.
type stepVal struct {
	id   int64
	args string
}

// Ingest SQL. Builds go in one INSERT each, pipelined; their rows with
// COPY; identities, names and rollups in one statement per table.
const (
	sqlInsertBuild = `INSERT INTO builds (id, content_hash, project_id, branch_id, commit_sha, ci_provider, run_url, runner,
	dockerfile, tags, source, started_at, started_source, ingested_at, format, status, log_duration_ns, log_started_ns,
	log_completed_ns, builder, error, error_context, error_file, error_line, warnings, image_id, image_names, truncated,
	logs_kept, duration_ns, duration_source, steps_total, steps_cached, steps_ran, steps_failed, ran_ns, context_bytes,
	base_image_bytes, build_source, log_index, log_builds, duration_from_timestamps, duration_is_lower_bound, began_mid_build)
	OVERRIDING SYSTEM VALUE VALUES `
	// Ids for a batch, from the builds' identity sequence: handed to the
	// builds in the caller's order, though they are inserted in hash order.
	sqlReserveIDs   = `SELECT nextval(pg_get_serial_sequence('builds', 'id')) FROM generate_series(1, $1)`
	sqlBuildsByHash = `SELECT id, content_hash FROM builds WHERE content_hash = ANY($1)`
	sqlInsertNames  = `INSERT INTO %s (name) SELECT n FROM unnest($1::text[]) AS n ORDER BY n COLLATE "C" ON CONFLICT (name) DO NOTHING`
	sqlNames        = `SELECT id, name FROM %s WHERE name = ANY($1)`
	sqlInsertSteps  = `INSERT INTO steps (project_id, key, kind, platform, stage, instruction, text, occurrence, args)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[], $9::text[])
	AS k(project_id, key) ORDER BY project_id, key COLLATE "C" ON CONFLICT (project_id, key) DO NOTHING`
	// The identities a step whose name tty output cut may abbreviate
	// (model.ResolveTruncated picks).
	sqlStepsLike = `SELECT kind, platform, stage, instruction, text, occurrence FROM steps
	WHERE project_id = $1 AND instruction = $2 AND stage = $3 AND platform = $4`
	sqlSteps = `SELECT s.id, s.project_id, s.key, s.args FROM steps s
	JOIN unnest($1::bigint[], $2::text[]) AS k(project_id, key) ON s.project_id = k.project_id AND s.key = k.key`
)

var (
	vertexColumns = []string{"build_id", "seq", "step_id", "vertex_id", "digest", "inputs", "name", "name_truncated",
		"platform", "stage", "step_index", "step_total", "instruction", "args", "cached", "canceled", "completed", "error",
		"exit_code", "duration_ns", "has_duration", "started_ns", "ended_ns", "warnings", "output_lines", "run_ms",
		"image_digest", "layer_bytes", "duration_is_lower_bound", "error_lines"}
	sqlCopyVertices = "COPY vertices (" + strings.Join(vertexColumns, ", ") + ") FROM STDIN (FORMAT binary)"
	transferColumns = []string{"build_id", "seq", "pos", "name", "bytes", "total", "duration_ns", "done"}
	outputColumns   = []string{"build_id", "seq", "lines"}
)

// pending is one build of an ingest on its way in.
type pending struct {
	item    int // index in the caller's items
	b       *model.Build
	m       store.Meta
	keep    bool
	project int64
	branch  int64
	id      int64
	created bool
	dupOf   *pending         // an earlier item of the batch with the same content hash
	baseIDs []model.Identity // of the vertices, as the build has them
	ids     []model.Identity // of the vertices, cut names resolved, once the build is to be stored
	causes  []store.BreakCause
	log     *store.BuildLog
}

// ingester writes builds inside one transaction.
type ingester struct {
	s     *Store
	tx    pgx.Tx
	names map[nameKey]int64 // ids learnt in this transaction
	steps map[stepKey]stepVal
	days  map[rollupKey]map[int64]*stepDelta
	now   int64
	// idsReady is closed once every pending build's baseIDs are set.
	idsReady chan struct{}
}

// Ingest stores b in one transaction: a crash, kill or lost connection
// part way leaves no trace of it. See store.Store.Ingest.
func (s *Store) Ingest(ctx context.Context, b *model.Build, m store.Meta, opts store.IngestOptions) (int64, bool, error) {
	res, err := s.ingest(ctx, []store.BatchItem{{Build: b, Meta: m, Options: opts}})
	if err != nil {
		return 0, false, s.wrap("ingest", err)
	}
	return res[0].ID, res[0].Created, nil
}

// IngestBatch stores many builds in a single transaction: all or none.
func (s *Store) IngestBatch(ctx context.Context, items []store.BatchItem) ([]store.BatchResult, error) {
	res, err := s.ingest(ctx, items)
	if err != nil {
		return nil, s.wrap("ingest batch", err)
	}
	return res, nil
}

// prepare checks and completes each item's metadata as SQLite's ingest
// does, before anything is sent.
func prepare(items []store.BatchItem, now int64) ([]*pending, error) {
	out := make([]*pending, len(items))
	first := map[string]*pending{}
	for i, it := range items {
		p := &pending{item: i, b: it.Build, m: it.Meta, keep: it.Options.KeepLogs, causes: it.Options.Causes, log: it.Options.Log}
		if p.b == nil {
			return nil, itemErr(len(items), i, errors.New("ingest: nil build"))
		}
		if p.m.ContentHash == "" {
			p.m.ContentHash = store.BuildHash(p.b)
		}
		if p.m.Project == "" {
			return nil, itemErr(len(items), i, errors.New("ingest: the build has no project name (set store.Meta.Project, see buildenv.DetectProject)"))
		}
		if p.m.Started.IsZero() {
			p.m.Started, p.m.StartedSource = store.StartTime(p.b, time.Time{}, time.Time{})
			if p.m.Started.IsZero() {
				p.m.Started, p.m.StartedSource = time.UnixMilli(now), "ingest"
			}
		}
		if len(p.m.Tags) == 0 {
			p.m.Tags = p.b.ImageNames
		}
		if f := first[p.m.ContentHash]; f != nil {
			p.dupOf = f
		} else {
			first[p.m.ContentHash] = p
		}
		out[i] = p
	}
	return out, nil
}

func itemErr(n, i int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("item %d: %w", i, err)
}

// maxAttempts bounds the retries of a transaction the server aborted to
// resolve a deadlock or a serialization conflict: nothing of it was kept.
const maxAttempts = 5

func (s *Store) ingest(ctx context.Context, items []store.BatchItem) ([]store.BatchResult, error) {
	if s.readOnly {
		return nil, errReadOnly
	}
	now := time.Now().UnixMilli()
	ps, err := prepare(items, now)
	if err != nil {
		return nil, err
	}
	// The step identities are the client's largest share of an ingest:
	// they are worked out while the server stores the build rows.
	idsReady := make(chan struct{})
	go func() {
		defer close(idsReady)
		for _, p := range ps {
			if p.dupOf == nil {
				p.baseIDs = p.b.Identities()
			}
		}
	}()
	defer func() { <-idsReady }()
	for attempt := 1; ; attempt++ {
		var in *ingester
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			in = &ingester{s: s, tx: tx, idsReady: idsReady, names: map[nameKey]int64{}, steps: map[stepKey]stepVal{}, days: map[rollupKey]map[int64]*stepDelta{}, now: now}
			return in.run(ctx, ps)
		})
		if err == nil {
			in.publish()
			break
		}
		if attempt == maxAttempts || !retryable(err) {
			return nil, err
		}
	}
	out := make([]store.BatchResult, len(ps))
	for i, p := range ps {
		if p.dupOf != nil {
			out[i] = store.BatchResult{ID: p.dupOf.id}
			continue
		}
		out[i] = store.BatchResult{ID: p.id, Created: p.created}
	}
	return out, nil
}

// retryable reports a transaction the server aborted to let another one
// through (a deadlock, a serialization conflict); running it again is
// safe, as nothing of it was kept.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// inTx runs f in a transaction and commits if it succeeds.
func (s *Store) inTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		// The rollback may fail too when the connection is gone; the
		// server then discards the transaction itself.
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}

// run stores the builds of ps that are not stored yet.
func (in *ingester) run(ctx context.Context, ps []*pending) error {
	if err := in.checkPruned(ctx); err != nil {
		return err
	}
	if err := in.nameIDs(ctx, ps); err != nil {
		return err
	}
	if err := in.insertBuilds(ctx, ps); err != nil {
		return err
	}
	var created []*pending
	for _, p := range ps {
		if p.dupOf == nil && p.created {
			created = append(created, p)
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := in.stepIDs(ctx, created); err != nil {
		return err
	}
	if err := in.copyRows(ctx, created); err != nil {
		return err
	}
	if err := in.writeInputs(ctx, created); err != nil {
		return err
	}
	return in.writeDays(ctx)
}

// checkPruned takes the prune lock shared, so no prune deletes what this
// transaction relies on until it commits, and drops the cached ids if a
// prune ran since they were learnt.
func (in *ingester) checkPruned(ctx context.Context) error {
	var pruned int64
	if err := in.tx.QueryRow(ctx, `SELECT pruned FROM buildstats_schema, pg_advisory_xact_lock_shared($1)`, pruneLock).Scan(&pruned); err != nil {
		return err
	}
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	if pruned != in.s.pruned {
		clear(in.s.names)
		clear(in.s.steps)
		in.s.pruned = pruned
	}
	return nil
}

// publish shares the ids a committed transaction learnt.
func (in *ingester) publish() {
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	for k, id := range in.names {
		in.s.names[k] = id
	}
	for k, v := range in.steps {
		in.s.steps[k] = v
	}
}

func (in *ingester) cachedName(k nameKey) (int64, bool) {
	if id, ok := in.names[k]; ok {
		return id, true
	}
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	id, ok := in.s.names[k]
	return id, ok
}

// nameIDs finds or creates the projects and branches of ps.
func (in *ingester) nameIDs(ctx context.Context, ps []*pending) error {
	want := map[string][]string{}
	for _, p := range ps {
		for _, k := range []nameKey{{"projects", p.m.Project}, {"branches", p.m.Branch}} {
			if _, ok := in.cachedName(k); !ok && !slices.Contains(want[k.table], k.name) {
				want[k.table] = append(want[k.table], k.name)
			}
		}
	}
	for _, table := range []string{"projects", "branches"} { // constants, never input
		names := want[table]
		if len(names) == 0 {
			continue
		}
		if _, err := in.tx.Exec(ctx, fmt.Sprintf(sqlInsertNames, table), names); err != nil {
			return err
		}
		rows, err := in.tx.Query(ctx, fmt.Sprintf(sqlNames, table), names)
		if err != nil {
			return err
		}
		var id int64
		var name string
		_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			in.names[nameKey{table, name}] = id
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, p := range ps {
		p.project, _ = in.cachedName(nameKey{"projects", p.m.Project})
		p.branch, _ = in.cachedName(nameKey{"branches", p.m.Branch})
	}
	return nil
}

// buildColumns is the number of values of a row of sqlInsertBuild;
// buildsPerInsert keeps a statement's parameters under PostgreSQL's 65,535.
const (
	buildColumns    = 44
	buildsPerInsert = 1000
)

// insertBuildsSQL inserts n builds, answering the ids of those it stored
// (a content hash already stored is skipped).
func insertBuildsSQL(n int) string {
	var b strings.Builder
	b.WriteString(sqlInsertBuild)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range buildColumns {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i*buildColumns + c + 1))
		}
		b.WriteByte(')')
	}
	b.WriteString(` ON CONFLICT (content_hash) DO NOTHING RETURNING id`)
	return b.String()
}

// buildRow is a build's values for sqlInsertBuild.
func (in *ingester) buildRow(p *pending) []any {
	b, m := p.b, p.m
	a := store.Summarize(b)
	var errorContext any
	if p.keep {
		errorContext = list(b.ErrorContext)
	}
	var ctxBytes any
	if a.ContextBytes >= 0 {
		ctxBytes = a.ContextBytes
	}
	var warnings any
	if len(b.Warnings) > 0 {
		warnings = b.Warnings
	}
	return []any{p.id, m.ContentHash, p.project, p.branch, m.Commit, m.CIProvider, m.RunURL, m.Runner,
		m.Dockerfile, list(m.Tags), m.Source, m.Started.UnixMilli(), m.StartedSource, in.now, string(b.Format),
		string(b.Status), nullDuration(b.Duration, b.HasDuration), nullTime(b.Started), nullTime(b.Completed), b.Builder,
		b.Error, errorContext, b.ErrorFile, b.ErrorLine, warnings, b.ImageID, list(b.ImageNames), b.Truncated, p.keep,
		int64(a.Duration), a.DurationSource, a.StepsTotal, a.StepsCached, a.StepsRan, a.StepsFailed, int64(a.RanTime),
		ctxBytes, a.BaseImageBytes, nullString(b.Source), int32(b.LogIndex), int32(b.LogBuilds), b.DurationFromTimestamps,
		b.DurationIsLowerBound, b.BeganMidBuild}
}

// insertBuilds inserts the build rows and finds the ids of those already
// stored. Ids follow the caller's order, as SQLite's do, but rows go in
// content hash order: the order concurrent ingests lock them in.
func (in *ingester) insertBuilds(ctx context.Context, ps []*pending) error {
	var order []*pending
	for _, p := range ps {
		if p.dupOf == nil {
			order = append(order, p)
		}
	}
	rows, err := in.tx.Query(ctx, sqlReserveIDs, len(order))
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	slices.Sort(ids)
	for i, p := range order {
		p.id = ids[i]
	}
	slices.SortFunc(order, func(a, b *pending) int { return strings.Compare(a.m.ContentHash, b.m.ContentHash) })
	// One multi-row INSERT per chunk: a statement per build cost the
	// server more than the build's vertices.
	created := map[int64]bool{}
	for chunk := range slices.Chunk(order, buildsPerInsert) {
		args := make([]any, 0, len(chunk)*buildColumns)
		for _, p := range chunk {
			args = append(args, in.buildRow(p)...)
		}
		rows, err := in.tx.Query(ctx, insertBuildsSQL(len(chunk)), args...)
		if err != nil {
			return err
		}
		var id int64
		if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { created[id] = true; return nil }); err != nil {
			return err
		}
	}
	var existing []string
	for _, p := range order {
		if p.created = created[p.id]; !p.created {
			existing = append(existing, p.m.ContentHash)
		}
	}
	if len(existing) == 0 {
		return nil
	}
	stored := map[string]int64{}
	rows, err = in.tx.Query(ctx, sqlBuildsByHash, existing)
	if err != nil {
		return err
	}
	var id int64
	var hash string
	if _, err := pgx.ForEachRow(rows, []any{&id, &hash}, func() error { stored[hash] = id; return nil }); err != nil {
		return err
	}
	for _, p := range order {
		if !p.created {
			p.id = stored[p.m.ContentHash]
		}
	}
	return nil
}

func (in *ingester) cachedStep(k stepKey) (stepVal, bool) {
	if v, ok := in.steps[k]; ok {
		return v, true
	}
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	v, ok := in.s.steps[k]
	return v, ok
}

// stepIDs finds or creates every step identity of the builds, in
// (project, key) order.
func (in *ingester) stepIDs(ctx context.Context, ps []*pending) error {
	type newStep struct {
		k    stepKey
		key  string
		args string
	}
	var missing []newStep
	seen := map[stepKey]bool{}
	<-in.idsReady
	for _, p := range ps {
		// A copy: resolving cut names changes it, and a retried
		// transaction starts again from what the build says.
		p.ids = slices.Clone(p.baseIDs)
	}
	if err := in.resolveTruncated(ctx, ps); err != nil {
		return err
	}
	for _, p := range ps {
		for seq, id := range p.ids {
			k := stepKey{p.project, id}
			if _, ok := in.cachedStep(k); ok || seen[k] {
				continue
			}
			seen[k] = true
			missing = append(missing, newStep{k, id.Key(), p.b.Vertices[seq].Args})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.SortFunc(missing, func(a, b newStep) int {
		return cmp.Or(cmp.Compare(a.k.project, b.k.project), strings.Compare(a.key, b.key))
	})
	n := len(missing)
	projects, occurrences := make([]int64, n), make([]int32, n)
	keys, kinds, platforms, stages, instrs, texts, args := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	byKey := map[stepKeyText]stepKey{}
	for i, m := range missing {
		projects[i], keys[i], kinds[i], platforms[i], stages[i] = m.k.project, m.key, string(m.k.Kind), m.k.Platform, m.k.Stage
		instrs[i], texts[i], occurrences[i], args[i] = m.k.Instruction, m.k.Text, int32(m.k.Occurrence), m.args
		byKey[stepKeyText{m.k.project, m.key}] = m.k
	}
	if _, err := in.tx.Exec(ctx, sqlInsertSteps, projects, keys, kinds, platforms, stages, instrs, texts, occurrences, args); err != nil {
		return err
	}
	rows, err := in.tx.Query(ctx, sqlSteps, projects, keys)
	if err != nil {
		return err
	}
	var id, project int64
	var key, stored string
	_, err = pgx.ForEachRow(rows, []any{&id, &project, &key, &stored}, func() error {
		if k, ok := byKey[stepKeyText{project, key}]; ok {
			in.steps[k] = stepVal{id: id, args: stored}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range missing {
		if _, ok := in.steps[m.k]; !ok {
			return fmt.Errorf("step identity %q of project %d was not stored", m.key, m.k.project)
		}
	}
	return nil
}

// resolveTruncated gives each step whose name tty output cut the identity
// of the one step it abbreviates, stored or whole in another build of the
// batch, so history does not split a step in two when one log printed it
// whole and another cut it.
func (in *ingester) resolveTruncated(ctx context.Context, ps []*pending) error {
	for _, p := range ps {
		for seq, v := range p.b.Vertices {
			id := p.ids[seq]
			if !v.NameTruncated || !v.IsStep() || len(id.Text) < model.MinAbbreviation {
				continue
			}
			rows, err := in.tx.Query(ctx, sqlStepsLike, p.project, id.Instruction, id.Stage, id.Platform)
			if err != nil {
				return err
			}
			var known []model.Identity
			var k model.Identity
			var kind string
			_, err = pgx.ForEachRow(rows, []any{&kind, &k.Platform, &k.Stage, &k.Instruction, &k.Text, &k.Occurrence}, func() error {
				k.Kind = model.Kind(kind)
				known = append(known, k)
				return nil
			})
			if err != nil {
				return err
			}
			for _, o := range ps {
				if o.project != p.project {
					continue
				}
				for j, w := range o.b.Vertices {
					if !w.NameTruncated {
						known = append(known, o.ids[j])
					}
				}
			}
			model.ResolveTruncated(p.b.Vertices[seq:seq+1], p.ids[seq:seq+1], known)
		}
	}
	return nil
}

type stepKeyText struct {
	project int64
	key     string
}

// copyRows sends the vertices, transfers and kept output of the builds
// with COPY, and gathers their rollup rows.
func (in *ingester) copyRows(ctx context.Context, ps []*pending) error {
	src := &vertexReader{in: in, ps: ps, seq: -1}
	src.buf = copyHeader(src.buf)
	if _, err := in.tx.Conn().PgConn().CopyFrom(ctx, src, sqlCopyVertices); err != nil {
		if src.err != nil {
			return src.err
		}
		return err
	}
	var transfers, outputs [][]any
	for _, p := range ps {
		for seq, v := range p.b.Vertices {
			for pos, t := range v.Transfers {
				transfers = append(transfers, []any{p.id, int32(seq), int32(pos), t.Name, t.Bytes, t.Total, int64(t.Duration), t.Done})
			}
			if p.keep && len(v.Output) > 0 {
				outputs = append(outputs, []any{p.id, int32(seq), v.Output})
			}
		}
	}
	if len(transfers) > 0 {
		if _, err := in.tx.CopyFrom(ctx, pgx.Identifier{"transfers"}, transferColumns, pgx.CopyFromRows(transfers)); err != nil {
			return err
		}
	}
	if len(outputs) > 0 {
		if _, err := in.tx.CopyFrom(ctx, pgx.Identifier{"vertex_output"}, outputColumns, pgx.CopyFromRows(outputs)); err != nil {
			return err
		}
	}
	return nil
}

// list stores an empty list as NULL, so it reads back as nil.
func list[T any](xs []T) any {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// nullString stores "" as NULL: the column is absent rather than empty
// (logs have no Source).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullDuration(d time.Duration, ok bool) any {
	if !ok {
		return nil
	}
	return int64(d)
}
