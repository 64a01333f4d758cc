package store

import "context"

// The counts below give list responses their X-Total-Count. Each reads only
// the partial or per-user index its list already uses.

// UserVideosPage is one page of a user's videos, newest first, and how many
// videos the user has in all.
func (s *Store) UserVideosPage(ctx context.Context, userID int64, page, pageSize int) ([]Video, int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var total int64
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM videos WHERE user_id = ?", userID).Scan(&total).Error; err != nil {
		return nil, 0, wrap("count videos", err)
	}
	var out []Video
	err := s.db.WithContext(ctx).Table("videos").Select(videoColumns).Where("user_id = ?", userID).
		Order("uploaded_at DESC, id DESC").Limit(pageSize).Offset((page - 1) * pageSize).Find(&out).Error
	if err != nil {
		return nil, 0, wrap("list videos", err)
	}
	return out, total, nil
}

// CountPublicVideos is how many videos the public gallery holds. The status
// is literal SQL for the reason given at PublicVideos.
func (s *Store) CountPublicVideos(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM videos WHERE is_public AND status = '` + StatusProcessed + `'`).Scan(&n).Error
	return n, wrap("count public videos", err)
}

// CountRanked is how many players the rankings hold, in one city (by
// CityKey) when city is not empty.
func (s *Store) CountRanked(ctx context.Context, city string) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q, args := "SELECT COUNT(*) FROM player_totals WHERE published > 0", []any{}
	if city != "" {
		q += " AND city_key = ?"
		args = append(args, CityKey(city))
	}
	var n int64
	err := s.db.WithContext(ctx).Raw(q, args...).Scan(&n).Error
	return n, wrap("count ranked players", err)
}
