"""Helpers shared by the tests: servers, store adapters, fixture data."""
