-- The public gallery is ordered by (processed_at DESC, id DESC); an index in
-- exactly that order lets a page be read straight from it, with no sort step,
-- whatever the page. It replaces the index on processed_at alone.
CREATE INDEX videos_published_order_idx ON videos (processed_at DESC, id DESC) WHERE is_public AND status = 'processed';
DROP INDEX videos_published_idx;
