"""Recordings of abusive and extortion calls: spool, store, checksums, flags, playback, audit.

Every answered call is recorded by MixMonitor into the spool; :mod:`recordings.service` keeps
the spool file until the call ends and then either deletes it (unflagged, after the flag grace
period) or moves it into the store (flagged) with its checksum, duration and retention.
"""
