"""pytest plugin: the `pdserver_replay` fixture (work in progress)."""
