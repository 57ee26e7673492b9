-- The compliance portal searches cases by creation time.
CREATE INDEX cases_created_at ON cases (created_at);
