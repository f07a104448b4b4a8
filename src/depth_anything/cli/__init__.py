"""Command line: one module per subcommand; each only parses, calls the API and writes files."""
