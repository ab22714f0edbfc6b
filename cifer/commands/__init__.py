"""The `cifer` subcommands for people at a terminal: `encrypt`, `decrypt` and `keys`, all
through the SDK against the sidecar (or `cifer dev`). Each module's `register` is named in the
`cifer.commands` entry-point group of pyproject.toml."""
