"""soft-sanitize: selective data obfuscation (SOFT) against membership inference, with an audit."""
__version__ = "0.1.0"
