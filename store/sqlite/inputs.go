package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// inputsSchema (v5) keeps what went into each build (model.Inputs) and
// why its cache broke (store.BreakCause).
//
// context_nodes holds the directory nodes of context manifests by hash
// (model.ContextDir.Encode): a node is stored once for every build that
// has it, so an unchanged directory costs nothing and a changed file adds
// only the nodes on its path. dockerfiles holds each distinct Dockerfile
// text once. build_inputs is one row per build that has inputs: the rest of
// model.Inputs as JSON (build args with secret-looking values already
// hashed by the model), and the keys of its Dockerfile text and context
// root. Hashes are the 32 raw bytes.
const inputsSchema = `
CREATE TABLE context_nodes (
	hash BLOB PRIMARY KEY,
	data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE dockerfiles (
	hash    BLOB PRIMARY KEY,
	content TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE build_inputs (
	build_id        INTEGER PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
	inputs          TEXT NOT NULL,
	dockerfile_hash BLOB REFERENCES dockerfiles(hash),
	context_root    BLOB REFERENCES context_nodes(hash)
);
CREATE TABLE break_causes (
	build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	confidence  TEXT NOT NULL,
	area        TEXT NOT NULL,
	rebuilt_ms  INTEGER NOT NULL,
	previous_id INTEGER,
	PRIMARY KEY (build_id, seq)
) WITHOUT ROWID;
`

const (
	sqlNodeExists       = `SELECT 1, NULL FROM context_nodes WHERE hash = ?`
	sqlInsertNode       = `INSERT INTO context_nodes (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`
	sqlInsertDockerfile = `INSERT INTO dockerfiles (hash, content) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`
	sqlInsertInputs     = `INSERT INTO build_inputs (build_id, inputs, dockerfile_hash, context_root) VALUES (?, ?, ?, ?)`
	sqlInsertCause      = `INSERT INTO break_causes (build_id, seq, kind, confidence, area, rebuilt_ms, previous_id)
	VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (build_id, seq) DO NOTHING`
)

// inputs stores a build's inputs. The context's nodes are written from the
// root down, and a subtree whose node is already stored is not entered:
// its nodes are stored too.
func (in *ingester) inputs(buildID int64, inp *model.Inputs) error {
	if inp.IsEmpty() {
		return nil
	}
	rec := *inp // shallow: the JSON leaves out the text and nodes below
	var dfHash, root any
	if inp.Dockerfile != nil {
		df := *inp.Dockerfile
		if df.Content != "" {
			st, err := in.stmt(sqlInsertDockerfile)
			if err != nil {
				return err
			}
			if err := st.exec(df.Hash[:], df.Content); err != nil {
				return err
			}
			dfHash = df.Hash[:]
		}
		df.Content = ""
		rec.Dockerfile = &df
	}
	if m := inp.Context; m != nil {
		if err := in.contextTree(m, m.Root); err != nil {
			return err
		}
		if ok, err := in.nodeStored(m.Root); err != nil {
			return err
		} else if ok {
			root = m.Root[:]
		}
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	st, err := in.stmt(sqlInsertInputs)
	if err != nil {
		return err
	}
	return st.exec(buildID, string(data), dfHash, root)
}

func (in *ingester) nodeStored(h model.Hash) (bool, error) {
	st, err := in.stmt(sqlNodeExists)
	if err != nil {
		return false, err
	}
	_, found, _, err := st.id(h[:])
	return found, err
}

// contextTree stores the node h of m and, unless it was stored already,
// the nodes below it. A node m does not hold (a manifest read back from a
// store) is left as it is.
func (in *ingester) contextTree(m *model.ContextManifest, h model.Hash) error {
	d := m.Nodes[h]
	if d == nil {
		return nil
	}
	if ok, err := in.nodeStored(h); err != nil || ok {
		return err
	}
	st, err := in.stmt(sqlInsertNode)
	if err != nil {
		return err
	}
	if err := st.exec(h[:], d.Encode()); err != nil {
		return err
	}
	for _, e := range d.Entries {
		if e.IsDir() {
			if err := in.contextTree(m, e.Hash); err != nil {
				return err
			}
		}
	}
	return nil
}

// causes stores why the build's cache broke.
func (in *ingester) causes(buildID int64, causes []store.BreakCause) error {
	for _, c := range causes {
		st, err := in.stmt(sqlInsertCause)
		if err != nil {
			return err
		}
		var prev any
		if c.PreviousBuild > 0 {
			prev = c.PreviousBuild
		}
		if err := st.exec(buildID, c.Seq, c.Kind, c.Confidence, c.Area, int64(math.Round(c.RebuiltSeconds*1000)), prev); err != nil {
			return err
		}
	}
	return nil
}

// loadInputs reads a build's inputs back; nil when none were stored. The
// context manifest comes without its nodes (see ContextNodes).
func loadInputs(ctx context.Context, q queryer, id int64) (*model.Inputs, error) {
	var data string
	var content sql.NullString
	err := q.QueryRowContext(ctx, `SELECT i.inputs, d.content FROM build_inputs i
		LEFT JOIN dockerfiles d ON d.hash = i.dockerfile_hash WHERE i.build_id = ?`, id).Scan(&data, &content)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	inp := &model.Inputs{}
	if err := json.Unmarshal([]byte(data), inp); err != nil {
		return nil, fmt.Errorf("inputs of build %d: %w", id, err)
	}
	if inp.Dockerfile != nil && content.Valid {
		inp.Dockerfile.Content = content.String
	}
	return inp, nil
}

// nodesPerQuery bounds the parameters of one ContextNodes query.
const nodesPerQuery = 500

// ContextNodes returns the stored nodes among hashes. See
// store.Reader.ContextNodes.
func (s *Store) ContextNodes(ctx context.Context, hashes []model.Hash) (map[model.Hash]*model.ContextDir, error) {
	out, err := readNodes(ctx, s.db, hashes)
	if errors.Is(err, model.ErrBadNode) {
		return nil, fmt.Errorf("context nodes of %s: %w", s.path, err)
	}
	return out, s.wrap("context nodes", err)
}

// readNodes reads the nodes among hashes, a bounded number per query.
func readNodes(ctx context.Context, q queryer, hashes []model.Hash) (map[model.Hash]*model.ContextDir, error) {
	out := map[model.Hash]*model.ContextDir{}
	for len(hashes) > 0 {
		n := min(len(hashes), nodesPerQuery)
		args := make([]any, n)
		for i, h := range hashes[:n] {
			args[i] = h[:]
		}
		hashes = hashes[n:]
		rows, err := q.QueryContext(ctx, `SELECT hash, data FROM context_nodes WHERE hash IN (?`+
			strings.Repeat(",?", n-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var hb, data []byte
			if err := rows.Scan(&hb, &data); err != nil {
				rows.Close()
				return nil, err
			}
			d, err := model.DecodeContextDir(data)
			var h model.Hash
			if err != nil || len(hb) != len(h) {
				rows.Close()
				return nil, fmt.Errorf("a damaged node: %w", model.ErrBadNode)
			}
			copy(h[:], hb)
			out[h] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MissCauses adds up the stored causes of cache breaks. See
// store.Reader.MissCauses.
func (s *Store) MissCauses(ctx context.Context, q store.CauseQuery) ([]store.CauseStats, error) {
	var f filter
	if q.Project != "" {
		f.add("b.project_id = (SELECT id FROM projects WHERE name = ?)", q.Project)
	}
	if q.Branch != "" {
		f.add("b.branch_id = (SELECT id FROM branches WHERE name = ?)", q.Branch)
	}
	if !q.Since.IsZero() {
		f.add("b.started_at >= ?", q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		f.add("b.started_at < ?", q.Until.UnixMilli())
	}
	rows, err := s.db.QueryContext(ctx, `SELECT c.build_id, c.kind, c.area, c.confidence, c.rebuilt_ms
		FROM break_causes c JOIN builds b ON b.id = c.build_id`+f.where(), f.args...)
	if err != nil {
		return nil, s.wrap("miss causes", err)
	}
	defer rows.Close()
	type key struct{ kind, area string }
	stats := map[key]*store.CauseStats{}
	builds := map[key]map[int64]bool{}
	for rows.Next() {
		var id, ms int64
		var k key
		var conf string
		if err := rows.Scan(&id, &k.kind, &k.area, &conf, &ms); err != nil {
			return nil, s.wrap("miss causes", err)
		}
		cs := stats[k]
		if cs == nil {
			cs = &store.CauseStats{Kind: k.kind, Area: k.area, Confidence: map[string]int{}}
			stats[k], builds[k] = cs, map[int64]bool{}
		}
		cs.Breaks++
		cs.Confidence[conf]++
		cs.RebuiltSeconds += float64(ms) / 1000
		builds[k][id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("miss causes", err)
	}
	out := []store.CauseStats{}
	for k, cs := range stats {
		cs.Builds = len(builds[k])
		cs.RebuiltSeconds = math.Round(cs.RebuiltSeconds*1000) / 1000
		out = append(out, *cs)
	}
	slices.SortFunc(out, func(a, b store.CauseStats) int {
		if a.RebuiltSeconds != b.RebuiltSeconds {
			return -cmpFloat(a.RebuiltSeconds, b.RebuiltSeconds)
		}
		return strings.Compare(a.Kind+" "+a.Area, b.Kind+" "+b.Area)
	})
	return out, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BuildCauses returns the causes stored with a build. See
// store.Reader.BuildCauses.
func (s *Store) BuildCauses(ctx context.Context, id int64) ([]store.BreakCause, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, kind, confidence, area, rebuilt_ms, COALESCE(previous_id, 0)
		FROM break_causes WHERE build_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, s.wrap("causes", err)
	}
	defer rows.Close()
	var out []store.BreakCause
	for rows.Next() {
		var c store.BreakCause
		var ms int64
		if err := rows.Scan(&c.Seq, &c.Kind, &c.Confidence, &c.Area, &ms, &c.PreviousBuild); err != nil {
			return nil, s.wrap("causes", err)
		}
		c.RebuiltSeconds = float64(ms) / 1000
		out = append(out, c)
	}
	return out, s.wrap("causes", rows.Err())
}

// sweepInputs deletes the context nodes and Dockerfile texts no remaining
// build refers to, after a prune deleted builds. It returns how many nodes
// went.
func sweepInputs(ctx context.Context, q queryer) (int, error) {
	if _, err := q.ExecContext(ctx, `DELETE FROM dockerfiles WHERE hash NOT IN
		(SELECT dockerfile_hash FROM build_inputs WHERE dockerfile_hash IS NOT NULL)`); err != nil {
		return 0, err
	}
	keep := map[model.Hash]bool{}
	roots, err := contextRoots(ctx, q)
	if err != nil {
		return 0, err
	}
	err = store.ReachableNodes(roots, func(hs []model.Hash) (map[model.Hash]*model.ContextDir, error) {
		return readNodes(ctx, q, hs)
	}, func(h model.Hash) { keep[h] = true })
	if err != nil {
		return 0, err
	}
	rows, err := q.QueryContext(ctx, `SELECT hash FROM context_nodes`)
	if err != nil {
		return 0, err
	}
	var gone [][]byte
	for rows.Next() {
		var hb []byte
		if err := rows.Scan(&hb); err != nil {
			rows.Close()
			return 0, err
		}
		var h model.Hash
		copy(h[:], hb)
		if !keep[h] {
			gone = append(gone, hb)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, hb := range gone {
		if _, err := q.ExecContext(ctx, `DELETE FROM context_nodes WHERE hash = ?`, hb); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}

// contextRoots lists the context roots of the stored builds.
func contextRoots(ctx context.Context, q queryer) ([]model.Hash, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT context_root FROM build_inputs WHERE context_root IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Hash
	for rows.Next() {
		var hb []byte
		if err := rows.Scan(&hb); err != nil {
			return nil, err
		}
		var h model.Hash
		copy(h[:], hb)
		out = append(out, h)
	}
	return out, rows.Err()
}
