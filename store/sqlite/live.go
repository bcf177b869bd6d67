package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/buildstats/buildstats/store"
)

// What version 7 adds to a build (liveSchema): its BuildKit ref, facts and
// kept log, written in the ingest's transaction.
const (
	sqlSetLive    = `UPDATE builds SET buildkit_ref = ?, facts = ? WHERE id = ?`
	sqlInsertLog  = `INSERT INTO build_logs (build_id, gz, bytes, truncated) VALUES (?,?,?,?)`
	sqlLiveOfHash = `SELECT buildkit_ref, facts, EXISTS (SELECT 1 FROM build_logs l WHERE l.build_id = b.id) FROM builds b WHERE b.id = ?`
)

// live stores m's BuildKit ref and facts and the kept log of build id.
func (in *ingester) live(id int64, m store.Meta, log *store.BuildLog) error {
	if m.BuildKitRef != "" || m.Facts != nil {
		var facts any
		if m.Facts != nil {
			data, err := json.Marshal(m.Facts)
			if err != nil {
				return err
			}
			facts = string(data)
		}
		st, err := in.stmt(sqlSetLive)
		if err != nil {
			return err
		}
		if err := st.exec(nullString(m.BuildKitRef), facts, id); err != nil {
			return err
		}
	}
	if log != nil {
		st, err := in.stmt(sqlInsertLog)
		if err != nil {
			return err
		}
		if err := st.exec(id, log.Gz, log.Bytes, boolInt(log.Truncated)); err != nil {
			return err
		}
	}
	return nil
}

// loadLive reads what version 7 stores of build id into m.
func loadLive(ctx context.Context, q queryer, id int64, m *store.Meta) error {
	var ref, facts sql.NullString
	if err := q.QueryRowContext(ctx, sqlLiveOfHash, id).Scan(&ref, &facts, &m.LogKept); err != nil {
		return err
	}
	m.BuildKitRef = ref.String
	if facts.Valid {
		m.Facts = &store.BuildFacts{}
		if err := json.Unmarshal([]byte(facts.String), m.Facts); err != nil {
			return fmt.Errorf("build %d: facts: %w", id, err)
		}
	}
	return nil
}

// Log returns the log kept with build id. See store.Reader.Log.
func (s *Store) Log(ctx context.Context, id int64) (*store.BuildLog, error) {
	var l store.BuildLog
	var truncated int
	var exists bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM builds WHERE id = ?)`, id).Scan(&exists)
	if err != nil {
		return nil, s.wrap("read log", err)
	}
	if !exists {
		return nil, fmt.Errorf("build %d: %w", id, store.ErrNotFound)
	}
	err = s.db.QueryRowContext(ctx, `SELECT gz, bytes, truncated FROM build_logs WHERE build_id = ?`, id).Scan(&l.Gz, &l.Bytes, &truncated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("read log", err)
	}
	l.Truncated = truncated != 0
	return &l, nil
}

// resolveBuildKitRef finds the build a BuildKit history ref (or a unique
// prefix of one, at least 6 characters) names. Builds stored before
// version 7 carry the ref only in their source, "buildkit:REF".
func (s *Store) resolveBuildKitRef(ctx context.Context, ref string) (int64, bool, error) {
	if len(ref) < 6 || strings.Trim(strings.ToLower(ref), "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		return 0, false, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM builds WHERE buildkit_ref = ? OR source = ?
		UNION SELECT id FROM builds WHERE buildkit_ref >= ? AND buildkit_ref < ? LIMIT 2`,
		ref, "buildkit:"+ref, ref, ref+"~")
	if err != nil {
		return 0, false, s.wrap("resolve "+ref, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, false, s.wrap("resolve "+ref, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
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
