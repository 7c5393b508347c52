"""zonesblanches: where people cannot reach the services that get them moving.

The package is split by job, and data flows one way:

- :mod:`zonesblanches.geodata` reads, validates, downloads and ships data;
- :mod:`zonesblanches.coverage` computes travel times, coverage and zones blanches;
- :mod:`zonesblanches.maps` draws maps and writes reports and exports.
"""

__version__ = "0.1.0"
