"""Item catalogue persistence: raw encoder outputs on local disk (SQLite) and replica fan-out (Redis Stream)."""
