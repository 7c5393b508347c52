"""Reading, validating, downloading, caching and shipping data."""
