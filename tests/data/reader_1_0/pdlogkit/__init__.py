"""pdlogkit's container reader as released with container version 1.0 (commit 07bae2e), frozen.

Only the modules `files/indexed.py` needs. The tests read files of later minor
versions with it, to check that an older reader still reads their events.
"""
