package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
)

// inputsSchema (version 2) keeps what went into each build and why its
// cache broke, as SQLite's version 6 does (see store/inputs.go): context
// directory nodes by their SHA-256, each Dockerfile text once, the rest of
// model.Inputs as JSON, one row per cause of a cache break. Deleting a
// build deletes its inputs and causes; the nodes and texts no build refers
// to any more are swept by a prune.
const inputsSchema = `
CREATE TABLE context_nodes (
	hash bytea PRIMARY KEY,
	data bytea NOT NULL
);
CREATE TABLE dockerfiles (
	hash    bytea PRIMARY KEY,
	content text NOT NULL
);
CREATE TABLE build_inputs (
	build_id        bigint PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
	inputs          jsonb NOT NULL,
	dockerfile_hash bytea REFERENCES dockerfiles(hash),
	context_root    bytea REFERENCES context_nodes(hash)
);
CREATE TABLE break_causes (
	build_id    bigint NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
	seq         integer NOT NULL,
	kind        text NOT NULL,
	confidence  text NOT NULL,
	area        text NOT NULL,
	rebuilt_ms  bigint NOT NULL,
	previous_id bigint,
	PRIMARY KEY (build_id, seq)
);
`

// inputTables are the tables inputsSchema creates.
var inputTables = []string{"context_nodes", "dockerfiles", "build_inputs", "break_causes"}

// writeInputs stores the inputs and causes of the builds just created, in
// the ingest's transaction. A context's nodes are written from the root
// down, a level at a time, without entering a directory whose node is
// stored already (its nodes are too).
func (in *ingester) writeInputs(ctx context.Context, ps []*pending) error {
	for _, p := range ps {
		if err := in.writeLive(ctx, p); err != nil {
			return err
		}
		if err := in.writeCauses(ctx, p); err != nil {
			return err
		}
		inp := p.b.Inputs
		if inp.IsEmpty() {
			continue
		}
		rec := *inp // the JSON leaves out the Dockerfile's text and the nodes
		var dfHash, root []byte
		if inp.Dockerfile != nil {
			df := *inp.Dockerfile
			if df.Content != "" {
				if _, err := in.tx.Exec(ctx, `INSERT INTO dockerfiles (hash, content) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING`,
					df.Hash[:], df.Content); err != nil {
					return err
				}
				dfHash = df.Hash[:]
			}
			df.Content = ""
			rec.Dockerfile = &df
		}
		if m := inp.Context; m != nil {
			stored, err := in.writeTree(ctx, m)
			if err != nil {
				return err
			}
			if stored {
				root = m.Root[:]
			}
		}
		data, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		if _, err := in.tx.Exec(ctx, `INSERT INTO build_inputs (build_id, inputs, dockerfile_hash, context_root) VALUES ($1, $2, $3, $4)`,
			p.id, string(data), dfHash, root); err != nil {
			return err
		}
	}
	return nil
}

// writeTree stores the nodes of m the database lacks; it reports whether
// the root is stored when it is done (false for a manifest read back
// without its nodes whose root this database does not have).
func (in *ingester) writeTree(ctx context.Context, m *model.ContextManifest) (bool, error) {
	level := []model.Hash{m.Root}
	rootStored := false
	for len(level) > 0 {
		have, err := storedNodes(ctx, in.tx, level)
		if err != nil {
			return false, err
		}
		var hashes, datas [][]byte
		var next []model.Hash
		for _, h := range level {
			if have[h] {
				if h == m.Root {
					rootStored = true
				}
				continue
			}
			d := m.Nodes[h]
			if d == nil {
				continue // neither here nor in the manifest: left out
			}
			if h == m.Root {
				rootStored = true
			}
			hashes = append(hashes, slices.Clone(h[:]))
			datas = append(datas, d.Encode())
			for _, e := range d.Entries {
				if e.IsDir() {
					next = append(next, e.Hash)
				}
			}
		}
		if len(hashes) > 0 {
			if _, err := in.tx.Exec(ctx, `INSERT INTO context_nodes (hash, data) SELECT * FROM unnest($1::bytea[], $2::bytea[])
				ON CONFLICT (hash) DO NOTHING`, hashes, datas); err != nil {
				return false, err
			}
		}
		level = next
	}
	return rootStored, nil
}

// storedNodes reports which of hashes are stored.
func storedNodes(ctx context.Context, q querier, hashes []model.Hash) (map[model.Hash]bool, error) {
	args := make([][]byte, len(hashes))
	for i, h := range hashes {
		args[i] = slices.Clone(h[:])
	}
	rows, err := q.Query(ctx, `SELECT hash FROM context_nodes WHERE hash = ANY($1)`, args)
	if err != nil {
		return nil, err
	}
	out := map[model.Hash]bool{}
	var hb []byte
	_, err = pgx.ForEachRow(rows, []any{&hb}, func() error {
		var h model.Hash
		copy(h[:], hb)
		out[h] = true
		return nil
	})
	return out, err
}

// writeCauses stores why the build's cache broke.
func (in *ingester) writeCauses(ctx context.Context, p *pending) error {
	if len(p.causes) == 0 {
		return nil
	}
	n := len(p.causes)
	seqs, ms := make([]int32, n), make([]int64, n)
	kinds, confs, areas := make([]string, n), make([]string, n), make([]string, n)
	prev := make([]*int64, n)
	for i, c := range p.causes {
		seqs[i], kinds[i], confs[i], areas[i] = int32(c.Seq), c.Kind, c.Confidence, c.Area
		ms[i] = int64(math.Round(c.RebuiltSeconds * 1000))
		if c.PreviousBuild > 0 {
			prev[i] = &p.causes[i].PreviousBuild
		}
	}
	_, err := in.tx.Exec(ctx, `INSERT INTO break_causes (build_id, seq, kind, confidence, area, rebuilt_ms, previous_id)
		SELECT $1, * FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
		ON CONFLICT (build_id, seq) DO NOTHING`, p.id, seqs, kinds, confs, areas, ms, prev)
	return err
}

// loadInputs reads a build's inputs back; nil when none were stored. The
// context manifest comes without its nodes (see ContextNodes).
func loadInputs(ctx context.Context, q querier, id int64) (*model.Inputs, error) {
	var data string
	var content *string
	err := q.QueryRow(ctx, `SELECT i.inputs::text, d.content FROM build_inputs i
		LEFT JOIN dockerfiles d ON d.hash = i.dockerfile_hash WHERE i.build_id = $1`, id).Scan(&data, &content)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	inp := &model.Inputs{}
	if err := json.Unmarshal([]byte(data), inp); err != nil {
		return nil, fmt.Errorf("inputs of build %d: %w", id, err)
	}
	if inp.Dockerfile != nil && content != nil {
		inp.Dockerfile.Content = *content
	}
	return inp, nil
}

// ContextNodes returns the stored nodes among hashes. See
// store.Reader.ContextNodes.
func (s *Store) ContextNodes(ctx context.Context, hashes []model.Hash) (map[model.Hash]*model.ContextDir, error) {
	out, err := readNodes(ctx, s.pool, hashes)
	if errors.Is(err, model.ErrBadNode) {
		return nil, fmt.Errorf("context nodes of %s: %w", s.target, err)
	}
	return out, s.wrap("context nodes", err)
}

func readNodes(ctx context.Context, q querier, hashes []model.Hash) (map[model.Hash]*model.ContextDir, error) {
	out := map[model.Hash]*model.ContextDir{}
	if len(hashes) == 0 {
		return out, nil
	}
	args := make([][]byte, len(hashes))
	for i, h := range hashes {
		args[i] = slices.Clone(h[:])
	}
	rows, err := q.Query(ctx, `SELECT hash, data FROM context_nodes WHERE hash = ANY($1)`, args)
	if err != nil {
		return nil, err
	}
	var hb, data []byte
	_, err = pgx.ForEachRow(rows, []any{&hb, &data}, func() error {
		d, err := model.DecodeContextDir(data)
		var h model.Hash
		if err != nil || len(hb) != len(h) {
			return fmt.Errorf("a damaged node: %w", model.ErrBadNode)
		}
		copy(h[:], hb)
		out[h] = d
		return nil
	})
	return out, err
}

// BuildCauses returns the causes stored with a build. See
// store.Reader.BuildCauses.
func (s *Store) BuildCauses(ctx context.Context, id int64) ([]store.BreakCause, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, kind, confidence, area, rebuilt_ms, COALESCE(previous_id, 0)
		FROM break_causes WHERE build_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, s.wrap("causes", err)
	}
	var out []store.BreakCause
	var c store.BreakCause
	var seq int32
	var ms int64
	_, err = pgx.ForEachRow(rows, []any{&seq, &c.Kind, &c.Confidence, &c.Area, &ms, &c.PreviousBuild}, func() error {
		c.Seq, c.RebuiltSeconds = int(seq), float64(ms)/1000
		out = append(out, c)
		return nil
	})
	return out, s.wrap("causes", err)
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
	rows, err := s.pool.Query(ctx, `SELECT c.kind, c.area, count(DISTINCT c.build_id), count(*), sum(c.rebuilt_ms),
		count(*) FILTER (WHERE c.confidence = 'exact'), count(*) FILTER (WHERE c.confidence = 'likely'),
		count(*) FILTER (WHERE c.confidence = 'unknown')
		FROM break_causes c JOIN builds b ON b.id = c.build_id`+f.where()+` GROUP BY c.kind, c.area`, f.args...)
	if err != nil {
		return nil, s.wrap("miss causes", err)
	}
	out := []store.CauseStats{}
	var cs store.CauseStats
	var ms int64
	var exact, likely, unknown int
	_, err = pgx.ForEachRow(rows, []any{&cs.Kind, &cs.Area, &cs.Builds, &cs.Breaks, &ms, &exact, &likely, &unknown}, func() error {
		c := cs
		c.RebuiltSeconds = math.Round(float64(ms)) / 1000
		c.Confidence = map[string]int{}
		for k, n := range map[string]int{"exact": exact, "likely": likely, "unknown": unknown} {
			if n > 0 {
				c.Confidence[k] = n
			}
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, s.wrap("miss causes", err)
	}
	slices.SortFunc(out, func(a, b store.CauseStats) int {
		if a.RebuiltSeconds != b.RebuiltSeconds {
			if a.RebuiltSeconds > b.RebuiltSeconds {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Kind+" "+a.Area, b.Kind+" "+b.Area)
	})
	return out, nil
}

// sweepInputs deletes the context nodes and Dockerfile texts no remaining
// build refers to, after a prune deleted builds (their inputs and causes
// went with them). It returns how many nodes went.
func sweepInputs(ctx context.Context, tx pgx.Tx) (int, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM dockerfiles d WHERE NOT EXISTS
		(SELECT 1 FROM build_inputs i WHERE i.dockerfile_hash = d.hash)`); err != nil {
		return 0, err
	}
	var roots []model.Hash
	rows, err := tx.Query(ctx, `SELECT DISTINCT context_root FROM build_inputs WHERE context_root IS NOT NULL`)
	if err != nil {
		return 0, err
	}
	var hb []byte
	if _, err := pgx.ForEachRow(rows, []any{&hb}, func() error {
		var h model.Hash
		copy(h[:], hb)
		roots = append(roots, h)
		return nil
	}); err != nil {
		return 0, err
	}
	var keep [][]byte
	err = store.ReachableNodes(roots, func(hs []model.Hash) (map[model.Hash]*model.ContextDir, error) {
		return readNodes(ctx, tx, hs)
	}, func(h model.Hash) { keep = append(keep, slices.Clone(h[:])) })
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM context_nodes WHERE hash <> ALL($1::bytea[])`, keep)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
