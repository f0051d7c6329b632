"""The demo: a seeded generator of realistic manifests and the run ``redis-store demo`` makes."""
