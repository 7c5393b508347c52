"""Analysis: travel times, nearest services, coverage and zones blanches."""
