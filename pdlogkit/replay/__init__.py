"""Replay a log as a fake gateway (work in progress)."""
