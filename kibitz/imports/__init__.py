"""Imports from other comment systems and Kibitz's own export: readers turn a file into one record
stream (records.py), one writer applies it (writer.py); exports go the other way (export.py)."""
