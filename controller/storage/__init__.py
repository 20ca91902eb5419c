"""The accounting database (SQLite): the only place that speaks SQL, and its pure row logic."""
