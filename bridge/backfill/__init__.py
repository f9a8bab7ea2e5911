"""``logbridge backfill``: the sources' history, rotated and compressed files included.

``plan`` decides what to read of each file and under which id, ``worker`` turns parts
of files into spool rows in worker processes, ``run`` commits them and delivers them
through the sink, ``progress`` shows how far it is, ``summary`` what it did.
"""
