"""Supervisor reports: figures aggregated by the database, bucketed in the hotline's zone.

Every report reads the database only and lets it do the counting (one ``GROUP BY`` query per
table), so a year of calls costs what the database needs to scan, not a Python loop.
"""
