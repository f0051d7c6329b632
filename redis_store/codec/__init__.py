"""Encodings: claircore's JSON wire format (:mod:`.wire`) and the Redis value layout."""
