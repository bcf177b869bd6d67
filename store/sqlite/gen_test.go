package sqlite

import (
	"context"

	"github.com/buildstats/buildstats/parse/model"
	"github.com/buildstats/buildstats/store"
	"github.com/buildstats/buildstats/store/storetest"
)

// generate fills s with a synthetic history in one transaction.
func generate(ctx context.Context, s *Store, cfg storetest.GenConfig) error {
	return s.withIngester(ctx, func(in *ingester) error {
		return storetest.GenHistory(cfg, func(b *model.Build, m store.Meta) error {
			_, _, err := in.ingest(ctx, b, m, store.IngestOptions{})
			return err
		})
	})
}
