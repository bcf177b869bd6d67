package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/buildstats/buildstats/store"
)

// writeLive stores what version 3 adds to a build (liveSchema): its
// BuildKit ref, facts and kept log.
func (in *ingester) writeLive(ctx context.Context, p *pending) error {
	if p.m.BuildKitRef != "" || p.m.Facts != nil {
		var facts *string
		if p.m.Facts != nil {
			data, err := json.Marshal(p.m.Facts)
			if err != nil {
				return err
			}
			s := string(data)
			facts = &s
		}
		var ref *string
		if p.m.BuildKitRef != "" {
			ref = &p.m.BuildKitRef
		}
		if _, err := in.tx.Exec(ctx, `UPDATE builds SET buildkit_ref = $1, facts = $2 WHERE id = $3`, ref, facts, p.id); err != nil {
			return err
		}
	}
	if p.log != nil {
		if _, err := in.tx.Exec(ctx, `INSERT INTO build_logs (build_id, gz, bytes, truncated) VALUES ($1, $2, $3, $4)
			ON CONFLICT (build_id) DO NOTHING`, p.id, p.log.Gz, p.log.Bytes, p.log.Truncated); err != nil {
			return err
		}
	}
	return nil
}

// loadLive reads what version 3 stores of build id into m.
func loadLive(ctx context.Context, q querier, id int64, m *store.Meta) error {
	var ref, facts *string
	err := q.QueryRow(ctx, `SELECT buildkit_ref, facts, EXISTS (SELECT 1 FROM build_logs l WHERE l.build_id = b.id)
		FROM builds b WHERE b.id = $1`, id).Scan(&ref, &facts, &m.LogKept)
	if err != nil {
		return err
	}
	if ref != nil {
		m.BuildKitRef = *ref
	}
	if facts != nil {
		m.Facts = &store.BuildFacts{}
		if err := json.Unmarshal([]byte(*facts), m.Facts); err != nil {
			return fmt.Errorf("build %d: facts: %w", id, err)
		}
	}
	return nil
}

// Log returns the log kept with build id. See store.Reader.Log.
func (s *Store) Log(ctx context.Context, id int64) (*store.BuildLog, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM builds WHERE id = $1)`, id).Scan(&exists); err != nil {
		return nil, s.wrap("read log", err)
	}
	if !exists {
		return nil, fmt.Errorf("build %d: %w", id, store.ErrNotFound)
	}
	var l store.BuildLog
	err := s.pool.QueryRow(ctx, `SELECT gz, bytes, truncated FROM build_logs WHERE build_id = $1`, id).Scan(&l.Gz, &l.Bytes, &l.Truncated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("read log", err)
	}
	return &l, nil
}

// resolveBuildKitRef finds the build a BuildKit history ref (or a unique
// prefix of one, at least 6 characters) names; builds stored before
// version 3 carry the ref only in their source, "buildkit:REF".
func (s *Store) resolveBuildKitRef(ctx context.Context, ref string) (int64, bool, error) {
	if len(ref) < 6 || strings.Trim(strings.ToLower(ref), "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		return 0, false, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM builds WHERE buildkit_ref = $1 OR source = $2
		UNION SELECT id FROM builds WHERE left(buildkit_ref, length($1)) = $1 LIMIT 2`, ref, "buildkit:"+ref)
	if err != nil {
		return 0, false, s.wrap("resolve "+ref, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, false, s.wrap("resolve "+ref, err)
	}
	switch len(ids) {
	case 0:
		return 0, false, nil
	case 1:
		return ids[0], true, nil
	}
	return 0, false, fmt.Errorf("BuildKit ref %q names more than one build: give more of it", ref)
}
