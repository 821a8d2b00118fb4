"""The offline demo: a tiny model built on the spot and a bundled sample suite in C-Eval's format."""
