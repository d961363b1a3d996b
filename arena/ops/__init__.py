"""Running the arena: the worker and its schedule, the database made ready, backups, database
copies, the doctor, operator services and the status report.

Services over the rest of the package (``play``, ``leaderboard``, ``pregen``); ``web`` and
``cli`` call them, never the other way round.
"""
