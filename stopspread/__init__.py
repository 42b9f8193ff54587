"""stopspread: fingerprints that survive forwarding, a live hash index, and the evidence trail."""

__version__ = "0.1.0"
